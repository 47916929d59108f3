package config

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Process roles, as process.roles spells them.
const (
	RoleBroker     = "broker"
	RoleController = "controller"
)

// voterSyntax is the reason given for a controller.quorum.voters entry that
// does not parse (Kafka's QuorumConfig wording).
const voterSyntax = "each entry should be in the form {id}@{host}:{port}, e.g. 1@localhost:9093"

// Voter is one member of the controller quorum from controller.quorum.voters
// (written id@host:port; IPv6 hosts in brackets).
type Voter struct {
	// NodeID is the voter's node.id.
	NodeID int32
	// Host is the host or IP the voter's controller listener is reached at.
	Host string
	// Port is the TCP port of the voter's controller listener.
	Port int
}

// String renders the voter as controller.quorum.voters writes it.
func (v Voter) String() string {
	return strconv.FormatInt(int64(v.NodeID), 10) + "@" + v.Address()
}

// Address is the host:port to dial the voter's controller listener at.
func (v Voter) Address() string {
	return net.JoinHostPort(v.Host, strconv.Itoa(v.Port))
}

// IsController reports whether process.roles includes controller: the node
// is a voter in the metadata quorum and may become the active controller.
func (b Broker) IsController() bool {
	return slices.Contains(b.ProcessRoles, RoleController)
}

// IsBroker reports whether process.roles includes broker: the node serves
// clients and hosts partition replicas.
func (b Broker) IsBroker() bool {
	return slices.Contains(b.ProcessRoles, RoleBroker)
}

// SingleNode reports whether no controller.quorum.voters are configured:
// the node is a whole cluster on its own (combined roles, a one-voter Raft
// quorum with no transport, no controller listener needed), which is what a
// bare `sluice serve` runs. Validate rejects anything but combined roles
// without voters.
func (b Broker) SingleNode() bool {
	return len(b.ControllerQuorumVoters) == 0
}

// ControllerListener returns the listener this node serves the quorum and
// the controller APIs (BrokerRegistration, BrokerHeartbeat, AlterPartition)
// on: the listeners entry named first in controller.listener.names, as
// Kafka uses the first name. ok is false when there is none (broker-only
// nodes, or a single node without controller listeners). Peers do not use
// this address: they dial the one controller.quorum.voters gives.
func (b Broker) ControllerListener() (Listener, bool) {
	if len(b.ControllerListenerNames) == 0 {
		return Listener{}, false
	}
	return findListener(b.ControllerListeners, b.ControllerListenerNames[0])
}

// InterBrokerListener returns the advertised listener other brokers use to
// reach this one (replica fetches): the advertised.listeners entry named
// InterBrokerListenerName. ok is false for a controller-only node, which has
// no broker listeners; Validate guarantees it for every node with the
// broker role.
func (b Broker) InterBrokerListener() (Listener, bool) {
	return findListener(b.AdvertisedListeners, b.InterBrokerListenerName)
}

func findListener(listeners []Listener, name string) (Listener, bool) {
	for _, listener := range listeners {
		if listener.Name == name {
			return listener, true
		}
	}
	return Listener{}, false
}

// VoterIDs returns the node IDs of the quorum voters, in configured order.
func (b Broker) VoterIDs() []int32 {
	ids := make([]int32, len(b.ControllerQuorumVoters))
	for i, voter := range b.ControllerQuorumVoters {
		ids[i] = voter.NodeID
	}
	return ids
}

// processRoles accepts a non-empty subset of broker and controller
// (Kafka's ValidList.in plus KRaft's "process.roles must be set").
func processRoles(value any) string {
	if len(value.([]string)) == 0 {
		return `must contain "broker", "controller" or both`
	}
	return listOf(RoleBroker, RoleController)(value)
}

// quorumVoters accepts a controller.quorum.voters list: every entry parses
// and no node ID repeats. The empty list (a single node) is accepted.
func quorumVoters(value any) string {
	voters, reason := parseVoters(value.([]string))
	if reason != "" {
		return reason
	}
	return checkVoters(voters)
}

// parseVoters parses id@host:port entries (Kafka's
// QuorumConfig.parseVoterConnections).
func parseVoters(entries []string) ([]Voter, string) {
	voters := make([]Voter, 0, len(entries))
	for _, entry := range entries {
		voter, reason := parseVoter(entry)
		if reason != "" {
			return nil, fmt.Sprintf("has an invalid entry %q: %s", entry, reason)
		}
		voters = append(voters, voter)
	}
	return voters, ""
}

// parseVoter parses one id@host:port.
func parseVoter(entry string) (Voter, string) {
	idText, address, found := strings.Cut(entry, "@")
	if !found || strings.Contains(address, "@") {
		return Voter{}, voterSyntax
	}
	id, err := strconv.ParseInt(idText, 10, 32)
	if err != nil {
		return Voter{}, fmt.Sprintf("node id %q is not a valid int; %s", idText, voterSyntax)
	}
	colon := strings.LastIndexByte(address, ':')
	if colon < 0 {
		return Voter{}, voterSyntax
	}
	host, portText := address[:colon], address[colon+1:]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return Voter{}, fmt.Sprintf("port %q is not a number; %s", portText, voterSyntax)
	}
	return Voter{NodeID: int32(id), Host: host, Port: port}, ""
}

// checkVoters checks parsed voters: valid IDs, dialable addresses, no
// repeated IDs (Kafka keeps the last of a repeated ID silently; a typo there
// would leave a quorum of the wrong size, so Sluice refuses it).
func checkVoters(voters []Voter) string {
	for i, voter := range voters {
		if reason := checkVoter(voter); reason != "" {
			return fmt.Sprintf("has an invalid entry %q: %s", voter, reason)
		}
		for _, earlier := range voters[:i] {
			if earlier.NodeID == voter.NodeID {
				return fmt.Sprintf("lists voter id %d twice (%q and %q): each voter needs its own node.id", voter.NodeID, earlier, voter)
			}
		}
	}
	return ""
}

func checkVoter(voter Voter) string {
	switch {
	case voter.NodeID < 0:
		return "node id must be at least 0"
	case voter.Host == "" || !validHost(voter.Host):
		return fmt.Sprintf("invalid host %q; %s", voter.Host, voterSyntax)
	case voter.Host == "0.0.0.0" || voter.Host == "::":
		return fmt.Sprintf("host %s is not routable: peers dial this address", voter.Host)
	case voter.Port < 1 || voter.Port > 65535:
		return fmt.Sprintf("port %d must be between 1 and 65535", voter.Port)
	}
	return ""
}

func joinVoters(voters []Voter) string {
	texts := make([]string, len(voters))
	for i, voter := range voters {
		texts[i] = voter.String()
	}
	return strings.Join(texts, ",")
}

// resolveVoters fills ControllerQuorumVoters from controller.quorum.voters
// (already checked key by key, so it parses).
func (b *Broker) resolveVoters(parsed map[string]any) error {
	voters, reason := parseVoters(listValue(parsed, "controller.quorum.voters"))
	if reason != "" {
		return &Error{Name: "controller.quorum.voters", Value: formatValue(listValue(parsed, "controller.quorum.voters")), Reason: reason}
	}
	if len(voters) > 0 {
		b.ControllerQuorumVoters = voters
	}
	return nil
}

// DefaultInternalReplicationFactor is the replication factor
// __consumer_offsets and __transaction_state get when
// offsets.topic.replication.factor and
// transaction.state.log.replication.factor are not set: Kafka's 3, but no
// more than the number of voters (so a 1- or 2-node cluster works out of the
// box) and 1 for a single node.
func (b Broker) DefaultInternalReplicationFactor() int16 {
	return int16(max(1, min(3, len(b.ControllerQuorumVoters))))
}

// resolveInternalTopicDefaults applies the voter-dependent defaults of the
// internal topics' settings that were not set: the replication factors
// (DefaultInternalReplicationFactor) and transaction.state.log.min.isr,
// Kafka's 2 but never above the transaction log's replication factor.
func (b *Broker) resolveInternalTopicDefaults(parsed map[string]any) {
	rf := b.DefaultInternalReplicationFactor()
	if _, set := parsed["offsets.topic.replication.factor"]; !set {
		b.OffsetsTopicReplicationFactor = rf
	}
	if _, set := parsed["transaction.state.log.replication.factor"]; !set {
		b.TransactionStateLogReplicationFactor = rf
	}
	if _, set := parsed["transaction.state.log.min.isr"]; !set {
		b.TransactionStateLogMinISR = min(2, int32(b.TransactionStateLogReplicationFactor))
	}
}

// validateQuorum applies KRaft's rules tying process.roles,
// controller.quorum.voters and controller.listener.names together
// (KafkaConfigValidator.validateKraft{Broker,Controller,CombinedMode}Config).
// A single node (no voters) needs none of them, so a bare configuration
// keeps working, but only with combined roles.
func (b Broker) validateQuorum() error {
	voters := joinVoters(b.ControllerQuorumVoters)
	if reason := checkVoters(b.ControllerQuorumVoters); reason != "" {
		return &Error{Name: "controller.quorum.voters", Value: voters, Reason: reason}
	}
	if b.SingleNode() {
		if b.IsBroker() && b.IsController() {
			return nil
		}
		return &Error{Name: "controller.quorum.voters", Value: "",
			Reason: fmt.Sprintf("must list the controller quorum as {id}@{host}:{port},... when process.roles=%s: "+
				"only a combined broker,controller node runs without voters (controller.quorum.bootstrap.servers is not supported yet)",
				strings.Join(b.ProcessRoles, ","))}
	}
	if b.IsController() {
		return b.validateControllerRole(voters)
	}
	return b.validateBrokerOnlyRole(voters)
}

// validateControllerRole checks a controller (or combined) node of a
// cluster: it is a voter and serves a controller listener.
func (b Broker) validateControllerRole(voters string) error {
	if !slices.Contains(b.VoterIDs(), b.NodeID) {
		return &Error{Name: "controller.quorum.voters", Value: voters,
			Reason: fmt.Sprintf("does not include node.id %d: if process.roles contains the 'controller' role, the node id must be included in the set of voters %v",
				b.NodeID, b.VoterIDs())}
	}
	names := formatValue(b.ControllerListenerNames)
	if len(b.ControllerListenerNames) == 0 || len(b.ControllerListeners) == 0 {
		return &Error{Name: "controller.listener.names", Value: names,
			Reason: "must contain at least one value appearing in the 'listeners' configuration when running the KRaft controller role"}
	}
	bound := listenerNames(b.ControllerListeners)
	for _, name := range b.ControllerListenerNames {
		if !slices.Contains(bound, name) {
			return &Error{Name: "controller.listener.names", Value: names,
				Reason: fmt.Sprintf("names %s, which is not in listeners: controller.listener.names must only contain values appearing in the 'listeners' configuration when running the KRaft controller role", name)}
		}
	}
	return nil
}

// validateBrokerOnlyRole checks a broker-only node: it is not a voter,
// knows the controller listener name, and does not listen on it.
func (b Broker) validateBrokerOnlyRole(voters string) error {
	if slices.Contains(b.VoterIDs(), b.NodeID) {
		return &Error{Name: "controller.quorum.voters", Value: voters,
			Reason: fmt.Sprintf("includes node.id %d: if process.roles contains just the 'broker' role, the node id must not be included in the set of voters", b.NodeID)}
	}
	names := formatValue(b.ControllerListenerNames)
	if len(b.ControllerListenerNames) == 0 {
		return &Error{Name: "controller.listener.names", Value: names,
			Reason: "must contain at least one value when running KRaft with just the broker role"}
	}
	if len(b.ControllerListeners) > 0 {
		return &Error{Name: "controller.listener.names", Value: names,
			Reason: "must not contain a value appearing in the 'listeners' configuration when running KRaft with just the broker role"}
	}
	return nil
}

// validateInternalTopics checks the internal topics can be created and
// written. Their min.insync.replicas (transaction.state.log.min.isr, and the
// broker's min.insync.replicas for __consumer_offsets) must not exceed their
// replication factor, or every commit would fail with NOT_ENOUGH_REPLICAS.
// On a combined node of a cluster the replication factors must not exceed
// the voter count: Sluice assumes all voters are combined then, so there are
// no other brokers and the topic could never be created (Kafka fails
// FindCoordinator with COORDINATOR_NOT_AVAILABLE forever instead).
func (b Broker) validateInternalTopics() error {
	offsetsRF, txnRF := int64(b.OffsetsTopicReplicationFactor), int64(b.TransactionStateLogReplicationFactor)
	problems := []error{
		minISRWithinRF("transaction.state.log.min.isr", int64(b.TransactionStateLogMinISR), "transaction.state.log.replication.factor", txnRF, "__transaction_state"),
		minISRWithinRF("min.insync.replicas", int64(b.TopicDefaults.MinInsyncReplicas), "offsets.topic.replication.factor", offsetsRF, "__consumer_offsets"),
	}
	if !b.SingleNode() && b.IsBroker() && b.IsController() {
		voters := int64(len(b.ControllerQuorumVoters))
		problems = append(problems,
			exceedsVoters("offsets.topic.replication.factor", offsetsRF, voters),
			exceedsVoters("transaction.state.log.replication.factor", txnRF, voters))
	}
	return firstError(problems...)
}

func exceedsVoters(name string, rf, voters int64) error {
	if rf <= voters {
		return nil
	}
	return &Error{Name: name, Value: formatValue(rf),
		Reason: fmt.Sprintf("exceeds the number of voters in controller.quorum.voters (%d): with every voter running broker,controller "+
			"there are only %d brokers, so the topic could never be created", voters, voters)}
}

// minISRWithinRF requires an internal topic's min.insync.replicas to be at
// most its replication factor.
func minISRWithinRF(name string, minISR int64, rfName string, rf int64, topic string) error {
	if minISR <= rf {
		return nil
	}
	return &Error{Name: name, Value: formatValue(minISR),
		Reason: fmt.Sprintf("exceeds %s (%d): %s could never accept a write, every one would fail with NOT_ENOUGH_REPLICAS", rfName, rf, topic)}
}
