package cli

import (
	"context"

	"github.com/onevisit/onevisit/exchange/bench"
)

func runBench(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "bench")
	var o bench.Options
	fs.DurationVar(&o.Duration, "duration", 0, "length of each timed phase (default 5s)")
	fs.IntVar(&o.Records, "records", 0, "records to ingest (default 20000)")
	fs.IntVar(&o.Concurrency, "concurrency", 0, "concurrent query clients (default 32)")
	if err := parse(fs, args); err != nil {
		return err
	}
	o.Out = e.out
	_, err := bench.Run(ctx, o)
	return err
}
