// Command onevisit is the one binary of the OneVisit exchange: dev mode,
// an exchange node, connectors, and the officer's tools. Run
// `onevisit help` for the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/onevisit/onevisit/cmd/onevisit/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
