package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startDivertServer serves echoHandler on a listener whose "TEST"
// connections go to the returned channel.
func startDivertServer(t *testing.T, cfg Config) (*Server, string, <-chan net.Conn) {
	t.Helper()
	cfg.Handler, cfg.MaxRequestBytes = echoHandler{}, 1<<20
	srv := New(cfg)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	diverted := make(chan net.Conn, 4)
	if err := srv.Serve(l, Divert{Magic: "TEST", Handle: func(nc net.Conn) { diverted <- nc }}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, l.Addr().String(), diverted
}

// A connection opening with the magic is handed over without it; Kafka
// clients on the same listener are served as before.
func TestDivertHandsOverMagicConnections(t *testing.T) {
	_, addr, diverted := startDivertServer(t, Config{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("TESThello")); err != nil {
		t.Fatal(err)
	}
	var nc net.Conn
	select {
	case nc = <-diverted:
	case <-time.After(5 * time.Second):
		t.Fatal("connection not diverted")
	}
	defer nc.Close()
	got := make([]byte, 5)
	if _, err := io.ReadFull(nc, got); err != nil || string(got) != "hello" {
		t.Fatalf("diverted connection reads %q (%v), want hello: the magic must be consumed, nothing else", got, err)
	}
	nc.Write([]byte("ok"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, got[:2]); err != nil || string(got[:2]) != "ok" {
		t.Fatalf("reply over the diverted connection: %q, %v", got[:2], err)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil || resp.ClusterID == nil || *resp.ClusterID != "test" {
		t.Fatalf("Kafka client on a listener with diverts: %v", err)
	}
}

// A client that sends part of a size prefix and then pauses past the peek
// deadline is still a Kafka client: the bytes the peek read come first.
func TestPeekDeadlineKeepsPartialBytes(t *testing.T) {
	srv := New(Config{Handler: echoHandler{}, MaxRequestBytes: 1 << 20, PeekTimeout: 20 * time.Millisecond})
	server, client := net.Pipe()
	defer client.Close()
	c := newConn(srv, server, "pipe", false)
	done := make(chan bool, 1)
	go func() { done <- c.divert([]Divert{{Magic: "TEST", Handle: func(net.Conn) {}}}) }()
	// net.Pipe is unbuffered: the write returns once the peek has read it.
	if _, err := client.Write([]byte{0, 0}); err != nil {
		t.Fatal(err)
	}
	if <-done {
		t.Fatal("a connection that timed out in the peek was taken as finished")
	}
	if !bytes.Equal(c.prefix, []byte{0, 0}) {
		t.Fatalf("prefix %v, want the two bytes read", c.prefix)
	}
	go client.Write([]byte{0, 9})
	got := make([]byte, 4)
	if _, err := io.ReadFull(c.source(), got); err != nil || !bytes.Equal(got, []byte{0, 0, 0, 9}) {
		t.Fatalf("Kafka reader sees %v (%v), want the peeked bytes then the rest", got, err)
	}
}

// A silent connection stuck in the peek does not hold up the listener, and
// once it speaks it is answered as Kafka, the peeked bytes included.
func TestSilentClientBlocksNothing(t *testing.T) {
	srv, addr, _ := startDivertServer(t, Config{PeekTimeout: time.Hour})
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	waitTracked(t, srv, 1)
	other, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	writeRaw(t, other, kmsg.ApiVersions.Int16(), 0, 1, nil)
	readFrame(t, other)
	frame := rawFrame(kmsg.ApiVersions.Int16(), 0, 7, nil)
	for _, part := range [][]byte{frame[:1], frame[1:6], frame[6:]} {
		if _, err := silent.Write(part); err != nil {
			t.Fatal(err)
		}
	}
	if resp := readFrame(t, silent); len(resp) < 4 || resp[3] != 7 {
		t.Fatalf("silent client's request answered with %v, want correlation 7", resp)
	}
}

// rawFrame is the frame writeRaw sends.
func rawFrame(key, version int16, corr int32, body []byte) []byte {
	frame := binary.BigEndian.AppendUint16(nil, uint16(key))
	frame = binary.BigEndian.AppendUint16(frame, uint16(version))
	frame = binary.BigEndian.AppendUint32(frame, uint32(corr))
	frame = binary.BigEndian.AppendUint16(frame, 0xffff)
	frame = append(frame, body...)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(frame))), frame...)
}

// Close does not wait for a connection stuck in the peek.
func TestCloseInterruptsPeek(t *testing.T) {
	srv, addr, _ := startDivertServer(t, Config{PeekTimeout: time.Hour})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitTracked(t, srv, 1)
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a silent connection's peek")
	}
}

func waitTracked(t *testing.T, srv *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		srv.mu.Lock()
		got := len(srv.conns)
		srv.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d tracked connections, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// A magic that is not four bytes, or that reads as an acceptable request
// size, could swallow Kafka requests: Serve refuses it.
func TestServeRefusesAmbiguousMagic(t *testing.T) {
	srv := New(Config{Handler: echoHandler{}, MaxRequestBytes: 1 << 20})
	defer srv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	handle := func(net.Conn) {}
	for magic, want := range map[string]string{"ABC": "4-byte", "\x00\x00\x01\x00": "socket.request.max.bytes"} {
		if err := srv.Serve(l, Divert{Magic: magic, Handle: handle}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("magic %q: err = %v, want it to mention %q", magic, err, want)
		}
	}
	if err := srv.Serve(l, Divert{Magic: "SLRF"}); err == nil {
		t.Error("a divert without a handler was accepted")
	}
}
