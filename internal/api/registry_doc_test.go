package api

import (
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// docs/compatibility.md lists every API with its versions; this keeps the
// page and the handler registry (what ApiVersions advertises) in step.
func TestCompatibilityDocMatchesRegistry(t *testing.T) {
	doc, err := os.ReadFile("../../docs/compatibility.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^\| (\w+) \| (\d+) \| (\d+)–(\d+) \|`)
	rowSingle := regexp.MustCompile(`(?m)^\| (\w+) \| (\d+) \| (\d+) \|`)
	documented := map[int16][2]int16{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		documented[atoi16(t, m[2])] = [2]int16{atoi16(t, m[3]), atoi16(t, m[4])}
	}
	for _, m := range rowSingle.FindAllStringSubmatch(string(doc), -1) {
		v := atoi16(t, m[3])
		documented[atoi16(t, m[2])] = [2]int16{v, v}
	}
	b := New(Config{})
	for _, r := range b.supported() {
		got, ok := documented[r.key.Int16()]
		if !ok {
			t.Errorf("%s (key %d) is served but missing from docs/compatibility.md", kmsg.NameForKey(r.key.Int16()), r.key)
			continue
		}
		if got != [2]int16{r.minVersion, r.maxVersion} {
			t.Errorf("%s: docs say v%d-v%d, registry serves v%d-v%d", kmsg.NameForKey(r.key.Int16()), got[0], got[1], r.minVersion, r.maxVersion)
		}
		delete(documented, r.key.Int16())
	}
	for key := range documented {
		t.Errorf("docs/compatibility.md lists key %d (%s), which is not served", key, kmsg.NameForKey(key))
	}
}

func atoi16(t *testing.T, s string) int16 {
	t.Helper()
	v, err := strconv.ParseInt(s, 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	return int16(v)
}
