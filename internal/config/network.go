package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// defaultQueuedMaxRequestBytes is Sluice's queued.max.request.bytes when
// unset (Kafka: -1, unbounded): request memory stays bounded out of the
// box, and two requests of the default socket.request.max.bytes (100 MiB)
// still fit at once.
const defaultQueuedMaxRequestBytes = 256 << 20

// PerIPConnectionOverrides returns max.connections.per.ip.overrides as host
// (a name or an IP address, as written) → most connections from it. The
// text was checked when the Broker was parsed; an entry that does not
// parse (a Broker changed in code) is left out.
func (b Broker) PerIPConnectionOverrides() map[string]int32 {
	out := map[string]int32{}
	for _, entry := range splitOverrides(b.MaxConnectionsPerIPOverrides) {
		host, count, reason := parseOverride(entry)
		if reason == "" {
			out[host] = count
		}
	}
	return out
}

// perIPOverrides accepts Kafka's "host:count,host:count" (CoreUtils.
// parseCsvMap: entries split at commas, each at its last colon, so an IPv6
// address needs no brackets); empty means none.
func perIPOverrides(value any) string {
	for _, entry := range splitOverrides(value.(string)) {
		if _, _, reason := parseOverride(entry); reason != "" {
			return reason
		}
	}
	return ""
}

func splitOverrides(text string) []string {
	if strings.TrimSpace(text) == "" {
		return nil
	}
	entries := strings.Split(text, ",")
	for i := range entries {
		entries[i] = strings.TrimSpace(entries[i])
	}
	return entries
}

// parseOverride splits one host:count entry, or says why it is not one.
func parseOverride(entry string) (string, int32, string) {
	colon := strings.LastIndexByte(entry, ':')
	if colon <= 0 {
		return "", 0, fmt.Sprintf("has entry %q: want host:count", entry)
	}
	host := strings.TrimSpace(entry[:colon])
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" || strings.ContainsAny(host, " \t/") {
		return "", 0, fmt.Sprintf("has entry %q: %q is not a host name or IP address", entry, host)
	}
	count, err := strconv.ParseInt(strings.TrimSpace(entry[colon+1:]), 10, 32)
	if err != nil || count < 0 {
		return "", 0, fmt.Sprintf("has entry %q: the count must be an integer from 0 to %d", entry, math.MaxInt32)
	}
	return host, int32(count), ""
}

// resolveQueuedMaxRequestBytes applies queued.max.request.bytes's derived
// default: defaultQueuedMaxRequestBytes, or socket.request.max.bytes when
// that is larger, so the largest allowed request always fits.
func (b *Broker) resolveQueuedMaxRequestBytes(parsed map[string]any) {
	if _, set := parsed["queued.max.request.bytes"]; set {
		return
	}
	b.QueuedMaxRequestBytes = max(defaultQueuedMaxRequestBytes, int64(b.SocketRequestMaxBytes))
}

// validateNetwork applies KafkaConfig's socket server rules: a bounded
// request budget holds at least one request of the largest size, and a
// per-IP limit of 0 needs overrides naming who may connect.
func (b Broker) validateNetwork() error {
	if b.QueuedMaxRequestBytes > 0 {
		if err := notBelow("queued.max.request.bytes", b.QueuedMaxRequestBytes,
			"socket.request.max.bytes", int64(b.SocketRequestMaxBytes)); err != nil {
			return err
		}
	}
	if b.MaxConnectionsPerIP == 0 && len(b.PerIPConnectionOverrides()) == 0 {
		return &Error{Name: "max.connections.per.ip", Value: "0",
			Reason: "can be 0 only if max.connections.per.ip.overrides is set (no client could connect)"}
	}
	return nil
}
