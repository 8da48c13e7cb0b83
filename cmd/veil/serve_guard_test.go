package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/config"
	"github.com/veil-gateway/veil/internal/browsertest"
	"github.com/veil-gateway/veil/internal/testclip"
	"github.com/veil-gateway/veil/internal/testenv"
)

// TestServeGuardBrowser is TestServeBrowser for a camera in guard mode:
// headless Chromium plays it at the clip's rate (not detection's), and no
// frame it shows has a visible face, not even the frames right after a
// still changes, before detection has looked at the new still.
func TestServeGuardBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	browsertest.Path(t) // skip (or fail in CI) before any work
	// 2 s per still: the frames right after a still changes are masked
	// broadly until detection has looked at the new still (a few hundred
	// ms here, more on a loaded machine).
	const (
		cam      = "guard"
		fps      = 10
		perStill = 20
	)
	dataDir := testenv.Data(t, "faces-dlib")
	clip, err := testclip.Faces(filepath.Join(dataDir, "gt.csv"), filepath.Join(t.TempDir(), "faces.avi"), 640, 480, fps, perStill)
	if err != nil {
		t.Fatal(err)
	}
	c := camera(cam, clip.Path)
	c.Mode = config.ModeGuard
	// Detection as often as the cores allow: the checks below need it to
	// look at each still within its 2 s (the stamp and the face-free area
	// are masked until it has). With the default cap (one every 5 s) most
	// frames stay masked broadly, which hides faces as well but leaves
	// too few frames for the checks to judge.
	c.DetectFPS = 0
	c.Detect.Config.Plates = false // the clip has no plates; spare the two cores
	g, base := startGateway(t, testConfig(t, c))
	waitRunning(t, g, 60*time.Second)

	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	var frames map[string]int
	for start := time.Now(); frames[cam] <= 5; time.Sleep(250 * time.Millisecond) {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("decoded frames after 30 s: %v", frames)
		}
		if frames, err = chromedp.Run(ctx, chromedp.Evaluate[map[string]int](framesJS)); err != nil {
			t.Fatal(err)
		}
	}

	// Warmed up: the rate is measured from here to the end of the check.
	s0, f0, t0 := g.cams[0].Status(), frames[cam], time.Now()
	checkGuardRedaction(t, ctx, cam, clip, dataDir, 40*time.Second)
	if frames, err = chromedp.Run(ctx, chromedp.Evaluate[map[string]int](framesJS)); err != nil {
		t.Fatal(err)
	}
	s1, f1, secs := g.cams[0].Status(), frames[cam], time.Since(t0).Seconds()
	logCamera(t, g.cams[0])

	// Every frame the camera delivers is sent, and the page plays them. In
	// sync mode each still change costs the frames that arrive during the
	// new still's detection: here about one in five (80 % encoded), which
	// is why the bar is 90 %, where guard mode sends them all.
	delivered := (s1.Captured - s1.Skipped) - (s0.Captured - s0.Skipped)
	encoded := s1.Encoded - s0.Encoded
	t.Logf("guard over %.1f s: captured %.1f frames/s, encoded %.1f frames/s (%d of %d delivered), page decoded %.1f frames/s; dropped %d, late %d, masked whole %d; detection %.0f ms",
		secs, float64(s1.Captured-s0.Captured)/secs, float64(encoded)/secs, encoded, delivered, float64(f1-f0)/secs,
		s1.Dropped-s0.Dropped, s1.Late-s0.Late, s1.Masked-s0.Masked, s1.DetectMs)
	if delivered == 0 || float64(encoded) < 0.9*float64(delivered) {
		t.Errorf("guard mode encoded %d of %d frames delivered by the camera, want at least 90 %%", encoded, delivered)
	}
	if rate := float64(f1-f0) / secs; rate < fps/2 {
		t.Errorf("the page decoded %.1f frames/s, want at least %d (half the clip's %d)", rate, fps/2, fps)
	}
	if s1.Late > s0.Late {
		t.Logf("note: %d frames redacted too late were dropped (a loaded machine)", s1.Late-s0.Late)
	}

	// Capture-to-display latency, as the page measured it from the RTP
	// timestamps (the stamp glass-to-glass test cannot read its stamp in
	// guard mode: the stamp changes every frame, so the guard masks it).
	type camStats struct {
		Latencies []float64 `json:"latencies"`
	}
	if stats, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]camStats](`window.veil.stats`)); err != nil {
		t.Fatal(err)
	} else if l := slices.Sorted(slices.Values(stats[cam].Latencies)); len(l) == 0 {
		t.Error("no capture-to-display latency measured in the page")
	} else {
		t.Logf("guard: capture-to-display latency p50 %.0f ms, p95 %.0f ms over %d frames", l[len(l)/2], l[len(l)*95/100], len(l))
	}

	if shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		p := filepath.Join(artifactDir(t), "viewer-guard.png")
		if os.WriteFile(p, shot, 0o644) == nil {
			t.Logf("viewer screenshot: %s", p)
		}
	}
}

// checkGuardRedaction is checkBrowserRedaction for guard mode, where the
// frames after a still changes are masked broadly (everything changed)
// until detection catches up: every annotated face of every grabbed frame
// must still be destroyed, but the rest of the picture need only be intact
// in half the grabbed frames (a gateway that masks everything still fails).
// A frame whose stamp is masked too is checked against the faces of every
// still: whichever still it shows, none of its faces may be visible.
func checkGuardRedaction(t *testing.T, ctx context.Context, cam string, clip *testclip.Clip, dataDir string, timeout time.Duration) {
	t.Helper()
	srcs := make([]gocv.Mat, len(clip.Stills))
	for i := range srcs {
		srcs[i] = gocv.NewMat()
		defer srcs[i].Close()
		if err := clip.Source(filepath.Join(dataDir, "images"), i, &srcs[i]); err != nil {
			t.Fatal(err)
		}
	}
	var res struct {
		grabbed   int // frames with a picture
		stamped   int // of which the still could be read
		controlOK int // stamped frames whose face-free area is intact
	}
	seen := map[int]int{} // stamped frames per still
	var worstFace, worstUnstamped, worstControl float64 = 0, 0, 1
	faces := 0
	saved := map[string]bool{}
	save := func(name string, out gocv.Mat) {
		if saved[name] {
			return
		}
		saved[name] = true
		p := filepath.Join(artifactDir(t), name)
		gocv.IMWrite(p, out)
		t.Logf("frame saved: %s", p)
	}
	// checkFaces checks that every face of still n is destroyed in out.
	checkFaces := func(n int, out gocv.Mat, stamped bool) {
		st := clip.Stills[n]
		for _, f := range st.Faces {
			// The centre of the box, as checkBrowserRedaction judges it.
			s := testclip.Similarity(srcs[n], out, f.Inset(min(f.Dx(), f.Dy())*15/100))
			if stamped {
				worstFace = max(worstFace, s)
			} else {
				worstUnstamped = max(worstUnstamped, s)
			}
			faces++
			if s > maxFaceSimilarity {
				how := "stamped"
				if !stamped {
					how = "stamp unreadable, matched against every still"
				}
				t.Errorf("%s: frame %d (%s): still %d (%s): face %v visible in the browser: detail similarity %.2f > %.2f",
					cam, res.grabbed, how, n, st.File, f, s, maxFaceSimilarity)
				save(fmt.Sprintf("leak-%s-frame%d-still%d.png", cam, res.grabbed, n), out)
			}
		}
	}
	done := func() bool { // every still seen, stamped, twice
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
	for start := time.Now(); time.Since(start) < timeout && !done(); {
		url, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(grabJS, cam)))
		if err != nil {
			t.Fatal(err)
		}
		if url == "" || url == "data:," {
			time.Sleep(150 * time.Millisecond)
			continue
		}
		out := decodeDataURL(t, url)
		if out.Cols() != clip.Width || out.Rows() != clip.Height {
			t.Fatalf("%s: grabbed a %dx%d frame, want %dx%d", cam, out.Cols(), out.Rows(), clip.Width, clip.Height)
		}
		res.grabbed++
		n, ok := testclip.ReadStamp(out)
		if !ok || n >= len(clip.Stills) {
			for i := range clip.Stills {
				checkFaces(i, out, false)
			}
			save("guard-unstamped.png", out)
			out.Close()
			time.Sleep(200 * time.Millisecond)
			continue
		}
		res.stamped++
		seen[n]++
		checkFaces(n, out, true)
		c := controlSimilarity(srcs[n], out, clip.Stills[n].Faces)
		worstControl = min(worstControl, c)
		if c >= minControlSimilarity {
			res.controlOK++
			save("guard-settled.png", out)
		} else {
			save("guard-masked.png", out)
		}
		out.Close()
		time.Sleep(200 * time.Millisecond)
	}
	if len(seen) < len(clip.Stills) {
		t.Errorf("%s: saw %d of %d stills (stamped) in the browser", cam, len(seen), len(clip.Stills))
	}
	if res.grabbed == 0 || 2*res.controlOK < res.grabbed {
		t.Errorf("%s: the rest of the picture was intact in %d of %d grabbed frames, want at least half: the check cannot see faces in the others",
			cam, res.controlOK, res.grabbed)
	}
	t.Logf("%s: redaction in the browser (guard): %d face boxes in %d grabbed frames (%d stamped, %d of them with the rest intact); highest face similarity %.2f in stamped frames, %.2f in the others against every still (limit %.2f); lowest control similarity %.2f (limit %.2f)",
		cam, faces, res.grabbed, res.stamped, res.controlOK, worstFace, worstUnstamped, maxFaceSimilarity, worstControl, minControlSimilarity)
}
