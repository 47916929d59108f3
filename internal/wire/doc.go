// Package wire is Sluice's own small Kafka client for the RPCs one node
// sends another: replica Fetch, BrokerRegistration, BrokerHeartbeat,
// AlterPartition, WriteTxnMarkers, forwarded admin requests. The client and
// CLI use franz-go's kgo; the broker does not, because kgo owns metadata,
// retries and version negotiation, and a broker-to-broker RPC wants none of
// them: the caller knows the node, picks the version (from the feature
// levels the cluster agreed on) and decides what to retry.
//
// It imports no other package of the module, so any layer may use it.
//
// # Wire framing
//
// Requests are framed by kmsg's RequestFormatter, responses parsed here (all
// integers big-endian):
//
//	request:  size int32 | api_key int16 | api_version int16 | correlation_id int32 |
//	          client_id nullable string (int16 length, "sluice-broker") |
//	          [tagged fields: request header v2, flexible versions] | body
//	response: size int32 | correlation_id int32 |
//	          [tagged fields: response header v1, flexible versions except
//	          ApiVersions, which always answers with header v0 (KIP-511)] | body
//
// # Connection and threading contract
//
// A Client talks to one address over at most one TCP connection, dialled on
// the first Request (and again on the first Request after the connection
// failed). Request is safe for concurrent use and pipelines: each call
// writes its frame under a write lock and waits for its own response, which
// one reader goroutine per connection hands over by correlation ID. Kafka
// answers a connection's requests in order, so a slow request (a long-poll
// Fetch) delays every response queued behind it: give heartbeats and
// replica fetches separate Clients.
//
// Any transport failure (dial, write, read, a frame that does not decode, a
// response whose correlation ID is not the oldest outstanding one) closes
// the connection and fails every request waiting on it; the next Request
// redials. A Request whose context deadline passes closes the connection too
// (as Kafka's NetworkClient does on request.timeout.ms), since the server is
// evidently stuck; a Request whose context is cancelled merely stops
// waiting, and its late response is discarded. Close closes the connection
// and waits for the reader goroutine.
package wire
