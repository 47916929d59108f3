package controller

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/metadata"
)

// placeReplicas assigns count new partitions replicationFactor replicas
// each over the active brokers (unfenced, not in controlled shutdown), with
// Kafka's StripedReplicaPlacer: replicas go round-robin over the racks
// (brokers without broker.rack form one rack of their own) and round-robin
// within each rack, from random starting points, each partition starting
// one rack further on, so replicas spread over racks first and leaders
// spread over brokers. Errors are Kafka's InvalidReplicationFactorException
// messages as ReplicationControlManager wraps them.
func placeReplicas(img *metadata.Image, count int32, replicationFactor int16, random func(int) int) ([][]int32, *apiError) {
	fail := func(reason string) *apiError {
		return newAPIError(kerr.InvalidReplicationFactor,
			"Unable to replicate the partition %d time(s): %s", replicationFactor, reason)
	}
	racks := newRackList(activeBrokers(img), random)
	switch {
	case replicationFactor <= 0:
		return nil, fail(fmt.Sprintf("Invalid replication factor %d: the replication factor must be positive.", replicationFactor))
	case racks.numBrokers == 0:
		return nil, fail("All brokers are currently fenced.")
	case int(replicationFactor) > racks.numBrokers:
		return nil, fail(fmt.Sprintf("The target replication factor of %d cannot be reached because only %d broker(s) are registered.",
			replicationFactor, racks.numBrokers))
	}
	assignments := make([][]int32, count)
	for i := range assignments {
		assignments[i] = racks.place(int(replicationFactor))
	}
	return assignments, nil
}

// activeBrokers are the brokers new replicas may go to, by node ID.
func activeBrokers(img *metadata.Image) []*metadata.Broker {
	var active []*metadata.Broker
	for _, b := range img.Brokers() {
		if b.Active() {
			active = append(active, b)
		}
	}
	return active
}

// brokerList is one rack's brokers, handed out round-robin from a random
// offset; each iteration epoch (one partition) starts one further on
// (Kafka's StripedReplicaPlacer.BrokerList).
type brokerList struct {
	brokers []int32
	// index counts the brokers handed out in the current epoch.
	index int
	// offset is added to index, modulo the list size.
	offset int
	// epoch is the iteration epoch index belongs to.
	epoch int
}

// next returns the next broker for epoch, or -1 once every broker of the
// list was handed out in it.
func (l *brokerList) next(epoch int) int32 {
	if len(l.brokers) == 0 {
		return -1
	}
	if l.epoch != epoch {
		l.epoch = epoch
		l.index = 0
		l.offset = (l.offset + 1) % len(l.brokers)
	}
	if l.index >= len(l.brokers) {
		return -1
	}
	broker := l.brokers[(l.index+l.offset)%len(l.brokers)]
	l.index++
	return broker
}

// rack names a rack; brokers without broker.rack share the unnamed one,
// which sorts first (Kafka's OptionalStringComparator).
type rack struct {
	named bool
	name  string
}

func compareRacks(a, b rack) int {
	if a.named != b.named {
		if !a.named {
			return -1
		}
		return 1
	}
	return cmp.Compare(a.name, b.name)
}

// rackList is Kafka's StripedReplicaPlacer.RackList over active brokers
// only (Kafka's usable brokers are the unfenced ones too, so its fenced
// lists stay empty and are left out here).
type rackList struct {
	random     func(int) int
	names      []rack
	racks      map[rack]*brokerList
	numBrokers int
	epoch      int
	offset     int
}

func newRackList(brokers []*metadata.Broker, random func(int) int) *rackList {
	l := &rackList{random: random, racks: make(map[rack]*brokerList)}
	for _, b := range brokers {
		key := rack{}
		if b.Rack != nil {
			key = rack{named: true, name: *b.Rack}
		}
		list := l.racks[key]
		if list == nil {
			list = &brokerList{}
			l.racks[key] = list
			l.names = append(l.names, key)
		}
		list.brokers = append(list.brokers, b.NodeID)
		l.numBrokers++
	}
	// Racks are initialised in name order so that a deterministic random
	// source gives a deterministic placement.
	slices.SortFunc(l.names, compareRacks)
	for _, name := range l.names {
		list := l.racks[name]
		slices.Sort(list.brokers)
		list.offset = random(len(list.brokers))
	}
	if len(l.names) > 0 {
		l.offset = random(len(l.names))
	}
	return l
}

// place returns one partition's replicas, leader first: the leader from the
// first rack at or after the offset that still has a broker this epoch,
// the others round-robin over the racks from the offset, skipping the
// leader's rack once. The caller guarantees 1 <= replicationFactor <=
// numBrokers.
func (l *rackList) place(replicationFactor int) []int32 {
	// After as many partitions as there are brokers, shuffle so the same
	// assignments do not repeat (never for one broker: nothing to vary).
	if l.epoch == l.numBrokers && l.numBrokers > 1 {
		l.shuffle()
		l.epoch = 0
	}
	if l.offset == len(l.names) {
		l.offset = 0
	}
	replicas := make([]int32, 0, replicationFactor)
	firstRack := l.offset
	for {
		if broker := l.racks[l.names[firstRack]].next(l.epoch); broker >= 0 {
			replicas = append(replicas, broker)
			break
		}
		firstRack = (firstRack + 1) % len(l.names)
	}
	rackIndex := l.offset
	for len(replicas) < replicationFactor {
		broker := int32(-1)
		if rackIndex == firstRack {
			firstRack = -1
		} else {
			broker = l.racks[l.names[rackIndex]].next(l.epoch)
		}
		rackIndex = (rackIndex + 1) % len(l.names)
		if broker >= 0 {
			replicas = append(replicas, broker)
		}
	}
	l.epoch++
	l.offset++
	return replicas
}

// shuffle reorders the racks and each rack's brokers (Java's
// Collections.shuffle). Every list also restarts its epoch, so none is left
// exhausted from an earlier epoch of the same number: Kafka can spin
// forever in that corner case; here a list simply starts afresh.
func (l *rackList) shuffle() {
	shuffle(l.names, l.random)
	for _, name := range l.names {
		list := l.racks[name]
		shuffle(list.brokers, l.random)
		list.epoch = -1
	}
}

// shuffle is Java's Collections.shuffle: from the last element down, swap
// with a random earlier one.
func shuffle[T any](values []T, random func(int) int) {
	for i := len(values); i > 1; i-- {
		j := random(i)
		values[i-1], values[j] = values[j], values[i-1]
	}
}
