//go:build !linux

package server

import (
	"errors"
	"net"
)

// errNothingPending: no connection was waiting to be accepted.
var errNothingPending = errors.New("no pending connection")

// acceptAndCloseNow is implemented on Linux only; elsewhere the accept
// loop only backs off on EMFILE.
func acceptAndCloseNow(net.Listener) error { return errors.ErrUnsupported }
