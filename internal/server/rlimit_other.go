//go:build !linux

package server

import "errors"

// raiseFileLimit is Linux-only; elsewhere the budget assumes
// assumedFileLimit descriptors.
func raiseFileLimit() (before, after uint64, err error) {
	return 0, 0, errors.New("reading the open-file limit is implemented on Linux only")
}
