package server

import (
	"net"
	"strconv"
	"sync"

	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/wire"
)

// peerClients holds this broker's connections to other brokers'
// inter-broker listeners: one for replica fetches per fetcher (a
// long-polling fetch would hold up anything queued behind it on a shared
// connection) and one for other requests (transaction markers). A broker
// that re-registers at another address gets new clients.
//
// Threading: mu guards the maps; clients are safe for concurrent use.
type peerClients struct {
	b *Broker

	mu      sync.Mutex
	fetch   map[int32]*peerClient
	control map[int32]*peerClient
}

type peerClient struct {
	addr   string
	client *wire.Client
}

func newPeerClients(b *Broker) *peerClients {
	return &peerClients{b: b, fetch: map[int32]*peerClient{}, control: map[int32]*peerClient{}}
}

// fetchClient is the replica fetchers' connection to a leader.
func (p *peerClients) fetchClient(brokerID int32) (replica.Requester, bool) {
	return p.get(p.fetch, brokerID)
}

// controlClient is the connection for other broker-to-broker requests.
func (p *peerClients) controlClient(brokerID int32) (*wire.Client, bool) {
	return p.get(p.control, brokerID)
}

func (p *peerClients) get(clients map[int32]*peerClient, brokerID int32) (*wire.Client, bool) {
	addr, ok := p.address(brokerID)
	if !ok {
		return nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := clients[brokerID]; c != nil {
		if c.addr == addr {
			return c.client, true
		}
		c.client.Close()
	}
	c := &peerClient{addr: addr, client: wire.New(addr)}
	clients[brokerID] = c
	return c.client, true
}

// address is the broker's registered inter-broker endpoint.
func (p *peerClients) address(brokerID int32) (string, bool) {
	br := p.b.quorum.Image().Broker(brokerID)
	if br == nil {
		return "", false
	}
	e, ok := interBrokerEndpoint(br, p.b.cfg.InterBrokerListenerName)
	if !ok {
		return "", false
	}
	return net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port))), true
}

// interBrokerEndpoint picks the endpoint of the named listener, else the
// broker's first.
func interBrokerEndpoint(br *metadata.Broker, listener string) (metadata.Endpoint, bool) {
	for _, e := range br.Endpoints {
		if e.Listener == listener {
			return e, true
		}
	}
	if len(br.Endpoints) == 0 {
		return metadata.Endpoint{}, false
	}
	return br.Endpoints[0], true
}

func (p *peerClients) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range []map[int32]*peerClient{p.fetch, p.control} {
		for id, c := range m {
			c.client.Close()
			delete(m, id)
		}
	}
}
