package config

import (
	"maps"
	"strings"
)

// envPrefix starts every environment variable that can set a broker key.
const envPrefix = "SLUICE_"

// EnvOverrides picks broker settings out of an environment (os.Environ()
// form, "NAME=value"). A variable SLUICE_<KEY> sets the broker key spelled
// <key> in lower case with underscores as dots: SLUICE_LOG_DIRS sets
// log.dirs, SLUICE_NODE_ID node.id. Sluice's own sluice.* keys may drop
// their prefix: SLUICE_METRICS_LISTENER sets sluice.metrics.listener (the
// long form SLUICE_SLUICE_METRICS_LISTENER works too).
//
// Only variables that name a known broker key are returned; other SLUICE_
// variables are left alone, because the CLI owns them (for example
// SLUICE_BOOTSTRAP_SERVERS for the client commands), and a misspelt broker
// variable therefore does not fail start-up: the CLI may list the SLUICE_
// variables it did not use. Empty values are kept (an empty
// SLUICE_METRICS_LISTENER disables metrics).
func EnvOverrides(environ []string) map[string]string {
	overrides := make(map[string]string)
	for _, variable := range environ {
		name, value, found := strings.Cut(variable, "=")
		if !found || !strings.HasPrefix(name, envPrefix) {
			continue
		}
		if key, ok := EnvKey(name); ok {
			overrides[key] = value
		}
	}
	return overrides
}

// EnvKey returns the broker key an environment variable name sets, and
// false if it sets none (see EnvOverrides for the rule).
func EnvKey(variable string) (string, bool) {
	rest, found := strings.CutPrefix(variable, envPrefix)
	if !found || rest == "" {
		return "", false
	}
	key := strings.ReplaceAll(strings.ToLower(rest), "_", ".")
	if _, ok := brokerRegistryByName[key]; ok {
		return key, true
	}
	if _, ok := brokerRegistryByName["sluice."+key]; ok {
		return "sluice." + key, true
	}
	return "", false
}

// Merge layers key/value maps, later ones winning: typically the properties
// file, then EnvOverrides, then command-line settings. The result is what
// ParseBroker takes and what DescribeBroker reports as static.
func Merge(layers ...map[string]string) map[string]string {
	merged := make(map[string]string)
	for _, layer := range layers {
		maps.Copy(merged, layer)
	}
	return merged
}
