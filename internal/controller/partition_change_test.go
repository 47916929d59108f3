package controller

import (
	"reflect"
	"testing"

	"github.com/sluice-io/sluice/internal/metadata"
)

// Each rule of Kafka's PartitionChangeBuilder (without reassignment or ELR)
// that the controller relies on.
func TestPartitionChangeBuild(t *testing.T) {
	base := metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 5, PartitionEpoch: 9}
	active := func(ids ...int32) func(int32) bool {
		return func(r int32) bool {
			for _, id := range ids {
				if id == r {
					return true
				}
			}
			return false
		}
	}
	tests := []struct {
		name    string
		current metadata.Partition
		change  func(*partitionChange)
		want    metadata.Partition
		changed bool
		unclean bool
	}{
		{
			name:    "nothing to do",
			current: base,
			change:  func(pc *partitionChange) { pc.acceptable = active(1, 2, 3) },
			want:    base,
		},
		{
			name:    "ISR shrink keeps the leader and its epoch",
			current: base,
			change: func(pc *partitionChange) {
				pc.acceptable = active(1, 2, 3)
				pc.targetISR = []int32{1, 3}
			},
			want:    metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 3}, Leader: 1, LeaderEpoch: 5, PartitionEpoch: 10},
			changed: true,
		},
		{
			name:    "leader removed: next ISR member in replica order leads",
			current: base,
			change: func(pc *partitionChange) {
				pc.acceptable = active(2, 3)
				pc.targetISR = []int32{2, 3}
			},
			want:    metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 6, PartitionEpoch: 10},
			changed: true,
		},
		{
			name:    "leader removed, the only live ISR member is the last replica",
			current: base,
			change: func(pc *partitionChange) {
				pc.acceptable = active(3)
				pc.targetISR = []int32{2, 3}
			},
			want:    metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}, Leader: 3, LeaderEpoch: 6, PartitionEpoch: 10},
			changed: true,
		},
		{
			name:    "last ISR member removed: ISR kept, leader -1",
			current: metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 4},
			change: func(pc *partitionChange) {
				pc.acceptable = active(2)
				pc.targetISR = nil
			},
			want:    metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: -1, LeaderEpoch: 3, PartitionEpoch: 5},
			changed: true,
		},
		{
			name:    "unclean: no live ISR member, first live replica leads alone, recovering",
			current: metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 4},
			change: func(pc *partitionChange) {
				pc.acceptable = active(3, 2)
				pc.targetISR = nil
				pc.election = electUnclean
			},
			want: metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{2}, Leader: 2, LeaderEpoch: 3, PartitionEpoch: 5,
				LeaderRecoveryState: metadata.LeaderRecovering},
			changed: true,
			unclean: true,
		},
		{
			name:    "unclean allowed but a live ISR member exists: clean",
			current: base,
			change: func(pc *partitionChange) {
				pc.acceptable = active(2, 3)
				pc.targetISR = []int32{3}
				pc.election = electUnclean
			},
			want:    metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{3}, Leader: 3, LeaderEpoch: 6, PartitionEpoch: 10},
			changed: true,
		},
		{
			name:    "unclean with no live replica at all: leader -1",
			current: metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: -1, LeaderEpoch: 2, PartitionEpoch: 4},
			change: func(pc *partitionChange) {
				pc.acceptable = active()
				pc.election = electUnclean
			},
			want: metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: -1, LeaderEpoch: 2, PartitionEpoch: 4},
		},
		{
			name:    "leaderless partition elects its live ISR member",
			current: metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{2}, Leader: -1, LeaderEpoch: 2, PartitionEpoch: 4},
			change:  func(pc *partitionChange) { pc.acceptable = active(2) },
			want:    metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{2}, Leader: 2, LeaderEpoch: 3, PartitionEpoch: 5},
			changed: true,
		},
		{
			name:    "preferred replica back in the ISR takes over",
			current: metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3, 1}, Leader: 2, LeaderEpoch: 5, PartitionEpoch: 9},
			change: func(pc *partitionChange) {
				pc.acceptable = active(1, 2, 3)
				pc.election = electPreferred
			},
			want:    metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3, 1}, Leader: 1, LeaderEpoch: 6, PartitionEpoch: 10},
			changed: true,
		},
		{
			name:    "preferred replica not in the ISR: the current leader stays",
			current: metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 5, PartitionEpoch: 9},
			change: func(pc *partitionChange) {
				pc.acceptable = active(1, 2, 3)
				pc.election = electPreferred
			},
			want: metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 5, PartitionEpoch: 9},
		},
		{
			name:    "preferred election with neither preferred nor current leader live",
			current: metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 2, LeaderEpoch: 5, PartitionEpoch: 9},
			change: func(pc *partitionChange) {
				pc.acceptable = active(3)
				pc.election = electPreferred
			},
			want:    metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 3, LeaderEpoch: 6, PartitionEpoch: 10},
			changed: true,
		},
		{
			name: "leader reports it recovered",
			current: metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{2}, Leader: 2, LeaderEpoch: 3, PartitionEpoch: 5,
				LeaderRecoveryState: metadata.LeaderRecovering},
			change: func(pc *partitionChange) {
				pc.acceptable = active(2)
				pc.targetRecovery = metadata.LeaderRecovered
			},
			want:    metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{2}, Leader: 2, LeaderEpoch: 3, PartitionEpoch: 6},
			changed: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := newPartitionChange(tt.current, nil)
			tt.change(&pc)
			got := pc.build()
			if got.changed != tt.changed || got.unclean != tt.unclean {
				t.Fatalf("changed %v unclean %v, want %v %v", got.changed, got.unclean, tt.changed, tt.unclean)
			}
			if !reflect.DeepEqual(got.next, tt.want) {
				t.Fatalf("next:\n got %+v\nwant %+v", got.next, tt.want)
			}
		})
	}
}
