package scale

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/testbin"
)

// tinyFileLimit is the open-file limit TestFileBudgetExhausted runs the
// broker under: far fewer descriptors than its partitions have files
// (three per partition), and a connection cap of a few dozen.
const tinyFileLimit = 256

// TestFileBudgetExhausted is issue 11's "exhaust the budget on purpose":
// under a tiny RLIMIT_NOFILE the broker still hosts and serves a topic of
// 1,000 partitions (their files are opened and closed under the budget),
// refuses a topic over sluice.max.partitions with POLICY_VIOLATION and a
// message naming the key, refuses connections over the cap it derived
// from the limit by closing them at once while it keeps serving the
// connections it has, logs those refusals once per interval rather than
// once each, and accepts new connections as soon as there is room again.
func TestFileBudgetExhausted(t *testing.T) {
	b := newBroker(t, testbin.Build(t, t.TempDir()), tinyFileLimit, "sluice.max.partitions=1500")
	b.start()
	if log := b.Log(); !strings.Contains(log, "open-file budget") && !strings.Contains(log, "open-file limit too small") {
		t.Fatalf("the broker did not log its open-file budget:\n%s", b.LogTail())
	}
	adm := newAdmin(t, b.address)
	topics := []string{"budget-000"}
	createTopics(t, adm, topics)
	waitServing(t, b, adm, topics, 0, time.Now())
	produceOneEach(t, b.address, topics)
	readSample(t, b.address, topics)
	if fds := b.openFiles(); fds >= tinyFileLimit {
		t.Fatalf("%d descriptors open under a limit of %d", fds, tinyFileLimit)
	}

	refuseOverPartitionCap(t, adm)
	held := fillConnections(t, b.address)
	// The connections the admin client already has keep serving.
	waitServing(t, b, adm, topics, 1, time.Now())
	for _, c := range held {
		c.Close()
	}
	// Room again: a new client connects and reads.
	readSample(t, b.address, topics)
	if n := strings.Count(b.Log(), "refusing connections: max.connections reached"); n < 1 || n > 2 {
		t.Fatalf("refused connections logged %d times; want once per interval (1, or 2 across an interval boundary)", n)
	}
	if fds := b.openFiles(); fds >= tinyFileLimit {
		t.Fatalf("%d descriptors open under a limit of %d", fds, tinyFileLimit)
	}
}

// refuseOverPartitionCap asks for a second topic of 1,000 partitions,
// which would put 2,000 on the broker: refused, and nothing created.
func refuseOverPartitionCap(t *testing.T, adm *kadm.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := adm.CreateTopics(ctx, partitionsPerTopic, 1, nil, "budget-001")
	if err != nil {
		t.Fatalf("create topic over the cap: %v", err)
	}
	r := resp["budget-001"]
	if !errors.Is(r.Err, kerr.PolicyViolation) || !strings.Contains(r.ErrMessage, "sluice.max.partitions") {
		t.Fatalf("topic over sluice.max.partitions: got %v (%q), want POLICY_VIOLATION naming the key", r.Err, r.ErrMessage)
	}
	listed, err := adm.ListTopics(ctx, "budget-001")
	if err != nil {
		t.Fatal(err)
	}
	if listed.Has("budget-001") {
		t.Fatal("the refused topic exists")
	}
}

// fillConnections opens connections until the broker closes a new one at
// once (max.connections, derived from the limit), then a few more that
// must be refused too, and returns the ones it holds open.
func fillConnections(t *testing.T, address string) []net.Conn {
	t.Helper()
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	refused := 0
	for attempt := 0; attempt < tinyFileLimit && refused < 20; attempt++ {
		c, err := net.DialTimeout("tcp", address, 5*time.Second)
		if err != nil {
			t.Fatalf("dial after %d connections: %v (the listener must keep accepting)", len(held), err)
		}
		if closedAtOnce(c) {
			refused++
			c.Close()
			continue
		}
		if refused > 0 {
			t.Fatalf("connection %d accepted after %d refusals with none closed", len(held)+1, refused)
		}
		held = append(held, c)
	}
	if refused == 0 {
		t.Fatalf("%d connections held under a limit of %d descriptors, none refused", len(held), tinyFileLimit)
	}
	t.Logf("held %d connections; %d more refused", len(held), refused)
	return held
}

// closedAtOnce reports whether the broker closes c without a request: a
// refused connection reads EOF (or a reset) promptly, an accepted one
// times out waiting.
func closedAtOnce(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		c.SetReadDeadline(time.Time{})
		return false
	}
	return err == io.EOF || err != nil
}
