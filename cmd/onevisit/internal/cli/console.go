package cli

import (
	"context"
	"fmt"

	"github.com/onevisit/onevisit/cmd/onevisit/internal/console"
)

// runConsole: `console --credentials officer.json [--listen ADDR]`, the
// officer console through a local proxy that adds the officer's token
// and signs policy changes with the officer's key (internal/console).
func runConsole(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "console")
	cred := fs.String("credentials", "", "the officer's credentials file (required; the key never leaves this process)")
	exch := fs.String("exchange", "", "exchange base URL (default: the credentials file's)")
	listen := fs.String("listen", "127.0.0.1:0", "loopback address to listen on (default: a free port)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *cred == "" {
		return usagef("--credentials is required")
	}
	c, cl, err := loadClient(*cred, *exch)
	if err != nil {
		return err
	}
	p, err := console.New(c, cl, e.log)
	if err != nil {
		return err
	}
	ln, err := console.Listen(*listen)
	if err != nil {
		return fmt.Errorf("console: --listen %s: %w", *listen, err)
	}
	fmt.Fprintf(e.out, "officer console for %s: http://%s/console/  (Ctrl-C to stop)\n", c.ClientID, ln.Addr())
	return p.Serve(ctx, ln)
}
