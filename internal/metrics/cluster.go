package metrics

import "github.com/prometheus/client_golang/prometheus"

// Replication metrics. Each broker reports the partitions it hosts (as
// Kafka's ReplicaManager metrics do), except the offline count, which is
// cluster-wide:
//
//	sluice_partitions                      gauge: partitions with a replica on this broker (Kafka's PartitionCount)
//	sluice_leader_partitions               gauge: partitions this broker leads (LeaderCount)
//	sluice_under_replicated_partitions     gauge: partitions led here whose ISR is smaller than their replica set (UnderReplicatedPartitions)
//	sluice_under_min_isr_partitions        gauge: partitions led here whose ISR is below min.insync.replicas (UnderMinIsrPartitionCount)
//	sluice_offline_partitions              gauge: partitions of the whole cluster without a live leader, from this broker's metadata image
//	sluice_isr_shrinks_total               counter: ISR shrinks of partitions led here (IsrShrinksPerSec)
//	sluice_isr_expands_total               counter: ISR expansions of partitions led here (IsrExpandsPerSec)
//	sluice_leader_elections_total          counter: leaderships this broker won, clean or not
//	sluice_unclean_leader_elections_total  counter: the part of those won from outside the ISR (UncleanLeaderElectionsPerSec)
//	sluice_follower_lag_records            gauge per topic and partition this broker follows: the leader's high watermark minus the local log end (Kafka's replica fetcher ConsumerLag)
//
// Every broker reports sluice_offline_partitions for the whole cluster
// (Kafka reports OfflinePartitionsCount on the active controller only):
// the number is the same on every broker once their metadata has caught
// up, and stays available while the controller moves, so aggregate it with
// max, not sum. The other gauges and the counters add up across brokers.
//
// The counters are read from the metadata log, not from the code that made
// the change: one counts an ISR change or a leader election when this
// broker, while registered under its current incarnation, applies a
// committed partition change that makes or keeps it the leader. A restart
// starts them at zero again (Prometheus' rate handles the reset); the
// history the restarted broker replays is not counted twice.

// ClusterStat is the broker's view of the cluster's replication state,
// read at scrape time.
type ClusterStat struct {
	// OfflinePartitions counts the partitions of the whole cluster whose
	// leader is none or a fenced broker, as the metadata image says.
	OfflinePartitions int
	// ISRShrinks and ISRExpands count ISR changes of partitions led here;
	// LeaderElections the leaderships this broker won and
	// UncleanLeaderElections those won from outside the ISR. Counters:
	// they never decrease while the process runs.
	ISRShrinks             uint64
	ISRExpands             uint64
	LeaderElections        uint64
	UncleanLeaderElections uint64
}

var (
	partitionsDesc = prometheus.NewDesc("sluice_partitions",
		"Partitions with a replica on this broker.", nil, nil)
	leaderPartitionsDesc = prometheus.NewDesc("sluice_leader_partitions",
		"Partitions this broker leads.", nil, nil)
	underReplicatedDesc = prometheus.NewDesc("sluice_under_replicated_partitions",
		"Partitions led by this broker whose in-sync replica set is smaller than their replica set.", nil, nil)
	underMinISRDesc = prometheus.NewDesc("sluice_under_min_isr_partitions",
		"Partitions led by this broker whose in-sync replica set is below min.insync.replicas (acks=all produce is refused).", nil, nil)
	offlinePartitionsDesc = prometheus.NewDesc("sluice_offline_partitions",
		"Partitions of the whole cluster without a live leader, as this broker's metadata says (the same on every broker: aggregate with max).", nil, nil)
	isrShrinksDesc = prometheus.NewDesc("sluice_isr_shrinks_total",
		"In-sync replica set shrinks of partitions led by this broker.", nil, nil)
	isrExpandsDesc = prometheus.NewDesc("sluice_isr_expands_total",
		"In-sync replica set expansions of partitions led by this broker.", nil, nil)
	leaderElectionsDesc = prometheus.NewDesc("sluice_leader_elections_total",
		"Partition leaderships this broker won, unclean elections included.", nil, nil)
	uncleanElectionsDesc = prometheus.NewDesc("sluice_unclean_leader_elections_total",
		"Partition leaderships this broker won from outside the in-sync replica set (unclean.leader.election.enable): records may have been lost.", nil, nil)
	followerLagDesc = prometheus.NewDesc("sluice_follower_lag_records",
		"On a follower: the leader's high watermark, as last fetched, minus this replica's log end offset.", []string{"topic", "partition"}, nil)
)

func describeCluster(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{partitionsDesc, leaderPartitionsDesc, underReplicatedDesc, underMinISRDesc,
		offlinePartitionsDesc, isrShrinksDesc, isrExpandsDesc, leaderElectionsDesc, uncleanElectionsDesc, followerLagDesc} {
		ch <- d
	}
}

// collectCluster turns the scrape's stats into the replication metrics.
func collectCluster(ch chan<- prometheus.Metric, stats Stats) {
	var leaders, underReplicated, underMinISR int
	for _, s := range stats.Partitions {
		if s.Leader {
			leaders++
			if s.ISR < s.Replicas {
				underReplicated++
			}
			if s.UnderMinISR {
				underMinISR++
			}
		}
		if s.Follower && s.FollowerLag >= 0 {
			ch <- prometheus.MustNewConstMetric(followerLagDesc, prometheus.GaugeValue, float64(s.FollowerLag), s.Topic, itoa(s.Partition))
		}
	}
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(partitionsDesc, len(stats.Partitions))
	gauge(leaderPartitionsDesc, leaders)
	gauge(underReplicatedDesc, underReplicated)
	gauge(underMinISRDesc, underMinISR)
	c := stats.Cluster
	gauge(offlinePartitionsDesc, c.OfflinePartitions)
	counter(isrShrinksDesc, c.ISRShrinks)
	counter(isrExpandsDesc, c.ISRExpands)
	counter(leaderElectionsDesc, c.LeaderElections)
	counter(uncleanElectionsDesc, c.UncleanLeaderElections)
}
