package cli_test

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDocumentedCommands finds every onevisit command line the READMEs
// show (in code blocks and inline code) and checks that its command and
// subcommand exist and take every flag it is shown with, so the runbook
// and the guides cannot drift from the binary.
func TestDocumentedCommands(t *testing.T) {
	ctx := context.Background()
	_, top, _ := run(t, ctx, "__complete", "")
	commands := strings.Fields(top)
	cmdLine := regexp.MustCompile(`(?:^|[\s(` + "`" + `$])(?:go run \./cmd/)?onevisit ((?:[^` + "`" + `|;&#)\n]|\\\n)+)`)
	checked := 0
	for _, doc := range []string{"../../../../README.md", "../../../../deploy/README.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(b), "\\\n", " ")                       // continued lines
		text = regexp.MustCompile(`\$\([^)]*\)`).ReplaceAllString(text, "VALUE") // $(...) is a value
		for _, m := range cmdLine.FindAllStringSubmatch(text, -1) {
			words := strings.Fields(m[1])
			if len(words) == 0 || !slices.Contains(commands, words[0]) || words[0] == "help" {
				continue // prose ("onevisit is ..."), or help itself
			}
			path := words[:1]
			_, subs, _ := run(t, ctx, "__complete", words[0], "")
			if s := strings.Fields(subs); len(s) > 0 && !strings.HasPrefix(s[0], "-") && words[0] != "completion" {
				if len(words) < 2 || !slices.Contains(s, words[1]) {
					t.Errorf("%s: `onevisit %s`: no such subcommand (have %v)", doc, strings.Join(words, " "), s)
					continue
				}
				path = words[:2]
			}
			_, fl, _ := run(t, ctx, append(append([]string{"__complete"}, path...), "-")...)
			known := strings.Fields(fl)
			for _, w := range words[len(path):] {
				if !strings.HasPrefix(w, "-") || w == "-" || w == "-h" || w == "--help" {
					continue
				}
				name, _, _ := strings.Cut(w, "=")
				if !slices.Contains(known, name) && !slices.Contains(known, "-"+name) {
					t.Errorf("%s: `onevisit %s`: %s takes no flag %s", doc, strings.Join(words, " "), strings.Join(path, " "), name)
				}
			}
			checked++
		}
	}
	if checked < 30 {
		t.Errorf("checked %d documented command lines; the pattern no longer finds them", checked)
	}
	t.Logf("checked %d documented command lines", checked)
}
