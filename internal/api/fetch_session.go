package api

import (
	"container/list"
	"math/rand/v2"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch sessions (KIP-227). A consumer that fetches the same partitions
// again and again opens a session; later requests then name only the
// partitions whose fetch offset changed (or that it stops fetching), and
// responses carry only partitions with news: records, an error, or a moved
// high watermark, log start offset or last stable offset.
//
// Session epochs: 0 opens a session (a full request), N > 0 continues one
// and must equal the epoch the broker expects next, -1 closes one (and the
// request is served sessionless). Like Kafka, the cache is bounded
// (max.incremental.fetch.session.cache.slots, 1000) and evicts the least
// recently used session; a client whose session was evicted gets
// FETCH_SESSION_ID_NOT_FOUND and starts a new one.

const (
	fetchSessionInitialEpoch = 0
	fetchSessionFinalEpoch   = -1
	fetchSessionCacheSlots   = 1000
)

// fetchKey names a partition in a session.
type fetchKey struct {
	topic     string
	partition int32
}

// fetchTarget is one partition a fetch reads, with what the client asked
// and, in a session, what it was last told.
type fetchTarget struct {
	fetchKey
	topicID            [16]byte
	fetchOffset        int64
	maxBytes           int32
	currentLeaderEpoch int32

	// Last values sent to the client (sessions only).
	sentHighWatermark  int64
	sentLogStartOffset int64
	sentLastStable     int64
	servedRecords      bool // the last response carried records

	// cache and session locate the session's own copy of this target when
	// this one is a fetch's snapshot; both nil outside sessions.
	cache   *fetchSessionCache
	session *fetchSession
}

// fetchSession is one client's session. The cache mutex guards all of it:
// a client should wait for each response before the next epoch, but one
// that pipelines must not make fetches share mutable state, so fetches work
// on copies (snapshotLocked) and record what they sent under the lock.
type fetchSession struct {
	id        int32
	nextEpoch int32
	targets   map[fetchKey]*fetchTarget
	order     []fetchKey    // response order: the order partitions were added
	lru       *list.Element // position in the cache's recency list
}

// fetchSessionCache holds every open session.
type fetchSessionCache struct {
	mu       sync.Mutex // guards sessions, recency and every session's fields and targets
	sessions map[int32]*fetchSession
	recency  *list.List // front = most recently used; values are *fetchSession
}

func newFetchSessionCache() *fetchSessionCache {
	return &fetchSessionCache{sessions: map[int32]*fetchSession{}, recency: list.New()}
}

// fetchPlan is what one fetch request reads and how its response relates
// to a session.
type fetchPlan struct {
	targets []*fetchTarget
	session *fetchSession // nil: sessionless, respond with every target
	full    bool          // respond with every target even in a session
	errCode int16         // a top-level error: respond with nothing else
}

// plan resolves a request's session state into the partitions to read.
// resolve names a request topic (by name or ID, per version).
func (c *fetchSessionCache) plan(r *kmsg.FetchRequest, resolve func(name string, id [16]byte) (string, [16]byte)) fetchPlan {
	if r.Version < 7 || (r.SessionID == 0 && r.SessionEpoch == fetchSessionFinalEpoch) {
		return fetchPlan{targets: requestTargets(r, resolve), full: true}
	}
	if r.SessionEpoch == fetchSessionFinalEpoch {
		c.remove(r.SessionID)
		return fetchPlan{targets: requestTargets(r, resolve), full: true}
	}
	if r.SessionEpoch == fetchSessionInitialEpoch {
		if r.SessionID != 0 {
			c.remove(r.SessionID)
		}
		s := c.create(requestTargets(r, resolve))
		c.mu.Lock()
		defer c.mu.Unlock()
		return fetchPlan{targets: c.snapshotLocked(s), session: s, full: true}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sessions[r.SessionID]
	switch {
	case !ok:
		return fetchPlan{errCode: kerr.FetchSessionIDNotFound.Code}
	case s.nextEpoch != r.SessionEpoch:
		return fetchPlan{errCode: kerr.InvalidFetchSessionEpoch.Code}
	}
	s.nextEpoch = nextSessionEpoch(s.nextEpoch)
	c.recency.MoveToFront(s.lru)
	s.update(r, resolve)
	// Sessions should be used one request at a time, but a client may
	// pipeline the next epoch before the answer: the fetch works on copies
	// and writes what it told the client back under the cache lock.
	s.rotate()
	return fetchPlan{targets: c.snapshotLocked(s), session: s}
}

// snapshotLocked copies the session's targets for one fetch; each copy
// remembers where to record what the response told the client.
func (c *fetchSessionCache) snapshotLocked(s *fetchSession) []*fetchTarget {
	out := make([]*fetchTarget, 0, len(s.order))
	for _, k := range s.order {
		t := *s.targets[k]
		t.cache, t.session = c, s
		out = append(out, &t)
	}
	return out
}

// rotate moves the partitions that returned records last time to the end
// of the session's order (Kafka's IncrementalFetchContext), so that when
// max_bytes cannot cover every partition with a backlog, the ones late in
// the order are not starved.
func (s *fetchSession) rotate() {
	var served, rest []fetchKey
	for _, k := range s.order {
		if s.targets[k].servedRecords {
			served = append(served, k)
			s.targets[k].servedRecords = false
			continue
		}
		rest = append(rest, k)
	}
	s.order = append(rest, served...)
}

func nextSessionEpoch(e int32) int32 {
	if e == 1<<31-1 {
		return 1 // wraps past zero, which would mean "new session"
	}
	return e + 1
}

// requestTargets lists the partitions named in the request.
func requestTargets(r *kmsg.FetchRequest, resolve func(string, [16]byte) (string, [16]byte)) []*fetchTarget {
	var out []*fetchTarget
	for _, rt := range r.Topics {
		name, id := resolve(rt.Topic, rt.TopicID)
		for _, rp := range rt.Partitions {
			out = append(out, newFetchTarget(name, id, &rp))
		}
	}
	return out
}

func newFetchTarget(topic string, id [16]byte, rp *kmsg.FetchRequestTopicPartition) *fetchTarget {
	return &fetchTarget{
		fetchKey:           fetchKey{topic, rp.Partition},
		topicID:            id,
		fetchOffset:        rp.FetchOffset,
		maxBytes:           rp.PartitionMaxBytes,
		currentLeaderEpoch: rp.CurrentLeaderEpoch,
		sentHighWatermark:  -1,
		sentLogStartOffset: -1,
		sentLastStable:     -1,
	}
}

// create opens a session over targets, evicting the least recently used
// session when the cache is full.
func (c *fetchSessionCache) create(targets []*fetchTarget) *fetchSession {
	s := &fetchSession{nextEpoch: 1, targets: make(map[fetchKey]*fetchTarget, len(targets))}
	for _, t := range targets {
		s.add(t)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.sessions) >= fetchSessionCacheSlots {
		oldest := c.recency.Back()
		c.removeLocked(oldest.Value.(*fetchSession).id)
	}
	for s.id == 0 || c.sessions[s.id] != nil {
		s.id = rand.Int32N(1<<31-1) + 1
	}
	c.sessions[s.id] = s
	s.lru = c.recency.PushFront(s)
	return s
}

func (c *fetchSessionCache) remove(id int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(id)
}

func (c *fetchSessionCache) removeLocked(id int32) {
	if s, ok := c.sessions[id]; ok {
		c.recency.Remove(s.lru)
		delete(c.sessions, id)
	}
}

func (s *fetchSession) add(t *fetchTarget) {
	if old, ok := s.targets[t.fetchKey]; ok {
		old.fetchOffset, old.maxBytes, old.currentLeaderEpoch, old.topicID = t.fetchOffset, t.maxBytes, t.currentLeaderEpoch, t.topicID
		return
	}
	s.targets[t.fetchKey] = t
	s.order = append(s.order, t.fetchKey)
}

// update applies an incremental request: named partitions are added or get
// new fetch offsets, forgotten ones leave the session.
func (s *fetchSession) update(r *kmsg.FetchRequest, resolve func(string, [16]byte) (string, [16]byte)) {
	for _, t := range requestTargets(r, resolve) {
		s.add(t)
	}
	forgotten := false
	for _, ft := range r.ForgottenTopics {
		name, _ := resolve(ft.Topic, ft.TopicID)
		for _, p := range ft.Partitions {
			key := fetchKey{name, p}
			if _, ok := s.targets[key]; ok {
				delete(s.targets, key)
				forgotten = true
			}
		}
	}
	if forgotten {
		kept := s.order[:0]
		for _, k := range s.order {
			if _, ok := s.targets[k]; ok {
				kept = append(kept, k)
			}
		}
		s.order = kept
	}
}

// include reports whether an incremental response must carry the
// partition, remembering in the session what it tells the client (Kafka's
// CachedPartition.maybeUpdateResponseData).
func (t *fetchTarget) include(rp *kmsg.FetchResponseTopicPartition) bool {
	t.cache.mu.Lock()
	defer t.cache.mu.Unlock()
	cached, ok := t.session.targets[t.fetchKey]
	if !ok {
		cached = t // forgotten meanwhile: compare with what this fetch saw
	}
	changed := len(rp.RecordBatches) > 0 || rp.ErrorCode != 0 ||
		rp.HighWatermark != cached.sentHighWatermark ||
		rp.LogStartOffset != cached.sentLogStartOffset ||
		rp.LastStableOffset != cached.sentLastStable
	cached.sentHighWatermark, cached.sentLogStartOffset, cached.sentLastStable = rp.HighWatermark, rp.LogStartOffset, rp.LastStableOffset
	cached.servedRecords = len(rp.RecordBatches) > 0
	return changed
}
