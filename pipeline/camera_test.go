package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/count"
	"github.com/veil-gateway/veil/detect"
	"github.com/veil-gateway/veil/internal/testenv"
	"github.com/veil-gateway/veil/models"
	"github.com/veil-gateway/veil/pipeline"
	"github.com/veil-gateway/veil/transport/media"
)

// collector is a SampleWriter that keeps what it gets.
type collector struct {
	mu      sync.Mutex
	samples []media.Sample
}

func (c *collector) WriteSample(s media.Sample) {
	c.mu.Lock()
	c.samples = append(c.samples, s)
	c.mu.Unlock()
}

func (c *collector) get() []media.Sample {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]media.Sample(nil), c.samples...)
}

func cameraConfig(source string) pipeline.CameraConfig {
	return pipeline.CameraConfig{Name: "test", Source: source, Engine: fastConfig(), BitrateKbps: 800, MaxLatency: 2 * time.Second, Hold: 3}
}

// startCamera runs a camera until the test ends.
func startCamera(t *testing.T, cfg pipeline.CameraConfig) (*pipeline.Camera, *collector) {
	cam, out, _ := runCamera(t, cfg)
	return cam, out
}

// runCamera runs a camera until stop is called or the test ends.
func runCamera(t *testing.T, cfg pipeline.CameraConfig) (*pipeline.Camera, *collector, func()) {
	t.Helper()
	out := &collector{}
	cam, err := pipeline.NewCamera(cfg, models.Open(testenv.Models(t)), out, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cam.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("camera did not stop")
			}
			if s := cam.Status(); s.State != pipeline.StateStopped {
				t.Errorf("state after stop: %s", s.State)
			}
		})
	}
	t.Cleanup(stop)
	return cam, out, stop
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A file plays like a camera: paced at its frame rate, encoded from a
// keyframe on, with capture times and sequence numbers in order; a
// keyframe request is honoured.
func TestCameraStreams(t *testing.T) {
	cfg := cameraConfig(testenv.Data(t, "video/vtest.avi"))
	cfg.Width, cfg.Height = 384, 288
	cam, out := startCamera(t, cfg)
	waitFor(t, "10 samples", 30*time.Second, func() bool { return len(out.get()) >= 10 })
	n := len(out.get())
	cam.RequestKeyframe()
	waitFor(t, "samples after the keyframe request", 10*time.Second, func() bool { return len(out.get()) >= n+3 })
	got := out.get()
	if !got[0].Key {
		t.Error("the first sample must be a keyframe")
	}
	key := false
	for i, s := range got {
		if len(s.Data) == 0 || s.Duration <= 0 {
			t.Fatalf("sample %d empty: %+v", i, s)
		}
		if i > 0 && (s.Seq != got[i-1].Seq+1 || !s.Capture.After(got[i-1].Capture)) {
			t.Fatalf("sample %d out of order: seq %d after %d", i, s.Seq, got[i-1].Seq)
		}
		if i >= n && i <= n+1 && s.Key {
			key = true
		}
	}
	if !key {
		t.Error("no keyframe right after RequestKeyframe")
	}
	st := cam.Status()
	if st.State != pipeline.StateRunning || st.Width != 384 || st.Height != 288 || st.SourceFPS != 10 {
		t.Errorf("status: %+v", st)
	}
	if st.Captured < st.Encoded || st.Encoded < uint64(len(got)) {
		t.Errorf("counters: captured %d, encoded %d, samples %d", st.Captured, st.Encoded, len(got))
	}
	// Paced: 10 fps, so about as many frames captured as tenths of a second passed.
	if span := got[len(got)-1].Capture.Sub(got[0].Capture); span < time.Duration(len(got)-1)*90*time.Millisecond {
		t.Errorf("%d samples captured within %v: the file is not paced at 10 fps", len(got), span)
	}
}

// Fail closed: a frame redacted later than max latency is dropped, never
// sent.
func TestCameraDropsLateFrames(t *testing.T) {
	cfg := cameraConfig(testenv.Data(t, "video/vtest.avi"))
	cfg.Engine = pipeline.DefaultConfig() // ~1 s a frame on two cores
	cfg.MaxLatency = 50 * time.Millisecond
	cam, out := startCamera(t, cfg)
	waitFor(t, "late frames", 60*time.Second, func() bool { return cam.Status().Late >= 2 })
	if n := len(out.get()); n != 0 {
		t.Errorf("%d samples sent although every frame was late", n)
	}
	if st := cam.Status(); st.Encoded != 0 {
		t.Errorf("encoded %d late frames", st.Encoded)
	}
}

// A source that cannot be opened is retried with backoff; the camera says
// why, and stops cleanly.
func TestCameraRetriesMissingSource(t *testing.T) {
	cam, out := startCamera(t, cameraConfig("/nonexistent/cam.avi"))
	waitFor(t, "two reconnects", 10*time.Second, func() bool { return cam.Status().Reconnects >= 2 })
	st := cam.Status()
	if st.State != pipeline.StateReconnecting || !strings.Contains(st.Error, "/nonexistent/cam.avi") {
		t.Errorf("status: state %s, error %q", st.State, st.Error)
	}
	if len(out.get()) != 0 {
		t.Error("samples from a missing source")
	}
}

func TestRedactedSource(t *testing.T) {
	for in, want := range map[string]string{
		"rtsp://admin:hunter2@10.0.0.1/s":         "rtsp://admin:xxxxx@10.0.0.1/s",
		"rtsp://10.0.0.1/s":                       "rtsp://10.0.0.1/s",
		"http://cam/v.cgi?user=admin&pwd=hunter2": "http://cam/v.cgi?pwd=xxxxx&user=xxxxx",
		"demo":        "demo",
		"/dev/video0": "/dev/video0",
	} {
		if got := pipeline.Redacted(in); got != want {
			t.Errorf("Redacted(%q) = %q, want %q", in, got, want)
		}
	}
}

// Guard mode sends every frame at the camera's rate though detection is
// slower than the camera.
func TestCameraGuard(t *testing.T) {
	cfg := cameraConfig(testenv.Data(t, "video/vtest.avi"))
	cfg.Engine.FacePasses = []detect.Pass{{Zoom: 0}, {Zoom: 2, MaxTiles: 12}, {Zoom: 3, MaxTiles: 24}} // slower than 100 ms a frame, on ONNX Runtime too
	cfg.Guard = true
	cam, out := startCamera(t, cfg)
	waitFor(t, "40 samples", 60*time.Second, func() bool { return len(out.get()) >= 40 })
	st := cam.Status()
	t.Logf("guard: captured %d, encoded %d, dropped %d, masked %d, detection %.0f ms a frame", st.Captured, st.Encoded, st.Dropped, st.Masked, st.DetectMs)
	if st.DetectMs <= 100 {
		t.Errorf("detection took %.0f ms a frame: the test needs it slower than the 10 fps camera", st.DetectMs)
	}
	if st.Encoded < st.Captured*8/10 {
		t.Errorf("encoded %d of %d captured frames, want nearly all", st.Encoded, st.Captured)
	}
	if st.Masked > st.Encoded/2 {
		t.Errorf("%d of %d frames masked whole, want only those before the first detection", st.Masked, st.Encoded)
	}
	got := out.get()
	for i := 1; i < len(got); i++ {
		if got[i].Seq != got[i-1].Seq+1 {
			t.Fatalf("sample %d out of order", i)
		}
	}
}

// Guard mode fails closed: a detection result whose frame is older than
// twice max latency masks the frame whole.
func TestCameraGuardFailsClosed(t *testing.T) {
	cfg := cameraConfig(testenv.Data(t, "video/vtest.avi"))
	cfg.Guard = true
	cfg.Engine = pipeline.DefaultConfig()  // ~1 s a frame on two cores
	cfg.MaxLatency = 50 * time.Millisecond // far shorter than any detection
	cam, out := startCamera(t, cfg)
	waitFor(t, "20 samples", 60*time.Second, func() bool { return len(out.get()) >= 20 })
	if st := cam.Status(); st.Masked < st.Encoded-1 || st.Encoded == 0 {
		t.Errorf("masked %d of %d frames, want all (detection is always older than max latency)", st.Masked, st.Encoded)
	}
}

// Guard mode's detection cap: at most DetectFPS detections a second, while
// every frame is still sent.
func TestCameraGuardDetectFPS(t *testing.T) {
	cfg := cameraConfig(testenv.Data(t, "video/vtest.avi"))
	// A period (2.5 s) longer than max latency (2 s): frames between
	// scheduled detections are guarded, not masked whole as stale.
	cfg.Guard, cfg.DetectFPS, cfg.MaxLatency = true, 0.4, 2*time.Second
	cam, out := startCamera(t, cfg)
	waitFor(t, "a detection", 30*time.Second, func() bool { return cam.Status().Detections > 0 })
	n0 := len(out.get())
	s0, t0 := cam.Status(), time.Now()
	waitFor(t, "60 more samples", 30*time.Second, func() bool { return len(out.get()) >= n0+60 })
	s1, secs := cam.Status(), time.Since(t0).Seconds()
	dets := s1.Detections - s0.Detections
	t.Logf("%d detections, %d of %d frames masked whole, %.1f frames/s encoded over %.1f s", dets, s1.Masked-s0.Masked, s1.Encoded-s0.Encoded, float64(s1.Encoded-s0.Encoded)/secs, secs)
	if most := uint64(secs*cfg.DetectFPS) + 1; dets == 0 || dets > most {
		t.Errorf("%d detections in %.1f s, want some and at most %d", dets, secs, most)
	}
	if s1.Encoded-s0.Encoded < (s1.Captured-s0.Captured)*8/10 {
		t.Errorf("encoded %d of %d frames captured", s1.Encoded-s0.Encoded, s1.Captured-s0.Captured)
	}
	if masked := s1.Masked - s0.Masked; masked*10 > s1.Encoded-s0.Encoded {
		t.Errorf("%d of %d frames masked whole between scheduled detections, want under 10%%", masked, s1.Encoded-s0.Encoded)
	}
}

// stillClip writes a 10 fps clip of a real photo that holds still for 3 s
// (faint noise, as from a sensor), then, with cut, cuts to the photo
// mirrored for 3 s: two scene changes a loop.
func stillClip(t *testing.T, cut bool) string {
	t.Helper()
	src := gocv.IMRead(testenv.Data(t, "faces-dlib/images/2008_002079.jpg"), gocv.IMReadColor)
	if src.Empty() {
		t.Fatal("cannot read test image")
	}
	defer src.Close()
	mirrored, noise, f := gocv.NewMat(), gocv.NewMatWithSize(src.Rows(), src.Cols(), gocv.MatTypeCV8UC3), gocv.NewMat()
	defer mirrored.Close()
	defer noise.Close()
	defer f.Close()
	gocv.Flip(src, &mirrored, 1)
	clip := filepath.Join(t.TempDir(), "still.avi")
	w, err := gocv.VideoWriterFile(clip, "MJPG", 10, src.Cols(), src.Rows(), true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		gocv.RandN(&noise, gocv.NewScalar(0, 0, 0, 0), gocv.NewScalar(2, 2, 2, 0))
		if i < 30 || !cut {
			gocv.Add(src, noise, &f)
		} else {
			gocv.Add(mirrored, noise, &f)
		}
		w.Write(f)
	}
	w.Close()
	return clip
}

// afterDetection runs a camera until its first detection, then for n more
// samples, and returns its status at both points.
func afterDetection(t *testing.T, cfg pipeline.CameraConfig, n int) (s0, s1 pipeline.CameraStatus) {
	t.Helper()
	cam, out := startCamera(t, cfg)
	waitFor(t, "a detection", 30*time.Second, func() bool { return cam.Status().Detections > 0 })
	n0 := len(out.get())
	s0 = cam.Status()
	waitFor(t, fmt.Sprintf("%d more samples", n), 60*time.Second, func() bool { return len(out.get()) >= n0+n })
	return s0, cam.Status()
}

// Guard mode's motion gate: a frame in which no block changed since the
// frame detection last ran on is not detected again (the result stands), so
// a still scene costs no detection; each cut to another scene is detected.
func TestCameraGuardMotionGate(t *testing.T) {
	cfg := cameraConfig(stillClip(t, true))
	cfg.Guard = true
	s0, s1 := afterDetection(t, cfg, 130)
	dets, skipped, frames := s1.Detections-s0.Detections, s1.DetectSkipped-s0.DetectSkipped, s1.Encoded-s0.Encoded
	t.Logf("%d frames: %d detections, %d skipped by the gate, %d masked whole", frames, dets, skipped, s1.Masked-s0.Masked)
	// 13 s of the clip hold 4 cuts; each is detected once or a few times
	// while the detector catches up. Uncapped, without the gate, detection
	// would run back to back: over 60 times.
	if dets < 4 || dets > 20 {
		t.Errorf("%d detections in %d frames with 4 cuts, want 4-20", dets, frames)
	}
	if skipped < frames/2 {
		t.Errorf("the gate skipped %d of %d frames, want most", skipped, frames)
	}
	if masked := s1.Masked - s0.Masked; masked*10 > frames {
		t.Errorf("%d of %d frames masked whole, want under 10%%", masked, frames)
	}
}

// The motion gate's bound: on a scene that never changes, detection still
// runs every GuardRecheck.
func TestCameraGuardRecheck(t *testing.T) {
	cfg := cameraConfig(stillClip(t, false))
	cfg.Guard, cfg.GuardRecheck = true, time.Second
	s0, s1 := afterDetection(t, cfg, 50)
	dets, frames := s1.Detections-s0.Detections, s1.Encoded-s0.Encoded
	t.Logf("%d frames of a still scene: %d detections, %d skipped", frames, dets, s1.DetectSkipped-s0.DetectSkipped)
	if dets < 3 || dets > 8 {
		t.Errorf("%d detections in %d frames (%.1f s) with a 1 s recheck, want 3-8", dets, frames, float64(frames)/10)
	}
}

// Guard mode with counting at its own rate: detection (faces, plates) runs
// at the capped DetectFPS while counting's detector runs alone at Count.FPS
// between detections (one look at the whole frame), so walkers are followed
// (tracks confirmed, which needs three sightings) although a detection comes
// only every 5 s.
func TestCameraGuardCountFPS(t *testing.T) {
	gt := testenv.ReadLineTruth(t)
	cfg := cameraConfig(testenv.Data(t, gt.Clip))
	passes, _ := pipeline.ParsePasses("0,1:15")
	cfg.Guard, cfg.DetectFPS = true, 0.2
	cfg.Count = &pipeline.CountConfig{Every: 1, Threshold: 0.3, Passes: passes, FPS: 4, Lines: []count.Line{gt.CountLine()}}
	cam, out := startCamera(t, cfg)
	waitFor(t, "a detection", 30*time.Second, func() bool { return cam.Status().Detections > 0 })
	n0 := len(out.get())
	s0, t0 := cam.Status(), time.Now()
	people := 0
	waitFor(t, "80 more samples", 30*time.Second, func() bool {
		if snap, ok := cam.Counts(); ok {
			people = max(people, snap.Objects["person"])
		}
		return len(out.get()) >= n0+80
	})
	s1, secs := cam.Status(), time.Since(t0).Seconds()
	dets, runs := s1.Detections-s0.Detections, s1.CountRuns-s0.CountRuns
	t.Logf("%.1f s: %d detections, %d runs of counting alone, up to %d people in view, %d of %d frames masked whole", secs, dets, runs, people, s1.Masked-s0.Masked, s1.Encoded-s0.Encoded)
	if most := uint64(secs*cfg.DetectFPS) + 1; dets > most {
		t.Errorf("%d detections in %.1f s, want at most %d", dets, secs, most)
	}
	if least, most := uint64(secs*cfg.Count.FPS/2), uint64(secs*cfg.Count.FPS)+1; runs < least || runs > most {
		t.Errorf("counting ran alone %d times in %.1f s, want %d-%d (at most %v a second)", runs, secs, least, most, cfg.Count.FPS)
	}
	if people == 0 {
		t.Error("no person confirmed in view: counting did not follow the walkers between detections")
	}
	if masked := s1.Masked - s0.Masked; masked*10 > s1.Encoded-s0.Encoded {
		t.Errorf("%d of %d frames masked whole, want under 10%%", masked, s1.Encoded-s0.Encoded)
	}
}
