package vfs

import "testing"

// TestGenerationCountsCrashes: MemFS's generation moves at each crash, and
// the wrappers over it report the same.
func TestGenerationCountsCrashes(t *testing.T) {
	m := NewMem()
	fault := NewFaultFS(m, nil)
	power := NewPowerFS(fault)
	for want := uint64(0); want < 3; want++ {
		for _, g := range []Generationer{m, fault, power} {
			if got := g.Generation(); got != want {
				t.Fatalf("%T generation %d after %d crashes", g, got, want)
			}
		}
		m.Crash()
	}
	if g := NewFaultFS(OS{}, nil).Generation(); g != 0 {
		t.Fatalf("over the OS: generation %d", g)
	}
}
