package cli

import (
	"context"

	"github.com/onevisit/onevisit/exchange"
)

func runServe(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "serve")
	path := fs.String("config", "", "node config file (YAML; keys documented in deploy/README.md)")
	setLog := logFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := setLog(e); err != nil {
		return err
	}
	if *path == "" {
		return usagef("--config is required")
	}
	cfg, err := exchange.LoadConfig(*path)
	if err != nil {
		return err
	}
	kb, err := exchange.OpenKeys(ctx, cfg.Keys, e.log)
	if err != nil {
		return err
	}
	defer kb.Close()
	parts, err := cfg.Parts(kb, e.log)
	if err != nil {
		return err
	}
	n, err := exchange.New(parts)
	if err != nil {
		return err
	}
	e.log.Info("exchange node starting", "node", cfg.Node, "http", cfg.HTTP.Addr, "brokers", cfg.Kafka.Brokers)
	return n.Run(ctx)
}
