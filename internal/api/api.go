// Package api answers Kafka requests: one file per API key (00_produce.go,
// 01_fetch.go, ...), each starting with the versions it supports and the
// KIPs it follows. Handlers validate, call the layers below (replica,
// controller, metadata) and build kmsg responses; they never touch sockets
// or files.
//
// Two kinds of error: what the client should see is a Kafka error code in
// the response, per topic and partition. A handler never fails a request
// with a Go error: the server closes a connection only for frames it cannot
// decode.
//
// Threading: Handle is called by each connection's reader goroutine, in
// request order, concurrently across connections. Work that must wait (a
// durable append, a long-poll fetch) is returned as Reply.Wait and runs on
// the connection's writer goroutine, so the next request's append can start
// while the previous one's fsync is in flight: that is what lets one
// producer connection's pipelined requests share fsyncs.
package api

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Request is one decoded request with its header.
type Request struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      string
	ClientHost    string
	// UnsupportedVersion is set for an ApiVersions request whose version is
	// above ours: it is answered at v0 with UNSUPPORTED_VERSION (KIP-511).
	UnsupportedVersion bool
	Body               kmsg.Request
}

// Reply is a handler's answer.
type Reply struct {
	// Response is encoded and sent once Wait (if any) returns; nil sends
	// nothing (Produce with acks=0).
	Response kmsg.Response
	// Wait, when non-nil, finishes the response on the connection's writer
	// goroutine: it may block until data is durable or a fetch is satisfied,
	// and must return when the request's context ends.
	Wait func()
	// Release, when non-nil, runs once the response has been written (or
	// dropped): the handler may then reuse buffers the response pointed to.
	Release func()
}

// Handler answers decoded requests; the server depends only on this.
type Handler interface {
	// Versions reports the supported version range of an API key.
	Versions(key int16) (minVersion, maxVersion int16, ok bool)
	// Handle answers one request; ctx ends when the connection closes.
	Handle(ctx context.Context, req *Request) Reply
}

// handlerFunc answers one API key.
type handlerFunc func(b *Broker, ctx context.Context, req *Request) Reply

// route is one API key's entry in the registry.
type route struct {
	key        kmsg.Key
	minVersion int16
	maxVersion int16
	handle     handlerFunc
}

// routes is the handler registry, filled by each API file's init-free
// registration in registry.go. ApiVersions is derived from it.
func (b *Broker) routeFor(key int16) (route, bool) {
	if key < 0 || int(key) >= len(b.routes) {
		return route{}, false
	}
	r := b.routes[key]
	return r, r.handle != nil
}

// Versions implements Handler.
func (b *Broker) Versions(key int16) (int16, int16, bool) {
	r, ok := b.routeFor(key)
	return r.minVersion, r.maxVersion, ok
}

// Handle implements Handler.
func (b *Broker) Handle(ctx context.Context, req *Request) Reply {
	r, ok := b.routeFor(req.Key)
	if !ok {
		return Reply{}
	}
	return r.handle(b, ctx, req)
}

// supported lists the registered routes in key order.
func (b *Broker) supported() []route {
	var out []route
	for _, r := range b.routes {
		if r.handle != nil {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// reply wraps an immediate response.
func reply(resp kmsg.Response) Reply { return Reply{Response: resp} }
