package server

import (
	"errors"
	"net"
	"syscall"
)

// errNothingPending: no connection was waiting to be accepted.
var errNothingPending = errors.New("no pending connection")

// acceptAndCloseNow accepts one pending connection on l without waiting
// and closes it at once: the client sees its connection closed. It fails
// with errNothingPending when none is pending, and with EMFILE when there
// is still no descriptor to accept it with. Linux's accept4 fails with
// EMFILE before it looks at the queue, so this, with a descriptor freed
// first, is the only way to tell whether a client is waiting.
func acceptAndCloseNow(l net.Listener) error {
	sc, ok := l.(syscall.Conn)
	if !ok {
		return errors.ErrUnsupported
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var acceptErr error
	err = rc.Control(func(fd uintptr) {
		// The listener's descriptor is non-blocking (Go's poller owns it):
		// an empty queue answers EAGAIN at once.
		var nfd int
		nfd, _, acceptErr = syscall.Accept4(int(fd), syscall.SOCK_CLOEXEC)
		if acceptErr == nil {
			syscall.Close(nfd)
		}
	})
	switch {
	case err != nil:
		return err
	case errors.Is(acceptErr, syscall.EAGAIN):
		return errNothingPending
	}
	return acceptErr
}
