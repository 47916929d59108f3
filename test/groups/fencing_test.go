package groups

import (
	"fmt"
	"maps"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A member that was expired (a zombie: it lost its network, not its
// process) must not be able to commit afterwards, or it could move the
// group's offsets past records its successor never processed. Kafka fences
// commits by member ID and generation (ClassicGroup.validateOffsetCommit):
// the expired member's ID is UNKNOWN_MEMBER_ID, a live member's ID with a
// past generation is ILLEGAL_GENERATION, and an admin commit (no member,
// generation -1) into a group with members is UNKNOWN_MEMBER_ID. None of
// them changes the committed offsets.
func TestExpiredMembersCommitsAreFenced(t *testing.T) {
	b := startBroker(t)
	adm := b.Admin()
	topic, group := topicName(t, "topic"), topicName(t, "group")
	createTopic(t, b, topic, 4)
	produced := produceRecords(t, b, topic, 4, "fenced", 40)

	zombie := startMember(t, b, "zombie", group, topic)
	waitBalanced(t, adm, group, topic, 4, []*member{zombie}, testTimeout)
	waitAllConsumed(t, []*member{zombie}, produced, nil)
	logEnd := endOffsets(t, b, topic)
	waitFor(t, testTimeout, "the first member's commits at the log end", func() string {
		if got := committedOffsets(t, adm, group, topic); !maps.Equal(got, logEnd) {
			return fmt.Sprintf("committed %v, log end %v", got, logEnd)
		}
		return ""
	})
	zombieID, zombieGeneration := zombie.memberID(), zombie.generation()
	zombie.kill()

	successor := startMember(t, b, "successor", group, topic)
	waitBalanced(t, adm, group, topic, 4, []*member{successor}, sessionTimeout+testTimeout)
	if successor.generation() <= zombieGeneration {
		t.Fatalf("successor joined generation %d, not after the zombie's %d", successor.generation(), zombieGeneration)
	}

	topics, err := adm.ListTopics(testContext(t), topic)
	if err != nil {
		t.Fatalf("list topic %s: %v", topic, err)
	}
	cl := b.Client()
	for _, c := range []struct {
		what       string
		memberID   string
		generation int32
		want       *kerr.Error
	}{
		{"the expired member", zombieID, zombieGeneration, kerr.UnknownMemberID},
		{"a live member with a past generation", successor.memberID(), zombieGeneration, kerr.IllegalGeneration},
		{"an admin (no member) while the group has members", "", -1, kerr.UnknownMemberID},
	} {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.MemberID, req.Generation = group, c.memberID, c.generation
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic, rt.TopicID = topic, topics[topic].ID // v10+ names topics by ID
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 0, 0 // rewinding would replay partition 0
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(testContext(t), cl)
		if err != nil {
			t.Fatalf("commit as %s: %v", c.what, err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("commit as %s: response with %d topics", c.what, len(resp.Topics))
		}
		wantKafkaErr(t, "commit as "+c.what, kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode), c.want)
	}
	if got := committedOffsets(t, adm, group, topic); !maps.Equal(got, logEnd) {
		t.Errorf("committed offsets after fenced commits: %v, want them unchanged at %v", got, logEnd)
	}
}

// A member asking for a session timeout outside the broker's
// group.min.session.timeout.ms and group.max.session.timeout.ms is refused
// with INVALID_SESSION_TIMEOUT, as in Kafka, instead of joining.
func TestSessionTimeoutOutsideBrokerLimitsIsRefused(t *testing.T) {
	b := startBroker(t)
	cl := b.Client()
	for _, session := range []int32{int32(minSessionTimeout.Milliseconds()) - 1, b.Config().GroupMaxSessionTimeoutMs + 1} {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group = topicName(t, fmt.Sprint("group-", session))
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = session, 5000
		req.ProtocolType = "consumer"
		protocol := kmsg.NewJoinGroupRequestProtocol()
		protocol.Name = "range"
		metadata := kmsg.ConsumerMemberMetadata{Topics: []string{"any"}}
		protocol.Metadata = metadata.AppendTo(nil)
		req.Protocols = append(req.Protocols, protocol)
		resp, err := req.RequestWith(testContext(t), cl)
		if err != nil {
			t.Fatalf("join with session timeout %dms: %v", session, err)
		}
		wantKafkaErr(t, fmt.Sprintf("join with session timeout %dms", session), kerr.ErrorForCode(resp.ErrorCode), kerr.InvalidSessionTimeout)
	}
}
