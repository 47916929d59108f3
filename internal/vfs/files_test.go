package vfs

import (
	"math/rand/v2"
	"testing"
)

// WriteFileAtomic's result survives a crash once it returns; a crash
// during a rewrite (here: of the temporary file, before the rename) keeps
// the old contents, never a mix.
func TestWriteFileAtomic(t *testing.T) {
	m := newDurableDir(t)
	if err := WriteFileAtomic(m, "d/state", []byte("first")); err != nil {
		t.Fatal(err)
	}
	m.Crash()
	if got, _ := contents(t, m, "d/state"); got != "first" {
		t.Fatalf("after a crash: %q", got)
	}
	tmp, _ := m.Create("d/state.tmp")
	mustWrite(t, tmp, "second, torn")
	m.CrashTorn(rand.New(rand.NewPCG(1, 2)))
	if got, _ := contents(t, m, "d/state"); got != "first" {
		t.Fatalf("after a crash mid-rewrite: %q", got)
	}
	if err := WriteFileAtomic(m, "d/state", []byte("second")); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(m, "d/state", 6)
	if err != nil || string(got) != "second" {
		t.Fatalf("ReadFile: %q, %v", got, err)
	}
	if _, err := ReadFile(m, "d/state", 5); err == nil {
		t.Error("ReadFile read a file above its limit")
	}
}
