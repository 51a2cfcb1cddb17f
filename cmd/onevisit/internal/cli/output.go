package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
)

// output is the -o/--output flag of a command that prints results. A
// command takes it with one line, o := outputFlag(fs), and prints its
// result with one call, o.print(e, data, text): with `-o json` the data
// as one indented JSON document, otherwise what text writes. The JSON
// holds the same data as the text, so scripts read JSON and people the
// text.
type output struct{ json bool }

// outputFlag adds -o and --output (text or json) to fs.
func outputFlag(fs *flag.FlagSet) *output {
	o := &output{}
	fs.Var(o, "o", "output `format`: text or json")
	fs.Var(o, "output", "output `format`, the same as -o")
	return o
}

func (o *output) String() string {
	if o != nil && o.json {
		return "json"
	}
	return "text"
}

// Set refuses any format but text and json at flag parse, before the
// command does anything.
func (o *output) Set(s string) error {
	switch s {
	case "json":
		o.json = true
	case "text":
		o.json = false
	default:
		return fmt.Errorf("%q: want text or json", s)
	}
	return nil
}

// print writes v as JSON with -o json, else calls text.
func (o *output) print(e *env, v any, text func(w io.Writer) error) error {
	if !o.json {
		return text(e.out)
	}
	enc := json.NewEncoder(e.out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// refusal is the error of a command that ran and ended in a no: a policy
// deny, a failed verification, a policy change that widens access. It
// exits 1 like any failure; the type keeps the reason apart from usage
// errors (2) in tests and in the message.
type refusal struct{ msg string }

func (r refusal) Error() string { return r.msg }

func refusedf(format string, a ...any) error { return refusal{fmt.Sprintf(format, a...)} }
