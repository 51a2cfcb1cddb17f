// Package cli is the onevisit command line: it parses flags and calls the
// packages that do the work.
//
// # Conventions every command follows
//
//   - Help: `onevisit CMD [SUB] -h` (or --help, -help) and
//     `onevisit help CMD [SUB]` print the same usage on stdout and exit 0;
//     `onevisit help` lists the commands. Main answers help before it runs
//     anything: it runs the command with only "-h" (a listed group's
//     subcommand with "SUB -h"), which returns at its flag parse with
//     flag.ErrHelp, and prints what the flag set printed.
//   - Exit codes: 0 success; 2 a usage error (unknown command, subcommand or
//     flag, missing argument: usagef); 1 anything else, refusals included —
//     a policy deny (`policy explain`), a failed verification (`audit
//     verify`, `audit verify-export`, `schema check`), a policy change that
//     widens access (`policy diff`, for CI pipelines that review policy
//     changes: 0 means it only narrows or changes nothing).
//   - Output: a command that prints results takes `-o text|json` (also
//     --output) through outputFlag, and prints with output.print: the JSON
//     holds the same data as the text. `policy explain` and `query` print
//     JSON by default (`policy explain -o text` prints lines); `kafka
//     manifests -o yaml|json` chooses the manifest format; `connector csv -o
//     json` prints the per-row report that --report FILE writes; `bench -o
//     json` is its --json. `kafka setup` has no -o json yet.
//   - `onevisit --version`: module version, VCS revision and Go version from
//     the build information (runtime/debug).
//   - `onevisit completion bash|zsh|fish` prints a completion script. The
//     script asks the binary for candidates (`onevisit __complete WORDS...`,
//     not listed), which reads the command table, the groups table and each
//     command's flag set, so new commands and flags complete without a new
//     script.
//
// # Adding a command
//
// One line in the commands map of cli.go, `"name": {summary, run}`, with run
// a func(ctx, *env, []string) error in a file of its own that makes its
// flags with flags(e, "name"), parses them with parse (or parseArgs when
// positional arguments may come between flags) before it does anything
// else, returns usagef(...) for a usage error, and prints results with
// o := outputFlag(fs) ... o.print(e, data, text). Help, --help, `help
// name`, exit codes and flag completion then work with nothing more. A
// command with subcommands (`name sub`) also adds its subcommands to the
// groups map of help.go: that gives `onevisit name -h` its list, routes
// `name sub -h` to the subcommand, and completes the names.
//
// The command line does not use a framework such as cobra: the table and
// the flag package give the same help, completion and usage errors with no
// change to the commands' code.
package cli
