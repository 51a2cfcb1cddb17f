// Package browser drives a real headless Chromium for the tests of the
// officer console and the citizen page (github.com/chromedp/chromedp).
//
// Chromium is Debian's chromium package (.ci/run installs it when
// missing); ONEVISIT_CHROMIUM names another binary. Without one a test
// that calls New is skipped, or fails when CI is set (testkit.Unavailable).
// Chromium runs headless with a fresh profile in a temporary folder,
// without the sandbox when the tests run as root (as CI does), and is
// stopped when the test ends.
//
// Screenshot writes full-page PNGs to the folder CI keeps:
// ONEVISIT_SCREENSHOTS, or .ci/out/screenshots at the module root.
package browser

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/onevisit/onevisit/deploy/testkit"
)

// Chromium returns the path of the browser binary, or calls
// testkit.Unavailable.
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("ONEVISIT_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testkit.Unavailable(t, "no Chromium: apt-get install chromium, or set ONEVISIT_CHROMIUM")
	return ""
}

// New starts a headless Chromium for the test and returns a browser tab's
// context, cancelled (and the browser stopped) when the test ends. Every
// action run on it is bounded by timeout.
func New(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	bin := Chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("headless", "new"),
		chromedp.Flag("lang", "zh-CN"),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		cancelTab()
		cancelAlloc()
		t.Fatalf("start Chromium %s: %v", bin, err)
	}
	tctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	return tctx
}

// Dir is the folder screenshots go to, made if missing.
func Dir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("ONEVISIT_SCREENSHOTS")
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, ".ci", "out", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Screenshot writes a full-page PNG of the tab to Dir/<name>.png.
func Screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(Dir(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
