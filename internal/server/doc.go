// Package server owns Sluice's network side: listeners, the per-connection
// goroutines and the framing of Kafka requests and responses. It decodes
// request headers and bodies with franz-go's kmsg and hands typed requests
// to an api.Handler; it knows nothing of topics or logs.
//
// Wire framing (all integers big-endian):
//
//	request:  size int32 | api_key int16 | api_version int16 | correlation_id int32 |
//	          client_id nullable string (int16 length) | [tagged fields, flexible versions] | body
//	response: size int32 | correlation_id int32 | [tagged fields, flexible versions
//	          except ApiVersions] | body
//
// Threading: each connection has exactly two goroutines. The reader reads a
// frame, decodes it and runs the handler's ordered phase (appends happen in
// request order), then queues the reply; the writer takes replies in request
// order, waits for a reply's deferred part (a durable append, a long-poll
// fetch) and writes it. The bounded queue between them caps how many
// requests one connection can have in flight. A malformed frame closes that
// connection only. limits.go bounds what clients can make the server hold:
// the request byte budget (queued.max.request.bytes), connection counts,
// idle, slow-request and slow-reader timeouts, and the reserved descriptor
// that refuses connections cleanly on EMFILE; limits_broker.go splits the
// open-file limit (FileBudget). A listener may divert connections that
// open with a 4-byte magic (Divert): the metadata quorum's Raft transport
// ("SLRF") shares the nodes' listeners this way.
//
// broker.go assembles a node from the layers below: the metadata quorum and
// the controller, the partition manager and replica fetchers, the group and
// transaction coordinators, and the goroutines that make it a cluster
// member: the metadata applier (applier.go), registration and heartbeats
// (lifecycle.go), the active controller's clock (controller_driver.go), the
// ISR change sender (alter_partition.go), the channel to the active
// controller and request forwarding (controller_channel.go, forwarding.go)
// and the connections to other brokers (peers.go). Each of those owns its
// state on one goroutine or under its own mutex, documented on its type.
package server
