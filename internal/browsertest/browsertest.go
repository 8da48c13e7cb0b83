// Package browsertest starts Debian's headless Chromium for end-to-end
// tests, with the flags that work on a machine without network or GPU.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path finds Chromium; tests fail without it when VEIL_REQUIRE_BROWSER is
// set (CI sets it), and skip otherwise.
func Path(tb testing.TB) string {
	tb.Helper()
	for _, p := range []string{os.Getenv("VEIL_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	if os.Getenv("VEIL_REQUIRE_BROWSER") != "" {
		tb.Fatal("browsertest: chromium not found (hack/install-deps.sh with VEIL_WITH_BROWSER=1 installs it)")
	}
	tb.Skip("browsertest: chromium not found; set VEIL_REQUIRE_BROWSER=1 to make this a failure")
	return ""
}

// Flags are the Chromium flags the tests use (also for playwright).
func Flags(userDataDir string) []string {
	return []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--autoplay-policy=no-user-gesture-required", "--disable-dev-shm-usage",
		"--user-data-dir=" + userDataDir}
}

// New starts Chromium and returns a tab's context; everything is closed
// and Chromium's leftovers in the temp dir removed when the test ends.
func New(tb testing.TB) context.Context {
	tb.Helper()
	exe := Path(tb)
	before := leftovers()
	dir := tb.TempDir()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.Headless,
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(dir),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1400, 1000),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(tb.Logf))
	tb.Cleanup(func() {
		cancel()
		acancel()
		time.Sleep(100 * time.Millisecond)
		for p := range leftovers() {
			if !before[p] {
				os.RemoveAll(p)
			}
		}
	})
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("browsertest: starting %s: %v", exe, err)
	}
	return ctx
}

func leftovers() map[string]bool {
	m, _ := filepath.Glob(filepath.Join(os.TempDir(), "org.chromium.Chromium.*"))
	out := map[string]bool{}
	for _, p := range m {
		out[p] = true
	}
	return out
}
