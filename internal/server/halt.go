package server

import "context"

// Halt stops the broker the way a power cut or a SIGKILL does to the rest
// of the cluster: no controlled shutdown (its leaderships stay where they
// are until the controller fences it), no handover of the active
// controller. Its components are still closed in order, so the process can
// start a new broker on the same ports: for a power cut the caller first
// cuts the file system under it (a crashed vfs.MemFS refuses every write),
// else the logs are flushed and closed as by Close. Close and Halt share
// one teardown: whichever runs first decides, a second call returns its
// result. Tests use it (internal/testcluster's PowerCut).
func (b *Broker) Halt() error {
	b.closeOnce.Do(func() { b.closeErr = b.close(false) })
	return b.closeErr
}

// WaitServing returns once this broker, in its current incarnation, is
// registered with the active controller and unfenced, and has applied the
// metadata it knew at the call (its partitions opened with their roles),
// or ctx ends. A single node does this inside StartBroker; a cluster node
// joins in the background, and tests that restart nodes wait for it
// (after a restart the controller refuses the new incarnation until the
// old one's session has expired, while Metadata still lists the old one).
func (b *Broker) WaitServing(ctx context.Context) error { return b.waitServing(ctx) }
