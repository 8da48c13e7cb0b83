package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/veil-gateway/veil/bench"
	"github.com/veil-gateway/veil/config"
	"github.com/veil-gateway/veil/detect"
	"github.com/veil-gateway/veil/internal/cvthreads"
	"github.com/veil-gateway/veil/internal/testenv"
	"github.com/veil-gateway/veil/models"
	"github.com/veil-gateway/veil/pipeline"
)

// shortClip copies the first frames of vtest.avi into a clip.
func shortClip(t *testing.T, frames int) string {
	t.Helper()
	clip := filepath.Join(t.TempDir(), "short.avi")
	if b, err := exec.Command("ffmpeg", "-loglevel", "error", "-nostdin", "-i", testenv.Data(t, "video/vtest.avi"), "-frames:v", strconv.Itoa(frames), "-c", "copy", clip).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, b)
	}
	return clip
}

// engines are the live preset without plates (quick) and its naive
// counterpart (faces at native resolution).
func engines() (eng, naive pipeline.Config) {
	eng, _ = config.Preset("live")
	eng.Plates = false
	naive = eng
	naive.FacePasses = []detect.Pass{{Zoom: 1}}
	return eng, naive
}

// TestBenchRounds: with Rounds every mode repeats in turn (schedule, which
// measures recall, would run once), and each ratio is the median of the
// rounds' own.
func TestBenchRounds(t *testing.T) {
	clip := shortClip(t, 20)
	eng, naive := engines()
	def, before := defaultThreads()
	rep, err := bench.Do(context.Background(), bench.Options{
		Clips: []bench.Clip{{Name: "short", Path: clip}}, Modes: []string{bench.PassThrough, bench.Naive, bench.Veil, bench.Stride, bench.LivePass, bench.Guard},
		Frames: 3, Rounds: 3, WarmUp: 1, LiveFor: time.Second, Engine: eng, NaiveEng: naive, Hold: 3, Bitrate: 1000, MaxLateMs: 5000,
		DetectFPS: 2, Store: models.Open(testenv.Models(t)), Log: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	checkThreads(t, rep, 2, def, before)
	var got []string
	for _, r := range rep.Runs {
		got = append(got, fmt.Sprintf("%s#%d", r.Mode, r.Round))
	}
	var want []string
	for round := 1; round <= 3; round++ {
		for _, m := range []string{"passthrough", "naive", "veil", "stride", "livepass", "guard"} {
			want = append(want, fmt.Sprintf("%s#%d", m, round))
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("runs %v, want %v", got, want)
	}
	q := rep.Ratios[0]
	if len(q.VeilOverNaiveRounds) != 3 {
		t.Fatalf("rounds' ratios %v, want 3", q.VeilOverNaiveRounds)
	}
	naives := []int{1, 7, 13}
	for i, v := range q.VeilOverNaiveRounds {
		if want := rep.Runs[[]int{2, 8, 14}[i]].FPS / rep.Runs[naives[i]].FPS; v != want || v <= 0 {
			t.Errorf("round %d: veil/naive %v, want %v", i+1, v, want)
		}
	}
	if len(q.StrideOverNaiveRounds) != 3 || q.StrideEvery != 3 {
		t.Fatalf("stride every %d, rounds' ratios %v, want every 3 and 3 ratios", q.StrideEvery, q.StrideOverNaiveRounds)
	}
	for i, v := range q.StrideOverNaiveRounds {
		if want := rep.Runs[[]int{3, 9, 15}[i]].FPS / rep.Runs[naives[i]].FPS; v != want || v <= 0 {
			t.Errorf("round %d: stride/naive %v, want %v", i+1, v, want)
		}
	}
	if m := slices.Sorted(slices.Values(q.VeilOverNaiveRounds))[1]; q.VeilOverNaiveFPS != m {
		t.Errorf("veil/naive %v, want the rounds' median %v", q.VeilOverNaiveFPS, m)
	}
	if q.GuardFPS <= 0 || q.GuardCPUOverPassThru <= 0 {
		t.Errorf("guard ratios missing: %+v", q)
	}
	// The guard's CPU against each pass-through, round by round (runs 0, 4,
	// 5 of each round of six), and their medians.
	if len(q.GuardCPUOverPassThruRounds) != 3 || len(q.GuardCPUOverLivePassRounds) != 3 {
		t.Fatalf("guard's rounds: %v and %v, want 3 each", q.GuardCPUOverPassThruRounds, q.GuardCPUOverLivePassRounds)
	}
	var lpCPU []float64
	for i := range 3 {
		pt, lp, g := rep.Runs[6*i], rep.Runs[6*i+4], rep.Runs[6*i+5]
		if got, want := q.GuardCPUOverPassThruRounds[i], g.CPUMsFrame/pt.CPUMsFrame; got != want || got <= 0 {
			t.Errorf("round %d: guard/pass-through %v, want %v", i+1, got, want)
		}
		if got, want := q.GuardCPUOverLivePassRounds[i], g.CPUMsFrame/lp.CPUMsFrame; got != want || got <= 0 {
			t.Errorf("round %d: guard/live pass-through %v, want %v", i+1, got, want)
		}
		lpCPU = append(lpCPU, lp.CPUMsFrame)
		// The guard's window ends at a detection's result once LiveFor has
		// passed (DetectFPS 2: one every half second), so it holds whole
		// detections; the live pass-through's ends on the timer.
		if g.WindowEnd != "detection" || g.Seconds < 1 || g.Detections < 1 {
			t.Errorf("round %d: the guard's window ended at %q after %.2f s and %d detections, want at a detection's result, past 1 s", i+1, g.WindowEnd, g.Seconds, g.Detections)
		}
		if lp.WindowEnd != "" {
			t.Errorf("round %d: the live pass-through's window ended at %q, want on the timer", i+1, lp.WindowEnd)
		}
	}
	if m := slices.Sorted(slices.Values(q.GuardCPUOverLivePassRounds))[1]; q.GuardCPUOverLivePass != m {
		t.Errorf("guard/live pass-through %v, want the rounds' median %v", q.GuardCPUOverLivePass, m)
	}
	if m := slices.Sorted(slices.Values(q.GuardCPUOverPassThruRounds))[1]; q.GuardCPUOverPassThru != m {
		t.Errorf("guard/pass-through %v, want the rounds' median %v", q.GuardCPUOverPassThru, m)
	}
	if m := slices.Sorted(slices.Values(lpCPU))[1]; q.LivePassCPUMsFrame != m {
		t.Errorf("live pass-through CPU %v, want the rounds' median %v", q.LivePassCPUMsFrame, m)
	}
}

// TestBenchReport runs every mode briefly on a real clip and checks the
// report holds what researchers need: per-stage distributions, fps, CPU,
// RSS, drops, ratios, and plots.
func TestBenchReport(t *testing.T) {
	clip := shortClip(t, 40)
	eng, naive := engines()
	// Both count, as the gateway does; naive with every native tile.
	count := &pipeline.CountConfig{Threshold: 0.4, Passes: []detect.Pass{{}}}
	naiveCount := &pipeline.CountConfig{Threshold: 0.4, Passes: []detect.Pass{{Zoom: 1}}}
	var progress bytes.Buffer
	def, before := defaultThreads()
	rep, err := bench.Do(context.Background(), bench.Options{
		Clips: []bench.Clip{{Name: "short", Path: clip}}, Modes: []string{bench.PassThrough, bench.Naive, bench.Veil, bench.Stride, bench.Live, bench.LivePass, bench.Guard, bench.Sched},
		Frames: 4, WarmUp: 1, Stride: 2, LiveFor: 2 * time.Second, Engine: eng, NaiveEng: naive, Count: count, NaiveCount: naiveCount, Hold: 3, Bitrate: 1000, MaxLateMs: 5000,
		Store: models.Open(testenv.Models(t)), Log: slog.New(slog.DiscardHandler), Progress: &progress,
		Reuses: []detect.Reuse{{Threshold: 10, MaxAge: 15}}, GuardThreshold: 10, GuardLags: []int{2, 3, 4},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 7 || len(rep.Ratios) != 1 {
		t.Fatalf("runs %d, ratios %d", len(rep.Runs), len(rep.Ratios))
	}
	// Schedule rows: every 1-4 frames with the hold, tile reuse, the guard
	// at the three lags asked for, every 2-4 frames with the guard between
	// (stride); each compared with detection on every frame.
	if len(rep.Schedule) != 11 {
		t.Fatalf("schedule rows %d, want 11: %+v", len(rep.Schedule), rep.Schedule)
	}
	for i, s := range rep.Schedule {
		if s.Regions == 0 || s.Recall <= 0 || s.Recall > 1 || (i == 0 && s.Recall != 1) {
			t.Errorf("schedule row %d: %+v", i, s)
		}
	}
	if r := rep.Schedule[4]; r.Reuse == nil || r.Tiles.Run == 0 {
		t.Errorf("reuse row: %+v", r)
	}
	if g := rep.Schedule[7]; g.GuardLag != 4 || g.MaskedShare <= 0 || g.MaskedShare > 1 {
		t.Errorf("guard row: %+v", g)
	}
	for i, g := range rep.Schedule[8:] {
		if !g.Stride || g.Every != i+2 || g.MaskedShare <= 0 || g.MaskedShare > 1 || g.Detected != (g.Frames+g.Every-1)/g.Every {
			t.Errorf("stride row: %+v", g)
		}
	}
	for _, r := range rep.Runs {
		if r.Frames == 0 || r.FPS <= 0 || r.CPUMsFrame <= 0 || r.RSSEndMB <= 0 || r.EndToEnd.P99 <= 0 || r.Width != 768 {
			t.Errorf("%s: incomplete run %+v", r.Mode, r)
		}
		if _, ok := r.Stages["encode"]; !ok {
			t.Errorf("%s: no encode stage", r.Mode)
		}
		if _, ok := r.Stages["count"]; ok != (r.Mode == bench.Naive || r.Mode == bench.Veil || r.Mode == bench.Stride || r.Mode == bench.Live) {
			t.Errorf("%s: count stage present = %v", r.Mode, ok)
		}
		// The naive loop is one goroutine: its stages add up to no more
		// than a frame's time (side by side, they would overlap).
		if r.Mode == bench.Naive {
			var sum float64
			for _, d := range r.Stages {
				sum += d.Mean
			}
			if sum > r.EndToEnd.Mean*1.02 {
				t.Errorf("naive: stages sum to %.1f ms a frame, more than the %.1f ms a frame took: they overlapped", sum, r.EndToEnd.Mean)
			}
		}
		// Guard mode detects beside the frame path: no faces stage per frame.
		if _, ok := r.Stages["faces"]; ok != (r.Mode != bench.PassThrough && r.Mode != bench.LivePass && r.Mode != bench.Guard) {
			t.Errorf("%s: faces stage present = %v", r.Mode, ok)
		}
	}
	checkThreads(t, rep, 0, def, before)
	// Stride 2 over frames 1-4 (frame 0 warms up): frames 2 and 4 detected,
	// 1 and 3 redacted from them with what moved since masked.
	if st := rep.Runs[3]; st.Mode != bench.Stride || st.Stride != 2 || st.Detections != 2 || st.Stages["faces"].N != 2 || st.Stages["track"].N != 4 ||
		st.GuardedShare <= 0 || st.GuardedShare > 0.5 {
		t.Errorf("stride run: %+v", st)
	}
	// Live runs measure from the first encoded frame, guard runs from the
	// first detection's result: the time before is reported, not measured.
	for i, mode := range map[int]string{4: bench.Live, 6: bench.Guard} {
		if r := rep.Runs[i]; r.Mode != mode || r.WarmUpS <= 0 || r.WarmUpS > 30 {
			t.Errorf("run %d (%s, want %s): warm-up %v s", i, r.Mode, mode, r.WarmUpS)
		}
	}
	// From the first result on, no frame is masked whole (detections are
	// well within the 5 s max latency here).
	if g := rep.Runs[6]; g.Masked != 0 {
		t.Errorf("guard run: %d frames masked whole after the first result", g.Masked)
	}
	// The live pass-through is paced at the clip's 10 fps (two seconds of
	// it), decodes and encodes every frame (at no less than half the CPU
	// the pass-through run spends on a frame back to back) and detects
	// nothing; the guard costs more per frame.
	lp := rep.Runs[5]
	if lp.Mode != bench.LivePass || lp.SourceFPS != 10 || lp.FPS < 8 || lp.FPS > 12 || lp.Frames < 16 || lp.Frames > 24 || lp.Dropped != 0 ||
		lp.Stages["decode"].Mean <= 0 || lp.Stages["encode"].Mean <= 0 || lp.CPUMsFrame < rep.Runs[0].CPUMsFrame/2 {
		t.Errorf("live pass-through run: %+v", lp)
	}
	q := rep.Ratios[0]
	if q.LivePassCPUMsFrame != lp.CPUMsFrame || q.GuardCPUOverLivePass <= 1 || q.GuardCPUOverLivePass != rep.Runs[6].CPUMsFrame/lp.CPUMsFrame {
		t.Errorf("guard over live pass-through: %+v", q)
	}
	if q.StrideEvery != 2 || q.StrideOverNaiveFPS <= 0 || q.StrideArea != rep.Runs[3].GuardedShare {
		t.Errorf("stride ratios: %+v", q)
	}
	if q.VeilOverNaiveFPS <= 0 || q.VeilCPUOverPassThru <= 1 || q.LiveSourceFPS != 10 || q.GuardFPS <= 0 || q.GuardArea <= 0 || q.GuardArea > 1 || q.GuardCPUOverPassThru <= 1 {
		t.Errorf("ratios %+v", q)
	}
	var table, js bytes.Buffer
	if err := rep.WriteTable(&table); err != nil || !strings.Contains(table.String(), "veil/naive") {
		t.Errorf("table: %v\n%s", err, table.String())
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back["schema"] != "veil.bench/v1" {
		t.Errorf("JSON: %v", err)
	}
	files, err := rep.WritePlots(t.TempDir())
	if err != nil || len(files) != 4 {
		t.Fatalf("plots %v: %v", files, err)
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if !bytes.HasPrefix(b, []byte("<svg")) || !bytes.HasSuffix(b, []byte("</svg>")) {
			t.Errorf("%s is not an SVG", f)
		}
	}
	t.Logf("\n%s", table.String())
}

// defaultThreads returns OpenCV's default thread count, and sets another,
// as a caller might have, for each run to replace and Do to restore.
func defaultThreads() (def, before int) {
	cvthreads.Set(cvthreads.Default)
	def = cvthreads.Get()
	before = def + 5
	cvthreads.Set(before)
	return def, before
}

// checkThreads: every run had the threads veil serve would give it
// without opencv_threads (one for guard runs capped by detectFPS and the
// live pass-through they are measured against, OpenCV's default def for
// the rest), and Do left them as it found them (before).
func checkThreads(t *testing.T, rep *bench.Report, detectFPS float64, def, before int) {
	t.Helper()
	defer cvthreads.Set(cvthreads.Default)
	for _, r := range rep.Runs {
		want := def
		if (r.Mode == bench.Guard || r.Mode == bench.LivePass) && detectFPS > 0 {
			want = 1
		}
		if r.OpenCVThreads != want {
			t.Errorf("%s run (round %d): %d OpenCV threads, want %d", r.Mode, r.Round, r.OpenCVThreads, want)
		}
	}
	if got := cvthreads.Get(); got != before {
		t.Errorf("after the bench: %d OpenCV threads, want %d as before it", got, before)
	}
}
