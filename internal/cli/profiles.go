package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Environment variables the client commands read.
const (
	// bootstrapEnv overrides the default bootstrap servers.
	bootstrapEnv = "SLUICE_BOOTSTRAP"
	// profileEnv names the profile to use when --profile is not given.
	profileEnv = "SLUICE_PROFILE"
	// profilesFileEnv points at a profiles file other than the default
	// ~/.config/sluice/config.yaml.
	profilesFileEnv = "SLUICE_CONFIG_FILE"
)

// profilesFile is ~/.config/sluice/config.yaml: named connection settings,
// so `sluice --profile prod topic list` needs no long flags. Example:
//
//	current-profile: local
//	profiles:
//	  local:
//	    bootstrap: localhost:9092
//	  prod:
//	    bootstrap: [kafka-1:9092, kafka-2:9092]
//	    timeout: 30s
//	    output: json
type profilesFile struct {
	// CurrentProfile is used when neither --profile nor SLUICE_PROFILE
	// names one.
	CurrentProfile string `yaml:"current-profile"`
	// Profiles maps a profile name to its settings.
	Profiles map[string]profile `yaml:"profiles"`
}

// profile is one named set of connection settings; an empty field leaves
// the built-in default.
type profile struct {
	// Bootstrap lists host:port pairs; YAML may give a list or one
	// comma-separated string.
	Bootstrap stringList `yaml:"bootstrap"`
	// Timeout bounds reaching the brokers and each admin request, as a Go
	// duration ("10s").
	Timeout string `yaml:"timeout"`
	// Output is the default -o format.
	Output string `yaml:"output"`
}

// stringList reads either a YAML sequence or a comma-separated scalar.
type stringList []string

// UnmarshalYAML accepts `a:1,b:2` as well as `[a:1, b:2]`.
func (l *stringList) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind == yaml.ScalarNode {
		*l = splitList(node.Value)
		return nil
	}
	var items []string
	if err := node.Decode(&items); err != nil {
		return err
	}
	*l = items
	return nil
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// defaultProfilesPath is $XDG_CONFIG_HOME/sluice/config.yaml, or
// ~/.config/sluice/config.yaml when XDG_CONFIG_HOME is unset, on every
// system (one documented place rather than macOS's Library folder);
// SLUICE_CONFIG_FILE overrides it.
func defaultProfilesPath() string {
	if path := os.Getenv(profilesFileEnv); path != "" {
		return path
	}
	if dir := os.Getenv("XDG_CONFIG_HOME"); dir != "" {
		return filepath.Join(dir, "sluice", "config.yaml")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".config", "sluice", "config.yaml")
}

// loadProfiles reads the profiles file at path. A missing file is not an
// error (it yields no profiles); a file that does not parse, or that has a
// key this version does not know, is.
func loadProfiles(path string) (profilesFile, error) {
	if path == "" {
		return profilesFile{}, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return profilesFile{}, nil
	}
	if err != nil {
		return profilesFile{}, fmt.Errorf("read profiles: %w", err)
	}
	var file profilesFile
	decoder := yaml.NewDecoder(bytes.NewReader(data))
	decoder.KnownFields(true)
	if err := decoder.Decode(&file); err != nil && !errors.Is(err, io.EOF) {
		return profilesFile{}, fmt.Errorf("profiles file %s: %w", path, err)
	}
	return file, nil
}

// lookup returns the named profile, or an error listing the ones that
// exist.
func (f profilesFile) lookup(name, path string) (profile, error) {
	p, ok := f.Profiles[name]
	if ok {
		return p, nil
	}
	names := f.names()
	if len(names) == 0 {
		return profile{}, fmt.Errorf("profile %q: %s defines no profiles", name, path)
	}
	return profile{}, fmt.Errorf("profile %q not found in %s (profiles: %s)", name, path, strings.Join(names, ", "))
}

// names lists the profile names, sorted.
func (f profilesFile) names() []string {
	names := make([]string, 0, len(f.Profiles))
	for name := range f.Profiles {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// validate checks a profile's values, naming the profile in the error.
func (p profile) validate(name string) (time.Duration, error) {
	var timeout time.Duration
	if p.Timeout != "" {
		parsed, err := time.ParseDuration(p.Timeout)
		if err != nil || parsed <= 0 {
			return 0, fmt.Errorf("profile %q: timeout %q: want a positive duration such as 10s", name, p.Timeout)
		}
		timeout = parsed
	}
	if p.Output != "" {
		if _, err := parseOutputFormat(p.Output); err != nil {
			return 0, fmt.Errorf("profile %q: %w", name, err)
		}
	}
	return timeout, nil
}
