package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/config"
	"github.com/veil-gateway/veil/internal/browsertest"
	"github.com/veil-gateway/veil/internal/cvthreads"
	"github.com/veil-gateway/veil/internal/testclip"
	"github.com/veil-gateway/veil/internal/testenv"
)

// testConfig is a gateway on free ports with the given cameras.
func testConfig(t *testing.T, cams ...config.Camera) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.NATS.Listen = "127.0.0.1:-1"
	cfg.Models = testenv.Models(t)
	cfg.Cameras = cams
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// camera is a test camera in sync mode: the tests that use it check each
// frame's own redaction (guard mode has TestServeGuardBrowser; the demo
// camera runs in the default, guard).
func camera(name, source string) config.Camera {
	c := config.DefaultCamera()
	c.Name, c.Source, c.Mode = name, source, config.ModeSync
	return c
}

// startGateway runs a gateway until the test ends and returns its base URL.
func startGateway(t *testing.T, cfg config.Config) (*gateway, string) {
	t.Helper()
	g, base, _ := runGateway(t, cfg)
	return g, base
}

// runGateway is startGateway with a stop function (the test's end also
// stops it).
func runGateway(t *testing.T, cfg config.Config) (*gateway, string, func()) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	threads := cvthreads.Get()
	t.Cleanup(func() { cvthreads.Set(threads) }) // newGateway sets OpenCV's threads for the whole process
	g, err := newGateway(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("gateway: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("gateway did not stop within 20 s")
			}
		})
	}
	t.Cleanup(stop)
	return g, "http://" + g.ln.Addr().String(), stop
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitRunning waits until every camera has encoded frames.
func waitRunning(t *testing.T, g *gateway, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ok := true
		for _, c := range g.cams {
			if c.Status().Encoded < 3 {
				ok = false
			}
		}
		if ok {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, c := range g.cams {
		t.Logf("camera %+v", c.Status())
	}
	t.Fatal("cameras did not start encoding")
}

const framesJS = `Object.fromEntries([...document.querySelectorAll('.card')].map(c =>
  [c.dataset.camera, c.querySelector('video').getVideoPlaybackQuality().totalVideoFrames]))`

// grabJS returns the current frame of a camera's video element as a PNG
// data URL, at the video's own size.
const grabJS = `(() => {
  const v = document.querySelector('.card[data-camera="%s"] video');
  if (!v || !v.videoWidth) return '';
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  c.getContext('2d').drawImage(v, 0, 0);
  return c.toDataURL('image/png');
})()`

// TestServeBrowser is the end-to-end proof of the live gateway: a real
// headless Chromium opens the viewer, plays every camera, and the frames
// it shows of a clip made from annotated faces have every face destroyed.
func TestServeBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	dataDir := testenv.Data(t, "faces-dlib")
	clip, err := testclip.Faces(filepath.Join(dataDir, "gt.csv"), filepath.Join(t.TempDir(), "faces.avi"), 640, 480, 5, 8)
	if err != nil {
		t.Fatal(err)
	}
	faces := camera("faces", clip.Path)
	faces.Detect.Config.Plates = false                                    // the clip has no plates; spare the two cores
	faces.Zones = []config.Zone{{{0.9, 0.9}, {1, 0.9}, {1, 1}, {0.9, 1}}} // a privacy zone: bottom-right corner
	cfg := testConfig(t, config.DemoCamera(), faces)
	g, base := startGateway(t, cfg)
	waitRunning(t, g, 60*time.Second)

	ctx := browsertest.New(t)
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}

	// Every camera plays: decoded frames keep increasing.
	var first map[string]int
	for time.Since(start) < 30*time.Second {
		first, err = chromedp.Run(ctx, chromedp.Evaluate[map[string]int](framesJS))
		if err != nil {
			t.Fatal(err)
		}
		if len(first) == 2 && first["demo"] > 5 && first["faces"] > 5 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if first["demo"] <= 5 || first["faces"] <= 5 {
		t.Fatalf("decoded frames after 30 s: %v", first)
	}
	// Decoded frames keep increasing (polled: on a loaded machine a camera
	// may drop late frames for a few seconds, which is failing closed).
	for cam, n := range first {
		var now map[string]int
		for wait := time.Now(); time.Since(wait) < 15*time.Second; time.Sleep(500 * time.Millisecond) {
			if now, err = chromedp.Run(ctx, chromedp.Evaluate[map[string]int](framesJS)); err != nil {
				t.Fatal(err)
			}
			if now[cam] > n+3 {
				break
			}
		}
		if now[cam] <= n+3 {
			t.Errorf("camera %s: decoded frames stopped at %d (15 s later %d)", cam, n, now[cam])
		}
		t.Logf("camera %s: %d frames decoded, then %d", cam, n, now[cam])
	}

	// Only redacted pixels reach the browser.
	checkBrowserRedaction(t, ctx, "faces", clip, dataDir, 60*time.Second)

	// The privacy zone is black in what the browser shows.
	url, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(grabJS, "faces")))
	if err != nil {
		t.Fatal(err)
	}
	frame := decodeDataURL(t, url)
	zone := frame.Region(image.Rect(580, 440, 640, 480).Inset(4))
	if m := zone.Mean(); m.Val1+m.Val2+m.Val3 > 3*24 {
		t.Errorf("privacy zone not masked in the browser: mean colour %v", m)
	}
	zone.Close()
	frame.Close()

	// The demo camera's counting line is drawn over its video and its
	// counts are listed.
	geo, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`(() => {
	  const c = document.querySelector('.card[data-camera="demo"]');
	  return {lines: c.querySelectorAll('svg.geometry line.conf').length, counts: c.querySelector('.count-list').textContent};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if geo["lines"].(float64) != 1 || !strings.Contains(geo["counts"].(string), "plaza") || !strings.Contains(geo["counts"].(string), "in view") {
		t.Errorf("viewer counts for demo: %v", geo)
	}
	t.Logf("viewer counts for demo: %v", geo["counts"])
	if shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		p := filepath.Join(artifactDir(t), "viewer.png")
		if os.WriteFile(p, shot, 0o644) == nil {
			t.Logf("viewer screenshot: %s", p)
		}
	}

	// Time to first frame and capture-to-display latency, as the page saw them.
	type camStats struct {
		TTFF      float64   `json:"ttffMs"`
		Latencies []float64 `json:"latencies"`
		Frames    int       `json:"frames"`
	}
	stats, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]camStats](`window.veil.stats`))
	if err != nil {
		t.Fatal(err)
	}
	for cam, s := range stats {
		if s.TTFF <= 0 || len(s.Latencies) == 0 {
			t.Errorf("camera %s: no time to first frame or latency measured: %+v", cam, s)
			continue
		}
		l := slices.Sorted(slices.Values(s.Latencies))
		t.Logf("camera %s: time to first frame %.0f ms; capture-to-display latency p50 %.0f ms, p95 %.0f ms over %d frames",
			cam, s.TTFF, l[len(l)/2], l[len(l)*95/100], len(l))
	}
}

// checkBrowserRedaction grabs frames of cam's video element in the page
// until every still of clip was seen twice (or timeout): every annotated
// face in every grabbed frame must be destroyed, while the rest of the
// picture stays intact enough that a visible face would have been noticed.
func checkBrowserRedaction(t *testing.T, ctx context.Context, cam string, clip *testclip.Clip, dataDir string, timeout time.Duration) {
	t.Helper()
	src := gocv.NewMat()
	defer src.Close()
	seen := map[int]int{}
	var worstFace, worstControl float64 = 0, 1
	faces := 0
	done := func() bool { // every still seen twice
		if len(seen) < len(clip.Stills) {
			return false
		}
		for _, v := range seen {
			if v < 2 {
				return false
			}
		}
		return true
	}
	start := time.Now()
	for time.Since(start) < timeout && !done() {
		url, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(grabJS, cam)))
		if err != nil {
			t.Fatal(err)
		}
		if url == "" || url == "data:," {
			time.Sleep(150 * time.Millisecond)
			continue
		}
		out := decodeDataURL(t, url)
		n, ok := testclip.ReadStamp(out)
		if !ok || n >= len(clip.Stills) {
			out.Close()
			time.Sleep(150 * time.Millisecond)
			continue
		}
		if err := clip.Source(filepath.Join(dataDir, "images"), n, &src); err != nil {
			t.Fatal(err)
		}
		st := clip.Stills[n]
		for _, f := range st.Faces {
			// The centre of the box (eyes, nose, mouth): the judge of veil
			// eval likewise asks for 70 % of a face box destroyed.
			s := testclip.Similarity(src, out, f.Inset(min(f.Dx(), f.Dy())*15/100))
			worstFace = max(worstFace, s)
			faces++
			if s > maxFaceSimilarity {
				t.Errorf("%s: still %d (%s): face %v visible in the browser: detail similarity %.2f > %.2f", cam, n, st.File, f, s, maxFaceSimilarity)
				p := filepath.Join(artifactDir(t), fmt.Sprintf("leak-%s-still%d.png", cam, n))
				gocv.IMWrite(p, out)
				t.Logf("frame saved: %s", p)
			}
		}
		c := controlSimilarity(src, out, st.Faces)
		worstControl = min(worstControl, c)
		if c < minControlSimilarity {
			t.Errorf("%s: still %d: the rest of the frame has similarity %.2f < %.2f: the check cannot see faces in this frame", cam, n, c, minControlSimilarity)
		}
		seen[n]++
		out.Close()
		time.Sleep(300 * time.Millisecond)
	}
	if len(seen) < len(clip.Stills) {
		t.Errorf("%s: saw %d of %d stills in the browser", cam, len(seen), len(clip.Stills))
	}
	t.Logf("%s: redaction in the browser: %d face boxes in %d grabbed frames; highest face similarity %.2f (limit %.2f), lowest control similarity %.2f (limit %.2f)",
		cam, faces, sum(seen), worstFace, maxFaceSimilarity, worstControl, minControlSimilarity)
}

// Limits of the redaction check, from the measured spread: the centres of
// pixelated faces score at most ~0.2 and intact areas at least ~0.6 at this
// bitrate; a visible face scores like an intact area.
const (
	maxFaceSimilarity    = 0.35
	minControlSimilarity = 0.5
)

// controlSimilarity compares the still area outside every face (faces and
// the stamp band painted flat in both pictures).
func controlSimilarity(src, out gocv.Mat, faces []image.Rectangle) float64 {
	a, b := src.Clone(), out.Clone()
	defer a.Close()
	defer b.Close()
	for _, m := range []*gocv.Mat{&a, &b} {
		for _, f := range faces {
			r := f.Inset(-f.Dx() / 2).Intersect(image.Rect(0, 0, m.Cols(), m.Rows()))
			roi := m.Region(r)
			roi.SetTo(gocv.NewScalar(0, 0, 0, 0))
			roi.Close()
		}
	}
	return testclip.Similarity(a, b, image.Rect(0, testclip.Band, src.Cols(), src.Rows()))
}

func decodeDataURL(t *testing.T, url string) gocv.Mat {
	t.Helper()
	b64, ok := strings.CutPrefix(url, "data:image/png;base64,")
	if !ok {
		t.Fatalf("grab: not a PNG data URL: %.40q", url)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	m, err := gocv.IMDecode(b, gocv.IMReadColor)
	if err != nil || m.Empty() {
		t.Fatalf("grab: cannot decode PNG: %v", err)
	}
	return m
}

func sum(m map[int]int) int {
	s := 0
	for _, v := range m {
		s += v
	}
	return s
}

// httpDo sends a request and returns status and body.
func httpDo(t *testing.T, method, url, contentType string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// artifactDir keeps evidence of a failure: $VEIL_ARTIFACTS, else the test's
// temporary directory.
func artifactDir(t *testing.T) string {
	if d := os.Getenv("VEIL_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err == nil {
			return d
		}
	}
	return t.TempDir()
}

// veil serve sets OpenCV's threads before any network runs: opencv_threads
// when it is set, else one for guard-mode cameras with detect_fps and
// OpenCV's default for the rest, whatever a previous gateway left.
func TestServeOpenCVThreads(t *testing.T) {
	cvthreads.Set(cvthreads.Default)
	def := cvthreads.Get()
	defer cvthreads.Set(cvthreads.Default)
	for _, tc := range []struct {
		mode       string
		detectFPS  float64
		configured int
		want       int
	}{
		{config.ModeSync, 0.2, 0, def},
		{config.ModeGuard, 0.2, 0, 1},
		{config.ModeGuard, 0, 0, def}, // detecting as often as it can
		{config.ModeSync, 0.2, 1, 1},
		{config.ModeGuard, 0.2, 3, 3},
		{config.ModeGuard, 0.2, -1, def},
	} {
		c := camera("t", "demo")
		c.Mode, c.DetectFPS = tc.mode, tc.detectFPS
		cfg := testConfig(t, c)
		cfg.OpenCVThreads = tc.configured
		cvthreads.Set(7) // what a previous gateway might have left
		g, err := newGateway(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		got := cvthreads.Get()
		g.close()
		if got != tc.want {
			t.Errorf("mode %s, detect_fps %v, opencv_threads %d: %d threads, want %d", tc.mode, tc.detectFPS, tc.configured, got, tc.want)
		}
	}
}
