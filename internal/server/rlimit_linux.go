package server

import (
	"fmt"
	"syscall"
)

// raiseFileLimit raises RLIMIT_NOFILE's soft limit to the hard limit (the
// most an unprivileged process may open) and returns the limit before and
// after. Go's runtime already does this at start on Linux since Go 1.19;
// doing it here too makes it explicit, and covers a caller that lowered it.
func raiseFileLimit() (before, after uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, fmt.Errorf("read RLIMIT_NOFILE: %w", err)
	}
	before = lim.Cur
	if lim.Cur >= lim.Max {
		return before, lim.Cur, nil
	}
	raised := syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
		return before, before, fmt.Errorf("raise RLIMIT_NOFILE from %d to %d: %w", lim.Cur, lim.Max, err)
	}
	return before, lim.Max, nil
}
