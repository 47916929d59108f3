package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/api"
	"github.com/sluice-io/sluice/internal/wire"
)

// errNoController means the metadata quorum has no leader right now (an
// election is in progress); callers retry.
var errNoController = errors.New("no active controller")

// controllerChannel sends requests to the active controller (Kafka's
// NodeToControllerChannelManager): over the voter's CONTROLLER listener,
// or, when this node is the active controller, straight to its own
// handlers, so one code path serves both.
//
// Threading: safe for concurrent use; mu guards the client cache.
type controllerChannel struct {
	b *Broker

	mu      sync.Mutex
	clients map[int32]*wire.Client
	// guess rotates through the voters while no leader is known.
	guess int
}

func newControllerChannel(b *Broker) *controllerChannel {
	return &controllerChannel{b: b, clients: map[int32]*wire.Client{}}
}

// send delivers req (its version already set) to the active controller.
func (c *controllerChannel) send(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	leader, ok := c.b.quorum.Leader()
	if !ok {
		// A broker-only node learns the leader from the metadata log,
		// which it receives only once it has registered: until then it
		// asks each voter in turn (one that does not lead answers
		// NOT_CONTROLLER, and the caller retries).
		if leader, ok = c.nextGuess(); !ok {
			return nil, errNoController
		}
	}
	if leader == c.b.cfg.NodeID {
		return c.local(ctx, req)
	}
	client, err := c.client(leader)
	if err != nil {
		return nil, err
	}
	resp, err := client.Request(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("request %s to controller %d: %w", kmsg.NameForKey(req.Key()), leader, err)
	}
	return resp, nil
}

// local runs req through this node's own handlers.
func (c *controllerChannel) local(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	r := c.b.handlers.Handle(ctx, &api.Request{Key: req.Key(), Version: req.GetVersion(), ClientID: "sluice-broker", Body: req})
	if r.Wait != nil {
		r.Wait()
	}
	if r.Release != nil {
		defer r.Release()
	}
	if r.Response == nil {
		return nil, fmt.Errorf("request %s: no response", kmsg.NameForKey(req.Key()))
	}
	return r.Response, nil
}

// client returns the cached client for a voter's controller listener.
func (c *controllerChannel) client(nodeID int32) (*wire.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl := c.clients[nodeID]; cl != nil {
		return cl, nil
	}
	for _, v := range c.b.cfg.ControllerQuorumVoters {
		if v.NodeID == nodeID {
			cl := wire.New(net.JoinHostPort(v.Host, strconv.Itoa(v.Port)))
			c.clients[nodeID] = cl
			return cl, nil
		}
	}
	return nil, fmt.Errorf("controller %d is not in controller.quorum.voters", nodeID)
}

// nextGuess is the next voter to try while the leader is unknown.
func (c *controllerChannel) nextGuess() (int32, bool) {
	voters := c.b.cfg.ControllerQuorumVoters
	if len(voters) == 0 || c.b.cfg.IsController() {
		return 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.guess = (c.guess + 1) % len(voters)
	return voters[c.guess].NodeID, true
}

func (c *controllerChannel) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, cl := range c.clients {
		cl.Close()
		delete(c.clients, id)
	}
}
