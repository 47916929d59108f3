// Package cli holds Sluice's cobra commands. It is the only layer that reads
// flags, environment variables and files to build configuration, and the
// only one that prints to the terminal.
//
// `serve` runs a broker. Every other command is a client built on
// franz-go's kgo and kadm, and works against any Kafka-compatible cluster:
// topic, produce, consume, group, config, cluster and perf (whose work is
// package perf's). The client commands share clientFlags (--bootstrap,
// --profile, --timeout, -o), registered on each command group rather than
// on the root so that serve does not accept them; resolve weighs them
// against SLUICE_BOOTSTRAP, SLUICE_PROFILE and the profiles file
// (profiles.go). Output goes through render: a table for a person, or JSON
// and YAML with the same fields (YAML is made from the JSON encoding).
// Errors are returned to Main, which prints "sluice: <cause>" and exits 1;
// Kafka error codes are turned into sentences naming the topic or group
// (topicError, groupError) and an unreachable cluster is named with the
// timeout waited.
//
// Threading: commands run on Main's goroutine with a context cancelled by
// SIGINT or SIGTERM. produce reads input lines on one extra goroutine (so
// Ctrl-C is noticed while standard input is idle), and consume's group
// rebalance callbacks, called by kgo, update the assignment under a mutex.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Main runs the sluice command line with args and returns the process exit
// code; it exists so tests can run commands in-process.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	root := newRootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		var exit exitError
		if errors.As(err, &exit) {
			return exit.code
		}
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	return 0
}

// exitError carries a specific exit code out of a command whose failure was
// already reported.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "sluice",
		Short:         "Sluice: a Kafka-compatible event-streaming platform in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newServeCommand(),
		newTopicCommand(),
		newProduceCommand(),
		newConsumeCommand(),
		newGroupCommand(),
		newConfigCommand(),
		newClusterCommand(),
		newPerfCommand(),
		newDevCommand(),
	)
	configureCompletion(root)
	return root
}
