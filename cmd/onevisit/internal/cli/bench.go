package cli

import (
	"context"
	"os"
	"runtime/pprof"

	"github.com/onevisit/onevisit/exchange/bench"
	"github.com/onevisit/onevisit/exchange/bus"
)

func runBench(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "bench")
	var o bench.Options
	fs.DurationVar(&o.Duration, "duration", 0, "length of each timed phase (default 5s)")
	fs.IntVar(&o.Records, "records", 0, "records to ingest (default 20000)")
	fs.IntVar(&o.Concurrency, "concurrency", 0, "concurrent query clients (default 16)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	brokers := fs.String("brokers", "", "also measure against this Kafka cluster (comma separated; SASL from ONEVISIT_KAFKA_SASL_MECHANISM, _USER, _PASSWORD), in a namespace of its own")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if bl := splitList(*brokers); len(bl) > 0 {
		kc := bus.Config{Brokers: bl, SASLMechanism: os.Getenv("ONEVISIT_KAFKA_SASL_MECHANISM"), User: os.Getenv("ONEVISIT_KAFKA_USER"), Password: os.Getenv("ONEVISIT_KAFKA_PASSWORD"), ClientID: "onevisit-bench"}
		if err := kc.Validate(); err != nil {
			return usagef("%v", err)
		}
		o.Kafka = &kc
	}
	o.Out = e.out
	_, err := bench.Run(ctx, o)
	return err
}
