// Package metadata owns the cluster metadata records and the immutable Image
// built by replaying them.
//
// Every change to cluster state (brokers, topics, partitions, configs, the
// cluster ID, producer-ID blocks) is a Record appended to the replicated metadata log
// (internal/quorum). The same replay code, Image.Apply, builds state at
// start-up, on a follower, after failover and from a snapshot: replay is the
// only way state changes. A snapshot is simply the records that rebuild an
// image (Image.SnapshotRecords), so "snapshot + tail replay equals full
// replay" holds by construction and is tested.
//
// Replay checks what the controller planned: a partition change must grow
// the partition epoch and keep or grow the leader epoch, a reassignment's
// adding and removing replicas must be distinct replicas, and a broker state
// change must name the registration's current broker epoch, so a change
// planned against a stale image is refused rather than applied over a newer
// state.
//
// # Who may import it
//
// internal/quorum, internal/controller, internal/api, internal/server and the
// partition layers that react to metadata changes. It imports only the
// standard library.
//
// # Threading contract
//
// An *Image is immutable once returned: Apply copies what it changes (copy on
// write) and returns a new *Image, leaving the receiver untouched. Readers
// hold an *Image without locks for as long as they like. The values an Image
// hands out (*Topic, *Broker, their slices and maps) are shared with later
// images and must never be modified by callers.
//
// # Record encoding
//
// A record is one type byte, one version byte, then a compact binary body:
//
//	+------+---------+------------------------------+
//	| type | version | body (fields in order below) |
//	| u8   | u8      |                              |
//	+------+---------+------------------------------+
//
// Field encodings inside a body:
//
//	int8, int16,      zigzag varint (encoding/binary.AppendVarint)
//	int32, int64
//	bool              one byte, 0 or 1
//	uuid              16 raw bytes
//	string            uvarint length, then the bytes
//	nullable string   uvarint length+1, then the bytes; 0 means null
//	[]int32, []T      uvarint count, then each element
//
// Bodies by type. A newer version appends fields to the older one's body;
// records are written in the highest version listed and every lower one
// still decodes (fields it lacks take the defaults given), so metadata logs
// and snapshots written by an older Sluice replay unchanged.
//
//	1 ClusterID       v0: id string
//	2 RegisterBroker  v0: nodeID int32, endpoints [](listener string,
//	                  host string, port int32, securityProtocol int16),
//	                  rack nullable string
//	                  v1: v0, then incarnationID uuid, brokerEpoch int64,
//	                  fenced bool, inControlledShutdown bool,
//	                  registeredAt int64 (0 in live records; the batch
//	                  offset is used). v0 means: zero incarnation, epoch 0,
//	                  unfenced, not shutting down.
//	3 Topic           v0: name string, id uuid
//	4 Partition       v0: topicID uuid, index int32, replicas []int32,
//	                  isr []int32, leader int32, leaderEpoch int32,
//	                  partitionEpoch int32
//	                  v1: v0, then leaderRecoveryState int8 (0 recovered,
//	                  1 recovering). v0 means recovered.
//	                  v2: v1, then addingReplicas []int32,
//	                  removingReplicas []int32 (a reassignment in
//	                  progress, KIP-455). v0 and v1 mean none.
//	5 Config          v0: resourceType int8 (as a one-byte varint: 2 topic,
//	                  4 broker), resourceName string, key string, value
//	                  nullable string (null deletes the key)
//	6 RemoveTopic     v0: topicID uuid
//	7 ProducerIDs     v0: brokerID int32 (-1 in a snapshot),
//	                  nextProducerID int64
//	8 BrokerRegistrationChange
//	                  v0: brokerID int32, brokerEpoch int64, fenced int8
//	                  (1 fence, -1 unfence, 0 unchanged),
//	                  inControlledShutdown int8 (1 enter, 0 unchanged)
//	9 SnapshotOffset  v0: offset int64 (first record of a snapshot only)
//
// A decoder refuses an unknown type, an unknown version, a body with bytes
// left over, and any length that runs past the end of the input: metadata
// that cannot be understood must stop replay, never be skipped, because
// skipping would make this node's image differ from its peers'.
//
// # Batch encoding
//
// One Raft log entry carries one batch, applied atomically (all records or
// none) with Image.ApplyAt at the entry's index, which becomes the image's
// Offset. A snapshot is one batch too, holding Image.SnapshotRecords: a
// SnapshotOffset record, then the records that rebuild the content.
//
//	+----------------+-----------------+---------------------------------+
//	| format version | record count    | count x (uvarint length, record)|
//	| u8 (= 1)       | uvarint         |                                 |
//	+----------------+-----------------+---------------------------------+
//
// The Raft log store and the snapshot store both checksum what they hold, so
// the batch carries no checksum of its own.
package metadata
