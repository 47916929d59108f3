package metadata

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateTopicName(t *testing.T) {
	long := strings.Repeat("a", MaxTopicNameLength+1)
	tests := []struct {
		name    string
		message string // "" means valid
	}{
		{"orders", ""},
		{"a.b_c-D9", ""},
		{strings.Repeat("x", MaxTopicNameLength), ""},
		{"__consumer_offsets", ""},
		{"", "Topic name is illegal, it can't be empty"},
		{".", `Topic name cannot be "." or ".."`},
		{"..", `Topic name cannot be "." or ".."`},
		{long, "Topic name is illegal, it can't be longer than 249 characters, Topic name: " + long},
		{"a b", `Topic name "a b" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`},
		{"é", `Topic name "é" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`},
		{"a/b", `Topic name "a/b" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`},
	}
	for _, tt := range tests {
		err := ValidateTopicName(tt.name)
		if tt.message == "" {
			if err != nil {
				t.Errorf("ValidateTopicName(%q) = %v, want nil", tt.name, err)
			}
			continue
		}
		if err == nil || err.Error() != tt.message || !errors.Is(err, ErrInvalidTopicName) {
			t.Errorf("ValidateTopicName(%q) = %v, want %q", tt.name, err, tt.message)
		}
	}
}

func TestInternalTopics(t *testing.T) {
	for name, want := range map[string]bool{
		GroupMetadataTopic: true, TransactionStateTopic: true, ShareGroupStateTopic: true,
		ClusterMetadataTopic: false, "orders": false,
	} {
		if got := IsInternalTopic(name); got != want {
			t.Errorf("IsInternalTopic(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestCollidingTopic(t *testing.T) {
	img := mustApply(t, NewImage(),
		&TopicRecord{Name: "a_b", ID: [16]byte{1}},
		&TopicRecord{Name: "x.y.z", ID: [16]byte{2}},
		&TopicRecord{Name: "plain", ID: [16]byte{3}})
	tests := map[string]string{
		"a.b":   "a_b",
		"a_b":   "",
		"x_y.z": "x.y.z",
		"x.y_z": "x.y.z",
		"x.yz":  "",
		"plain": "",
		"ab":    "",
	}
	for name, want := range tests {
		if got := img.CollidingTopic(name); got != want {
			t.Errorf("CollidingTopic(%q) = %q, want %q", name, got, want)
		}
	}
	if !TopicNamesCollide("a.b", "a_b") || TopicNamesCollide("a.b", "a.b.") {
		t.Fatalf("TopicNamesCollide wrong")
	}
}
