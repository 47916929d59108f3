package integration

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// sessionFetch is a v12 (by name) fetch in a session, not waiting.
func sessionFetch(sessionID, epoch int32, parts ...fetchPartition) *kmsg.FetchRequest {
	req := fetchRequest(parts...)
	req.Version = 12
	req.SessionID, req.SessionEpoch = sessionID, epoch
	return req
}

// forget adds forgotten partitions of topic to an incremental request.
func forget(req *kmsg.FetchRequest, topic string, partitions ...int32) {
	ft := kmsg.NewFetchRequestForgottenTopic()
	ft.Topic, ft.Partitions = topic, partitions
	req.ForgottenTopics = append(req.ForgottenTopics, ft)
}

// partitionKeys lists a fetch response's partitions as "topic/partition".
func partitionKeys(resp *kmsg.FetchResponse) []string {
	var out []string
	for key := range responsePartitions(resp) {
		out = append(out, key)
	}
	slices.Sort(out)
	return out
}

// KIP-227 incremental fetch sessions, step by step: epoch 0 opens a
// session with a full response; incremental requests name only changed
// partitions and responses carry only partitions with news; a wrong epoch is
// INVALID_FETCH_SESSION_EPOCH (and leaves the session usable), an unknown
// session FETCH_SESSION_ID_NOT_FOUND; forgotten partitions leave the
// session; epoch -1 closes it.
func TestFetchSessionLifecycle(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "session", 2, nil)
	produceBatches(t, b, "session", 0, []byte("p0-a"))
	produceBatches(t, b, "session", 1, []byte("p1-a"))
	wire := dialWire(t, b)
	fetch := func(req *kmsg.FetchRequest) *kmsg.FetchResponse {
		t.Helper()
		return wire.roundTrip(req).(*kmsg.FetchResponse)
	}

	// Epoch 0 opens a session: a full response and a non-zero ID.
	full := fetch(sessionFetch(0, 0, fetchPartition{topic: "session", partition: 0}, fetchPartition{topic: "session", partition: 1}))
	wantCode(t, "open session", full.ErrorCode, nil)
	if full.SessionID == 0 {
		t.Fatalf("epoch 0 did not open a session (session ID 0)")
	}
	if got := partitionKeys(full); !slices.Equal(got, []string{"session/0", "session/1"}) {
		t.Fatalf("full response partitions %v, want both", got)
	}
	id := full.SessionID

	// Epoch 1 moves both fetch offsets past the data: nothing has news.
	quiet := fetch(sessionFetch(id, 1, fetchPartition{topic: "session", partition: 0, offset: 1}, fetchPartition{topic: "session", partition: 1, offset: 1}))
	wantCode(t, "epoch 1", quiet.ErrorCode, nil)
	if quiet.SessionID != id {
		t.Errorf("epoch 1 answered session %d, want %d", quiet.SessionID, id)
	}
	if got := partitionKeys(quiet); len(got) != 0 {
		t.Errorf("incremental response with no news carries %v", got)
	}

	// New data on partition 0 only: epoch 2 names no partition and gets
	// just partition 0.
	produceBatches(t, b, "session", 0, []byte("p0-b"))
	news := fetch(sessionFetch(id, 2))
	if got := partitionKeys(news); !slices.Equal(got, []string{"session/0"}) {
		t.Fatalf("epoch 2 partitions %v, want only session/0 (partition 1 unchanged)", got)
	}
	p0 := responsePartitions(news)["session/0"]
	wantValues(t, "epoch 2", fetchedRecords(t, "session", &p0, 1), "p0-b")

	// A wrong epoch is refused without ending the session.
	wrong := fetch(sessionFetch(id, 7))
	wantCode(t, "wrong epoch", wrong.ErrorCode, kerr.InvalidFetchSessionEpoch)
	if len(wrong.Topics) != 0 {
		t.Errorf("wrong-epoch response carries %d topics", len(wrong.Topics))
	}
	// An unknown session ID is refused.
	wantCode(t, "unknown session", fetch(sessionFetch(id+1, 1)).ErrorCode, kerr.FetchSessionIDNotFound)

	// Epoch 3 still works; it forgets partition 1 and advances partition 0.
	forgetting := sessionFetch(id, 3, fetchPartition{topic: "session", partition: 0, offset: 2})
	forget(forgetting, "session", 1)
	wantCode(t, "epoch 3 after the wrong epoch", fetch(forgetting).ErrorCode, nil)

	// New data on both partitions: only partition 0 is still in the session.
	produceBatches(t, b, "session", 0, []byte("p0-c"))
	produceBatches(t, b, "session", 1, []byte("p1-b"))
	after := fetch(sessionFetch(id, 4))
	if got := partitionKeys(after); !slices.Equal(got, []string{"session/0"}) {
		t.Errorf("after forgetting partition 1: partitions %v, want only session/0", got)
	}

	// Epoch -1 closes the session; its ID is then unknown.
	closing := fetch(sessionFetch(id, -1, fetchPartition{topic: "session", partition: 1, offset: 0}))
	wantCode(t, "close session", closing.ErrorCode, nil)
	if got := partitionKeys(closing); !slices.Equal(got, []string{"session/1"}) {
		t.Errorf("closing request is served sessionless: partitions %v, want session/1", got)
	}
	wantCode(t, "closed session", fetch(sessionFetch(id, 5)).ErrorCode, kerr.FetchSessionIDNotFound)
}

// Epoch 0 with an existing session ID replaces that session with a new one
// (KIP-227: the client "resets" its session).
func TestFetchSessionReopen(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "reopen", 1, nil)
	wire := dialWire(t, b)
	first := wire.roundTrip(sessionFetch(0, 0, fetchPartition{topic: "reopen"})).(*kmsg.FetchResponse)
	if first.SessionID == 0 {
		t.Fatalf("no session opened")
	}
	second := wire.roundTrip(sessionFetch(first.SessionID, 0, fetchPartition{topic: "reopen"})).(*kmsg.FetchResponse)
	wantCode(t, "reopen", second.ErrorCode, nil)
	if second.SessionID == 0 {
		t.Fatalf("reopen gave no session")
	}
	if second.SessionID != first.SessionID {
		wantCode(t, "old session after reopen", wire.roundTrip(sessionFetch(first.SessionID, 1)).(*kmsg.FetchResponse).ErrorCode, kerr.FetchSessionIDNotFound)
	}
	wantCode(t, "new session epoch 1", wire.roundTrip(sessionFetch(second.SessionID, 1)).(*kmsg.FetchResponse).ErrorCode, nil)
}

// Sessions are a broker-wide cache, not tied to a connection: a consumer
// whose connection dropped continues its session on a new one.
func TestFetchSessionSurvivesReconnect(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "reconnect", 1, nil)
	produceValues(t, b, "reconnect", "one")
	first := dialWire(t, b).roundTrip(sessionFetch(0, 0, fetchPartition{topic: "reconnect"})).(*kmsg.FetchResponse)
	produceValues(t, b, "reconnect", "two")
	resp := dialWire(t, b).roundTrip(sessionFetch(first.SessionID, 1, fetchPartition{topic: "reconnect", offset: 1})).(*kmsg.FetchResponse)
	wantCode(t, "session on a new connection", resp.ErrorCode, nil)
	rp := responsePartitions(resp)["reconnect/0"]
	wantValues(t, "session on a new connection", fetchedRecords(t, "reconnect", &rp, 1), "two")
}

// A client that pipelines epoch N+1 of a session before N's answer must
// not change what N reads (KIP-227 sessions are shared state): epoch 1
// long-polls at the log end, epoch 2 (sent right behind it) asks from 0.
func TestPipelinedSessionEpochsDoNotShareOffsets(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "piped", 1, nil)
	values := make([]string, 10)
	for i := range values {
		values[i] = "v"
	}
	produceValues(t, b, "piped", values...)
	fetchAt := func(session, epoch int32, offset int64, wait int32) *kmsg.FetchRequest {
		r := kmsg.NewPtrFetchRequest()
		r.Version = 12
		r.MaxWaitMillis, r.MinBytes, r.MaxBytes = wait, 1<<20, 1<<20
		r.SessionID, r.SessionEpoch = session, epoch
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "piped"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset, rp.PartitionMaxBytes = offset, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		return r
	}
	wire := dialWire(t, b)
	opened := wire.roundTrip(fetchAt(0, 0, 10, 0)).(*kmsg.FetchResponse)
	first := wire.send(fetchAt(opened.SessionID, 1, 10, 300))
	second := wire.send(fetchAt(opened.SessionID, 2, 0, 300))
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 12
	if err := wire.receive(first, resp); err != nil {
		t.Fatal(err)
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if len(rp.RecordBatches) > 0 {
				t.Fatalf("epoch 1 asked from the log end but got %d bytes: epoch 2's offset leaked into it", len(rp.RecordBatches))
			}
		}
	}
	again := kmsg.NewPtrFetchResponse()
	again.Version = 12
	if err := wire.receive(second, again); err != nil {
		t.Fatal(err)
	}
}
