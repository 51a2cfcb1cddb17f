package cli

import (
	"flag"
	"io"
	"log/slog"
)

// logFlags adds --log-level and --log-format to a long-running command
// (serve, dev). The returned function, called after parsing, replaces
// e.log with a structured logger on stderr: one JSON object a line by
// default, for log collectors; text for a terminal.
func logFlags(fs *flag.FlagSet) func(e *env) error {
	level := fs.String("log-level", "info", "least severe level logged: debug, info, warn or error")
	format := fs.String("log-format", "json", "log line format on stderr: json (one object a line) or text")
	return func(e *env) error {
		lg, err := newLogger(e.errOut, *level, *format)
		if err != nil {
			return err
		}
		e.log = lg
		return nil
	}
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	switch level {
	case "debug":
		l = slog.LevelDebug
	case "info":
		l = slog.LevelInfo
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	o := &slog.HandlerOptions{Level: l}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	}
	return nil, usagef("--log-format %q: want json or text", format)
}
