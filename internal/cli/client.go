package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// defaultBootstrap is where the client commands look for a broker when no
// flag, environment variable or profile says otherwise: where `sluice
// serve` listens by default.
const defaultBootstrap = "localhost:9092"

// defaultTimeout bounds reaching a broker and each admin request.
const defaultTimeout = 10 * time.Second

// reachRetryLimit caps the pause between attempts to reach a broker that
// refused the connection (it may still be starting).
const reachRetryLimit = time.Second

// clientFlags are the connection flags every client command takes. They are
// registered as persistent flags on each command group, not on the root, so
// that `sluice serve` does not accept flags it would ignore.
type clientFlags struct {
	bootstrap []string
	profile   string
	timeout   time.Duration
	output    string
	// requestFlags tells whether --timeout and -o were registered (perf
	// has its own --timeout, the run's length, and --json).
	requestFlags bool
}

// register adds the flags to cmd, as persistent flags (inherited by its
// subcommands) when persistent is set; withRequestFlags adds --timeout and
// -o. Shell completion of -o and --profile values comes with them.
func (f *clientFlags) register(cmd *cobra.Command, persistent, withRequestFlags bool) {
	flags := cmd.Flags()
	if persistent {
		flags = cmd.PersistentFlags()
	}
	flags.StringSliceVar(&f.bootstrap, "bootstrap", []string{defaultBootstrap},
		"brokers to start from, host:port, comma-separated (env "+bootstrapEnv+")")
	flags.StringVar(&f.profile, "profile", "", "named profile from "+displayProfilesPath()+" (env "+profileEnv+")")
	cmd.RegisterFlagCompletionFunc("profile", completeProfiles)
	f.requestFlags = withRequestFlags
	if !withRequestFlags {
		return
	}
	flags.DurationVar(&f.timeout, "timeout", defaultTimeout, "how long to wait for a broker to answer")
	flags.StringVarP(&f.output, "output", "o", string(outputTable), "output format: table, json or yaml")
	cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(outputFormats, cobra.ShellCompDirectiveNoFileComp))
}

// displayProfilesPath is the profiles path as help shows it.
func displayProfilesPath() string {
	path := defaultProfilesPath()
	if home, err := os.UserHomeDir(); err == nil && home != "" && strings.HasPrefix(path, home+string(os.PathSeparator)) {
		return "~" + path[len(home):]
	}
	if path == "" {
		return "~/.config/sluice/config.yaml"
	}
	return path
}

// connection is where and how a command talks to the cluster, after flags,
// environment and profile have been weighed.
type connection struct {
	bootstrap []string
	timeout   time.Duration
	output    outputFormat
}

// resolve weighs the sources. For the bootstrap servers: an explicit
// --bootstrap wins, then an explicit --profile, then SLUICE_BOOTSTRAP, then
// the profile named by SLUICE_PROFILE or the file's current-profile, then
// localhost:9092. --timeout and -o given on the command line beat the
// profile's values.
func (f *clientFlags) resolve(cmd *cobra.Command) (connection, error) {
	flags := cmd.Flags()
	conn := connection{bootstrap: []string{defaultBootstrap}, timeout: defaultTimeout, output: outputTable}
	chosen, explicit, err := f.chooseProfile(flags)
	if err != nil {
		return connection{}, err
	}
	if err := conn.applyProfile(chosen); err != nil {
		return connection{}, err
	}
	env := splitList(os.Getenv(bootstrapEnv))
	switch {
	case flags.Changed("bootstrap"):
		conn.bootstrap = splitList(strings.Join(f.bootstrap, ","))
	case explicit && len(chosen.settings.Bootstrap) > 0:
	case len(env) > 0:
		conn.bootstrap = env
	}
	if len(conn.bootstrap) == 0 {
		return connection{}, errors.New("--bootstrap: want at least one host:port")
	}
	if f.requestFlags && flags.Changed("timeout") {
		if f.timeout <= 0 {
			return connection{}, fmt.Errorf("--timeout %s: want a positive duration", f.timeout)
		}
		conn.timeout = f.timeout
	}
	if f.requestFlags && flags.Changed("output") {
		if conn.output, err = parseOutputFormat(f.output); err != nil {
			return connection{}, err
		}
	}
	return conn, nil
}

// namedProfile is a profile with the name it was found under.
type namedProfile struct {
	name     string
	settings profile
}

// chooseProfile finds the profile to use, if any, and tells whether it was
// named by --profile.
func (f *clientFlags) chooseProfile(flags *pflag.FlagSet) (namedProfile, bool, error) {
	path := defaultProfilesPath()
	file, err := loadProfiles(path)
	if err != nil {
		return namedProfile{}, false, err
	}
	name, explicit := f.profile, flags.Changed("profile")
	if !explicit {
		name = os.Getenv(profileEnv)
	}
	if name == "" {
		name = file.CurrentProfile
	}
	if name == "" {
		return namedProfile{}, false, nil
	}
	settings, err := file.lookup(name, path)
	if err != nil {
		return namedProfile{}, false, err
	}
	return namedProfile{name: name, settings: settings}, explicit, nil
}

// applyProfile takes the profile's values over the built-in defaults.
func (c *connection) applyProfile(p namedProfile) error {
	if p.name == "" {
		return nil
	}
	timeout, err := p.settings.validate(p.name)
	if err != nil {
		return err
	}
	if len(p.settings.Bootstrap) > 0 {
		c.bootstrap = p.settings.Bootstrap
	}
	if timeout > 0 {
		c.timeout = timeout
	}
	if p.settings.Output != "" {
		c.output, _ = parseOutputFormat(p.settings.Output)
	}
	return nil
}

// connect makes a client and waits, up to the timeout, for a broker to
// answer, so that an unreachable cluster is reported as such rather than as
// a timeout of whatever request came first.
func (c connection) connect(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{kgo.SeedBrokers(c.bootstrap...), kgo.DialTimeout(c.timeout), kgo.ClientID("sluice-cli")}
	client, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", strings.Join(c.bootstrap, ","), err)
	}
	if err := c.waitReachable(ctx, client); err != nil {
		client.Close()
		return nil, err
	}
	return client, nil
}

// admin connects and wraps the client for admin requests.
func (c connection) admin(ctx context.Context) (*kadm.Client, error) {
	client, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	return c.newAdmin(client), nil
}

// newAdmin wraps a connected client for admin requests; closing the admin
// client closes client.
func (c connection) newAdmin(client *kgo.Client) *kadm.Client {
	admin := kadm.NewClient(client)
	admin.SetTimeoutMillis(int32(min(c.timeout, time.Minute).Milliseconds()))
	return admin
}

// waitReachable pings the brokers until one answers or the timeout passes;
// a refused connection is retried (the broker may be starting).
func (c connection) waitReachable(ctx context.Context, client *kgo.Client) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	pause := 50 * time.Millisecond
	for {
		err := client.Ping(ctx)
		if err == nil {
			return nil
		}
		if isAuthorizationError(err) {
			return explain(err)
		}
		if ctx.Err() != nil {
			return c.unreachable(ctx, err)
		}
		if waitErr := wait(ctx, pause); waitErr != nil {
			return c.unreachable(ctx, err)
		}
		pause = min(2*pause, reachRetryLimit)
	}
}

// unreachable reports that no broker answered: a cancellation by the user
// is passed through as it is.
func (c connection) unreachable(ctx context.Context, last error) error {
	if errors.Is(context.Cause(ctx), context.Canceled) {
		return context.Canceled
	}
	noun := "broker"
	if len(c.bootstrap) > 1 {
		noun = "brokers"
	}
	message := fmt.Sprintf("%s %s unreachable after %s", noun, strings.Join(c.bootstrap, ","), c.timeout)
	if last != nil && !errors.Is(last, context.DeadlineExceeded) {
		message += ": " + last.Error()
	}
	return explainedError{message: message, cause: last}
}

// requestContext bounds one admin exchange by the timeout.
func (c connection) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// requestFailed names what was being done when err happened; a deadline
// becomes "no answer within", a Kafka error code its explanation.
func (c connection) requestFailed(what string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return explainedError{message: fmt.Sprintf("%s: no answer within %s (raise --timeout?)", what, c.timeout), cause: err}
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%s: %w", what, explain(err))
}

// explainedError is an error whose message has been written for the
// operator but which still unwraps to its cause, so errors.Is works on
// Kafka error codes.
type explainedError struct {
	message string
	cause   error
}

func (e explainedError) Error() string { return e.message }
func (e explainedError) Unwrap() error { return e.cause }

// explain turns a Kafka error code into a sentence; other errors pass
// through unchanged.
func explain(err error) error {
	var explained explainedError
	if errors.As(err, &explained) {
		return err
	}
	var kafkaErr *kerr.Error
	if !errors.As(err, &kafkaErr) {
		return err
	}
	switch kafkaErr {
	case kerr.ClusterAuthorizationFailed:
		return explainedError{message: "not authorized for this cluster operation (CLUSTER_AUTHORIZATION_FAILED)", cause: err}
	case kerr.SaslAuthenticationFailed:
		return explainedError{message: "authentication failed (SASL_AUTHENTICATION_FAILED)", cause: err}
	}
	return explainedError{message: fmt.Sprintf("%s (%s)", kafkaErr.Description, kafkaErr.Message), cause: err}
}

// withBrokerMessage appends the broker's own explanation, when it sent
// one, to an error.
func withBrokerMessage(err error, message string) error {
	if message == "" || err == nil || strings.Contains(err.Error(), message) {
		return err
	}
	return explainedError{message: err.Error() + ": " + message, cause: err}
}

// missingFromAnswer is the error for a group or topic (kind) the request
// named but the broker's answer leaves out.
func missingFromAnswer(kind, name string) error {
	return fmt.Errorf("%s %q: missing from the broker's answer", kind, name)
}

// topicError names the topic an error is about, in words for the common
// codes.
func topicError(topic string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.UnknownTopicID):
		return explainedError{message: fmt.Sprintf("topic %q does not exist", topic), cause: err}
	case errors.Is(err, kerr.TopicAlreadyExists):
		return explainedError{message: fmt.Sprintf("topic %q already exists", topic), cause: err}
	case errors.Is(err, kerr.TopicAuthorizationFailed):
		return explainedError{message: fmt.Sprintf("not authorized to access topic %q (TOPIC_AUTHORIZATION_FAILED)", topic), cause: err}
	case errors.Is(err, kerr.InvalidTopicException):
		return explainedError{message: fmt.Sprintf("topic name %q is not valid (INVALID_TOPIC_EXCEPTION)", topic), cause: err}
	}
	return fmt.Errorf("topic %q: %w", topic, explain(err))
}

// groupError names the group an error is about, in words for the common
// codes.
func groupError(group string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kerr.GroupIDNotFound):
		return explainedError{message: fmt.Sprintf("group %q does not exist", group), cause: err}
	case errors.Is(err, kerr.NonEmptyGroup):
		return explainedError{message: fmt.Sprintf("group %q still has active members: stop its consumers first", group), cause: err}
	case errors.Is(err, kerr.GroupAuthorizationFailed):
		return explainedError{message: fmt.Sprintf("not authorized to access group %q (GROUP_AUTHORIZATION_FAILED)", group), cause: err}
	case errors.Is(err, kerr.InvalidGroupID):
		return explainedError{message: fmt.Sprintf("group ID %q is not valid (INVALID_GROUP_ID)", group), cause: err}
	}
	return fmt.Errorf("group %q: %w", group, explain(err))
}

// isAuthorizationError tells whether err is one of Kafka's "not authorized"
// or "authentication failed" codes: retrying cannot help.
func isAuthorizationError(err error) bool {
	for _, code := range []error{kerr.ClusterAuthorizationFailed, kerr.TopicAuthorizationFailed,
		kerr.GroupAuthorizationFailed, kerr.SaslAuthenticationFailed} {
		if errors.Is(err, code) {
			return true
		}
	}
	return false
}

// wait pauses for d or until ctx ends, whichever is first.
func wait(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
