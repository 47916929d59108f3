package cli

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// completionTimeout bounds the broker lookups behind dynamic completion: a
// shell waiting on Tab must not hang on an unreachable cluster.
const completionTimeout = 3 * time.Second

// configureCompletion replaces cobra's default completion command with
// newCompletionCommand, which refuses an unknown shell instead of printing
// help and succeeding.
func configureCompletion(root *cobra.Command) {
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(newCompletionCommand())
}

// newCompletionCommand prints a shell's completion script. The scripts
// call back into the binary (`sluice __complete ...`), so topic and group
// names, profiles and flag values complete from the live cluster and the
// profiles file.
func newCompletionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print a shell completion script. Topic and group names complete from the
cluster the command line points at (--bootstrap, --profile), within 3 s.

  bash:  source <(sluice completion bash)
         or save it to /etc/bash_completion.d/sluice (needs bash-completion)
  zsh:   sluice completion zsh > "${fpath[1]}/_sluice"   (compinit must be on)
  fish:  sluice completion fish > ~/.config/fish/completions/sluice.fish
  powershell:  sluice completion powershell | Out-String | Invoke-Expression`,
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, out := cmd.Root(), cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			}
			return root.GenPowerShellCompletionWithDesc(out)
		},
	}
}

// completeTopics completes topic names from the cluster the command would
// talk to.
func completeTopics(client *clientFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		names := lookupNames(cmd, client, func(ctx context.Context, s *adminSession) ([]string, error) {
			details, err := s.admin.ListTopics(ctx)
			if err != nil {
				return nil, err
			}
			return details.Names(), nil
		})
		return withoutChosen(names, args, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeGroups completes consumer group IDs from the cluster.
func completeGroups(client *clientFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		names := lookupNames(cmd, client, func(ctx context.Context, s *adminSession) ([]string, error) {
			groups, err := s.admin.ListGroups(ctx)
			if err != nil {
				return nil, err
			}
			return groups.Groups(), nil
		})
		return withoutChosen(names, args, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeProfiles completes --profile from the profiles file.
func completeProfiles(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	file, err := loadProfiles(defaultProfilesPath())
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	return file.names(), cobra.ShellCompDirectiveNoFileComp
}

// lookupNames runs list against the cluster with a short timeout; any
// failure completes nothing (the reason goes to cobra's debug log).
func lookupNames(cmd *cobra.Command, client *clientFlags, list func(context.Context, *adminSession) ([]string, error)) []string {
	conn, err := client.resolve(cmd)
	if err != nil {
		cobra.CompDebugln(err.Error(), true)
		return nil
	}
	conn.timeout = min(conn.timeout, completionTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), conn.timeout)
	defer cancel()
	admin, err := conn.admin(ctx)
	if err != nil {
		cobra.CompDebugln(err.Error(), true)
		return nil
	}
	defer admin.Close()
	names, err := list(ctx, &adminSession{conn: conn, admin: admin, ctx: ctx, cancel: cancel})
	if err != nil {
		cobra.CompDebugln(err.Error(), true)
		return nil
	}
	slices.Sort(names)
	return names
}

// withoutChosen keeps the names that start with the word being completed
// and are not already on the command line.
func withoutChosen(names, chosen []string, toComplete string) []string {
	out := names[:0]
	for _, name := range names {
		if strings.HasPrefix(name, toComplete) && !slices.Contains(chosen, name) {
			out = append(out, name)
		}
	}
	return out
}
