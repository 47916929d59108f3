package config

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Entry is one config as DescribeConfigs reports it. The api layer copies
// it into kmsg.DescribeConfigsResponseResourceConfig, dropping Synonyms and
// Documentation when the request did not ask for them.
type Entry struct {
	// Name is the config name.
	Name string
	// Value is the effective value as text (Kafka's rendering: lists
	// comma-joined, doubles like Java); nil when unset with no default, or
	// sensitive.
	Value *string
	// Source is where the value comes from: the first synonym's source, or
	// DEFAULT_CONFIG.
	Source kmsg.ConfigSource
	// ReadOnly is true for broker configs (Sluice has no dynamic broker
	// configs yet) and false for topic configs (AlterConfigs can change them).
	ReadOnly bool
	// Sensitive configs never reveal their value.
	Sensitive bool
	// Type is the Kafka config type.
	Type kmsg.ConfigType
	// Documentation describes the config.
	Documentation string
	// Synonyms are the settings that could supply the value, in precedence
	// order (a topic override, then broker settings set in the file, then
	// broker defaults).
	Synonyms []Synonym
}

// Synonym is one setting that could supply an Entry's value.
type Synonym struct {
	// Name is the setting's name (a topic config or a broker setting).
	Name string
	// Value is the setting's value as text; nil if sensitive.
	Value *string
	// Source is where this setting is defined.
	Source kmsg.ConfigSource
}

// DescribeTopic describes every topic config for a topic whose stored
// overrides are given, as Kafka's DescribeConfigs does: the value is the
// override, else the broker setting, else the default, and the synonyms list
// the override (DYNAMIC_TOPIC_CONFIG), the broker synonyms set in the
// broker's configuration (STATIC_BROKER_CONFIG) and those with defaults
// (DEFAULT_CONFIG), each group in precedence order.
//
// Kafka lists a topic's broker synonyms only from the highest-precedence one
// onwards, so a server.properties with log.retention.hours=24 shows
// retention.ms as DEFAULT_CONFIG with no synonyms. Sluice lists every
// synonym instead, so that case reports STATIC_BROKER_CONFIG with
// log.retention.hours=24: the same value, with a truthful source.
//
// Overrides are expected to be valid (ValidateTopicConfig); one that is not
// is reported as stored, and unknown names are left out.
func DescribeTopic(b Broker, overrides map[string]string) []Entry {
	resolved := b.TopicDefaults.clone()
	for name, raw := range overrides {
		if value, err := parseTopicValue(name, raw); err == nil {
			assign(topicRegistryByName[name].field(&resolved), value)
		}
	}
	entries := make([]Entry, 0, len(topicRegistry))
	for i := range topicRegistry {
		entries = append(entries, describeTopicConfig(&topicRegistry[i], &resolved, b.static, overrides))
	}
	return entries
}

func describeTopicConfig(def *topicDefinition, resolved *Topic, static, overrides map[string]string) Entry {
	value := formatValue(read(def.typ, def.field(resolved)))
	var synonyms []Synonym
	if raw, ok := overrides[def.name]; ok {
		if _, err := parseTopicValue(def.name, raw); err != nil {
			value = raw
		}
		synonyms = append(synonyms, Synonym{Name: def.name, Value: text(value), Source: kmsg.ConfigSourceDynamicTopicConfig})
	}
	names := make([]string, len(def.synonyms))
	for i, synonym := range def.synonyms {
		names[i] = synonym.name
	}
	synonyms = append(synonyms, brokerSynonyms(names, static)...)
	return Entry{
		Name:          def.name,
		Value:         text(value),
		Source:        sourceOf(synonyms),
		Type:          def.typ,
		Documentation: def.doc,
		Synonyms:      synonyms,
	}
}

// DescribeBroker describes every broker setting. static holds the key/values
// the broker was started with (server.properties plus environment and flag
// overrides: STATIC_BROKER_CONFIG); nil means those ParseBroker recorded in
// b. Unset settings report their default (DEFAULT_CONFIG), or no value when
// Kafka has none; sluice.cluster.id reports b.ClusterID when it was
// generated rather than configured, and the internal topics' replication
// settings report the default b derived from its voter count.
//
// As in Kafka, a setting's synonyms are the settings of its group (such as
// log.retention.ms, .minutes, .hours) that are set or defaulted, from the
// described one down in precedence, so log.retention.hours lists itself and
// log.retention.ms lists all three when it is set.
func DescribeBroker(b Broker, static map[string]string) []Entry {
	if static == nil {
		static = b.static
	}
	canonical := canonicalBrokerValues(static)
	entries := make([]Entry, 0, len(brokerRegistry))
	for i := range brokerRegistry {
		entries = append(entries, describeBrokerSetting(&brokerRegistry[i], b, canonical))
	}
	return entries
}

func describeBrokerSetting(def *brokerDefinition, b Broker, static map[string]string) Entry {
	var value *string
	if configured, ok := static[def.name]; ok {
		value = text(configured)
	} else if def.derived {
		value = text(formatValue(read(def.typ, def.field(&b))))
	} else if def.defaultText != nil {
		value = text(formatValue(def.defaultValue))
	} else if def.name == "sluice.cluster.id" && b.ClusterID != "" {
		value = text(b.ClusterID)
	}
	synonyms := brokerSynonyms(brokerSynonymGroup(def.name), static)
	for len(synonyms) > 0 && synonyms[0].Name != def.name {
		synonyms = synonyms[1:]
	}
	if def.derived {
		synonyms = derivedDefaultSynonyms(synonyms, def, b)
	}
	if def.sensitive {
		value = nil
		for i := range synonyms {
			synonyms[i].Value = nil
		}
	}
	return Entry{
		Name:          def.name,
		Value:         value,
		Source:        sourceOf(synonyms),
		ReadOnly:      true,
		Sensitive:     def.sensitive,
		Type:          def.typ,
		Documentation: def.doc,
		Synonyms:      synonyms,
	}
}

// derivedDefaultSynonyms reports the default this broker derived (from its
// voter count, say) rather than the registry's single-node default.
func derivedDefaultSynonyms(synonyms []Synonym, def *brokerDefinition, b Broker) []Synonym {
	for i := range synonyms {
		if synonyms[i].Source == kmsg.ConfigSourceDefaultConfig && synonyms[i].Name == def.name {
			synonyms[i].Value = text(formatValue(read(def.typ, def.field(&b))))
		}
	}
	return synonyms
}

// brokerSynonyms lists, for broker settings in precedence order, those set
// in static (STATIC_BROKER_CONFIG) and then those with a default
// (DEFAULT_CONFIG), as Kafka's ConfigHelper.configSynonyms does.
func brokerSynonyms(names []string, static map[string]string) []Synonym {
	var synonyms []Synonym
	for _, name := range names {
		if value, ok := static[name]; ok {
			synonyms = append(synonyms, Synonym{Name: name, Value: text(value), Source: kmsg.ConfigSourceStaticBrokerConfig})
		}
	}
	for _, name := range names {
		def, ok := brokerRegistryByName[name]
		if ok && def.defaultText != nil {
			synonyms = append(synonyms, Synonym{Name: name, Value: text(formatValue(def.defaultValue)), Source: kmsg.ConfigSourceDefaultConfig})
		}
	}
	return synonyms
}

// brokerSynonymGroup returns the broker settings that set the same thing as
// name, highest precedence first (Kafka's brokerConfigSynonyms): the
// time-unit families such as log.retention.{ms,minutes,hours}, or just name.
func brokerSynonymGroup(name string) []string {
	def, ok := brokerRegistryByName[name]
	if !ok || def.topicName == "" {
		return []string{name}
	}
	topic := topicRegistryByName[def.topicName]
	group := make([]string, len(topic.synonyms))
	for i, synonym := range topic.synonyms {
		group[i] = synonym.name
	}
	return group
}

// canonicalBrokerValues renders each known setting of static as Kafka would
// report it (parsed and re-formatted); values that do not parse are kept as
// given and unknown keys are dropped.
func canonicalBrokerValues(static map[string]string) map[string]string {
	canonical := make(map[string]string, len(static))
	for name, raw := range static {
		def, ok := brokerRegistryByName[name]
		if !ok {
			continue
		}
		value, reason := parseValue(def.typ, raw)
		if reason != "" {
			canonical[name] = raw
			continue
		}
		canonical[name] = formatValue(value)
	}
	return canonical
}

func sourceOf(synonyms []Synonym) kmsg.ConfigSource {
	if len(synonyms) == 0 {
		return kmsg.ConfigSourceDefaultConfig
	}
	return synonyms[0].Source
}
