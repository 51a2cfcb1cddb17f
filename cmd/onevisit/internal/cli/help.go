package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sort"
	"strings"
)

// subcommand names one subcommand of a command group, for help and
// completion.
type subcommand struct{ name, summary string }

// groups lists the subcommands of the commands that take one. A group
// must be listed for `GROUP SUB -h` to reach the subcommand (help runs
// `GROUP SUB -h`, which returns at SUB's flag parse); listing it also
// adds the overview `onevisit GROUP -h` prints and the names shell
// completion offers. A subcommand missing from a listed group still gets
// its -h, only no summary line and no completion of its name.
var groups = map[string][]subcommand{
	"policy": {
		{"explain", "show the decision for a consumer, dataset and purpose, as JSON unless -o text (exits 1 on deny)"},
		{"diff", "who gains or loses what between two policy folders (exits 1 when access widens)"},
		{"check", "load and validate a policy folder"},
		{"propose", "an officer proposes a whole new policy set"},
		{"review", "a proposal's diff and what-if replay of the audit log"},
		{"approve", "another officer approves a proposal"},
		{"reject", "end a proposal"},
		{"narrow", "one officer removes access at once"},
		{"rollback", "propose an earlier version again"},
		{"versions", "the applied policy versions"},
	},
	"schema": {{"check", "check every dataset's schema versions for compatibility"},
		{"propose", "an officer proposes the next version of a dataset (checked on the node; N officers approve it)"}, {"list", "every dataset's schema versions on a node"}},
	"clients": {{"add", "an officer proposes to enrol a client with its public JWK (N officers approve it)"}, {"list", "the client registry, disabled clients included"},
		{"disable", "one officer disables a client at once"}},
	"kafka": {{"setup", "topics, SCRAM users and ACLs from the grants (idempotent)"}, {"manifests", "the same as Strimzi resources"}},
	"audit": {{"verify", "check the signed checkpoint, the entries and consistency (exits 1 on any failed check)"}, {"prove", "prove one entry is in the signed log"},
		{"export", "write the log to a file for an outside auditor (officers)"}, {"verify-export", "check an export file offline (exits 1 on any failed check)"}},
	"keys": {{"list", "the key directory"}, {"rotate", "register a new key version (officers)"}, {"revoke", "revoke a key version (officers)"}, {"break-glass", "revoke an exchange key version in the file backend (key custodian)"},
		{"generate", "a client about to be enrolled makes its own key pair (public JWK on stdout)"}},
	"connector": {{"csv", "sign and publish the rows of a CSV file"}, {"respond", "answer a live dataset's queries from a CSV file or a database (a department's responder)"}, {"sql", "publish a PostgreSQL query's rows: a snapshot, then the changes by a cursor column"}, {"subscribe", "print a consumer's verified deliveries as JSON lines"}},
}

// isHelpFlag reports whether a is one of the spellings of help the flag
// package accepts.
func isHelpFlag(a string) bool { return a == "-h" || a == "--help" || a == "-help" }

// wantsHelp reports whether args ask for help before a "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if isHelpFlag(a) {
			return true
		}
	}
	return false
}

// help prints the usage of `onevisit name args...` to e.out: for a group
// without a subcommand, its subcommands; otherwise the usage the command
// prints when it parses -h. It returns the exit code.
func help(ctx context.Context, e *env, name string, c command, args []string) int {
	// Only a listed group's dispatcher is known to hand a subcommand its
	// args unparsed; any other command gets -h alone, so that no
	// positional argument can get it past its flag parse.
	subs, isGroup := groups[name]
	sub := ""
	if isGroup && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub = args[0]
	}
	if isGroup && sub == "" {
		groupUsage(e.out, name, c.summary, subs)
		return 0
	}
	runArgs := []string{"-h"}
	title := name
	if sub != "" {
		runArgs = []string{sub, "-h"}
		title = name + " " + sub
	}
	fs, text, err := helpOf(ctx, c, runArgs)
	switch {
	case errors.Is(err, flag.ErrHelp) && fs != nil:
		summary := c.summary
		for _, s := range subs {
			if s.name == sub {
				summary = s.summary
			}
		}
		if sub != "" && summary == c.summary {
			summary = ""
		}
		if summary != "" {
			fmt.Fprintf(e.out, "onevisit %s: %s\n\n", title, summary)
		}
		io.WriteString(e.out, text)
		return 0
	case errors.Is(err, flag.ErrHelp):
		// The command printed its own help without a flag set (none does
		// today: policy help prints the group overview as help does).
		io.WriteString(e.out, text)
		return 0
	case sub != "" && errors.As(err, new(usageError)):
		fmt.Fprintf(e.errOut, "onevisit %s: %v\n", name, err)
		if isGroup {
			groupUsage(e.errOut, name, c.summary, subs)
		}
		return 2
	}
	// The command parses no flags: its summary is all there is.
	fmt.Fprintf(e.out, "Usage: onevisit %s\n\n%s\n", title, c.summary)
	return 0
}

// flagBeforeSubcommand refuses a flag where a listed group wants its
// subcommand (`keys --exchange URL list`), naming the flag.
func flagBeforeSubcommand(e *env, name string, args []string) (int, bool) {
	subs, ok := groups[name]
	if !ok || len(args) == 0 || !strings.HasPrefix(args[0], "-") {
		return 0, false
	}
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	sort.Strings(names)
	fmt.Fprintf(e.errOut, "onevisit %s: flag %s before the subcommand: want `onevisit %s %s [flags]`\n", name, args[0], name, strings.Join(names, "|"))
	return 2, true
}

// helpOf runs a command with args ending in -h, so that it returns at
// its flag parse with flag.ErrHelp, and returns the flag set it parsed and
// what it printed. Commands parse their flags before they do anything, so
// this has no effect outside the process.
func helpOf(ctx context.Context, c command, args []string) (*flag.FlagSet, string, error) {
	var buf bytes.Buffer
	he := &env{out: &buf, errOut: &buf, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	err := c.run(ctx, he, args)
	return he.fs, buf.String(), err
}

func groupUsage(w io.Writer, name, summary string, subs []subcommand) {
	fmt.Fprintf(w, "onevisit %s: %s\n\nUsage: onevisit %s <command> [flags]\n\nCommands:\n", name, summary, name)
	sorted := append([]subcommand(nil), subs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	for _, s := range sorted {
		fmt.Fprintf(w, "  %-12s %s\n", s.name, s.summary)
	}
	fmt.Fprintf(w, "\nRun `onevisit %s <command> -h` (or `onevisit help %s <command>`) for its flags.\n", name, name)
}

// defaultUsage is the usage a flag set prints unless its command sets
// its own: the command's name and its flags.
func defaultUsage(fs *flag.FlagSet, name string) func() {
	return func() {
		fmt.Fprintf(fs.Output(), "Usage: onevisit %s [flags]\n\nFlags:\n", name)
		fs.PrintDefaults()
	}
}

// version is what --version prints: the module version, the VCS
// revision the binary was built from and the Go version, from the build
// information the Go toolchain embeds.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "onevisit (no build information)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = " (modified)"
			}
		}
	}
	if rev == "" {
		rev = "unknown"
	}
	out := fmt.Sprintf("onevisit %s\nrevision: %s%s\n", v, rev, dirty)
	if at != "" {
		out += "built from a commit of: " + at + "\n"
	}
	return out + "go: " + bi.GoVersion + "\n"
}
