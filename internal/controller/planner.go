package controller

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sluice-io/sluice/internal/metadata"
)

// uncleanLeaderElectionConfig is the topic (and broker default) config that
// lets a partition with no live ISR member elect a replica outside the ISR.
const uncleanLeaderElectionConfig = "unclean.leader.election.enable"

// planner accumulates the records of one controller decision that changes
// partitions and broker states in steps (fence broker 3, then broker 5, then
// elect leaderless partitions, ...). Each step plans against img, the base
// image with every earlier step applied, so a later step sees the earlier
// ones exactly as replay will.
type planner struct {
	cfg     *Config
	img     *metadata.Image
	records []metadata.Record
	// unclean lists the unclean elections planned, for the WARN log once
	// they are committed.
	unclean []uncleanElection
	// cap counts partition replicas per broker for the steps that add
	// replicas (reassignments), from the base image on.
	cap *partitionCap
}

// uncleanElection is a leader elected from outside the ISR.
type uncleanElection struct {
	topic     string
	partition int32
	leader    int32
	// lostISR is the ISR before the election: the replicas that may hold
	// records the new leader does not.
	lostISR []int32
}

func newPlanner(img *metadata.Image, cfg *Config) *planner {
	return &planner{cfg: cfg, img: img, cap: newPartitionCap(img, cfg.MaxPartitions)}
}

// step appends records and applies them to the working image. An error is
// a planning bug (the records do not replay), reported with the records
// dropped.
func (p *planner) step(records []metadata.Record) error {
	if len(records) == 0 {
		return nil
	}
	next, err := p.img.Apply(records)
	if err != nil {
		return fmt.Errorf("planned records do not replay: %w", err)
	}
	p.img = next
	p.records = append(p.records, records...)
	return nil
}

// change builds pc for partition index of topic and returns its record, or
// nil when nothing changes. It notes unclean elections.
func (p *planner) change(topic *metadata.Topic, pc partitionChange) (*metadata.PartitionRecord, changeResult) {
	result := pc.build()
	if !result.changed {
		return nil, result
	}
	if result.unclean {
		p.unclean = append(p.unclean, uncleanElection{
			topic: topic.Name, partition: pc.current.Index, leader: result.next.Leader, lostISR: slices.Clone(pc.current.ISR),
		})
	}
	return &metadata.PartitionRecord{TopicID: topic.ID, Partition: result.next}, result
}

// leaderAndISRUpdates is Kafka's generateLeaderAndIsrUpdates: for every
// partition selected by which, remove the broker remove (if >= 0) from the
// ISR and from leadership, and elect a leader where the current one is not
// acceptable. Acceptable leaders are active brokers other than remove and
// those in excluded, plus add (if >= 0) even while the image still shows it
// fenced (it is being unfenced in the same batch). Topics with unclean
// leader election enabled may elect outside the ISR. It returns the records
// without stepping.
func (p *planner) leaderAndISRUpdates(remove, add int32, excluded map[int32]bool, which func(metadata.Partition) bool) []metadata.Record {
	acceptable := func(r int32) bool {
		if r == remove || excluded[r] {
			return false
		}
		if r == add {
			return true
		}
		b := p.img.Broker(r)
		return b != nil && b.Active()
	}
	var records []metadata.Record
	for _, topic := range p.img.Topics() {
		elect := electOnline
		if p.uncleanEnabled(topic) {
			elect = electUnclean
		}
		for _, part := range topic.Partitions {
			if !which(part) {
				continue
			}
			pc := newPartitionChange(part, acceptable)
			pc.election = elect
			if remove >= 0 {
				pc.targetISR = without(part.ISR, remove)
			}
			if record, _ := p.change(topic, pc); record != nil {
				records = append(records, record)
			}
		}
	}
	return records
}

// removeBroker plans a broker losing its leaderships and ISR memberships
// (fencing, controlled shutdown, a new incarnation): every partition with
// it in the ISR, or leading, changes. Brokers in excluded may not take over.
func (p *planner) removeBroker(id int32, excluded map[int32]bool) []metadata.Record {
	return p.leaderAndISRUpdates(id, -1, excluded, func(part metadata.Partition) bool {
		return part.Leader == id || slices.Contains(part.ISR, id)
	})
}

// fence plans Kafka's handleBrokerFenced: the broker leaves every ISR it
// can (never emptying one) and every leadership, then its registration is
// fenced.
func (p *planner) fence(id int32, excluded map[int32]bool) error {
	broker := p.img.Broker(id)
	if broker == nil || broker.Fenced {
		return nil
	}
	records := p.removeBroker(id, excluded)
	records = append(records, &metadata.BrokerRegistrationChangeRecord{
		BrokerID: id, BrokerEpoch: broker.BrokerEpoch, Fenced: metadata.FenceBroker,
	})
	return p.step(records)
}

// unfence plans Kafka's handleBrokerUnfenced: the registration is unfenced
// and every partition without a leader elects one, the broker included
// (unless it is still marked in controlled shutdown, which keeps it from
// leading).
func (p *planner) unfence(id int32) error {
	broker := p.img.Broker(id)
	if broker == nil || !broker.Fenced {
		return nil
	}
	records := []metadata.Record{&metadata.BrokerRegistrationChangeRecord{
		BrokerID: id, BrokerEpoch: broker.BrokerEpoch, Fenced: metadata.UnfenceBroker,
	}}
	add := id
	if broker.InControlledShutdown {
		add = -1
	}
	records = append(records, p.leaderAndISRUpdates(-1, add, nil, leaderless)...)
	return p.step(records)
}

// controlledShutdown plans Kafka's handleBrokerInControlledShutdown: the
// registration is marked, then the broker's leaderships move to other ISR
// members and it leaves the ISRs it can.
func (p *planner) controlledShutdown(id int32) error {
	broker := p.img.Broker(id)
	if broker == nil || broker.Fenced {
		return nil
	}
	var records []metadata.Record
	if !broker.InControlledShutdown {
		records = append(records, &metadata.BrokerRegistrationChangeRecord{
			BrokerID: id, BrokerEpoch: broker.BrokerEpoch, InControlledShutdown: metadata.ShutdownInControlledShutdown,
		})
	}
	records = append(records, p.removeBroker(id, nil)...)
	return p.step(records)
}

// electLeaderless elects a leader for every partition that has none, from
// the live ISR, or (where unclean election is enabled) from the live
// replicas. Kafka does the clean part on unfence and the unclean part in a
// periodic task; Sluice runs both on every Tick, so a topic whose unclean
// election gets enabled later, or a partition left leaderless by a path
// that elected nothing, recovers too.
func (p *planner) electLeaderless() error {
	return p.step(p.leaderAndISRUpdates(-1, -1, nil, leaderless))
}

// balanceLeaders plans preferred leader elections for up to
// maxElectionsPerImbalance partitions whose leader is not their preferred
// replica (Kafka's maybeBalancePartitionLeaders). more reports that it
// stopped at the limit.
func (p *planner) balanceLeaders() (more bool, err error) {
	acceptable := p.activeBroker
	var records []metadata.Record
	for _, topic := range p.img.Topics() {
		for _, part := range topic.Partitions {
			if len(part.Replicas) == 0 || part.Leader == part.Replicas[0] {
				continue
			}
			if len(records) >= maxElectionsPerImbalance {
				return true, p.step(records)
			}
			pc := newPartitionChange(part, acceptable)
			pc.election = electPreferred
			if record, _ := p.change(topic, pc); record != nil {
				records = append(records, record)
			}
		}
	}
	return false, p.step(records)
}

// activeBroker reports whether broker is registered, unfenced and not in
// controlled shutdown in the working image.
func (p *planner) activeBroker(broker int32) bool {
	b := p.img.Broker(broker)
	return b != nil && b.Active()
}

// uncleanEnabled resolves unclean.leader.election.enable for the topic as
// Kafka's uncleanLeaderElectionEnabledForTopic does: the topic override,
// else the cluster-wide dynamic broker default, else the static broker
// config.
func (p *planner) uncleanEnabled(topic *metadata.Topic) bool {
	if value, ok := topic.Configs[uncleanLeaderElectionConfig]; ok {
		return parseBool(value)
	}
	if value, ok := p.img.BrokerConfigs("")[uncleanLeaderElectionConfig]; ok {
		return parseBool(value)
	}
	return p.cfg.UncleanLeaderElectionEnable
}

func parseBool(value string) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(value))
	return err == nil && b
}

// leaderless selects partitions without a leader.
func leaderless(part metadata.Partition) bool { return part.Leader == noLeader }

// leadsAny reports whether broker leads at least one partition.
func leadsAny(img *metadata.Image, broker int32) bool {
	for _, topic := range img.Topics() {
		for _, part := range topic.Partitions {
			if part.Leader == broker {
				return true
			}
		}
	}
	return false
}
