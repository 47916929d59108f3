package server

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// Divert hands a listener's connections that open with Magic to Handle
// instead of the Kafka reader. This is how Raft shares the CONTROLLER
// listener with Kafka requests (quorum.TransportMagic): one port per node
// for everything a controller speaks, as in KRaft.
type Divert struct {
	// Magic is the four bytes a diverted connection opens with; they are
	// consumed before Handle sees the connection. Read as a Kafka size
	// prefix they must exceed socket.request.max.bytes, so that no Kafka
	// request can be taken for a diverted connection (Serve checks).
	Magic string
	// Handle owns the connection from then on: the server neither tracks
	// nor closes it. It runs on the connection's goroutine, and Server.Close
	// waits for it, so it must return promptly: hand the connection over,
	// do not serve it.
	Handle func(net.Conn)
}

// defaultPeekTimeout is how long a connection to a listener with diverts
// may take to send its first four bytes before it is served as Kafka.
// Dialers that divert write their magic at once; Kafka clients send their
// first request at once too, so this only matters for a client that
// connects and stays silent, which then gets today's plain Kafka service.
const defaultPeekTimeout = 10 * time.Second

// checkDiverts refuses a divert whose magic is malformed or could be the
// start of a Kafka request.
func (s *Server) checkDiverts(diverts []Divert) error {
	for _, d := range diverts {
		if len(d.Magic) != 4 || d.Handle == nil {
			return fmt.Errorf("divert %q: want a 4-byte magic and a handler", d.Magic)
		}
		if size := int32(binary.BigEndian.Uint32([]byte(d.Magic))); size >= 0 && size <= s.cfg.MaxRequestBytes {
			return fmt.Errorf("divert %q: as a request size (%d) it is within socket.request.max.bytes %d, so a Kafka request could look like it",
				d.Magic, size, s.cfg.MaxRequestBytes)
		}
	}
	return nil
}

// divert reads a connection's first four bytes and, when they are a
// divert's magic, hands the connection to it. It reports whether the
// connection is finished with here (handed over, or closed before sending
// anything). Otherwise the bytes read are kept in c.prefix for the Kafka
// reader. It runs on the connection's own goroutine: a silent client holds
// up nothing but itself, and only until the peek deadline.
func (c *conn) divert(diverts []Divert) bool {
	if len(diverts) == 0 {
		return false
	}
	var magic [4]byte
	c.nc.SetReadDeadline(time.Now().Add(c.srv.peekTimeout()))
	n, err := io.ReadFull(c.nc, magic[:])
	c.nc.SetReadDeadline(time.Time{})
	c.prefix = magic[:n]
	switch {
	case err != nil && errors.Is(err, os.ErrDeadlineExceeded):
		return false
	case err != nil:
		if n > 0 && c.srv.ctx.Err() == nil {
			c.log.Debug("connection closed before its first request", "err", err)
		}
		c.nc.Close()
		return true
	}
	for _, d := range diverts {
		if string(magic[:]) == d.Magic {
			c.log.Debug("diverting connection", "magic", d.Magic)
			d.Handle(c.nc)
			return true
		}
	}
	return false
}

func (s *Server) peekTimeout() time.Duration {
	if s.cfg.PeekTimeout > 0 {
		return s.cfg.PeekTimeout
	}
	return defaultPeekTimeout
}

// source is what the Kafka reader reads: the bytes the divert peek took,
// then the connection.
func (c *conn) source() io.Reader {
	if len(c.prefix) == 0 {
		return c.nc
	}
	return io.MultiReader(bytes.NewReader(c.prefix), c.nc)
}
