package server

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/api"
)

// hugeUvarint is 2^32-1 as an unsigned varint: a tagged-field count or an
// array length no frame of a few dozen bytes can hold.
var hugeUvarint = []byte{0xff, 0xff, 0xff, 0xff, 0x0f}

// TestHostileCountsCostBoundedCPU is issue 11's "hostile input costs
// bounded CPU": for every API the broker serves, at its newest version,
// each zero byte of a default request's body (a tagged-field count, a
// compact array length, an empty string...) is replaced by a count of
// 2^32-1, and decoding the forged frame must stay cheap. kmsg before
// v1.15.1 looped over such a tag count until the count ran out (about 4 s
// of CPU per frame); a decoder that sizes anything by such a count without
// checking the bytes left fails here too.
func TestHostileCountsCostBoundedCPU(t *testing.T) {
	handler := api.New(api.Config{})
	c := &conn{srv: New(Config{Handler: handler, MaxRequestBytes: 1 << 20})}
	formatter := kmsg.NewRequestFormatter(kmsg.FormatterClientID("hostile"))
	const perFrame = 50 * time.Millisecond
	forged := 0
	for key := int16(0); key <= kmsg.MaxKey; key++ {
		_, maxVersion, ok := handler.Versions(key)
		req := kmsg.RequestForKey(key)
		if !ok || req == nil {
			continue
		}
		req.SetVersion(maxVersion)
		frame := formatter.AppendRequest(nil, req, 1)[4:]
		bodyStart := len(frame) - len(encodeBody(req))
		for i := bodyStart; i < len(frame); i++ {
			if frame[i] != 0 {
				continue
			}
			bad := append(append(append([]byte(nil), frame[:i]...), hugeUvarint...), frame[i+1:]...)
			start := time.Now()
			_, _ = c.decode(bad)
			if took := time.Since(start); took > perFrame {
				t.Errorf("%s v%d with 2^32-1 at body byte %d: decoding took %v (bound %v)",
					kmsg.NameForKey(key), maxVersion, i-bodyStart, took, perFrame)
			}
			forged++
		}
	}
	if forged < 50 {
		t.Fatalf("only %d forged frames: the registry or the encoding changed", forged)
	}
}

// encodeBody is req's body alone, to find where the header ends.
func encodeBody(req kmsg.Request) []byte { return req.AppendTo(nil) }
