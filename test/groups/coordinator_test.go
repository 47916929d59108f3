package groups

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/sluice-io/sluice/internal/testcluster"
)

// offsetsTopic is Kafka's internal topic of commits and group metadata.
const offsetsTopic = "__consumer_offsets"

// FindCoordinator answers every version: one key per request in v0-v3
// (v0 without a key type), several keys in one request from v4 on
// (KIP-699), each with this broker's node ID, host and port. kadm's
// batched lookup of many groups agrees.
func TestFindCoordinatorEveryVersion(t *testing.T) {
	b := startBroker(t)
	adm := b.Admin()
	host, portText, _ := net.SplitHostPort(b.Addr())
	port, _ := strconv.Atoi(portText)
	nodeID := b.Config().NodeID
	// The first lookup creates __consumer_offsets; Kafka answers
	// COORDINATOR_NOT_AVAILABLE until its partitions have leaders.
	waitFor(t, testTimeout, "a group coordinator", func() string {
		return errorText(adm.FindGroupCoordinators(testContext(t), "warm-up").Error())
	})

	want := func(what string, errorCode int16, gotNode int32, gotHost string, gotPort int32) {
		t.Helper()
		if errorCode != 0 || gotNode != nodeID || gotHost != host || gotPort != int32(port) {
			t.Errorf("%s: error %d, coordinator %d at %s:%d; want no error, %d at %s:%d",
				what, errorCode, gotNode, gotHost, gotPort, nodeID, host, port)
		}
	}
	for version := int16(0); version <= 6; version++ {
		resp := findCoordinatorAt(t, b, version, "group-a", "group-b", "group-c")
		if resp.GetVersion() != version {
			t.Fatalf("asked for FindCoordinator v%d, sent v%d", version, resp.GetVersion())
		}
		if version < 4 {
			want(fmt.Sprintf("v%d", version), resp.ErrorCode, resp.NodeID, resp.Host, resp.Port)
			continue
		}
		if len(resp.Coordinators) != 3 {
			t.Errorf("v%d: %d coordinators for 3 keys", version, len(resp.Coordinators))
			continue
		}
		for i, c := range resp.Coordinators {
			if wantKey := []string{"group-a", "group-b", "group-c"}[i]; c.Key != wantKey {
				t.Errorf("v%d: coordinator %d is for key %q, want %q", version, i, c.Key, wantKey)
			}
			want(fmt.Sprintf("v%d key %s", version, c.Key), c.ErrorCode, c.NodeID, c.Host, c.Port)
		}
	}

	var many []string
	for i := range 40 {
		many = append(many, fmt.Sprintf("group-%d", i))
	}
	found := adm.FindGroupCoordinators(testContext(t), many...)
	if len(found) != len(many) {
		t.Errorf("kadm found coordinators for %d of %d groups", len(found), len(many))
	}
	for _, f := range found {
		want("kadm "+f.Name, errorCodeOf(f.Err), f.NodeID, f.Host, f.Port)
	}
}

// findCoordinatorAt sends FindCoordinator at exactly version for the
// groups (only the first below v4, which has a single key).
func findCoordinatorAt(t testing.TB, b *testcluster.Broker, version int16, groups ...string) *kmsg.FindCoordinatorResponse {
	t.Helper()
	versions := kversion.Stable()
	versions.SetMaxKeyVersion(kmsg.FindCoordinator.Int16(), version)
	cl := b.Client(kgo.MaxVersions(versions))
	req := kmsg.NewPtrFindCoordinatorRequest()
	if version < 4 {
		req.CoordinatorKey = groups[0]
	} else {
		req.CoordinatorKeys = groups
	}
	resp, err := cl.SeedBrokers()[0].Request(testContext(t), req)
	if err != nil {
		t.Fatalf("FindCoordinator v%d: %v", version, err)
	}
	return resp.(*kmsg.FindCoordinatorResponse)
}

// `__consumer_offsets` does not exist until a group first needs its
// coordinator; then it is an internal, compacted topic of 50 partitions.
// Its records decode with Kafka's schemas (kmsg OffsetCommitKey/Value,
// GroupMetadataKey/Value, the way Burrow reads them) and re-encode to the
// same bytes; the group's records are all in partition
// abs(javaHash(group)) % 50, as in Kafka; the latest commit records hold
// the group's committed offsets and the latest group record its members,
// protocol and assignments.
func TestOffsetsTopicRecordsDecodeWithKafkaSchemas(t *testing.T) {
	b := startBroker(t)
	adm := b.Admin()
	topic, group := topicName(t, "topic"), topicName(t, "group")
	createTopic(t, b, topic, 4)
	// A client of its own: kgo answers a repeated Metadata request from
	// its cache for a while, and adm lists again below.
	if listed := listAllTopics(t, b.Admin()); listed.Has(offsetsTopic) {
		t.Fatalf("%s exists before any group used it", offsetsTopic)
	}
	produced := produceRecords(t, b, topic, 4, "burrow", 40)

	members := []*member{
		startMember(t, b, "member-0", group, topic, kgo.Balancers(kgo.RangeBalancer())),
		startMember(t, b, "member-1", group, topic, kgo.Balancers(kgo.RangeBalancer())),
	}
	waitBalanced(t, adm, group, topic, 4, members, testTimeout)
	waitAllConsumed(t, members, produced, nil)
	commits := endOffsets(t, b, topic)
	waitFor(t, testTimeout, "commits at the log end", func() string {
		if got := committedOffsets(t, adm, group, topic); !maps.Equal(got, commits) {
			return fmt.Sprintf("committed %v, want %v", got, commits)
		}
		return ""
	})

	checkOffsetsTopicMetadata(t, adm)
	wantPartition := javaHashPartition(group, 50)
	view := newOffsetsView(t, group)
	cl := b.Client(kgo.ConsumeTopics(offsetsTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	waitFor(t, testTimeout, "the group's records in "+offsetsTopic, func() string {
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		fetches := cl.PollFetches(ctx)
		fetches.EachError(func(topic string, partition int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("read %s[%d]: %v", topic, partition, err)
			}
		})
		fetches.EachRecord(func(r *kgo.Record) { view.add(r, wantPartition) })
		return view.mismatch(topic, commits, members)
	})
}

func checkOffsetsTopicMetadata(t *testing.T, adm *kadm.Client) {
	t.Helper()
	details := listAllTopics(t, adm)
	detail, ok := details[offsetsTopic]
	if !ok {
		t.Fatalf("%s not listed after a group used it", offsetsTopic)
	}
	if !detail.IsInternal || len(detail.Partitions) != 50 {
		t.Errorf("%s: internal %v with %d partitions, want internal with 50", offsetsTopic, detail.IsInternal, len(detail.Partitions))
	}
	configs, err := adm.DescribeTopicConfigs(testContext(t), offsetsTopic)
	if err != nil {
		t.Fatalf("describe %s configs: %v", offsetsTopic, err)
	}
	config, err := configs.On(offsetsTopic, nil)
	if err != nil {
		t.Fatalf("describe %s configs: %v", offsetsTopic, err)
	}
	for _, c := range config.Configs {
		if c.Key == "cleanup.policy" && (c.Value == nil || *c.Value != "compact") {
			t.Errorf("%s: cleanup.policy %v, want compact", offsetsTopic, c.MaybeValue())
		}
	}
}

// listAllTopics lists topics, internal ones included.
func listAllTopics(t testing.TB, adm *kadm.Client) kadm.TopicDetails {
	t.Helper()
	details, err := adm.ListTopicsWithInternal(testContext(t))
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	return details
}

// offsetsView is the latest state of one group as read from
// `__consumer_offsets`, decoded the way monitoring tools decode it.
type offsetsView struct {
	t       testing.TB
	group   string
	commits map[int32]int64 // partition of the consumed topic → offset
	topic   string
	meta    *kmsg.GroupMetadataValue
}

func newOffsetsView(t testing.TB, group string) *offsetsView {
	return &offsetsView{t: t, group: group, commits: map[int32]int64{}}
}

// add decodes one record of `__consumer_offsets`; every record must
// decode, whatever group it belongs to.
func (v *offsetsView) add(r *kgo.Record, groupPartition int32) {
	v.t.Helper()
	where := fmt.Sprintf("%s[%d] offset %d", offsetsTopic, r.Partition, r.Offset)
	if len(r.Key) < 2 {
		v.t.Fatalf("%s: key of %d bytes", where, len(r.Key))
	}
	switch keyVersion := int16(r.Key[0])<<8 | int16(r.Key[1]); keyVersion {
	case 0, 1:
		var key kmsg.OffsetCommitKey
		decodeExactly(v.t, where+" OffsetCommitKey", r.Key, &key)
		if key.Group != v.group {
			return
		}
		v.inPartition(where, r.Partition, groupPartition)
		if r.Value == nil {
			delete(v.commits, key.Partition)
			return
		}
		var value kmsg.OffsetCommitValue
		decodeExactly(v.t, where+" OffsetCommitValue", r.Value, &value)
		v.topic = key.Topic
		v.commits[key.Partition] = value.Offset
	case 2:
		var key kmsg.GroupMetadataKey
		decodeExactly(v.t, where+" GroupMetadataKey", r.Key, &key)
		if key.Group != v.group {
			return
		}
		v.inPartition(where, r.Partition, groupPartition)
		v.meta = nil
		if r.Value != nil {
			v.meta = new(kmsg.GroupMetadataValue)
			decodeExactly(v.t, where+" GroupMetadataValue", r.Value, v.meta)
		}
	default:
		v.t.Errorf("%s: key version %d; classic groups write versions 0-2", where, keyVersion)
	}
}

func (v *offsetsView) inPartition(where string, got, want int32) {
	if got != want {
		v.t.Errorf("%s: record of group %s in partition %d, want %d = abs(javaHash(group)) %% 50", where, v.group, got, want)
	}
}

// mismatch says how the view differs from the expected commits and the
// live members ("" when it matches).
func (v *offsetsView) mismatch(topic string, commits map[int32]int64, members []*member) string {
	if v.topic != topic || !maps.Equal(v.commits, commits) {
		return fmt.Sprintf("commit records for %q: %v, want %s: %v", v.topic, v.commits, topic, commits)
	}
	if v.meta == nil {
		return "no group metadata record"
	}
	m := v.meta
	protocol := "<null>"
	if m.Protocol != nil {
		protocol = *m.Protocol
	}
	if m.ProtocolType != "consumer" || protocol != "range" || len(m.Members) != len(members) {
		return fmt.Sprintf("group record: protocol type %q, protocol %q, %d members; want consumer, range, %d",
			m.ProtocolType, protocol, len(m.Members), len(members))
	}
	if m.Generation != members[0].generation() {
		return fmt.Sprintf("group record generation %d, members at %d", m.Generation, members[0].generation())
	}
	owned := map[string][]int32{}
	for _, mb := range members {
		owned[mb.memberID()] = mb.partitions()
	}
	for _, stored := range m.Members {
		var assignment kmsg.ConsumerMemberAssignment
		if err := assignment.ReadFrom(stored.Assignment); err != nil {
			return fmt.Sprintf("member %s: assignment does not decode: %v", stored.MemberID, err)
		}
		var got []int32
		for _, at := range assignment.Topics {
			got = append(got, at.Partitions...)
		}
		slices.Sort(got)
		if want, ok := owned[stored.MemberID]; !ok || !slices.Equal(got, want) {
			return fmt.Sprintf("member %s: stored assignment %v, the member owns %v", stored.MemberID, got, want)
		}
		var subscription kmsg.ConsumerMemberMetadata
		if err := subscription.ReadFrom(stored.Subscription); err != nil || !slices.Equal(subscription.Topics, []string{topic}) {
			return fmt.Sprintf("member %s: stored subscription %v (error %v), want %s", stored.MemberID, subscription.Topics, err, topic)
		}
	}
	return ""
}

// encoded is a kmsg record-schema type of `__consumer_offsets`.
type encoded interface {
	ReadFrom([]byte) error
	AppendTo([]byte) []byte
}

// decodeExactly decodes raw into into and checks that encoding it again
// gives the same bytes: nothing left over, nothing Kafka would write
// differently.
func decodeExactly(t testing.TB, what string, raw []byte, into encoded) {
	t.Helper()
	if err := into.ReadFrom(raw); err != nil {
		t.Fatalf("%s does not decode: %v (%x)", what, err, raw)
	}
	if again := into.AppendTo(nil); !bytes.Equal(again, raw) {
		t.Errorf("%s: re-encodes to %x, stored %x", what, again, raw)
	}
}

// javaHashPartition is Kafka's partition for a group: Utils.abs of Java's
// String.hashCode (over UTF-16 code units, int32 arithmetic) modulo the
// partition count, where Utils.abs clears the sign bit.
func javaHashPartition(group string, partitions int32) int32 {
	var h int32
	for _, unit := range utf16.Encode([]rune(group)) {
		h = 31*h + int32(unit)
	}
	return (h & 0x7fffffff) % partitions
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// errorCodeOf is the Kafka code of err (0 for nil, -1 for a non-Kafka
// error).
func errorCodeOf(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return -1
}
