package replica

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// decodeFetch encodes r and decodes it as the broker's connection does
// (kmsg's ReadFrom on the body at the request's version).
func decodeFetch(t *testing.T, r *kmsg.FetchRequest) *kmsg.FetchRequest {
	t.Helper()
	out := kmsg.NewPtrFetchRequest()
	out.SetVersion(r.Version)
	if err := out.ReadFrom(r.AppendTo(nil)); err != nil {
		t.Fatalf("decode fetch v%d: %v", r.Version, err)
	}
	return out
}

// The durable end travels as a tagged field of the request partition at
// every flexible version, beside Kafka's own partition tags
// (ReplicaDirectoryId, tag 0, v17+; HighWatermark, tag 1, v18+), and is
// dropped below v12, where requests carry no tags.
func TestDurableEndTagRoundTrip(t *testing.T) {
	for version := int16(4); version <= 18; version++ {
		for _, offset := range []int64{0, 3, 1 << 40} {
			r := kmsg.NewPtrFetchRequest()
			r.SetVersion(version)
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = "t", [16]byte{1}
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.FetchOffset = offset + 5
			rp.ReplicaDirectoryID = [16]byte{9}
			rp.HighWatermark = 2
			SetDurableEnd(&rp, offset)
			rt.Partitions = append(rt.Partitions, rp)
			r.Topics = append(r.Topics, rt)

			got := decodeFetch(t, r).Topics[0].Partitions[0]
			end, ok := DurableEnd(&got)
			switch {
			case version < 12 && ok:
				t.Fatalf("v%d: durable end %d decoded from a version without tags", version, end)
			case version >= 12 && (!ok || end != offset):
				t.Fatalf("v%d: durable end %d, %v; want %d", version, end, ok, offset)
			case got.FetchOffset != offset+5:
				t.Fatalf("v%d: fetch offset %d, want %d", version, got.FetchOffset, offset+5)
			case version >= 17 && got.ReplicaDirectoryID != [16]byte{9}:
				t.Fatalf("v%d: replica directory lost", version)
			case version >= 18 && got.HighWatermark != 2:
				t.Fatalf("v%d: high watermark tag %d, want 2", version, got.HighWatermark)
			}
		}
	}
}

// Absent, malformed and out-of-range values.
func TestDurableEndTagValues(t *testing.T) {
	rp := kmsg.NewFetchRequestTopicPartition()
	if end, ok := DurableEnd(&rp); ok || end != unknownOffset {
		t.Fatalf("no tag: %d, %v", end, ok)
	}
	rp.UnknownTags.Set(DurableEndTag+1, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	if _, ok := DurableEnd(&rp); ok {
		t.Fatal("another tag read as the durable end")
	}
	rp.UnknownTags.Set(DurableEndTag, []byte{0, 0, 0, 7})
	if end, ok := DurableEnd(&rp); !ok || end != unknownOffset {
		t.Fatalf("4-byte value: %d, %v; want present and nothing durable", end, ok)
	}
	SetDurableEnd(&rp, -9)
	if end, ok := DurableEnd(&rp); !ok || end != unknownOffset {
		t.Fatalf("negative value: %d, %v; want %d", end, ok, unknownOffset)
	}
	SetDurableEnd(&rp, 12)
	if end, ok := DurableEnd(&rp); !ok || end != 12 {
		t.Fatalf("value replaced: %d, %v; want 12", end, ok)
	}
}
