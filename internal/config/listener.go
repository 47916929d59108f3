package config

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Listener is one endpoint from listeners or advertised.listeners, written
// NAME://host:port (IPv6 hosts in brackets). Names are upper-cased, as Kafka
// normalises them.
type Listener struct {
	// Name is the listener name, e.g. PLAINTEXT or CLIENT.
	Name string
	// Host is the host or IP; "" binds every interface (listeners) or
	// stands for this machine's host name (advertised.listeners).
	Host string
	// Port is the TCP port; 0 picks a free port when listening.
	Port int
	// SecurityProtocol is the protocol listener.security.protocol.map
	// gives the name. Sluice serves PLAINTEXT only for now.
	SecurityProtocol string
}

// String renders the listener as it is written in server.properties.
func (l Listener) String() string {
	return l.Name + "://" + net.JoinHostPort(l.Host, strconv.Itoa(l.Port))
}

// Address is the host:port to listen on or dial.
func (l Listener) Address() string {
	return net.JoinHostPort(l.Host, strconv.Itoa(l.Port))
}

// resolveListeners parses listeners, advertised.listeners, the security
// protocol map and the inter-broker listener, splitting controller
// listeners from client ones.
func (b *Broker) resolveListeners(parsed map[string]any) error {
	protocols, explicitMap, err := protocolMap(parsed)
	if err != nil {
		return err
	}
	b.ListenerSecurityProtocolMap = protocols
	b.ControllerListenerNames = upperAll(listValue(parsed, "controller.listener.names"))
	resolve := func(key string, entries []string) ([]Listener, error) {
		return parseListeners(key, entries, protocols, explicitMap, b.ControllerListenerNames)
	}
	all, err := resolve("listeners", listValue(parsed, "listeners"))
	if err != nil {
		return err
	}
	b.Listeners, b.ControllerListeners = splitControllers(all, b.ControllerListenerNames)
	advertised := all
	if entries, ok := parsed["advertised.listeners"]; ok {
		if advertised, err = resolve("advertised.listeners", entries.([]string)); err != nil {
			return err
		}
	}
	b.AdvertisedListeners, b.AdvertisedControllerListeners = splitControllers(advertised, b.ControllerListenerNames)
	return b.resolveInterBrokerListener(parsed)
}

// resolveInterBrokerListener picks inter.broker.listener.name, or the
// listener named after security.inter.broker.protocol; setting both is an
// error, as in Kafka.
func (b *Broker) resolveInterBrokerListener(parsed map[string]any) error {
	name, named := parsed["inter.broker.listener.name"]
	protocol, protocolSet := parsed["security.inter.broker.protocol"]
	if named && protocolSet {
		return &Error{
			Name:   "inter.broker.listener.name",
			Value:  name.(string),
			Reason: "cannot be set together with security.inter.broker.protocol: set only one of them",
		}
	}
	if named {
		b.InterBrokerListenerName = strings.ToUpper(name.(string))
		return nil
	}
	if !protocolSet {
		protocol = brokerRegistryByName["security.inter.broker.protocol"].defaultValue
	}
	b.InterBrokerListenerName = protocol.(string)
	return nil
}

// protocolMap parses listener.security.protocol.map, reporting whether it
// was set explicitly (Kafka maps controller listeners to PLAINTEXT only when
// it was not).
func protocolMap(parsed map[string]any) (map[string]string, bool, error) {
	entries, explicit := parsed["listener.security.protocol.map"]
	if !explicit {
		entries = brokerRegistryByName["listener.security.protocol.map"].defaultValue
	}
	protocols := make(map[string]string)
	for _, entry := range entries.([]string) {
		name, protocol, found := strings.Cut(entry, ":")
		name, protocol = strings.ToUpper(strings.TrimSpace(name)), strings.TrimSpace(protocol)
		problem := &Error{Name: "listener.security.protocol.map", Value: entry}
		switch {
		case !found || name == "":
			problem.Reason = "must be NAME:PROTOCOL"
		case !slices.Contains(securityProtocols, protocol):
			problem.Reason = "names an unknown security protocol: must be one of " + quoteList(securityProtocols)
		case protocols[name] != "":
			problem.Reason = fmt.Sprintf("maps listener %s twice", name)
		default:
			protocols[name] = protocol
			continue
		}
		return nil, false, problem
	}
	return protocols, explicit, nil
}

// parseListeners parses NAME://host:port entries and resolves their
// security protocols.
func parseListeners(key string, entries []string, protocols map[string]string, explicitMap bool, controllerNames []string) ([]Listener, error) {
	listeners := make([]Listener, 0, len(entries))
	for _, entry := range entries {
		listener, reason := parseListener(entry)
		if reason == "" {
			listener.SecurityProtocol, reason = securityProtocol(listener.Name, protocols, explicitMap, controllerNames)
		}
		if reason != "" {
			return nil, &Error{Name: key, Value: entry, Reason: reason}
		}
		listeners = append(listeners, listener)
	}
	return listeners, nil
}

// parseListener parses one NAME://host:port (Kafka's listener syntax; an
// IPv6 host is written in brackets).
func parseListener(entry string) (Listener, string) {
	const syntax = "must be NAME://host:port, e.g. PLAINTEXT://localhost:9092"
	name, address, found := strings.Cut(entry, "://")
	if !found || name == "" {
		return Listener{}, syntax
	}
	colon := strings.LastIndexByte(address, ':')
	if colon < 0 {
		return Listener{}, syntax
	}
	host, portText := address[:colon], address[colon+1:]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if !validHost(host) {
		return Listener{}, fmt.Sprintf("has an invalid host %q", host)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return Listener{}, fmt.Sprintf("has an invalid port %q: must be between 0 and 65535", portText)
	}
	return Listener{Name: strings.ToUpper(name), Host: host, Port: port}, ""
}

// validHost accepts the characters Kafka's listener pattern allows in a
// host: letters, digits and -%._: (the colon for IPv6).
func validHost(host string) bool {
	for _, r := range host {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("-%._:", r):
		default:
			return false
		}
	}
	return true
}

// securityProtocol looks up a listener name's protocol.
func securityProtocol(name string, protocols map[string]string, explicitMap bool, controllerNames []string) (string, string) {
	if protocol, ok := protocols[name]; ok {
		return protocol, ""
	}
	if !explicitMap && slices.Contains(controllerNames, name) {
		return "PLAINTEXT", ""
	}
	return "", fmt.Sprintf("names listener %s, which listener.security.protocol.map does not map to a security protocol", name)
}

// splitControllers separates the listeners named in controller.listener.names.
func splitControllers(listeners []Listener, controllerNames []string) (clients, controllers []Listener) {
	for _, listener := range listeners {
		if slices.Contains(controllerNames, listener.Name) {
			controllers = append(controllers, listener)
		} else {
			clients = append(clients, listener)
		}
	}
	return clients, controllers
}

// validateListeners checks the listener fields (Kafka's KafkaConfig
// listener rules, plus Sluice's PLAINTEXT-only restriction). A node with the
// broker role needs a client listener, advertised, and an advertised
// inter-broker listener; a controller-only node may listen only on
// controller listeners (KafkaConfigValidator.validateKraftControllerConfig).
func (b Broker) validateListeners() error {
	all := slices.Concat(b.Listeners, b.ControllerListeners)
	if err := b.checkClientListeners("listeners", b.Listeners, all); err != nil {
		return err
	}
	if err := checkListenerEntries("listeners", all, true); err != nil {
		return err
	}
	advertised := slices.Concat(b.AdvertisedListeners, b.AdvertisedControllerListeners)
	if err := b.checkClientListeners("advertised.listeners", b.AdvertisedListeners, advertised); err != nil {
		return err
	}
	if err := checkListenerEntries("advertised.listeners", advertised, false); err != nil {
		return err
	}
	if !b.IsBroker() {
		return nil
	}
	return b.checkAdvertisedNames()
}

// checkClientListeners requires client listeners on a node with the broker
// role and forbids them on a controller-only node.
func (b Broker) checkClientListeners(key string, clients, all []Listener) error {
	switch {
	case b.IsBroker() && len(clients) == 0:
		return &Error{Name: key, Value: joinListeners(all),
			Reason: "must include at least one client listener (one not named in controller.listener.names)"}
	case !b.IsBroker() && len(clients) > 0:
		return &Error{Name: key, Value: joinListeners(all),
			Reason: "must only contain KRaft controller listeners from controller.listener.names when process.roles=controller"}
	}
	return nil
}

// checkAdvertisedNames checks that advertised names are listener names and
// that the inter-broker listener is advertised.
func (b Broker) checkAdvertisedNames() error {
	names := listenerNames(b.Listeners)
	for _, listener := range b.AdvertisedListeners {
		if !slices.Contains(names, listener.Name) {
			return &Error{Name: "advertised.listeners", Value: listener.String(),
				Reason: "names a listener that is not in listeners: must be one of " + quoteList(names)}
		}
		if listener.Host == "0.0.0.0" {
			return &Error{Name: "advertised.listeners", Value: listener.String(),
				Reason: "cannot use the nonroutable meta-address 0.0.0.0: use a routable host or IP"}
		}
	}
	if advertisedNames := listenerNames(b.AdvertisedListeners); !slices.Contains(advertisedNames, b.InterBrokerListenerName) {
		return &Error{Name: "inter.broker.listener.name", Value: b.InterBrokerListenerName,
			Reason: "must be a listener name defined in advertised.listeners: one of " + quoteList(advertisedNames)}
	}
	return nil
}

// checkListenerEntries checks names, ports and protocols of one list.
// Listening sockets need distinct ports (0, "any free port", excepted).
func checkListenerEntries(key string, listeners []Listener, distinctPorts bool) error {
	for i, listener := range listeners {
		problem := &Error{Name: key, Value: listener.String()}
		_, reason := parseListener(listener.String())
		switch {
		case reason != "":
			problem.Reason = reason
		case listener.SecurityProtocol != "PLAINTEXT":
			problem.Reason = fmt.Sprintf("uses security protocol %q, which Sluice does not support yet: only PLAINTEXT listeners are served", listener.SecurityProtocol)
		case slices.Contains(listenerNames(listeners[:i]), listener.Name):
			problem.Reason = fmt.Sprintf("repeats listener name %s: each listener needs its own name", listener.Name)
		case distinctPorts && listener.Port != 0 && slices.ContainsFunc(listeners[:i], func(other Listener) bool { return other.Port == listener.Port }):
			problem.Reason = fmt.Sprintf("repeats port %d: each listener needs its own port", listener.Port)
		default:
			continue
		}
		return problem
	}
	return nil
}

func listenerNames(listeners []Listener) []string {
	names := make([]string, len(listeners))
	for i, listener := range listeners {
		names[i] = listener.Name
	}
	return names
}

func joinListeners(listeners []Listener) string {
	texts := make([]string, len(listeners))
	for i, listener := range listeners {
		texts[i] = listener.String()
	}
	return strings.Join(texts, ",")
}

func upperAll(items []string) []string {
	upper := make([]string, len(items))
	for i, item := range items {
		upper[i] = strings.ToUpper(item)
	}
	return upper
}

// listValue returns a parsed LIST setting, or its default.
func listValue(parsed map[string]any, name string) []string {
	if value, ok := parsed[name]; ok {
		return value.([]string)
	}
	if value, ok := brokerRegistryByName[name].defaultValue.([]string); ok {
		return value
	}
	return nil
}
