package integration

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/testcluster"
)

// metadataRequest asks for the named topics (nil: every topic) at version.
func metadataRequest(version int16, allowAutoCreate bool, topics ...string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = version
	req.AllowAutoTopicCreation = allowAutoCreate
	if topics == nil {
		return req
	}
	req.Topics = []kmsg.MetadataRequestTopic{}
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// topicNames lists a metadata response's topics by name.
func topicNames(resp *kmsg.MetadataResponse) []string {
	var out []string
	for _, t := range resp.Topics {
		if t.Topic != nil {
			out = append(out, *t.Topic)
		}
	}
	slices.Sort(out)
	return out
}

// singleTopic returns the only topic of a metadata response.
func singleTopic(t *testing.T, resp *kmsg.MetadataResponse) kmsg.MetadataResponseTopic {
	t.Helper()
	if len(resp.Topics) != 1 {
		t.Fatalf("metadata response has %d topics, want 1", len(resp.Topics))
	}
	return resp.Topics[0]
}

// allTopicNames is every topic the broker knows, by the latest Metadata.
func allTopicNames(t *testing.T, b *testcluster.Broker) []string {
	t.Helper()
	return topicNames(request[*kmsg.MetadataResponse](t, b, metadataRequest(12, false)))
}

// A null topic list asks for every topic; a named list for just those. The
// broker list names this broker at its bound address, and every partition
// is led by it with itself as the only replica and ISR member.
func TestMetadataAllTopicsAndNamed(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "alpha", 2, nil)
	createTopic(t, b, "beta", 1, nil)

	all := request[*kmsg.MetadataResponse](t, b, metadataRequest(12, false))
	if got := topicNames(all); !slices.Contains(got, "alpha") || !slices.Contains(got, "beta") {
		t.Errorf("all topics: %v, want alpha and beta among them", got)
	}
	checkMetadataBrokers(t, b, all)

	named := request[*kmsg.MetadataResponse](t, b, metadataRequest(12, false, "alpha"))
	if got := topicNames(named); !slices.Equal(got, []string{"alpha"}) {
		t.Fatalf("named topics: %v, want [alpha]", got)
	}
	topic := named.Topics[0]
	wantCode(t, "alpha", topic.ErrorCode, nil)
	if topic.IsInternal {
		t.Errorf("alpha flagged internal")
	}
	if len(topic.Partitions) != 2 {
		t.Fatalf("alpha has %d partitions, want 2", len(topic.Partitions))
	}
	node := b.Config().NodeID
	for i, p := range topic.Partitions {
		wantCode(t, "alpha partition", p.ErrorCode, nil)
		if p.Partition != int32(i) || p.Leader != node || p.LeaderEpoch < 0 ||
			!slices.Equal(p.Replicas, []int32{node}) || !slices.Equal(p.ISR, []int32{node}) {
			t.Errorf("alpha partition %d: %+v, want leader/replicas/ISR = node %d, epoch >= 0", i, p, node)
		}
	}
}

// checkMetadataBrokers verifies the broker list and cluster identity.
func checkMetadataBrokers(t *testing.T, b *testcluster.Broker, resp *kmsg.MetadataResponse) {
	t.Helper()
	host, portText, _ := net.SplitHostPort(b.Addr())
	port, _ := strconv.Atoi(portText)
	if len(resp.Brokers) != 1 {
		t.Fatalf("brokers: %+v, want exactly this one", resp.Brokers)
	}
	br := resp.Brokers[0]
	if br.NodeID != b.Config().NodeID || br.Host != host || br.Port != int32(port) {
		t.Errorf("broker %d at %s:%d, want %d at %s", br.NodeID, br.Host, br.Port, b.Config().NodeID, b.Addr())
	}
	if resp.ClusterID == nil || *resp.ClusterID == "" {
		t.Errorf("cluster ID is empty")
	}
	if resp.ControllerID != b.Config().NodeID {
		t.Errorf("controller %d, want %d", resp.ControllerID, b.Config().NodeID)
	}
}

// kafka-python 2.0 speaks Metadata v0 and v1. In v0 an empty list means
// every topic; from v1 null means every topic and an empty list none. Before
// v4 there is no allow_auto_topic_creation flag: a named unknown topic is
// created when auto.create.topics.enable is on, answered
// LEADER_NOT_AVAILABLE without partitions, which the next Metadata has.
func TestMetadataOldVersions(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "existing", 1, nil)
	wire := dialWire(t, b)

	v0 := metadataRequest(0, false)
	v0.Topics = []kmsg.MetadataRequestTopic{}
	all := wire.roundTrip(v0).(*kmsg.MetadataResponse)
	if got := topicNames(all); !slices.Contains(got, "existing") {
		t.Errorf("v0 empty list: topics %v, want every topic", got)
	}
	if len(all.Brokers) != 1 || all.Brokers[0].NodeID != b.Config().NodeID {
		t.Errorf("v0 brokers: %+v", all.Brokers)
	}

	v1all := wire.roundTrip(metadataRequest(1, false)).(*kmsg.MetadataResponse)
	if got := topicNames(v1all); !slices.Contains(got, "existing") {
		t.Errorf("v1 null list: topics %v, want every topic", got)
	}
	if v1all.ControllerID != b.Config().NodeID {
		t.Errorf("v1 controller %d, want %d", v1all.ControllerID, b.Config().NodeID)
	}

	v1none := metadataRequest(1, false)
	v1none.Topics = []kmsg.MetadataRequestTopic{}
	if got := topicNames(wire.roundTrip(v1none).(*kmsg.MetadataResponse)); len(got) != 0 {
		t.Errorf("v1 empty list: topics %v, want none", got)
	}

	for _, version := range []int16{0, 1} {
		name := "created-by-v" + strconv.Itoa(int(version))
		v := "v" + strconv.Itoa(int(version))
		resp := wire.roundTrip(metadataRequest(version, false, name)).(*kmsg.MetadataResponse)
		wantCode(t, v+" auto-create", singleTopic(t, resp).ErrorCode, kerr.LeaderNotAvailable)
		if n := len(singleTopic(t, resp).Partitions); n != 0 {
			t.Errorf("%s auto-create answered %d partitions, want none", v, n)
		}
		if !slices.Contains(allTopicNames(t, b), name) {
			t.Errorf("%s: topic %s not created", v, name)
		}
		next := wire.roundTrip(metadataRequest(version, false, name)).(*kmsg.MetadataResponse)
		wantCode(t, v+" after auto-create", singleTopic(t, next).ErrorCode, nil)
		if n := len(singleTopic(t, next).Partitions); n != int(b.Config().NumPartitions) {
			t.Errorf("%s auto-created %d partitions, want num.partitions=%d", v, n, b.Config().NumPartitions)
		}
	}
}

// Metadata v4+ carries allow_auto_topic_creation (KIP-204): false must not
// create the topic (UNKNOWN_TOPIC_OR_PARTITION), true creates it with
// num.partitions partitions; the creating request answers
// LEADER_NOT_AVAILABLE and the next one has the partitions.
func TestMetadataAutoCreate(t *testing.T) {
	b := startBroker(t, testcluster.WithConfig(func(c *config.Broker) { c.NumPartitions = 3 }))

	refused := request[*kmsg.MetadataResponse](t, b, metadataRequest(12, false, "not-wanted"))
	wantCode(t, "allow=false", singleTopic(t, refused).ErrorCode, kerr.UnknownTopicOrPartition)
	if slices.Contains(allTopicNames(t, b), "not-wanted") {
		t.Errorf("allow_auto_topic_creation=false created the topic")
	}

	created := request[*kmsg.MetadataResponse](t, b, metadataRequest(12, true, "wanted"))
	wantCode(t, "allow=true", singleTopic(t, created).ErrorCode, kerr.LeaderNotAvailable)
	if n := len(singleTopic(t, created).Partitions); n != 0 {
		t.Errorf("creating request answered %d partitions, want none", n)
	}
	next := request[*kmsg.MetadataResponse](t, b, metadataRequest(12, true, "wanted"))
	wantCode(t, "after auto-create", singleTopic(t, next).ErrorCode, nil)
	if n := len(singleTopic(t, next).Partitions); n != 3 {
		t.Errorf("auto-created topic has %d partitions, want num.partitions=3", n)
	}
	if singleTopic(t, next).TopicID == [16]byte{} {
		t.Errorf("auto-created topic has no topic ID")
	}
	again := topicMetadata(t, b, "wanted")
	if again.TopicID != singleTopic(t, next).TopicID {
		t.Errorf("third lookup: topic ID changed")
	}
}

// A producer that allows auto-creation (kgo.AllowAutoTopicCreation) can
// write to a topic that does not exist yet, and a consumer reads it back.
func TestMetadataAutoCreateByProducer(t *testing.T) {
	b := startBroker(t)
	cl := newProducer(b, "auto-produced", kgo.AllowAutoTopicCreation())
	produce(t, cl, &kgo.Record{Value: []byte("first")})
	wantValues(t, "auto-created topic", consume(t, b, "auto-produced", 1), "first")
}

// auto.create.topics.enable=false wins over the client's flag, for new and
// old (pre-v4) requests alike.
func TestMetadataAutoCreateDisabled(t *testing.T) {
	b := startBroker(t, testcluster.WithConfig(func(c *config.Broker) { c.AutoCreateTopicsEnable = false }))
	resp := request[*kmsg.MetadataResponse](t, b, metadataRequest(12, true, "never"))
	wantCode(t, "v12 allow=true", singleTopic(t, resp).ErrorCode, kerr.UnknownTopicOrPartition)
	old := dialWire(t, b).roundTrip(metadataRequest(1, false, "never-old")).(*kmsg.MetadataResponse)
	wantCode(t, "v1", singleTopic(t, old).ErrorCode, kerr.UnknownTopicOrPartition)
	if got := allTopicNames(t, b); slices.Contains(got, "never") || slices.Contains(got, "never-old") {
		t.Errorf("topics created with auto.create.topics.enable=false: %v", got)
	}
}

// Kafka's Topic.validate: a name that could never be created is
// INVALID_TOPIC_EXCEPTION, not UNKNOWN_TOPIC_OR_PARTITION, even with
// auto-creation allowed.
func TestMetadataInvalidTopicName(t *testing.T) {
	b := startBroker(t)
	for _, name := range []string{"has space", "slash/topic", "..", strings.Repeat("x", 250)} {
		resp := request[*kmsg.MetadataResponse](t, b, metadataRequest(12, true, name))
		wantCode(t, "metadata for "+name[:min(len(name), 20)], singleTopic(t, resp).ErrorCode, kerr.InvalidTopicException)
	}
}

// KIP-516: Metadata v10+ returns topic IDs, the same ID CreateTopics
// reported; v12 looks a topic up by ID alone, and an unknown ID is
// UNKNOWN_TOPIC_ID.
func TestMetadataTopicIDs(t *testing.T) {
	b := startBroker(t)
	created := createTopic(t, b, "with-id", 1, nil)
	if created.ID == [16]byte{} {
		t.Fatalf("CreateTopics returned no topic ID")
	}
	byName := requestAt[*kmsg.MetadataResponse](t, b, metadataRequest(10, false, "with-id"))
	if singleTopic(t, byName).TopicID != created.ID {
		t.Errorf("v10 topic ID %x, want %x", singleTopic(t, byName).TopicID, created.ID)
	}

	byID := metadataRequest(12, false)
	rt := kmsg.NewMetadataRequestTopic()
	rt.TopicID = created.ID
	byID.Topics = []kmsg.MetadataRequestTopic{rt}
	resp := requestAt[*kmsg.MetadataResponse](t, b, byID)
	if len(resp.Topics) != 1 || singleTopic(t, resp).Topic == nil || *singleTopic(t, resp).Topic != "with-id" {
		t.Fatalf("v12 by ID: %+v, want topic with-id", resp.Topics)
	}
	wantCode(t, "v12 by ID", singleTopic(t, resp).ErrorCode, nil)

	unknown := metadataRequest(12, false)
	rt.TopicID = [16]byte{1, 2, 3}
	unknown.Topics = []kmsg.MetadataRequestTopic{rt}
	resp = requestAt[*kmsg.MetadataResponse](t, b, unknown)
	wantCode(t, "v12 unknown ID", singleTopic(t, resp).ErrorCode, kerr.UnknownTopicID)
}

// Kafka flags __consumer_offsets, __transaction_state and
// __share_group_state as internal (Topic.isInternal), also in an error
// answer, and never auto-creates them from a Metadata request.
func TestMetadataInternalTopicsFlagged(t *testing.T) {
	b := startBroker(t)
	resp := request[*kmsg.MetadataResponse](t, b, metadataRequest(12, true, "__transaction_state"))
	wantCode(t, "__transaction_state via Metadata", singleTopic(t, resp).ErrorCode, kerr.UnknownTopicOrPartition)
	if !singleTopic(t, resp).IsInternal {
		t.Errorf("__transaction_state error answer not flagged internal")
	}
	if slices.Contains(allTopicNames(t, b), "__transaction_state") {
		t.Errorf("Metadata auto-created an internal topic")
	}

	createTopic(t, b, "__consumer_offsets", 1, nil)
	createTopic(t, b, "regular", 1, nil)
	all := request[*kmsg.MetadataResponse](t, b, metadataRequest(12, false))
	for _, topic := range all.Topics {
		switch *topic.Topic {
		case "__consumer_offsets":
			if !topic.IsInternal {
				t.Errorf("__consumer_offsets not flagged internal")
			}
		case "regular":
			if topic.IsInternal {
				t.Errorf("regular topic flagged internal")
			}
		}
	}
}
