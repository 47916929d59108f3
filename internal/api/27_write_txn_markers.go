package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// WriteTxnMarkers v0-v1 (v1+ flexible, KIP-482): the inter-broker request a
// transaction coordinator sends to partition leaders to end a transaction.
// Sluice's coordinator writes markers to its local partitions directly
// (txn.MarkerWriter), but the API is still served so a tool or a future
// peer can ask: each partition gets the marker, or UNKNOWN_TOPIC_OR_PARTITION
// if this broker does not lead it, or KAFKA_STORAGE_ERROR if the write fails.

func handleWriteTxnMarkers(b *Broker, _ context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.WriteTxnMarkersRequest)
	resp := r.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	finish := func() {
		for _, m := range r.Markers {
			rm := kmsg.NewWriteTxnMarkersResponseMarker()
			rm.ProducerID = m.ProducerID
			for _, mt := range m.Topics {
				rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
				rt.Topic = mt.Topic
				for _, p := range mt.Partitions {
					rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
					rp.Partition = p
					rp.ErrorCode = b.writeTxnMarker(mt.Topic, p, &m)
					rt.Partitions = append(rt.Partitions, rp)
				}
				rm.Topics = append(rm.Topics, rt)
			}
			resp.Markers = append(resp.Markers, rm)
		}
	}
	// Marker writes wait for an fsync: they run on the writer goroutine.
	return Reply{Response: resp, Wait: finish}
}

// writeTxnMarker writes one partition's marker and returns its error code.
func (b *Broker) writeTxnMarker(topic string, partition int32, m *kmsg.WriteTxnMarkersRequestMarker) int16 {
	if _, ok := b.cfg.Partitions.Get(topic, partition); !ok || b.cfg.Markers == nil {
		return kerr.UnknownTopicOrPartition.Code
	}
	if err := b.cfg.Markers.WriteMarker(topic, partition, m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch); err != nil {
		b.log.Error("write transaction marker failed", "topic", topic, "partition", partition, "producerID", m.ProducerID, "err", err)
		return kerr.KafkaStorageError.Code
	}
	return 0
}
