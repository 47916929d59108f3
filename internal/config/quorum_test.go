package config

import (
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// threeVoters is a static quorum of three combined nodes on one machine.
const threeVoters = "1@localhost:19093,2@localhost:29093,3@localhost:39093"

// combinedNode returns the properties of node 2 of a three-node combined
// cluster (the shape the process harness runs), with overrides applied; an
// empty override value deletes the key.
func combinedNode(overrides ...string) map[string]string {
	props := map[string]string{
		"node.id":                   "2",
		"process.roles":             "broker,controller",
		"controller.quorum.voters":  threeVoters,
		"listeners":                 "PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093",
		"advertised.listeners":      "PLAINTEXT://localhost:29092,CONTROLLER://localhost:29093",
		"controller.listener.names": "CONTROLLER",
	}
	return withOverrides(props, overrides)
}

// brokerOnlyNode is node 4, a broker of the quorum in threeVoters.
func brokerOnlyNode(overrides ...string) map[string]string {
	props := map[string]string{
		"node.id":                   "4",
		"process.roles":             "broker",
		"controller.quorum.voters":  threeVoters,
		"listeners":                 "PLAINTEXT://:49092",
		"advertised.listeners":      "PLAINTEXT://localhost:49092",
		"controller.listener.names": "CONTROLLER",
	}
	return withOverrides(props, overrides)
}

// controllerOnlyNode is node 3 of threeVoters running only the controller.
func controllerOnlyNode(overrides ...string) map[string]string {
	props := map[string]string{
		"node.id":                   "3",
		"process.roles":             "controller",
		"controller.quorum.voters":  threeVoters,
		"listeners":                 "CONTROLLER://:39093",
		"controller.listener.names": "CONTROLLER",
	}
	return withOverrides(props, overrides)
}

func withOverrides(props map[string]string, overrides []string) map[string]string {
	props = maps.Clone(props)
	for i := 0; i+1 < len(overrides); i += 2 {
		if overrides[i+1] == "" {
			delete(props, overrides[i])
			continue
		}
		props[overrides[i]] = overrides[i+1]
	}
	return props
}

func mustParse(t *testing.T, props map[string]string) Broker {
	t.Helper()
	b, err := ParseBroker(props)
	if err != nil {
		t.Fatalf("ParseBroker(%v): %v", props, err)
	}
	return b
}

// TestBareBrokerIsSingleNode pins today's behaviour: no voters means one
// combined node needing no controller listener, with internal topics of
// replication factor 1, and Sluice's fast-failover heartbeat defaults.
func TestBareBrokerIsSingleNode(t *testing.T) {
	b := DefaultBroker()
	if !b.SingleNode() || !b.IsBroker() || !b.IsController() {
		t.Fatalf("SingleNode %v IsBroker %v IsController %v, want all true", b.SingleNode(), b.IsBroker(), b.IsController())
	}
	if l, ok := b.ControllerListener(); ok {
		t.Errorf("ControllerListener() = %v, want none", l)
	}
	if l, ok := b.InterBrokerListener(); !ok || l.String() != "PLAINTEXT://localhost:9092" {
		t.Errorf("InterBrokerListener() = %v, %v, want PLAINTEXT://localhost:9092", l, ok)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"process.roles", strings.Join(b.ProcessRoles, ","), "broker,controller"},
		{"voters", len(b.ControllerQuorumVoters), 0},
		{"offsets.topic.replication.factor", b.OffsetsTopicReplicationFactor, int16(1)},
		{"transaction.state.log.replication.factor", b.TransactionStateLogReplicationFactor, int16(1)},
		{"transaction.state.log.min.isr", b.TransactionStateLogMinISR, int32(1)},
		{"default.replication.factor", b.DefaultReplicationFactor, int16(1)},
		{"broker.heartbeat.interval.ms", b.BrokerHeartbeatIntervalMs, int32(500)},
		{"broker.session.timeout.ms", b.BrokerSessionTimeoutMs, int32(1500)},
		{"replica.lag.time.max.ms", b.ReplicaLagTimeMaxMs, int64(30000)},
		{"replica.fetch.max.bytes", b.ReplicaFetchMaxBytes, int32(1048576)},
		{"replica.fetch.response.max.bytes", b.ReplicaFetchResponseMaxBytes, int32(10485760)},
		{"replica.fetch.wait.max.ms", b.ReplicaFetchWaitMaxMs, int32(500)},
		{"replica.fetch.min.bytes", b.ReplicaFetchMinBytes, int32(1)},
		{"replica.fetch.backoff.ms", b.ReplicaFetchBackoffMs, int32(1000)},
		{"num.replica.fetchers", b.NumReplicaFetchers, int32(1)},
		{"controlled.shutdown.enable", b.ControlledShutdownEnable, true},
		{"auto.leader.rebalance.enable", b.AutoLeaderRebalanceEnable, true},
		{"leader.imbalance.check.interval.seconds", b.LeaderImbalanceCheckIntervalSeconds, int64(300)},
		{"leader.imbalance.per.broker.percentage", b.LeaderImbalancePerBrokerPercentage, int32(10)},
		{"min.insync.replicas", b.MinInsyncReplicas, int32(1)},
		{"unclean.leader.election.enable", b.UncleanLeaderElectionEnable, false},
	}
	for _, check := range checks {
		if check.got != check.want {
			t.Errorf("%s = %v, want %v", check.name, check.got, check.want)
		}
	}
}

func TestControllerQuorumVotersParse(t *testing.T) {
	tests := []struct {
		text string
		want []Voter
	}{
		{"1@localhost:9093", []Voter{{1, "localhost", 9093}}},
		{" 1@a:1 , 2@b.example:2 ", []Voter{{1, "a", 1}, {2, "b.example", 2}}},
		{"0@[::1]:9093", []Voter{{0, "::1", 9093}}},
		{"7@10.0.0.7:65535", []Voter{{7, "10.0.0.7", 65535}}},
	}
	for _, test := range tests {
		t.Run(test.text, func(t *testing.T) {
			b := mustParse(t, map[string]string{
				"node.id":                   strconv.Itoa(int(test.want[0].NodeID)),
				"controller.quorum.voters":  test.text,
				"controller.listener.names": "CONTROLLER",
				"listeners":                 "PLAINTEXT://:9092,CONTROLLER://:9093",
			})
			if !slices.Equal(b.ControllerQuorumVoters, test.want) {
				t.Fatalf("voters = %v, want %v", b.ControllerQuorumVoters, test.want)
			}
			if got := joinVoters(b.ControllerQuorumVoters); got != strings.ReplaceAll(strings.TrimSpace(test.text), " ", "") {
				t.Errorf("voters render as %q, want the configured text", got)
			}
		})
	}
	if got := (Voter{NodeID: 3, Host: "::1", Port: 9093}).String(); got != "3@[::1]:9093" {
		t.Errorf("Voter.String() = %q, want 3@[::1]:9093", got)
	}
	if got := (Voter{NodeID: 3, Host: "host", Port: 9093}).Address(); got != "host:9093" {
		t.Errorf("Voter.Address() = %q, want host:9093", got)
	}
}

// TestClusterNodes covers the three role shapes of a cluster and what the
// other packages read from them.
func TestClusterNodes(t *testing.T) {
	t.Run("combined", func(t *testing.T) {
		b := mustParse(t, combinedNode())
		if b.SingleNode() || !b.IsBroker() || !b.IsController() {
			t.Fatalf("SingleNode %v IsBroker %v IsController %v", b.SingleNode(), b.IsBroker(), b.IsController())
		}
		want := []Voter{{1, "localhost", 19093}, {2, "localhost", 29093}, {3, "localhost", 39093}}
		if !slices.Equal(b.ControllerQuorumVoters, want) {
			t.Errorf("voters = %v, want %v", b.ControllerQuorumVoters, want)
		}
		if l, ok := b.ControllerListener(); !ok || l.String() != "CONTROLLER://127.0.0.1:29093" {
			t.Errorf("ControllerListener() = %v, %v", l, ok)
		}
		if l, ok := b.InterBrokerListener(); !ok || l.String() != "PLAINTEXT://localhost:29092" {
			t.Errorf("InterBrokerListener() = %v, %v, want the advertised PLAINTEXT://localhost:29092", l, ok)
		}
	})
	t.Run("broker only", func(t *testing.T) {
		b := mustParse(t, brokerOnlyNode())
		if b.SingleNode() || !b.IsBroker() || b.IsController() {
			t.Fatalf("SingleNode %v IsBroker %v IsController %v", b.SingleNode(), b.IsBroker(), b.IsController())
		}
		if l, ok := b.ControllerListener(); ok {
			t.Errorf("ControllerListener() = %v, want none on a broker-only node", l)
		}
		if l, ok := b.InterBrokerListener(); !ok || l.String() != "PLAINTEXT://localhost:49092" {
			t.Errorf("InterBrokerListener() = %v, %v", l, ok)
		}
	})
	t.Run("controller only", func(t *testing.T) {
		b := mustParse(t, controllerOnlyNode())
		if b.SingleNode() || b.IsBroker() || !b.IsController() {
			t.Fatalf("SingleNode %v IsBroker %v IsController %v", b.SingleNode(), b.IsBroker(), b.IsController())
		}
		if l, ok := b.ControllerListener(); !ok || l.String() != "CONTROLLER://:39093" {
			t.Errorf("ControllerListener() = %v, %v", l, ok)
		}
		if l, ok := b.InterBrokerListener(); ok {
			t.Errorf("InterBrokerListener() = %v, want none on a controller-only node", l)
		}
	})
	t.Run("first controller listener name wins", func(t *testing.T) {
		b := mustParse(t, combinedNode(
			"listeners", "PLAINTEXT://:29092,CONTROLLER://:29093,RAFT://:29094",
			"advertised.listeners", "",
			"listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,RAFT:PLAINTEXT",
			"controller.listener.names", "RAFT,CONTROLLER"))
		if l, ok := b.ControllerListener(); !ok || l.Name != "RAFT" {
			t.Errorf("ControllerListener() = %v, %v, want RAFT", l, ok)
		}
	})
}

// TestInternalTopicDefaults: unset replication factors follow the voter
// count (min 3), min.isr follows the transaction log's factor (min 2), and
// explicit values win.
func TestInternalTopicDefaults(t *testing.T) {
	tests := []struct {
		name                 string
		props                map[string]string
		offsets, txn, minISR int64
	}{
		{"single node", nil, 1, 1, 1},
		{"one voter", combinedNode("node.id", "1", "controller.quorum.voters", "1@localhost:19093"), 1, 1, 1},
		{"two voters", combinedNode("controller.quorum.voters", "1@localhost:19093,2@localhost:29093"), 2, 2, 2},
		{"three voters", combinedNode(), 3, 3, 2},
		{"five voters", combinedNode("controller.quorum.voters", threeVoters+",4@h:4,5@h:5"), 3, 3, 2},
		{"broker-only node counts voters", brokerOnlyNode(), 3, 3, 2},
		{"explicit factors win", combinedNode("offsets.topic.replication.factor", "1", "transaction.state.log.replication.factor", "1"), 1, 1, 1},
		{"explicit min.isr wins", combinedNode("transaction.state.log.min.isr", "3"), 3, 3, 3},
		{"single node explicit", map[string]string{"offsets.topic.replication.factor": "3", "transaction.state.log.replication.factor": "3"}, 3, 3, 2},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			b := mustParse(t, test.props)
			got := []int64{int64(b.OffsetsTopicReplicationFactor), int64(b.TransactionStateLogReplicationFactor), int64(b.TransactionStateLogMinISR)}
			want := []int64{test.offsets, test.txn, test.minISR}
			if !slices.Equal(got, want) {
				t.Fatalf("offsets RF, txn RF, txn min.isr = %v, want %v", got, want)
			}
			if err := b.Validate(); err != nil {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
}

// TestDescribeDerivedDefaults: DescribeConfigs reports the default a broker
// derived from its voters, not the single-node one.
func TestDescribeDerivedDefaults(t *testing.T) {
	b := mustParse(t, combinedNode("transaction.state.log.replication.factor", "2"))
	want := map[string]string{
		"offsets.topic.replication.factor":         "3 DEFAULT_CONFIG 3",
		"transaction.state.log.replication.factor": "2 STATIC_BROKER_CONFIG 2",
		"transaction.state.log.min.isr":            "2 DEFAULT_CONFIG 2",
		"controller.quorum.voters":                 threeVoters + " STATIC_BROKER_CONFIG " + threeVoters,
		"process.roles":                            "broker,controller STATIC_BROKER_CONFIG broker,controller",
		"broker.session.timeout.ms":                "1500 DEFAULT_CONFIG 1500",
	}
	for _, entry := range DescribeBroker(b, nil) {
		w, ok := want[entry.Name]
		if !ok {
			continue
		}
		delete(want, entry.Name)
		got := *entry.Value + " " + entry.Source.String()
		if len(entry.Synonyms) > 0 {
			got += " " + *entry.Synonyms[0].Value
		}
		if got != w {
			t.Errorf("%s = %q, want %q", entry.Name, got, w)
		}
	}
	if len(want) > 0 {
		t.Errorf("not described: %v", want)
	}
}

// TestClusterConfigRejected has one case per start-up check of cluster
// mode; each error is a *config.Error naming the key to fix.
func TestClusterConfigRejected(t *testing.T) {
	tests := []struct {
		name  string
		props map[string]string
		want  string
	}{
		// controller.quorum.voters syntax.
		{"no @", combinedNode("controller.quorum.voters", "localhost:9093"),
			`config "controller.quorum.voters": value "localhost:9093" has an invalid entry "localhost:9093": each entry should be in the form {id}@{host}:{port}`},
		{"two @", combinedNode("controller.quorum.voters", "1@2@h:1"), `has an invalid entry "1@2@h:1": each entry should be in the form`},
		{"bad id", combinedNode("controller.quorum.voters", "one@h:9093"), `has an invalid entry "one@h:9093": node id "one" is not a valid int`},
		{"negative id", combinedNode("controller.quorum.voters", "-1@h:9093"), `has an invalid entry "-1@h:9093": node id must be at least 0`},
		{"no port", combinedNode("controller.quorum.voters", "1@h"), `has an invalid entry "1@h": each entry should be in the form`},
		{"bad port", combinedNode("controller.quorum.voters", "1@h:x"), `port "x" is not a number`},
		{"port out of range", combinedNode("controller.quorum.voters", "1@h:70000"), `port 70000 must be between 1 and 65535`},
		{"port zero", combinedNode("controller.quorum.voters", "1@h:0"), `port 0 must be between 1 and 65535`},
		{"empty host", combinedNode("controller.quorum.voters", "1@:9093"), `has an invalid entry "1@:9093": invalid host ""`},
		{"bad host", combinedNode("controller.quorum.voters", "1@a/b:9093"), `invalid host "a/b"`},
		{"unroutable host", combinedNode("controller.quorum.voters", "1@0.0.0.0:9093"), `host 0.0.0.0 is not routable`},
		{"empty entry", combinedNode("controller.quorum.voters", "1@h:1,"), `has an invalid entry "": each entry should be in the form`},
		{"duplicate voter ids", combinedNode("controller.quorum.voters", "1@a:1,2@b:2,1@c:3"),
			`config "controller.quorum.voters": value "1@a:1,2@b:2,1@c:3" lists voter id 1 twice ("1@a:1" and "1@c:3"): each voter needs its own node.id`},

		// Roles without a quorum.
		{"broker-only without voters", map[string]string{"process.roles": "broker", "controller.listener.names": "CONTROLLER"},
			`config "controller.quorum.voters": value "" must list the controller quorum as {id}@{host}:{port},... when process.roles=broker`},
		{"controller-only without voters", map[string]string{"process.roles": "controller", "listeners": "CONTROLLER://:9093", "controller.listener.names": "CONTROLLER"},
			`config "controller.quorum.voters": value "" must list the controller quorum as {id}@{host}:{port},... when process.roles=controller`},

		// Controller role.
		{"controller not a voter", combinedNode("node.id", "4"),
			`config "controller.quorum.voters": value "` + threeVoters + `" does not include node.id 4: if process.roles contains the 'controller' role, the node id must be included in the set of voters [1 2 3]`},
		{"controller-only not a voter", controllerOnlyNode("node.id", "9"), `does not include node.id 9`},
		{"controller without controller.listener.names", combinedNode("controller.listener.names", "",
			"listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT", "advertised.listeners", "PLAINTEXT://localhost:29092"),
			`config "controller.listener.names": value "" must contain at least one value appearing in the 'listeners' configuration when running the KRaft controller role`},
		{"controller listener not in listeners", combinedNode("listeners", "PLAINTEXT://:29092", "advertised.listeners", "PLAINTEXT://localhost:29092"),
			`config "controller.listener.names": value "CONTROLLER" must contain at least one value appearing in the 'listeners' configuration`},
		{"one controller listener name missing", combinedNode("controller.listener.names", "CONTROLLER,RAFT"),
			`config "controller.listener.names": value "CONTROLLER,RAFT" names RAFT, which is not in listeners: controller.listener.names must only contain values appearing in the 'listeners' configuration`},
		{"controller-only with a client listener", controllerOnlyNode("listeners", "PLAINTEXT://:39092,CONTROLLER://:39093"),
			`config "listeners": value "PLAINTEXT://:39092,CONTROLLER://:39093" must only contain KRaft controller listeners from controller.listener.names when process.roles=controller`},
		{"controller-only advertising a client listener", controllerOnlyNode("advertised.listeners", "PLAINTEXT://h:39092,CONTROLLER://h:39093"),
			`config "advertised.listeners": value "PLAINTEXT://h:39092,CONTROLLER://h:39093" must only contain KRaft controller listeners`},

		// Broker-only role.
		{"broker-only that is a voter", brokerOnlyNode("node.id", "3"),
			`config "controller.quorum.voters": value "` + threeVoters + `" includes node.id 3: if process.roles contains just the 'broker' role, the node id must not be included in the set of voters`},
		{"broker-only without controller.listener.names", brokerOnlyNode("controller.listener.names", ""),
			`config "controller.listener.names": value "" must contain at least one value when running KRaft with just the broker role`},
		{"broker-only listening on the controller listener", brokerOnlyNode("listeners", "PLAINTEXT://:49092,CONTROLLER://:49093"),
			`config "controller.listener.names": value "CONTROLLER" must not contain a value appearing in the 'listeners' configuration when running KRaft with just the broker role`},

		// Heartbeats.
		{"session not above heartbeat", combinedNode("broker.session.timeout.ms", "500", "broker.heartbeat.interval.ms", "500"),
			`config "broker.heartbeat.interval.ms": value "500" must be less than broker.session.timeout.ms (500)`},

		// Internal topics.
		{"offsets RF above voters", combinedNode("offsets.topic.replication.factor", "4"),
			`config "offsets.topic.replication.factor": value "4" exceeds the number of voters in controller.quorum.voters (3)`},
		{"transaction RF above voters", combinedNode("transaction.state.log.replication.factor", "5"),
			`config "transaction.state.log.replication.factor": value "5" exceeds the number of voters in controller.quorum.voters (3)`},
		{"transaction min.isr above RF", combinedNode("transaction.state.log.replication.factor", "2", "transaction.state.log.min.isr", "3"),
			`config "transaction.state.log.min.isr": value "3" exceeds transaction.state.log.replication.factor (2): __transaction_state could never accept a write`},
		{"transaction min.isr above RF on a single node", map[string]string{"transaction.state.log.min.isr": "2"},
			`config "transaction.state.log.min.isr": value "2" exceeds transaction.state.log.replication.factor (1)`},
		{"min.insync.replicas above offsets RF", combinedNode("offsets.topic.replication.factor", "2", "min.insync.replicas", "3"),
			`config "min.insync.replicas": value "3" exceeds offsets.topic.replication.factor (2): __consumer_offsets could never accept a write`},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			_, err := ParseBroker(test.props)
			if err == nil {
				t.Fatalf("ParseBroker(%v) succeeded, want error containing %q", test.props, test.want)
			}
			if !strings.Contains(err.Error(), test.want) {
				t.Fatalf("ParseBroker(%v) error =\n%q\nwant it to contain\n%q", test.props, err, test.want)
			}
			var problem *Error
			if !errors.As(err, &problem) {
				t.Fatalf("error %v is not a *config.Error", err)
			}
		})
	}
}

// TestClusterAllowed covers configurations next to the rejected ones that
// must still start.
func TestClusterAllowed(t *testing.T) {
	tests := []struct {
		name  string
		props map[string]string
	}{
		{"RF equal to the voter count", combinedNode("offsets.topic.replication.factor", "3", "transaction.state.log.replication.factor", "3")},
		{"broker-only RF above the voter count", brokerOnlyNode("offsets.topic.replication.factor", "5")},
		{"single node keeps accepting a large RF", map[string]string{"offsets.topic.replication.factor": "3"}},
		{"controller listener not advertised", combinedNode("advertised.listeners", "PLAINTEXT://localhost:29092")},
		{"min.insync.replicas at the offsets RF", combinedNode("min.insync.replicas", "3")},
		{"Kafka's server.properties bootstrap servers stay a single node", map[string]string{"controller.quorum.bootstrap.servers": "localhost:9093"}},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			mustParse(t, test.props)
		})
	}
}

// TestBrokerLevelReplicaDefaults: the broker-level min.insync.replicas and
// unclean.leader.election.enable fill both the Broker fields and the topic
// defaults (min.insync.replicas above 1 needs an offsets topic that large).
func TestBrokerLevelReplicaDefaults(t *testing.T) {
	b := mustParse(t, combinedNode("min.insync.replicas", "2", "unclean.leader.election.enable", "true"))
	got := []any{b.MinInsyncReplicas, b.TopicDefaults.MinInsyncReplicas, b.UncleanLeaderElectionEnable, b.TopicDefaults.UncleanLeaderElectionEnable}
	want := []any{int32(2), int32(2), true, true}
	if !slices.Equal(got, want) {
		t.Fatalf("MinInsyncReplicas, topic default, UncleanLeaderElectionEnable, topic default = %v, want %v", got, want)
	}
	single := mustParse(t, map[string]string{"min.insync.replicas": "2", "offsets.topic.replication.factor": "2",
		"transaction.state.log.replication.factor": "2", "transaction.state.log.min.isr": "2"})
	if single.MinInsyncReplicas != 2 || single.TransactionStateLogMinISR != 2 {
		t.Fatalf("single node: MinInsyncReplicas %d, TransactionStateLogMinISR %d, want 2, 2", single.MinInsyncReplicas, single.TransactionStateLogMinISR)
	}
}

// TestValidateQuorumBuiltInCode: Validate catches what code breaks in a
// cluster Broker it changed by hand.
func TestValidateQuorumBuiltInCode(t *testing.T) {
	tests := []struct {
		name   string
		change func(b *Broker)
		want   string
	}{
		{"duplicate voter", func(b *Broker) { b.ControllerQuorumVoters = append(b.ControllerQuorumVoters, Voter{2, "x", 1}) },
			`lists voter id 2 twice`},
		{"voter port", func(b *Broker) { b.ControllerQuorumVoters = []Voter{{2, "x", 0}} }, `port 0 must be between 1 and 65535`},
		{"not a voter", func(b *Broker) { b.NodeID = 7 }, `does not include node.id 7`},
		{"no roles", func(b *Broker) { b.ProcessRoles = nil }, `config "process.roles": value "" must contain`},
		{"unknown role", func(b *Broker) { b.ProcessRoles = []string{"observer"} }, `has element "observer"`},
		{"single controller-only", func(b *Broker) { b.ControllerQuorumVoters = nil; b.ProcessRoles = []string{"broker"} },
			`must list the controller quorum`},
		{"min.insync.replicas out of step", func(b *Broker) { b.MinInsyncReplicas = 2 },
			`config "min.insync.replicas": value "2" differs from the topic default in TopicDefaults (1): they are the same setting`},
		{"unclean out of step", func(b *Broker) { b.TopicDefaults.UncleanLeaderElectionEnable = true },
			`config "unclean.leader.election.enable": value "false" differs from the topic default in TopicDefaults (true)`},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			b := mustParse(t, combinedNode())
			b.ControllerQuorumVoters = slices.Clone(b.ControllerQuorumVoters)
			test.change(&b)
			err := b.Validate()
			if err == nil || !strings.Contains(err.Error(), test.want) {
				t.Fatalf("Validate() = %v, want it to contain %q", err, test.want)
			}
		})
	}
}

func TestQuorumKeysAreNotInert(t *testing.T) {
	props := combinedNode("controller.quorum.election.timeout.ms", "1000")
	if got := InertKeys(props); !slices.Equal(got, []string{"controller.quorum.election.timeout.ms"}) {
		t.Fatalf("InertKeys = %v, want only controller.quorum.election.timeout.ms", got)
	}
}
