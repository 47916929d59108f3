// Package controller makes the active controller's decisions about topics,
// partitions, configs, broker registrations and producer-ID blocks
// (AllocateProducerIDs: one ProducerIDsRecord per block of 1000).
//
// Every write follows Kafka's ControllerResult pattern: a pure plan function
// (planCreateTopics, planDeleteTopics, planCreatePartitions,
// planAlterConfigs) takes the current metadata.Image and a franz-go kmsg
// request and returns the metadata records to commit plus the response. The
// plan functions do no I/O, start no goroutines and read no clock; topic IDs
// and placement randomness come from injectable sources in Config, so the
// table tests run them without Raft. The Controller then proposes the
// records to the quorum (Quorum, implemented by *quorum.Node) and answers
// once they are applied, or fails every would-be success with NOT_CONTROLLER
// or REQUEST_TIMED_OUT if the proposal fails.
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
// mutex held from planning until the records are applied (Kafka's controller
// is likewise a single event queue), so each plan sees every earlier
// decision; validate_only requests plan against the current image without
// the lock. Conflicting batches that slip through anyway (a proposal whose
// context ended while it was in flight) are refused whole by Image.Apply.
package controller
