//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd || illumos)

package server

import "os"

// lockFile is not implemented here (no flock(2)): the data directory is
// used unlocked, and lockDataDir says so in a warning.
func lockFile(*os.File) (bool, error) { return false, nil }
