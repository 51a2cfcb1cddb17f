package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"strings"
)

type command struct {
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

type env struct {
	out, errOut io.Writer
	log         *slog.Logger
	fs          *flag.FlagSet // the last flag set flags made, for help and completion
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"dev":       {"run everything in one process: embedded broker, exchange, sample departments", runDev},
		"serve":     {"run an exchange node against a Kafka cluster (--config FILE)", runServe},
		"connector": {"run a connector: `connector csv --dataset D --file F --credentials C`; a live dataset's responder: `connector respond --dataset D --credentials C --file F.csv`; a PostgreSQL table: `connector sql --dsn postgres://... --dataset D --query Q --cursor COL --credentials C`; a consumer's deliveries: `connector subscribe --credentials C`", runConnector},
		"token":     {"print an access token for a client (--credentials C)", runToken},
		"query":     {"ask for a record as a procedure service and verify the answer", runQuery},
		"case":      {"gather a procedure's evidence in one call and verify the bundle: `case --procedure P --case-id X --subject role=id ...`", runCase},
		"report":    {"the reform's numbers from the audit log (officers): `report --since DATE`", runReport},
		"policy":    {"policy tools: `policy explain|diff|check`; governance (officers): `policy propose|review|approve|reject|narrow|rollback|versions`", runPolicy},
		"schema":    {"schema tools: `schema check [DIR]`; at runtime (officers): `schema propose FILE` (a proposal others approve), `schema list`", runSchema},
		"bench":     {"measure verify, ingest and query throughput on loopback", runBench},
		"kafka":     {"`kafka setup --config FILE`: topics, SCRAM users and ACLs from the grants (idempotent); `kafka manifests`: the same as Strimzi resources", runKafka},
		"audit":     {"audit log: `audit verify` (checkpoint, entries, consistency), `audit prove --index N`", runAudit},
		"clients":   {"client registry (officers): `clients add` (a proposal others approve), `clients list`, `clients disable` (at once)", runClients},
		"console":   {"officer console through a local proxy that adds your token: `console --credentials officer.json`", runConsole},
		"keys":      {"key directory: `keys list`, `keys rotate`, `keys revoke` (officers), `keys break-glass` (key custodian), `keys generate` (a new client's own key pair)", runKeys},

		// Dev mode (citizentoken.go).
		"citizen-token": {"dev mode: print a development ID token for a sample resident, for the citizen routes: `citizen-token --resident ID [--exchange URL]`", runCitizenToken},
	}
}

// Main runs the command line and returns the process exit code: 0 on
// success and for help, 2 for a usage error (unknown command or flag,
// missing argument), 1 for anything else, refusals included (a policy
// deny, a failed verification, a policy diff that widens access).
func Main(ctx context.Context, args []string, out, errOut io.Writer) int {
	e := &env{out: out, errOut: errOut, log: slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	if len(args) > 1 && args[0] == "help" {
		// `help CMD [SUB]` is `CMD [SUB] -h`.
		args = append(args[1:len(args):len(args)], "-h")
	}
	if len(args) == 0 || args[0] == "help" || isHelpFlag(args[0]) {
		usage(out)
		return 0
	}
	if args[0] == "__complete" { // for the scripts of `onevisit completion`
		complete(ctx, e, args[1:])
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" {
		fmt.Fprint(out, version())
		return 0
	}
	// The exchange trades memory for CPU: records and audit entries are
	// short-lived garbage, and collecting at 200% heap growth instead of
	// 100% halves the collector's share. GOGC in the environment wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(errOut, "onevisit: unknown command %q\n\n", args[0])
		usage(errOut)
		return 2
	}
	if wantsHelp(args[1:]) {
		return help(ctx, e, args[0], c, args[1:])
	}
	if code, done := flagBeforeSubcommand(e, args[0], args[1:]); done {
		return code
	}
	if err := c.run(ctx, e, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(errOut, "onevisit %s: %v\n", args[0], err)
		if errors.As(err, new(usageError)) {
			return 2
		}
		return 1
	}
	return 0
}

type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func usage(w io.Writer) {
	fmt.Fprintln(w, "onevisit — the OneVisit data-sharing exchange\n\nUsage: onevisit <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun `onevisit <command> -h` or `onevisit help <command>` for a command's flags;\n`onevisit --version` for the build.")
}

func flags(e *env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("onevisit "+name, flag.ContinueOnError)
	fs.SetOutput(e.errOut)
	fs.Usage = defaultUsage(fs, name)
	e.fs = fs
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
