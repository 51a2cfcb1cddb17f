package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/onevisit/onevisit/cmd/onevisit/internal/cli"
)

// bannerCommands returns the `onevisit case` commands the banner shows,
// as argument lists (the backslash-continued lines joined).
func bannerCommands(banner string) [][]string {
	var out [][]string
	var cur string
	for _, line := range strings.Split(banner, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "go run ./cmd/onevisit case ") {
			cur = strings.TrimPrefix(line, "go run ./cmd/onevisit ")
		} else if cur != "" {
			cur += " " + line
		} else {
			continue
		}
		if strings.HasSuffix(cur, "\\") {
			cur = strings.TrimSuffix(cur, "\\")
			continue
		}
		out = append(out, strings.Fields(cur))
		cur = ""
	}
	return out
}

// TestDevBannerCases runs `onevisit dev` and then, word for word, the
// case commands its banner shows: a newborn registration and a company
// establishment, each a complete, verified bundle.
func TestDevBannerCases(t *testing.T) {
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, []string{"dev", "--http", "127.0.0.1:0", "--kafka", "127.0.0.1:0", "--data", data}, &out, &errOut)
	}()
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(out.String(), "Press Ctrl-C to stop.") {
		select {
		case code := <-done:
			t.Fatalf("dev exited %d before its banner:\n%s\n%s", code, out.String(), errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner after 90 s:\n%s", errOut.String())
		}
	}
	cmds := bannerCommands(out.String())
	if len(cmds) != 2 {
		t.Fatalf("banner shows %d case commands, want 2:\n%s", len(cmds), out.String())
	}
	qctx, qcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer qcancel()
	for _, args := range cmds {
		var got struct {
			Verified, Complete bool
			Items              []struct{ Role, Dataset string }
		}
		// The samples are published before the banner; the node may still
		// be ingesting them, so an incomplete bundle is asked again.
		for {
			code, o, e := run(t, qctx, args...)
			if code != 0 {
				t.Fatalf("%v: exit %d: %s", args, code, e)
			}
			if err := json.Unmarshal([]byte(o), &got); err != nil {
				t.Fatal(err)
			}
			if got.Complete || qctx.Err() != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		want := map[string]int{"newborn_registration": 5, "company_establishment": 2}[args[4]]
		if !got.Verified || !got.Complete || len(got.Items) != want {
			t.Errorf("%v: verified %t complete %t %d items, want %d", args, got.Verified, got.Complete, len(got.Items), want)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("dev exited %d", code)
	}
}
