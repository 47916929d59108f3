//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd || illumos

package server

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes an exclusive flock(2) on f without waiting (Kafka's
// FileLock.tryLock). Another open file description holding it, in this
// process or another, is errDirLocked.
func lockFile(f *os.File) (bool, error) {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false, errDirLocked
		}
		return false, err
	}
}
