package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/onevisit/onevisit/cmd/onevisit/bench"
	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/keys/vault"
)

func runBench(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "bench")
	var o bench.Options
	fs.DurationVar(&o.Duration, "duration", 0, "length of each timed phase (default 5s)")
	fs.IntVar(&o.Records, "records", 0, "records to ingest (default 20000)")
	fs.IntVar(&o.Concurrency, "concurrency", 0, "concurrent query clients (default 16)")
	fs.IntVar(&o.CaseConcurrency, "case-concurrency", 0, "concurrent case-bundle clients (default 4; each bundle runs its five items concurrently)")
	asJSON := fs.Bool("json", false, "print one JSON object with the figures on standard output (field names are stable: see bench.Report); the progress text goes to standard error")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	phaseProfile := fs.String("phase-cpuprofile", "", "write a CPU profile of each timed ingest (pipeline) and query phase, and of the scale phase's rebuild, to PREFIX-ingest.prof, PREFIX-query.prof and PREFIX-rebuild.prof (PREFIX-kafka-*.prof against --brokers); not with --cpuprofile")
	vaultKey := fs.String("vault-key", "", "also measure record signing through this Vault transit key (VAULT_ADDR, VAULT_TOKEN from the environment) at batch sizes 1, 16, 64, 256, beside a file key")
	brokers := fs.String("brokers", "", "also measure against this Kafka cluster (comma separated; SASL from ONEVISIT_KAFKA_SASL_MECHANISM, _USER, _PASSWORD), in a namespace of its own")
	out := outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	*asJSON = *asJSON || out.json // -o json is --json, as on every command
	if *phaseProfile != "" {
		if *cpuprofile != "" {
			return usagef("--phase-cpuprofile and --cpuprofile cannot be used together (one CPU profile at a time)")
		}
		o.Profile = phaseProfiler(e, *phaseProfile)
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
		kc := bus.FromEnv(bl, "onevisit-bench")
		if err := kc.Validate(); err != nil {
			return usagef("%v", err)
		}
		o.Kafka = &kc
	}
	o.Out = e.out
	if *asJSON {
		o.Out = e.errOut
	}
	if *vaultKey != "" {
		if err := benchSigning(ctx, e, *vaultKey); err != nil {
			return err
		}
	}
	res, err := bench.Run(ctx, o)
	if err != nil || !*asJSON {
		return err
	}
	records := o.Records
	if records <= 0 {
		records = bench.DefaultRecords
	}
	enc := json.NewEncoder(e.out)
	enc.SetIndent("", "  ")
	return enc.Encode(res.Report(records))
}

// benchSigning prints records signed per second through Vault transit and
// through a file key, at each batch size, in one run.
func benchSigning(ctx context.Context, e *env, key string) error {
	vs, err := vault.New(vault.FromEnv(key, "public-security", keys.UseRecord), e.log)
	if err != nil {
		return err
	}
	defer vs.Close()
	if err := vs.Start(ctx); err != nil {
		return err
	}
	figs, err := bench.SignRates(ctx, map[string]keys.Signer{"vault transit": vs}, []int{1, 16, 64, 256}, 2*time.Second)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.out, "record signing (signed records/s; one SignBatch call per batch):")
	for _, f := range figs {
		fmt.Fprintf(e.out, "  %-14s batch %3d: %8.0f /s\n", f.Signer, f.Batch, f.PerSecond)
	}
	return nil
}

// phaseProfiler writes a CPU profile per timed phase; a profile that
// cannot be written is reported and the run goes on.
func phaseProfiler(e *env, prefix string) func(phase string, env int) func() {
	return func(phase string, envIndex int) func() {
		name := prefix + "-" + phase + ".prof"
		if envIndex > 0 {
			name = prefix + "-kafka-" + phase + ".prof"
		}
		f, err := os.Create(name)
		if err == nil {
			if err = pprof.StartCPUProfile(f); err != nil {
				f.Close()
			}
		}
		if err != nil {
			fmt.Fprintf(e.errOut, "bench: %s profile: %v\n", phase, err)
			return func() {}
		}
		return func() {
			pprof.StopCPUProfile()
			f.Close()
		}
	}
}
