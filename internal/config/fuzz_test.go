package config

import (
	"strings"
	"testing"
)

// FuzzLoadAndParse feeds arbitrary text through LoadProperties and
// ParseBroker, and each property through ValidateTopicConfig and
// ResolveTopic: bad input must give an error, never a panic, and a broker
// that parses must validate.
func FuzzLoadAndParse(f *testing.F) {
	f.Add(kafkaServerProperties)
	f.Add("listeners=PLAINTEXT://[::1]:0\nlog.retention.minutes=-1\ncleanup.policy=compact")
	f.Add("a\\\n b=\\u00e9\\\nc")
	f.Add("default.replication.factor=40000\nbroker.id=2\nnode.id=3")
	f.Fuzz(func(t *testing.T, input string) {
		props, err := LoadProperties(strings.NewReader(input))
		if err != nil {
			return
		}
		if b, err := ParseBroker(props); err == nil {
			if err := b.Validate(); err != nil {
				t.Fatalf("ParseBroker accepted a broker that Validate rejects: %v", err)
			}
			DescribeBroker(b, nil)
			DescribeTopic(b, props)
		}
		for name, value := range props {
			_ = ValidateTopicConfig(name, &value)
		}
		_, _ = ResolveTopic(DefaultTopic(), props)
	})
}
