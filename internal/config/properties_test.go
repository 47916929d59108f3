package config

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"testing/iotest"
)

func TestLoadProperties(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  map[string]string
	}{
		{"equals", "a=b", map[string]string{"a": "b"}},
		{"colon", "a:b", map[string]string{"a": "b"}},
		{"whitespace separator", "a b", map[string]string{"a": "b"}},
		{"spaces around separator", "a  =  b", map[string]string{"a": "b"}},
		{"whitespace then colon", "a \t: b", map[string]string{"a": "b"}},
		{"only first separator counts", "a=b=c:d", map[string]string{"a": "b=c:d"}},
		{"trailing whitespace kept", "a=b  ", map[string]string{"a": "b  "}},
		{"leading whitespace dropped", "   \t a=b", map[string]string{"a": "b"}},
		{"key without value", "a", map[string]string{"a": ""}},
		{"key with separator only", "a=", map[string]string{"a": ""}},
		{"empty key", "=b", map[string]string{"": "b"}},
		{"hash comment", "# a=b\nc=d", map[string]string{"c": "d"}},
		{"bang comment", "! a=b\nc=d", map[string]string{"c": "d"}},
		{"indented comment", "   # a=b", map[string]string{}},
		{"hash inside value is data", "a=b#c", map[string]string{"a": "b#c"}},
		{"blank lines", "\n\n  \na=b\n\n", map[string]string{"a": "b"}},
		{"CRLF", "a=b\r\nc=d\r\n", map[string]string{"a": "b", "c": "d"}},
		{"CR only", "a=b\rc=d", map[string]string{"a": "b", "c": "d"}},
		{"continuation", "a=one,\\\n    two", map[string]string{"a": "one,two"}},
		{"continuation chain", "a=1\\\n2\\\n 3", map[string]string{"a": "123"}},
		{"continuation into comment-like text", "a=1\\\n#2", map[string]string{"a": "1#2"}},
		{"comment does not continue", "# x\\\na=b", map[string]string{"a": "b"}},
		{"even backslashes do not continue", "a=b\\\\\nc=d", map[string]string{"a": `b\`, "c": "d"}},
		{"continuation at end of file", "a=b\\", map[string]string{"a": "b"}},
		{"continuation onto blank line ends", "a=b\\\n\nc=d", map[string]string{"a": "b", "c": "d"}},
		{"escaped separator in key", `a\=b=c`, map[string]string{"a=b": "c"}},
		{"escaped space in key", `a\ b c`, map[string]string{"a b": "c"}},
		{"escaped colon in key", `a\:b:c`, map[string]string{"a:b": "c"}},
		{"control escapes", `a=\t\n\r\f`, map[string]string{"a": "\t\n\r\f"}},
		{"unicode escape", `a=caf\u00e9`, map[string]string{"a": "café"}},
		{"surrogate pair escape", `a=\ud83d\ude00`, map[string]string{"a": "😀"}},
		{"backslash before other char", `a=\q\\`, map[string]string{"a": `q\`}},
		{"utf-8 text", "clé=valeur ☃", map[string]string{"clé": "valeur ☃"}},
		{"later duplicate wins", "a=1\na=2", map[string]string{"a": "2"}},
		{"windows path needs escapes", `log.dirs=C:\\data`, map[string]string{"log.dirs": `C:\data`}},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			got, err := LoadProperties(strings.NewReader(test.input))
			if err != nil {
				t.Fatalf("LoadProperties(%q): %v", test.input, err)
			}
			if !maps.Equal(got, test.want) {
				t.Fatalf("LoadProperties(%q) = %q, want %q", test.input, got, test.want)
			}
		})
	}
}

func TestLoadPropertiesErrors(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{"short unicode escape", "a=1\nb=\\u12", `line 2: malformed \uxxxx escape`},
		{"non-hex unicode escape", "a=\\u12zz", `line 1: malformed \uxxxx escape "\\u12zz"`},
		{"line number of continued line", "a=\\\n  b\nc=\\uzzzz", "line 3:"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			_, err := LoadProperties(strings.NewReader(test.input))
			if err == nil || !strings.Contains(err.Error(), test.want) {
				t.Fatalf("LoadProperties(%q) error = %v, want it to contain %q", test.input, err, test.want)
			}
		})
	}
}

func TestLoadPropertiesReadError(t *testing.T) {
	failure := errors.New("disk on fire")
	_, err := LoadProperties(iotest.ErrReader(failure))
	if !errors.Is(err, failure) {
		t.Fatalf("error = %v, want it to wrap %v", err, failure)
	}
}

func TestLoadPropertiesRejectsHugeInput(t *testing.T) {
	huge := strings.NewReader(strings.Repeat("#", maxPropertiesBytes+1))
	if _, err := LoadProperties(huge); err == nil {
		t.Fatal("LoadProperties accepted more than maxPropertiesBytes")
	}
}

// kafkaServerProperties is config/server.properties as shipped with Kafka
// 4.0 (combined broker and controller), comments trimmed. Sluice must load
// it unchanged.
const kafkaServerProperties = `
############################# Server Basics #############################
# The role of this server. Setting this puts us in KRaft mode
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=localhost:9093

############################# Socket Server Settings #############################
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
inter.broker.listener.name=PLAINTEXT
advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600

############################# Log Basics #############################
log.dirs=/tmp/kraft-combined-logs
num.partitions=1
num.recovery.threads.per.data.dir=1

############################# Internal Topic Settings  #############################
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1

############################# Log Flush Policy #############################
#log.flush.interval.messages=10000
#log.flush.interval.ms=1000

############################# Log Retention Policy #############################
log.retention.hours=168
#log.retention.bytes=1073741824
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
`

func TestKafkaServerPropertiesLoads(t *testing.T) {
	props, err := LoadProperties(strings.NewReader(kafkaServerProperties))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseBroker(props)
	if err != nil {
		t.Fatalf("ParseBroker(Kafka's server.properties): %v", err)
	}
	if got := joinListeners(b.Listeners); got != "PLAINTEXT://:9092" {
		t.Errorf("client listeners = %s, want PLAINTEXT://:9092", got)
	}
	if got := joinListeners(b.ControllerListeners); got != "CONTROLLER://:9093" {
		t.Errorf("controller listeners = %s, want CONTROLLER://:9093", got)
	}
	if got := joinListeners(b.AdvertisedListeners); got != "PLAINTEXT://localhost:9092" {
		t.Errorf("advertised listeners = %s", got)
	}
	if b.LogDirs[0] != "/tmp/kraft-combined-logs" || b.TopicDefaults.RetentionMs != 168*millisPerHour {
		t.Errorf("log dirs %v, retention %d", b.LogDirs, b.TopicDefaults.RetentionMs)
	}
	wantInert := []string{"controller.quorum.bootstrap.servers", "num.io.threads", "num.network.threads",
		"num.recovery.threads.per.data.dir", "share.coordinator.state.topic.min.isr", "share.coordinator.state.topic.replication.factor"}
	if got := InertKeys(props); strings.Join(got, " ") != strings.Join(wantInert, " ") {
		t.Errorf("InertKeys = %v, want %v", got, wantInert)
	}
}
