package cli

import (
	"context"
	"fmt"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/exchange"
)

func runDev(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "dev")
	httpAddr := fs.String("http", exchange.DefaultHTTPAddr, "HTTP API listen address")
	kafkaAddr := fs.String("kafka", dev.DefaultKafkaAddr, "embedded broker listen address (loopback)")
	data := fs.String("data", dev.DefaultDataDir, "data directory: broker log, keys, client credentials")
	setLog := logFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := setLog(e); err != nil {
		return err
	}
	env, err := dev.Start(ctx, dev.Options{HTTPAddr: *httpAddr, KafkaAddr: *kafkaAddr, DataDir: *data, Logger: e.log, Banner: e.out})
	if err != nil {
		return err
	}
	defer env.Close()
	select {
	case <-ctx.Done():
		fmt.Fprintln(e.out, "stopping")
		return nil
	case err := <-env.Done():
		return err
	}
}
