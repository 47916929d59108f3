package cli

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// stubPartition is one partition of the stubbed Metadata answer.
type stubPartition struct {
	leader          int32
	replicas, isr   []int32
	offlineReplicas []int32
	noLeader        bool
}

// unhealthyCluster is a kfake broker holding topic "health" (5 partitions,
// min.insync.replicas=2) whose Metadata answer is replaced: brokers 0 and
// 1 are live (both kfake's one listener, which leads every partition for
// ListOffsets), broker 2 is gone, and the partitions are in every state
// topic describe marks.
func unhealthyCluster(t *testing.T) string {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(cluster.Close)
	addr := cluster.ListenAddrs()[0]
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	created, err := kadm.NewClient(cl).CreateTopic(ctx, 5, 1, map[string]*string{"min.insync.replicas": new("2")}, "health")
	if err == nil {
		err = created.Err
	}
	if err != nil {
		t.Fatalf("create topic in kfake: %v", err)
	}
	host, portText, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portText)
	partitions := []stubPartition{
		{leader: 0, replicas: []int32{0, 1}, isr: []int32{0, 1}},                                               // healthy
		{leader: 0, replicas: []int32{0, 1, 2}, isr: []int32{0, 1}},                                            // under-replicated (2 is gone)
		{leader: 1, replicas: []int32{1, 2, 0}, isr: []int32{1}},                                               // and under min ISR
		{leader: -1, replicas: []int32{2, 1, 0}, isr: []int32{2}, offlineReplicas: []int32{2}, noLeader: true}, // offline
		{leader: 2, replicas: []int32{2, 0, 1}, isr: []int32{2, 0, 1}},                                         // led by a broker that is gone
	}
	cluster.ControlKey(kmsg.Metadata.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		resp := req.ResponseKind().(*kmsg.MetadataResponse)
		for _, id := range []int32{0, 1} {
			b := kmsg.NewMetadataResponseBroker()
			b.NodeID, b.Host, b.Port = id, host, int32(port)
			resp.Brokers = append(resp.Brokers, b)
		}
		resp.ControllerID = 0
		topic := kmsg.NewMetadataResponseTopic()
		topic.Topic, topic.TopicID = kmsg.StringPtr("health"), created.ID
		for i, sp := range partitions {
			p := kmsg.NewMetadataResponseTopicPartition()
			p.Partition, p.Leader, p.Replicas, p.ISR, p.OfflineReplicas = int32(i), sp.leader, sp.replicas, sp.isr, sp.offlineReplicas
			if sp.noLeader {
				p.ErrorCode = 5 // LEADER_NOT_AVAILABLE
			}
			topic.Partitions = append(topic.Partitions, p)
		}
		resp.Topics = append(resp.Topics, topic)
		return resp, nil, true
	})
	return addr
}

// topic describe marks offline, under-replicated and under-min-ISR
// partitions, adds replicas on brokers that are gone to the offline ones,
// and its filters keep only the partitions in the states asked for.
func TestTopicDescribeMarksUnhealthyPartitions(t *testing.T) {
	isolateEnvironment(t)
	bs := "--bootstrap=" + unhealthyCluster(t)

	var described []topicDescription
	decodeJSON(t, mustRun(t, "", "topic", "describe", "health", "-o", "json", "--timeout", "3s", bs), &described)
	if len(described) != 1 || len(described[0].Partitions) != 5 || described[0].MinInsyncReplicas != 2 {
		t.Fatalf("describe = %+v: want 5 partitions and min.insync.replicas 2", described)
	}
	type health struct {
		offline, under, underMin bool
		offlineReplicas          []int32
	}
	want := []health{
		{false, false, false, []int32{}},
		{false, true, false, []int32{2}},
		{false, true, true, []int32{2}},
		{true, true, true, []int32{2}},
		{true, false, false, []int32{2}},
	}
	for i, p := range described[0].Partitions {
		got := health{p.Offline, p.UnderReplicated, p.UnderMinISR, p.OfflineReplicas}
		if got.offline != want[i].offline || got.under != want[i].under || got.underMin != want[i].underMin ||
			!slices.Equal(got.offlineReplicas, want[i].offlineReplicas) {
			t.Errorf("partition %d: %+v, want %+v", i, got, want[i])
		}
	}

	table := mustRun(t, "", "topic", "describe", "health", "--timeout", "3s", bs).stdout
	rows := map[string]string{}
	for _, line := range strings.Split(table, "\n") {
		if fields := strings.Fields(line); len(fields) > 0 {
			rows[fields[0]] = line
		}
	}
	for partition, status := range map[string]string{
		"0": " - ", "1": " under-replicated ", "2": " under-replicated,under-min-isr ",
		"3": " offline,under-replicated,under-min-isr ", "4": " offline ",
	} {
		if !strings.Contains(rows[partition], status) {
			t.Errorf("partition %s row %q lacks status %q\n%s", partition, rows[partition], strings.TrimSpace(status), table)
		}
	}
	if strings.Count(rows["3"], "LEADER_NOT_AVAILABLE") != 1 || !strings.Contains(rows["4"], "start offset: ") {
		t.Errorf("offline partitions' errors: %q, %q; want LEADER_NOT_AVAILABLE once, and the offsets not listed", rows["3"], rows["4"])
	}
	if !strings.Contains(table, "Min ISR: 2") || !strings.Contains(table, " OFFLINE ") || !strings.Contains(table, " STATUS ") {
		t.Errorf("table lacks the min ISR or the OFFLINE and STATUS columns:\n%s", table)
	}

	for _, tc := range []struct {
		flags []string
		want  []int32
	}{
		{[]string{"--under-replicated"}, []int32{1, 2, 3}},
		{[]string{"--offline"}, []int32{3, 4}},
		{[]string{"--under-min-isr"}, []int32{2, 3}},
		{[]string{"--offline", "--under-min-isr"}, []int32{2, 3, 4}},
	} {
		var filtered []topicDescription
		// No topic named: every topic, as kafka-topics.sh --describe.
		args := append([]string{"topic", "describe", "-o", "json", "--timeout", "3s", bs}, tc.flags...)
		decodeJSON(t, mustRun(t, "", args...), &filtered)
		var got []int32
		for _, d := range filtered {
			for _, p := range d.Partitions {
				got = append(got, p.Partition)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v: partitions %v, want %v", tc.flags, got, tc.want)
		}
	}
	filteredTable := mustRun(t, "", "topic", "describe", "--offline", "--timeout", "3s", bs).stdout
	if strings.Contains(filteredTable, "Configs") || !strings.Contains(filteredTable, "Topic: health") {
		t.Errorf("filtered table should show the topic and its matching partitions only:\n%s", filteredTable)
	}
}

// A healthy single-node topic: nothing marked, filters print nothing, and
// describing every topic names it.
func TestTopicDescribeHealthyTopic(t *testing.T) {
	b := startBroker(t)
	bs := "--bootstrap=" + b.Addr()
	mustRun(t, "", "topic", "create", "fine", "-p", "2", bs)
	var described []topicDescription
	decodeJSON(t, mustRun(t, "", "topic", "describe", "-o", "json", "--exclude-internal", bs), &described)
	if len(described) != 1 || described[0].Name != "fine" || described[0].MinInsyncReplicas != 1 {
		t.Fatalf("describe of every topic = %+v, want only fine with min.insync.replicas 1", described)
	}
	for _, p := range described[0].Partitions {
		if p.Offline || p.UnderReplicated || p.UnderMinISR || len(p.OfflineReplicas) != 0 {
			t.Errorf("healthy partition marked: %+v", p)
		}
	}
	for _, flag := range []string{"--under-replicated", "--offline", "--under-min-isr"} {
		if out := mustRun(t, "", "topic", "describe", "fine", flag, bs).stdout; out != "" {
			t.Errorf("%s printed %q for a healthy topic", flag, out)
		}
		var none []topicDescription
		decodeJSON(t, mustRun(t, "", "topic", "describe", flag, "-o", "json", bs), &none)
		if none == nil || len(none) != 0 {
			t.Errorf("%s -o json = %v, want []", flag, none)
		}
	}
}
