package api

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/storage"
)

// WriteTxnMarkers v0-v1 (v1+ flexible, KIP-482): the inter-broker request a
// transaction coordinator sends to partition leaders to end a transaction.
// Sluice's coordinator writes markers to its local partitions directly and
// sends this request to the leaders of the others (internal/server's
// marker sender). Each partition gets the marker, or
// UNKNOWN_TOPIC_OR_PARTITION if this broker does not host it, or the code
// MarkerErrorCode gives the failed write: the sender retries
// NOT_LEADER_OR_FOLLOWER and stops on a fenced producer or coordinator.

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
	err := b.cfg.Markers.WriteMarker(topic, partition, m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch)
	if err == nil {
		return 0
	}
	code := MarkerErrorCode(err)
	if code == kerr.KafkaStorageError {
		b.log.Error("write transaction marker failed", "topic", topic, "partition", partition, "producerID", m.ProducerID, "err", err)
	}
	return code.Code
}

// MarkerErrorCode is the Kafka error a partition leader answers for a
// failed transaction marker write, the code a coordinator decides by:
// INVALID_PRODUCER_EPOCH and TRANSACTION_COORDINATOR_FENCED end the marker
// phase, NOT_LEADER_OR_FOLLOWER and the ISR errors are retried, anything
// else is KAFKA_STORAGE_ERROR.
func MarkerErrorCode(err error) *kerr.Error {
	switch {
	case errors.Is(err, storage.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch
	case errors.Is(err, storage.ErrTransactionCoordinatorFenced):
		return kerr.TransactionCoordinatorFenced
	}
	if code, ok := replicaErrorCode(err); ok && code != 0 {
		if known, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
			return known
		}
	}
	return kerr.KafkaStorageError
}
