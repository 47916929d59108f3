package controller

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/metadata"
)

func zeroRand(int) int { return 0 }

// With every random offset 0, Kafka's StripedReplicaPlacer documents the
// pattern: "partition 1: A0, B0, C0; partition 2: B1, C1, A1; partition 3:
// C2, A2, B2".
func TestPlacementStripesOverRacks(t *testing.T) {
	var brokers []testBroker
	for i, rack := range []string{"A", "B", "C"} {
		for j := int32(0); j < 3; j++ {
			brokers = append(brokers, testBroker{id: int32(10*(i+1)) + j, rack: rack})
		}
	}
	img := clusterImage(t, brokers)
	got, failure := placeReplicas(img, 3, 3, zeroRand)
	if failure != nil {
		t.Fatalf("placeReplicas: %v", failure.err())
	}
	want := [][]int32{{10, 20, 30}, {21, 31, 11}, {32, 12, 22}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("placement = %v, want %v", got, want)
	}
}

// Without racks the pattern is a stripe over brokers in ID order.
func TestPlacementWithoutRacks(t *testing.T) {
	img := clusterImage(t, unfencedBrokers(3))
	got, failure := placeReplicas(img, 3, 2, zeroRand)
	if failure != nil {
		t.Fatalf("placeReplicas: %v", failure.err())
	}
	if want := [][]int32{{1, 2}, {2, 3}, {3, 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("placement = %v, want %v", got, want)
	}
}

// Placement uses only active brokers: fenced ones and those in controlled
// shutdown get no new replicas, and the replication factor is bounded by
// how many are active.
func TestPlacementSkipsInactiveBrokers(t *testing.T) {
	img := clusterImage(t, []testBroker{{id: 1}, {id: 2, fenced: true}, {id: 3, shutdown: true}, {id: 4}})
	got, failure := placeReplicas(img, 4, 2, zeroRand)
	if failure != nil {
		t.Fatalf("placeReplicas: %v", failure.err())
	}
	for _, replicas := range got {
		for _, r := range replicas {
			if r != 1 && r != 4 {
				t.Fatalf("placement %v uses inactive broker %d", got, r)
			}
		}
	}
	tests := []struct {
		name    string
		img     *metadata.Image
		factor  int16
		message string
	}{
		{"more replicas than active brokers", img, 3,
			"Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be reached because only 2 broker(s) are registered."},
		{"every broker fenced", clusterImage(t, []testBroker{{id: 1, fenced: true}}), 1,
			"Unable to replicate the partition 1 time(s): All brokers are currently fenced."},
		{"no broker", clusterImage(t, nil), 1,
			"Unable to replicate the partition 1 time(s): All brokers are currently fenced."},
		{"non-positive factor", img, 0,
			"Unable to replicate the partition 0 time(s): Invalid replication factor 0: the replication factor must be positive."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, failure := placeReplicas(tt.img, 1, tt.factor, zeroRand)
			if failure == nil || failure.code != kerr.InvalidReplicationFactor || *failure.message != tt.message {
				t.Fatalf("failure = %v, want INVALID_REPLICATION_FACTOR %q", failure.err(), tt.message)
			}
		})
	}
}

// Properties that hold for any random source, well past the point where
// the placer reshuffles (one round per active broker): replicas are
// distinct, each partition spans min(RF, racks) racks, and every broker
// leads some partitions (the stripe is not exactly even once racks differ
// in how often they are visited, in Kafka too).
func TestPlacementProperties(t *testing.T) {
	for _, layout := range []struct{ racks, perRack, factor int }{{1, 5, 3}, {3, 2, 3}, {3, 3, 2}, {2, 4, 3}, {4, 1, 4}} {
		t.Run(fmt.Sprintf("%dx%d_rf%d", layout.racks, layout.perRack, layout.factor), func(t *testing.T) {
			var brokers []testBroker
			rackOf := map[int32]string{}
			for r := 0; r < layout.racks; r++ {
				for b := 0; b < layout.perRack; b++ {
					id := int32(r*layout.perRack + b + 1)
					rackOf[id] = fmt.Sprintf("rack-%d", r)
					brokers = append(brokers, testBroker{id: id, rack: rackOf[id]})
				}
			}
			img := clusterImage(t, brokers)
			rng := rand.New(rand.NewPCG(1, 2))
			partitions := 12 * len(brokers)
			got, failure := placeReplicas(img, int32(partitions), int16(layout.factor), rng.IntN)
			if failure != nil {
				t.Fatalf("placeReplicas: %v", failure.err())
			}
			leaders := map[int32]int{}
			for _, replicas := range got {
				seen, racks := map[int32]bool{}, map[string]bool{}
				for _, r := range replicas {
					if seen[r] {
						t.Fatalf("replicas %v repeat broker %d", replicas, r)
					}
					seen[r] = true
					racks[rackOf[r]] = true
				}
				if want := min(layout.factor, layout.racks); len(racks) != want {
					t.Fatalf("replicas %v span %d racks, want %d", replicas, len(racks), want)
				}
				leaders[replicas[0]]++
			}
			for id := range rackOf {
				if leaders[id] == 0 {
					t.Fatalf("broker %d leads nothing (leaders %v)", id, leaders)
				}
			}
		})
	}
}
