// Package controller makes the active controller's decisions about topics,
// partitions, configs, broker registrations and producer-ID blocks
// (AllocateProducerIDs: one ProducerIDsRecord per block of 1000).
//
// # Cluster membership and leadership (KRaft)
//
// Brokers register (BrokerRegistration: a new broker epoch, fenced) and
// heartbeat (BrokerHeartbeat) to the active controller, which keeps one
// session per broker in memory (Kafka's BrokerHeartbeatManager: never in
// the log). A fenced broker is unfenced once its image has reached its own
// registration; WantFence fences; WantShutdown starts a controlled shutdown
// that moves its leaderships away first. Tick, called by the driver about
// every 100 ms, fences brokers whose session expired. Every broker state
// change and its partition consequences are planned as one batch, like
// Kafka's ReplicationControlManager: a fenced or shutting-down broker leaves
// each ISR it can (never emptying one) and each leadership, a new leader
// comes from the live ISR (bumping the leader and partition epochs), leader
// -1 when none lives unless unclean.leader.election.enable lets a live
// replica outside the ISR take over (logged at WARN: records may be lost);
// unfencing elects leaders for leaderless partitions. AlterPartition
// (leaders changing their ISR), ElectLeaders (preferred and unclean) and the
// preferred-leader rebalance (RebalanceLeaders, and Tick every
// leader.imbalance.check.interval.seconds when auto rebalance is on) use the
// same election rules (partition_change.go, Kafka's PartitionChangeBuilder).
// Partition reassignments (AlterPartitionReassignments and
// ListPartitionReassignments, reassign.go) record the replicas being added
// and removed in the partition; every partition change completes a
// reassignment whose target replicas are all in the ISR (Kafka's
// PartitionChangeBuilder.completeReassignmentIfNeeded), so the
// AlterPartition that brings the last new replica into the ISR also
// removes the old ones. New partitions are placed on active brokers only,
// rack-aware (Kafka's StripedReplicaPlacer). No broker may gain partition
// replicas beyond sluice.max.partitions (Config.MaxPartitions,
// partition_cap.go): CreateTopics, CreatePartitions and reassignments that
// would are refused per topic or partition with POLICY_VIOLATION, and the
// driver reports each refusal through Config.PartitionCapRefused (this
// package does not import internal/metrics). BecomeActive, called after a Raft barrier on
// gaining leadership, gives every registered broker a fresh session.
//
// Every write follows Kafka's ControllerResult pattern: a pure plan function
// (planCreateTopics, planDeleteTopics, planCreatePartitions,
// planAlterConfigs, planRegistration, and the planner's steps for
// heartbeats, Tick, AlterPartition, ElectLeaders and reassignments) takes the current
// metadata.Image and a franz-go kmsg request and returns the metadata records
// to commit plus the response. The plan functions do no I/O, start no
// goroutines and read no clock; topic IDs, placement randomness and the
// session clock (Config.Now) come from injectable sources in Config, so the
// table tests run them without Raft or real time. The Controller then
// proposes the records to the quorum (Quorum, implemented by *quorum.Node)
// and answers once they are applied, or fails every would-be success with
// NOT_CONTROLLER or REQUEST_TIMED_OUT if the proposal fails.
//
// Rejections match Apache Kafka 4.x: the error codes and messages of
// ReplicationControlManager, ConfigurationControlManager,
// ControllerConfigurationValidator, ControllerApis and the broker-side
// ConfigAdminManager, which each plan function's comment cites. Differences
// are called out where they occur.
//
// # Who may import it
//
// internal/api and internal/server. It imports internal/metadata,
// internal/quorum (for its error values), internal/config (the topic config
// registry, through ConfigFromBroker) and franz-go's kmsg and kerr.
//
// # Threading contract
//
// A Controller is safe for concurrent use. Writes are serialised by one
// mutex (Controller.mu) held from planning until the records are applied
// (Kafka's controller is likewise a single event queue), so each plan sees
// every earlier decision; validate_only requests plan against the current
// image without the lock. Conflicting batches that slip through anyway (a
// proposal whose context ended while it was in flight) are refused whole by
// Image.Apply, whose epoch checks make a stale partition change fail replay.
// The broker sessions have their own mutex (Controller.sessionMu), taken
// after mu when both are needed and never held across a proposal: a
// heartbeat renews its session before it waits for mu, so a Tick that
// follows a slow commit does not fence a broker whose heartbeat was queued,
// and ReplicaStates never waits for a commit.
package controller
