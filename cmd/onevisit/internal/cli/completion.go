package cli

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"
)

// completion registers here rather than in cli.go's table: its name is
// the longest, and gofmt would realign every line of the table.
func init() {
	commands["completion"] = command{"print a shell completion script: `completion bash|zsh|fish`", runCompletion}
}

// The completion scripts ask the binary itself for candidates
// (`onevisit __complete WORDS... CURRENT`), so commands, subcommands and
// flags added later complete without a new script.
const bashCompletion = `# bash completion for onevisit.
# Load it now:      source <(onevisit completion bash)
# or for good:      onevisit completion bash > /etc/bash_completion.d/onevisit
_onevisit() {
	local -a words
	words=("${COMP_WORDS[@]:1:COMP_CWORD}")
	mapfile -t COMPREPLY < <("${COMP_WORDS[0]}" __complete "${words[@]}" 2>/dev/null)
}
complete -o default -F _onevisit onevisit
`

const zshCompletion = `#compdef onevisit
# zsh completion for onevisit.
# Load it now:      source <(onevisit completion zsh)
# or for good:      onevisit completion zsh > "${fpath[1]}/_onevisit"
_onevisit() {
	local -a candidates
	candidates=("${(@f)$("${words[1]}" __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
	if (( ${#candidates} )) && [[ -n "${candidates[1]}" ]]; then
		compadd -a candidates
	else
		_files
	fi
}
if [[ "${funcstack[1]}" == "_onevisit" ]]; then
	_onevisit "$@"
else
	compdef _onevisit onevisit
fi
`

const fishCompletion = `# fish completion for onevisit.
# Load it now:      onevisit completion fish | source
# or for good:      onevisit completion fish > ~/.config/fish/completions/onevisit.fish
complete -c onevisit -a '(onevisit __complete (commandline -opc)[2..-1] (commandline -ct))'
`

func runCompletion(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "completion")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: onevisit completion bash|zsh|fish

Prints a completion script for the shell: commands, subcommands and flags.
  bash:  source <(onevisit completion bash)
  zsh:   source <(onevisit completion zsh)
  fish:  onevisit completion fish | source
`)
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want `completion bash|zsh|fish`")
	}
	script, ok := map[string]string{"bash": bashCompletion, "zsh": zshCompletion, "fish": fishCompletion}[pos[0]]
	if !ok {
		return usagef("unknown shell %q: want bash, zsh or fish", pos[0])
	}
	_, err = fmt.Fprint(e.out, script)
	return err
}

// complete prints the candidates for the last of words (the word being
// completed, possibly empty), one a line, for the completion scripts.
// It prints nothing where a file name is expected, and the shell then
// completes file names.
func complete(ctx context.Context, e *env, words []string) {
	if len(words) == 0 {
		words = []string{""}
	}
	cur, prev := words[len(words)-1], words[:len(words)-1]
	var cands []string
	if len(prev) > 0 && prev[0] == "help" {
		prev = prev[1:]
		if strings.HasPrefix(cur, "-") {
			return
		}
	}
	switch {
	case len(prev) == 0:
		for n := range commands {
			cands = append(cands, n)
		}
		cands = append(cands, "help", "--help", "--version")
	case prev[0] == "completion" && len(prev) == 1:
		cands = []string{"bash", "zsh", "fish"}
	default:
		c, ok := commands[prev[0]]
		if !ok {
			return
		}
		subs, isGroup := groups[prev[0]]
		switch {
		case isGroup && len(prev) == 1 && !strings.HasPrefix(cur, "-"):
			for _, s := range subs {
				cands = append(cands, s.name)
			}
		case strings.HasPrefix(cur, "-"):
			args := []string{"-h"}
			if isGroup {
				if len(prev) < 2 || strings.HasPrefix(prev[1], "-") {
					return
				}
				args = []string{prev[1], "-h"}
			}
			fs, _, _ := helpOf(ctx, c, args)
			if fs == nil {
				return
			}
			fs.VisitAll(func(f *flag.Flag) {
				if len(f.Name) == 1 {
					cands = append(cands, "-"+f.Name)
				} else {
					cands = append(cands, "--"+f.Name)
				}
			})
			cands = append(cands, "--help")
		}
	}
	sort.Strings(cands)
	for _, c := range cands {
		if strings.HasPrefix(c, cur) {
			fmt.Fprintln(e.out, c)
		}
	}
}
