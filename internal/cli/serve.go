package cli

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/logging"
	"github.com/sluice-io/sluice/internal/server"
)

// serveFlags maps each serve flag to the server.properties key it sets.
var serveFlags = []struct{ flag, key, usage string }{
	{"node-id", "node.id", "this broker's node.id"},
	{"listeners", "listeners", "listeners, e.g. PLAINTEXT://localhost:9092"},
	{"advertised-listeners", "advertised.listeners", "listeners advertised to clients (default: listeners)"},
	{"log-dirs", "log.dirs", "directory for partition logs and metadata"},
	{"metrics-listener", "sluice.metrics.listener", `host:port for Prometheus /metrics ("" disables)`},
}

func newServeCommand() *cobra.Command {
	var configFile, logLevel string
	var overrides []string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a broker (single node with no arguments: data in ./sluice-data, localhost:9092)",
		Long: `Run a Sluice broker.

Configuration uses Apache Kafka's server.properties key names. Sources, later
ones winning: --config FILE, SLUICE_* environment variables (SLUICE_LOG_DIRS
sets log.dirs), then flags (--set key=value for any key). An unknown key or a
bad value stops start-up with a message naming it.

By default a produce is acknowledged only once its batch is fsynced (group
commit shares fsyncs between concurrent writers). Setting
log.flush.interval.messages above 1 or log.flush.interval.ms above 0 turns on
Kafka-style write caching: acknowledged from the page cache, fsynced later.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			props, err := gatherProperties(cmd, configFile, overrides, os.Environ())
			if err != nil {
				return err
			}
			brokerConfig, err := config.ParseBroker(props)
			if err != nil {
				return err
			}
			logger, logs, err := newLogger(cmd, logLevel)
			if err != nil {
				return err
			}
			defer logs.Close() // the counts of collapsed lines not reported yet
			warnInertKeys(logger, props)
			return runBroker(cmd, brokerConfig, props, logger)
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "server.properties file (Kafka key names)")
	cmd.Flags().StringArrayVar(&overrides, "set", nil, "set any config key: --set log.retention.hours=24 (repeatable)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	for _, f := range serveFlags {
		cmd.Flags().String(f.flag, "", f.usage+" ("+f.key+")")
	}
	return cmd
}

// gatherProperties merges the config file, the environment and the flags,
// later sources overriding earlier ones.
func gatherProperties(cmd *cobra.Command, configFile string, sets []string, environ []string) (map[string]string, error) {
	props := map[string]string{}
	if configFile != "" {
		f, err := os.Open(configFile)
		if err != nil {
			return nil, fmt.Errorf("read --config: %w", err)
		}
		defer f.Close()
		fileProps, err := config.LoadProperties(f)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", configFile, err)
		}
		maps.Copy(props, fileProps)
	}
	maps.Copy(props, config.EnvOverrides(environ))
	for _, f := range serveFlags {
		if cmd.Flags().Changed(f.flag) {
			props[f.key], _ = cmd.Flags().GetString(f.flag)
		}
	}
	for _, kv := range sets {
		key, value, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--set %q: want key=value", kv)
		}
		props[strings.TrimSpace(key)] = value
	}
	return props, nil
}

// newLogger builds the broker's logger: text lines on stderr, repeated
// warnings and errors collapsed with a count, attribute values capped and
// no line over logging.DefaultMaxLineBytes (internal/logging). The caller
// closes the handler at exit so that pending counts are written.
func newLogger(cmd *cobra.Command, level string) (*slog.Logger, *logging.Handler, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	text := slog.NewTextHandler(logging.NewLineWriter(cmd.ErrOrStderr(), logging.DefaultMaxLineBytes), &slog.HandlerOptions{Level: l})
	h := logging.New(text, logging.Options{})
	return slog.New(h), h, nil
}

// warnInertKeys tells the operator which settings were accepted, so that a
// Kafka server.properties loads unchanged, but have no effect yet
// (config.InertKeys): silence would suggest they work.
func warnInertKeys(logger *slog.Logger, props map[string]string) {
	inert := config.InertKeys(props)
	if len(inert) == 0 {
		return
	}
	logger.Warn("config keys accepted but not acted on yet", "keys", strings.Join(inert, ","))
}

// runBroker starts the broker and blocks until SIGINT/SIGTERM, then shuts
// down cleanly (flush, close, clean-shutdown marker).
func runBroker(cmd *cobra.Command, cfg config.Broker, static map[string]string, logger *slog.Logger) error {
	ctx := cmd.Context()
	b, err := server.StartBroker(ctx, server.BrokerOptions{Config: cfg, StaticConfig: static, Logger: logger})
	if err != nil {
		return err
	}
	logger.Info("sluice broker started", "node_id", cfg.NodeID, "listeners", b.Addrs(), "log_dir", cfg.LogDirs[0])
	<-ctx.Done()
	logger.Info("shutting down")
	if err := b.Close(); err != nil {
		// Through the logger, not the terminal: the error joins every log
		// that failed to close, and the logger caps its length.
		logger.Error("shutdown failed", "err", err)
		return exitError{code: 1}
	}
	logger.Info("shutdown complete")
	return nil
}
