package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/veil-gateway/veil/internal/browsertest"
)

// whepClientDir holds the test page and the npm WHEP client it loads
// (package.json and package-lock.json pin it; node_modules is installed by
// npmCI and never committed).
const (
	whepClientDir = "../../testdata/whepclient"
	npmCI         = "npm ci --prefix testdata/whepclient --no-audit --no-fund"
)

// whepClientPage needs the npm package installed: without it the test
// fails where browser tests must run (VEIL_REQUIRE_BROWSER, as in
// hack/test.sh, which installs it) and skips elsewhere.
func whepClientPage(t *testing.T) string {
	t.Helper()
	lib := filepath.Join(whepClientDir, "node_modules", "whip-whep", "whep.js")
	if _, err := os.Stat(lib); err != nil {
		msg := "the npm WHEP client is not installed (" + lib + "): run `" + npmCI + "` in the repository root (hack/test.sh does)"
		if os.Getenv("VEIL_REQUIRE_BROWSER") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg + "; set VEIL_REQUIRE_BROWSER=1 to make this a failure")
	}
	return whepClientDir
}

// whepPage is what testdata/whepclient/index.html reports in window.whep.
type whepPage struct {
	URL      string  `json:"url"`
	State    string  `json:"state"`
	TTFF     float64 `json:"ttffMs"`
	Requests []struct {
		Method string `json:"method"`
		URL    string `json:"url"`
		Status int    `json:"status"`
		Body   string `json:"body"`
		Error  string `json:"error"`
	} `json:"requests"`
	Errors []string `json:"errors"`
}

const whepFramesJS = `(() => { const v = document.getElementById('video');
  return v ? v.getVideoPlaybackQuality().totalVideoFrames : 0; })()`

// TestServeThirdPartyWHEP proves that a WHEP player we did not write plays
// a camera: medooze's whip-whep WHEPClient, as published on npm, loaded
// unchanged from a page on another origin (so CORS is exercised) in
// headless Chromium. That client posts its offer before gathering and
// trickles every candidate with PATCH, so trickle ICE is exercised too; it
// leaves with DELETE.
func TestServeThirdPartyWHEP(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	dir := whepClientPage(t)
	g, base := startGateway(t, testConfig(t, camera("demo", "demo")))
	waitRunning(t, g, 60*time.Second)
	stream := g.whep.Stream("demo")

	pages := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(pages.Close)
	page := pages.URL + "/index.html?" + url.Values{"gateway": {base}, "camera": {"demo"}}.Encode()

	ctx := browsertest.New(t)
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatal(err)
	}
	report := func() whepPage {
		t.Helper()
		p, err := chromedp.Run(ctx, chromedp.Evaluate[whepPage](`window.whep || {}`))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	dump := func(p whepPage) {
		t.Helper()
		t.Logf("page: url %s, state %q, errors %q", p.URL, p.State, p.Errors)
		for _, r := range p.Requests {
			t.Logf("page: %s %s -> %d %s %q", r.Method, r.URL, r.Status, r.Error, r.Body)
		}
	}

	// The video plays: decoded frames keep increasing.
	var first int
	var firstSeen time.Duration
	for time.Since(start) < 30*time.Second {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](whepFramesJS))
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 && firstSeen == 0 {
			firstSeen = time.Since(start)
		}
		if first = n; first > 5 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if first <= 5 {
		dump(report())
		t.Fatalf("the third-party WHEP client decoded %d frames in 30 s", first)
	}
	// 3 s later it has decoded more. On a loaded machine the gateway may
	// encode next to nothing for a while (it drops frames redacted too
	// late), so wait up to 15 s more before calling playback stopped.
	encoded, since := g.cams[0].Status().Encoded, time.Now()
	time.Sleep(3 * time.Second)
	later := first
	for {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](whepFramesJS))
		if err != nil {
			t.Fatal(err)
		}
		if later = n; later > first || time.Since(since) > 18*time.Second {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("%d frames decoded, %d after %v more (the gateway encoded %d meanwhile)",
		first, later, time.Since(since).Round(100*time.Millisecond), g.cams[0].Status().Encoded-encoded)
	if later <= first {
		t.Errorf("decoded frames stopped at %d", first)
	}

	p := report()
	t.Logf("time to first decoded frame: %.0f ms from the page starting the client; the test saw it %v after navigating",
		p.TTFF, firstSeen.Round(time.Millisecond))
	if p.TTFF <= 0 {
		t.Errorf("the page measured no time to first frame")
	}
	if p.State != "connected" {
		t.Errorf("peer connection state %q, want connected", p.State)
	}
	if n := stream.Stats().Viewers; n != 1 {
		t.Errorf("gateway counts %d viewers, want 1", n)
	}

	// The client's requests: POST answered 201, every trickle ICE PATCH
	// accepted, and no error thrown anywhere in the library.
	var posts, patches, candidates int
	for _, r := range p.Requests {
		switch r.Method {
		case http.MethodPost:
			posts++
			if r.Status != http.StatusCreated {
				t.Errorf("POST %s: status %d %s, want 201", r.URL, r.Status, r.Error)
			}
		case http.MethodPatch:
			patches++
			candidates += strings.Count(r.Body, "a=candidate:")
			t.Logf("trickle ICE PATCH -> %d: %q", r.Status, r.Body)
			if r.Status != http.StatusNoContent {
				t.Errorf("PATCH %s: status %d %s, want 204; fragment:\n%s", r.URL, r.Status, r.Error, r.Body)
			}
		}
	}
	t.Logf("trickle ICE: %d PATCH requests carried %d candidates", patches, candidates)
	if posts != 1 || patches == 0 {
		t.Errorf("want 1 POST and some trickle ICE PATCHes, got %d POST and %d PATCH", posts, patches)
	}
	if len(p.Errors) > 0 {
		t.Errorf("the page reported errors: %q", p.Errors)
	}
	if t.Failed() {
		dump(p)
	}

	// Leaving: the client's DELETE ends the viewer on the gateway.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.whepClient.stop().then(() => true)`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("WHEPClient.stop: %v", err)
	}
	p = report()
	deleted := false
	for _, r := range p.Requests {
		if r.Method == http.MethodDelete {
			deleted = true
			if r.Status != http.StatusOK {
				t.Errorf("DELETE %s: status %d %s, want 200", r.URL, r.Status, r.Error)
			}
		}
	}
	if !deleted {
		t.Error("WHEPClient.stop sent no DELETE")
	}
	deadline := time.Now().Add(5 * time.Second)
	for stream.Stats().Viewers != 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := stream.Stats().Viewers; n != 0 {
		t.Errorf("gateway still counts %d viewers after the client left", n)
	}
}
