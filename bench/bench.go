// Package bench measures Veil on real clips, stage by stage, against two
// baselines measured in the same run on the same machine: the naive loop
// (the same detectors on every frame at full resolution, one goroutine)
// and pass-through (decode and encode only). Every figure that matters is
// a ratio between runs of one invocation, never a number compared with a
// constant from another machine.
package bench

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/detect"
	"github.com/veil-gateway/veil/internal/cvthreads"
	"github.com/veil-gateway/veil/models"
	"github.com/veil-gateway/veil/pipeline"
	"github.com/veil-gateway/veil/redact"
	"github.com/veil-gateway/veil/track"
	"github.com/veil-gateway/veil/transport/media"
)

// Modes.
const (
	PassThrough = "passthrough" // decode -> encode
	Naive       = "naive"       // decode -> count -> detect (full resolution, every frame) -> redact -> encode, one goroutine
	Veil        = "veil"        // decode || detect -> hold -> redact || encode, as fast as frames decode
	Live        = "live"        // the live camera, paced at the clip's rate: drops and capture-to-sample latency
	LivePass    = "livepass"    // the live frame path with no detection: capture paced at the clip's rate -> encode (the live runs' CPU baseline)
	Guard       = "guard"       // the live camera in guard mode: detection beside the frame path (pipeline.Guard)
	Stride      = "stride"      // veil detecting every Nth frame only, the frames between redacted as the guard does (pipeline.Stride)
	Sched       = "schedule"    // recall cost of detecting every Nth frame only (hold in between)
)

// Clip is one input.
type Clip struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

// Options choose what to run.
type Options struct {
	Clips  []Clip
	Modes  []string
	Frames int // most frames per throughput run
	// Rounds repeats the runs of each clip (every mode but schedule), one
	// after another in turn, so a slower spell of the machine falls on
	// every mode alike; the ratios are the medians of the rounds'. 0 or 1:
	// one round.
	Rounds   int
	LiveFor  time.Duration // length of a live run
	Engine   pipeline.Config
	NaiveEng pipeline.Config
	Count    *pipeline.CountConfig // counting in the veil and live runs (nil: off)
	// NaiveCount is counting in the naive run: the same people and vehicle
	// detector at full resolution, every tile, no reuse (nil: off).
	NaiveCount *pipeline.CountConfig
	Hold       int
	Bitrate    int
	Store      *models.Store
	Log        *slog.Logger
	Progress   io.Writer // one line per finished run; may be nil
	LiveFPS    float64   // pace live runs at this rate (0: the clip's)
	WarmUp     int       // frames run before measuring a throughput run
	MaxLateMs  int       // live: max latency before a frame is dropped
	// Schedule mode: tile-reuse settings whose recall is measured against
	// running every tile on every frame.
	Reuses []detect.Reuse
	// GuardLags are the lags, in frames, at which schedule mode measures
	// the guard (nil: 3, 6 and 12).
	GuardLags []int
	// GuardThreshold is the live guard's change threshold (grey levels).
	GuardThreshold float64
	// DetectFPS caps detections per second in guard runs (0: no cap).
	DetectFPS float64
	// Stride: the stride run detects every Stride-th frame (0: 3).
	Stride int
	// OpenCVThreads: threads per OpenCV parallel loop in every run (0: as
	// veil serve chooses without opencv_threads, threadsFor; -1: OpenCV's
	// default).
	OpenCVThreads int
}

// Dist summarises durations in milliseconds.
type Dist struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean_ms"`
	P50  float64 `json:"p50_ms"`
	P95  float64 `json:"p95_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
}

func dist(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	ms := make([]float64, len(ds))
	sum := 0.0
	for i, d := range ds {
		ms[i] = float64(d) / float64(time.Millisecond)
		sum += ms[i]
	}
	slices.Sort(ms)
	q := func(p float64) float64 { return ms[min(len(ms)-1, int(math.Ceil(p*float64(len(ms))))-1)] }
	return Dist{N: len(ms), Mean: sum / float64(len(ms)), P50: q(0.50), P95: q(0.95), P99: q(0.99), Max: ms[len(ms)-1]}
}

// Stages, in the order a frame goes through them.
var Stages = []string{"decode", "queue", "count", "faces", "plates", "track", "redact", "encode"}

// Run is one clip in one mode.
type Run struct {
	Clip             string          `json:"clip"`
	Mode             string          `json:"mode"`
	Round            int             `json:"round,omitempty"` // with -rounds: which round
	Width            int             `json:"width"`
	Height           int             `json:"height"`
	SourceFPS        float64         `json:"source_fps"`
	Frames           int             `json:"frames"`                       // processed to an encoded sample
	Dropped          int             `json:"frames_dropped"`               // live: replaced while the detector was busy, or late
	Masked           int             `json:"frames_masked"`                // live: sent masked whole (fail closed)
	DetectMs         float64         `json:"detect_ms"`                    // live: detection per detected frame, wall time, counting included (moving average)
	Detections       int             `json:"detections,omitempty"`         // frames detection ran on (all but in stride runs; live: as many as it could)
	DetectSkipped    int             `json:"detections_skipped,omitempty"` // guard: frames the motion gate passed on the last result (nothing changed)
	CountRuns        int             `json:"count_runs,omitempty"`         // guard with -count-fps: counting's detector run alone, between detections
	GuardedShare     float64         `json:"guard_masked_area,omitempty"`  // guard, stride: mean share of each frame the guard masked
	Stride           int             `json:"stride,omitempty"`             // stride: detection ran on every Nth frame
	Seconds          float64         `json:"seconds"`
	WarmUpS          float64         `json:"warm_up_s,omitempty"`  // live and guard runs: from start to the first encoded frame, in guard runs to the first detection's result (not measured)
	WindowEnd        string          `json:"window_end,omitempty"` // guard runs: "detection" (the window ended at a detection's result, past -live) or "timer" (none came in time)
	FPS              float64         `json:"fps"`
	CPUMsFrame       float64         `json:"cpu_ms_per_frame"` // user+system CPU of the process per processed frame
	RSSStartMB       float64         `json:"rss_start_mb"`
	RSSEndMB         float64         `json:"rss_end_mb"`
	PeakRSSMB        float64         `json:"peak_rss_mb"` // of the process so far
	Stages           map[string]Dist `json:"stages"`
	EndToEnd         Dist            `json:"end_to_end"` // decode start to encoded sample
	Histogram        []int           `json:"latency_histogram_10ms,omitempty"`
	OpenCVThreadsEnv string          `json:"opencv_threads_env"` // OPENCV_FOR_THREADS_NUM as set ("": unset)
	OpenCVThreads    int             `json:"opencv_threads"`     // threads per OpenCV parallel loop during the run (cv::getNumThreads)
	// Live runs: RSS and Go heap every 30 s, to tell warm-up from a leak.
	RSSSamplesMB  []float64 `json:"rss_samples_mb,omitempty"`
	HeapSamplesMB []float64 `json:"go_heap_samples_mb,omitempty"`
}

// Ratio compares runs of one clip.
type Ratio struct {
	Clip                  string    `json:"clip"`
	VeilOverNaiveFPS      float64   `json:"veil_over_naive_fps"`                  // >= 3 is the target
	VeilOverNaiveRounds   []float64 `json:"veil_over_naive_fps_rounds,omitempty"` // with Rounds: each round's (the figure above is their median)
	VeilCPUOverPassThru   float64   `json:"veil_cpu_over_passthrough"`            // <= 2 is the target
	StrideEvery           int       `json:"stride_every,omitempty"`               // the stride run detected every Nth frame
	StrideOverNaiveFPS    float64   `json:"stride_over_naive_fps,omitempty"`
	StrideOverNaiveRounds []float64 `json:"stride_over_naive_fps_rounds,omitempty"`
	StrideArea            float64   `json:"stride_masked_area,omitempty"`  // mean share of each frame the stride run's guard masked (with rounds: the median)
	LiveDropShare         float64   `json:"live_dropped_share,omitempty"`  // 0 is the target
	LiveP99Ms             float64   `json:"live_capture_to_sample_p99_ms"` // <= 100 is the target
	LiveFPS               float64   `json:"live_fps,omitempty"`            // the clip's rate is the target
	LiveSourceFPS         float64   `json:"live_source_fps,omitempty"`     //
	GuardDropShare        float64   `json:"guard_dropped_share,omitempty"`
	GuardP99Ms            float64   `json:"guard_capture_to_sample_p99_ms,omitempty"`
	GuardFPS              float64   `json:"guard_fps,omitempty"`
	GuardMasked           float64   `json:"guard_masked_share,omitempty"`         // frames masked whole (no detection result yet, or too old)
	GuardArea             float64   `json:"guard_masked_area,omitempty"`          // mean share of each frame the guard masked (whole frames count 1)
	GuardCPUOverPassThru  float64   `json:"guard_cpu_over_passthrough,omitempty"` // <= 2 is the target (with -rounds: the rounds' median)
	// GuardCPUOverLivePass is the guard's CPU per frame over the live
	// pass-through's (livepass mode: frames at the clip's pace, as the
	// guard's, not back to back), when that mode ran.
	GuardCPUOverLivePass       float64   `json:"guard_cpu_over_live_passthrough,omitempty"` // <= 2 is the target (with -rounds: the rounds' median)
	GuardCPUOverPassThruRounds []float64 `json:"guard_cpu_over_passthrough_rounds,omitempty"`
	GuardCPUOverLivePassRounds []float64 `json:"guard_cpu_over_live_passthrough_rounds,omitempty"`
	LivePassCPUMsFrame         float64   `json:"live_passthrough_cpu_ms_per_frame,omitempty"` // with -rounds: the rounds' median
	NaiveOverPassThru          float64   `json:"naive_cpu_over_passthrough"`
	PassThroughFPS             float64   `json:"passthrough_fps"`
}

// Report is one invocation of veil bench (schema: bench/README.md).
type Report struct {
	Schema   string     `json:"schema"` // "veil.bench/v1"
	Version  string     `json:"version"`
	Time     time.Time  `json:"time"`
	Host     Host       `json:"host"`
	DNN      string     `json:"dnn"` // the detectors' inference engine in every run: onnxruntime or opencv
	Runs     []Run      `json:"runs"`
	Ratios   []Ratio    `json:"ratios"`
	Schedule []Schedule `json:"schedule,omitempty"`
}

// Host is the machine the numbers belong to.
type Host struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	GoMax    int    `json:"gomaxprocs"`
}

// threadsFor is the OpenCV thread count a run in mode has: set, when set
// (-1: OpenCV's default); else what veil serve gives a camera of its kind
// (pipeline.CVThreadsFor): a guard run's, and the live pass-through's it is
// measured against, as a guard camera capped by detectFPS; OpenCV's default
// for the rest (a sync camera's, veil redact's).
func threadsFor(mode string, set int, detectFPS float64) int {
	if set != 0 {
		return set
	}
	if mode == Guard || mode == LivePass {
		return pipeline.CVThreadsFor(true, detectFPS)
	}
	return cvthreads.Default
}

// Do runs every clip in every mode.
func Do(ctx context.Context, o Options) (*Report, error) {
	rep := &Report{Schema: "veil.bench/v1", Time: time.Now().UTC(), Host: host()}
	// One engine for every run, resolved once: "auto" could not then
	// differ between runs.
	dnn, why, err := pipeline.ChooseDNN(o.Engine.DNN, o.Store)
	if err != nil {
		return nil, err
	}
	if why != nil && o.Log != nil {
		o.Log.Warn("detectors on OpenCV: ONNX Runtime unavailable", "err", why)
	}
	rep.DNN = dnn.String()
	o.Engine.DNN, o.NaiveEng.DNN = rep.DNN, rep.DNN
	defer cvthreads.Set(cvthreads.Get()) // each run sets its own; leave the count as found
	rounds := max(o.Rounds, 1)
	for _, clip := range o.Clips {
		for round := 1; round <= rounds; round++ {
			for _, mode := range o.Modes {
				if round > 1 && !repeated(mode) {
					continue
				}
				cvthreads.Set(threadsFor(mode, o.OpenCVThreads, o.DetectFPS))
				r, err := doRun(ctx, clip, mode, o, rep)
				if err != nil {
					return nil, fmt.Errorf("bench %s %s: %w", clip.Name, mode, err)
				}
				if r == nil {
					continue
				}
				if rounds > 1 {
					r.Round = round
				}
				r.OpenCVThreads = cvthreads.Get()
				rep.Runs = append(rep.Runs, *r)
				if o.Progress != nil {
					fmt.Fprintf(o.Progress, "%-10s %-11s %6.1f fps  %5d frames  p99 %7.1f ms\n", r.Clip, r.Mode, r.FPS, r.Frames, r.EndToEnd.P99)
				}
			}
		}
		rep.Ratios = append(rep.Ratios, ratios(clip.Name, rep.Runs))
	}
	return rep, nil
}

// doRun measures one clip in one mode; schedule mode adds its rows to rep
// and returns no run.
func doRun(ctx context.Context, clip Clip, mode string, o Options, rep *Report) (*Run, error) {
	var r Run
	var err error
	switch mode {
	case Sched:
		sc, err := MeasureSchedule(ctx, clip, o.Engine, o, min(o.Frames*3, 300), 4, o.Reuses)
		if err != nil {
			return nil, err
		}
		rep.Schedule = append(rep.Schedule, sc...)
		return nil, nil
	case Live, Guard:
		r, err = live(ctx, clip, mode, o)
	case LivePass:
		r, err = livePass(ctx, clip, o)
	case PassThrough, Naive, Veil, Stride:
		r, err = throughput(ctx, clip, mode, o)
	default:
		return nil, fmt.Errorf("unknown mode %q", mode)
	}
	return &r, err
}

func ratios(clip string, runs []Run) Ratio {
	by := map[string]Run{}
	var order []int                    // rounds, in the order run
	rounds := map[int]map[string]Run{} // runs by round
	for _, r := range runs {
		if r.Clip != clip {
			continue
		}
		by[r.Mode] = r
		if repeated(r.Mode) {
			if rounds[r.Round] == nil {
				rounds[r.Round] = map[string]Run{}
				order = append(order, r.Round)
			}
			rounds[r.Round][r.Mode] = r
		}
	}
	div := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	// Each ratio compares runs of one round; over rounds, the median.
	var vn, vp, np, pf, pc, sn, sa, gp, gl, lc []float64
	for _, k := range order {
		m := rounds[k]
		if g, ok := m[Guard]; ok {
			if pt, ok := m[PassThrough]; ok {
				gp = append(gp, div(g.CPUMsFrame, pt.CPUMsFrame))
			}
			if lp, ok := m[LivePass]; ok {
				gl = append(gl, div(g.CPUMsFrame, lp.CPUMsFrame))
			}
		}
		if lp, ok := m[LivePass]; ok {
			lc = append(lc, lp.CPUMsFrame)
		}
		if !slices.ContainsFunc([]string{PassThrough, Naive, Veil, Stride}, func(mode string) bool { _, ok := m[mode]; return ok }) {
			continue // the throughput ratios need a throughput run
		}
		vn = append(vn, div(m[Veil].FPS, m[Naive].FPS))
		if st, ok := m[Stride]; ok {
			sn = append(sn, div(st.FPS, m[Naive].FPS))
			sa = append(sa, st.GuardedShare)
		}
		vp = append(vp, div(m[Veil].CPUMsFrame, m[PassThrough].CPUMsFrame))
		np = append(np, div(m[Naive].CPUMsFrame, m[PassThrough].CPUMsFrame))
		pf = append(pf, m[PassThrough].FPS)
		pc = append(pc, m[PassThrough].CPUMsFrame)
	}
	r := Ratio{Clip: clip, VeilOverNaiveFPS: median(vn), VeilCPUOverPassThru: median(vp), NaiveOverPassThru: median(np), PassThroughFPS: median(pf)}
	if len(order) > 1 {
		r.VeilOverNaiveRounds = vn
	}
	if st, ok := by[Stride]; ok {
		r.StrideEvery, r.StrideOverNaiveFPS, r.StrideArea = st.Stride, median(sn), median(sa)
		if len(sn) > 1 {
			r.StrideOverNaiveRounds = sn
		}
	}
	if l, ok := by[Live]; ok {
		r.LiveDropShare = div(float64(l.Dropped), float64(l.Dropped+l.Frames))
		r.LiveP99Ms, r.LiveFPS, r.LiveSourceFPS = l.EndToEnd.P99, l.FPS, l.SourceFPS
	}
	if g, ok := by[Guard]; ok {
		r.GuardDropShare = div(float64(g.Dropped), float64(g.Dropped+g.Frames))
		r.GuardP99Ms, r.GuardFPS, r.LiveSourceFPS = g.EndToEnd.P99, g.FPS, g.SourceFPS
		r.GuardMasked = div(float64(g.Masked), float64(g.Frames))
		r.GuardArea = g.GuardedShare
		// With rounds, the CPU ratios are the rounds' medians; the other
		// figures are the last round's.
		r.GuardCPUOverPassThru, r.GuardCPUOverLivePass = median(gp), median(gl)
		if len(order) > 1 {
			r.GuardCPUOverPassThruRounds, r.GuardCPUOverLivePassRounds = gp, gl
		}
	}
	r.LivePassCPUMsFrame = median(lc)
	return r
}

// repeated reports whether mode runs once per round: all but schedule,
// which measures recall, not speed.
func repeated(mode string) bool { return mode != Sched }

// median of v (0 for none).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// usage is CPU time and memory of the process.
type usage struct {
	cpu       time.Duration
	rss, peak float64 // MB
}

func measure() usage {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	u := usage{cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	b, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			u.rss = kb / 1024
		case "VmHWM:":
			u.peak = kb / 1024
		}
	}
	return u
}

func host() Host {
	h := Host{CPUs: runtime.NumCPU(), GoMax: runtime.GOMAXPROCS(0)}
	b, _ := os.ReadFile("/proc/cpuinfo")
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			h.CPUModel = strings.TrimSpace(v)
			break
		}
	}
	return h
}

// frameTimes collects per-stage samples.
type frameTimes map[string][]time.Duration

func (f frameTimes) add(stage string, d time.Duration) { f[stage] = append(f[stage], d) }

func (f frameTimes) dists() map[string]Dist {
	out := map[string]Dist{}
	for _, s := range Stages {
		if len(f[s]) > 0 {
			out[s] = dist(f[s])
		}
	}
	return out
}

// item is a frame travelling through the throughput pipeline.
type item struct {
	mat   gocv.Mat
	frame redact.Frame
	start time.Time
	dec   time.Duration
	t     pipeline.Timings
	track time.Duration
	count time.Duration
	// detected: detection ran on the frame (every frame but in stride
	// runs); share: the share of it the stride run's guard masked.
	detected bool
	share    float64
}

// throughput runs a clip as fast as it decodes, every frame processed.
func throughput(ctx context.Context, clip Clip, mode string, o Options) (Run, error) {
	v, err := pipeline.OpenVideo(clip.Path)
	if err != nil {
		return Run{}, err
	}
	defer v.Close()
	info := v.Info()
	r := Run{Clip: clip.Name, Mode: mode, Width: info.Width &^ 1, Height: info.Height &^ 1, SourceFPS: info.FPS, OpenCVThreadsEnv: os.Getenv("OPENCV_FOR_THREADS_NUM")}
	sink, err := pipeline.NewVP8Sink(r.Width, r.Height, max(1, int(math.Round(info.FPS))), o.Bitrate, 1)
	if err != nil {
		return r, err
	}
	defer sink.Close()
	var eng *pipeline.Engine
	switch mode {
	case Naive:
		eng, err = pipeline.NewEngine(o.NaiveEng, o.Store)
	case Veil, Stride:
		eng, err = pipeline.NewEngine(o.Engine, o.Store)
	}
	if err != nil {
		return r, err
	}
	if eng != nil {
		defer eng.Close()
		// The naive loop is one goroutine: its detectors run one after
		// another. Veil's run side by side (Engine.DetectAlong).
		eng.OneByOne(mode == Naive)
	}
	var stride *pipeline.Stride
	if mode == Stride {
		r.Stride = o.Stride
		if r.Stride == 0 {
			r.Stride = 3
		}
		stride = pipeline.NewStride(r.Stride, o.GuardThreshold)
		defer stride.Close()
	}
	var counting *pipeline.Counting
	cc := map[string]*pipeline.CountConfig{Veil: o.Count, Stride: o.Count, Naive: o.NaiveCount}[mode]
	if cc != nil {
		c := *cc
		if stride != nil {
			// Counting sees every frame; its Yolo runs on the detected
			// ones (frame kN, as Stride's) and the tracker predicts
			// between: "every Nth with tracking between". Its cost in
			// counting accuracy is measured against vtest.avi's hand
			// count (veil eval -counting, eval's TestCountingAccuracy).
			c.Every = r.Stride
		}
		c.DNN = o.Engine.DNN
		if counting, err = pipeline.NewCounting(c, o.Store); err != nil {
			return r, err
		}
		defer counting.Close()
	}
	var hold *track.Hold
	if mode != PassThrough && o.Hold > 0 {
		hold = track.NewHold(o.Hold)
	}
	guarded := 0.0 // stride: sum over measured frames of the share the guard masked
	none := redact.New(redact.Pixelate)
	defer none.Close()
	ft := frameTimes{}
	var e2e []time.Duration
	n := o.Frames + o.WarmUp
	var u0 usage
	var begin time.Time

	// Stages: decode -> process -> encode. Naive and pass-through run them
	// one after another in one goroutine; veil overlaps them in three.
	const pool = 6
	free := make(chan gocv.Mat, pool)
	for range pool {
		free <- gocv.NewMat()
	}
	defer func() {
		for range pool {
			m := <-free
			m.Close()
		}
	}()
	decode := func(it *item) error {
		it.start = time.Now()
		err := v.Read(&it.mat)
		it.dec = time.Since(it.start)
		return err
	}
	process := func(it *item) error {
		if eng == nil { // pass-through: a frame in which nothing was found
			f, err := none.Apply(it.mat, nil)
			it.frame = f
			return err
		}
		// count runs counting on the frame (it.count is recorded by encode:
		// ft belongs to one goroutine).
		count := func() error {
			t0 := time.Now()
			_, err := counting.Process(it.mat, it.start)
			it.count = time.Since(t0)
			return err
		}
		if stride != nil && !stride.Due() { // between detections: the guard
			if counting != nil { // counting sees every frame: here the tracker predicts
				if err := count(); err != nil {
					return err
				}
			}
			t0 := time.Now()
			dets, changed := stride.Between(it.mat)
			it.track, it.share = time.Since(t0), stride.Share()
			f, err := eng.RedactWith(it.mat, dets, changed, &it.t)
			it.frame = f
			return err
		}
		it.detected = true
		// Counting runs while faces are detected, as in a live camera.
		var countErr error
		along := func() ([]detect.Detection, bool) {
			if counting == nil {
				return nil, false
			}
			countErr = count()
			return seen(counting, eng)
		}
		dets, err := eng.DetectAlong(it.mat, along, &it.t)
		if countErr != nil {
			return countErr
		}
		if hold != nil && err == nil {
			t0 := time.Now()
			dets = hold.Update(dets, imageRect(it.mat))
			it.track = time.Since(t0)
		}
		switch {
		case stride != nil && err == nil:
			dets = stride.Detected(it.mat, dets)
		case stride != nil:
			it.share = 1 // masked whole below (fail closed)
		}
		it.frame, _ = eng.Redact(it.mat, dets, err, &it.t)
		return nil
	}
	encode := func(it *item, measured bool) error {
		t0 := time.Now()
		fr := it.frame
		if _, err := sink.Encode(&fr); err != nil {
			return err
		}
		if measured {
			enc := time.Since(t0)
			ft.add("decode", it.dec)
			ft.add("encode", enc)
			if counting != nil {
				ft.add("count", it.count)
			}
			guarded += it.share
			if it.detected {
				r.Detections++
			}
			if eng != nil {
				for k, d := range map[string]time.Duration{"faces": it.t.Faces, "plates": it.t.Plates + it.t.Vehicles} {
					if d > 0 { // 0: that detector is off
						ft.add(k, d)
					}
				}
				ft.add("redact", it.t.Redact)
				if hold != nil || !it.detected {
					ft.add("track", it.track) // the hold, or between detections the guard
				}
			}
			e2e = append(e2e, time.Since(it.start))
			r.Frames++
		}
		return nil
	}
	startMeasuring := func(i int) {
		if i == o.WarmUp {
			u0, begin = measure(), time.Now()
			r.RSSStartMB = u0.rss
		}
	}
	if mode != Veil && mode != Stride {
		for i := 0; i < n; i++ {
			if err := ctx.Err(); err != nil {
				return r, err
			}
			startMeasuring(i)
			it := item{mat: <-free}
			if err := decode(&it); err != nil {
				free <- it.mat
				if errors.Is(err, io.EOF) {
					break
				}
				return r, err
			}
			err := process(&it)
			if err == nil {
				err = encode(&it, i >= o.WarmUp)
			}
			free <- it.frame.Release()
			if err != nil {
				return r, err
			}
		}
	} else {
		decoded := make(chan item, 2)
		processed := make(chan item, 2)
		errc := make(chan error, 3)
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() { // decode
			defer close(decoded)
			for i := 0; i < n; i++ {
				var it item
				select {
				case it.mat = <-free:
				case <-cctx.Done():
					return
				}
				if err := decode(&it); err != nil {
					free <- it.mat
					if !errors.Is(err, io.EOF) {
						errc <- err
					}
					return
				}
				decoded <- it
			}
		}()
		go func() { // detect, hold, redact
			defer close(processed)
			failed := false
			for it := range decoded {
				if failed { // after an error, hand the rest back unprocessed
					free <- it.mat
					continue
				}
				if err := process(&it); err != nil {
					errc <- err
					free <- it.mat
					cancel()
					failed = true
					continue
				}
				processed <- it
			}
		}()
		i := 0
		for it := range processed { // encode here
			startMeasuring(i)
			err := encode(&it, i >= o.WarmUp)
			free <- it.frame.Release()
			i++
			if err != nil {
				cancel()
				for it := range processed {
					free <- it.frame.Release()
				}
				return r, err
			}
		}
		select {
		case err := <-errc:
			return r, err
		default:
		}
	}
	u1 := measure()
	r.Seconds = time.Since(begin).Seconds()
	if r.Frames > 0 && r.Seconds > 0 {
		r.FPS = float64(r.Frames) / r.Seconds
		r.CPUMsFrame = float64(u1.cpu-u0.cpu) / float64(time.Millisecond) / float64(r.Frames)
	}
	r.RSSEndMB, r.PeakRSSMB = u1.rss, u1.peak
	r.Stages, r.EndToEnd = ft.dists(), dist(e2e)
	if stride != nil {
		r.GuardedShare = guarded / float64(max(1, r.Frames))
	}
	return r, nil
}

// maxWarmUp bounds the wait for a live run's first frame (past it the run
// fails) and for a guard run's first detection (past it measuring starts
// anyway, with a warning: the frames masked whole count).
const maxWarmUp = 30 * time.Second

// guardWindowWait bounds how long a guard run's window waits, past LiveFor,
// for the next detection's result: a detection period (detectFPS; 0:
// none) or the motion gate's recheck, whichever is longer (a still scene
// detects only then), plus the slowest detection measured (about 1.3 s of
// wall time at 1080p) with room to spare.
func guardWindowWait(detectFPS float64) time.Duration {
	wait := pipeline.GuardRecheck
	if detectFPS > 0 {
		wait = max(wait, time.Duration(float64(time.Second)/detectFPS))
	}
	return wait + 5*time.Second
}

// live runs the clip through a real camera, paced at its own rate.
func live(ctx context.Context, clip Clip, mode string, o Options) (Run, error) {
	r := Run{Clip: clip.Name, Mode: mode, OpenCVThreadsEnv: os.Getenv("OPENCV_FOR_THREADS_NUM")}
	ft := frameTimes{}
	var e2e []time.Duration
	hist := make([]int, 100)
	guarded := 0.0 // sum over frames of the share the guard masked
	done := make(chan struct{})
	frames := make(chan pipeline.FrameTiming, 4096)
	cfg := pipeline.CameraConfig{Name: "bench", Source: clip.Path, Engine: o.Engine, BitrateKbps: o.Bitrate,
		MaxLatency: time.Duration(max(50, o.MaxLateMs)) * time.Millisecond, Hold: o.Hold, Count: o.Count, FPS: o.LiveFPS,
		Guard: mode == Guard, GuardThreshold: o.GuardThreshold, DetectFPS: o.DetectFPS,
		OnFrame: func(t pipeline.FrameTiming) {
			select {
			case frames <- t:
			default:
			}
		}}
	cam, err := pipeline.NewCamera(cfg, o.Store, discard{}, o.Log)
	if err != nil {
		return r, err
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() { cam.Run(cctx); close(done) }()
	// Measure from the first encoded frame (models loaded, source open),
	// and in guard runs from the first detection's result: each network's
	// first run sets it up (measured on vtest.avi: 1.1 s of CPU for the
	// first detection, 0.5 s for the next), a cost a camera pays once when
	// it starts, not per frame. The time it took is reported (warm_up_s).
	started := time.Now()
	for {
		s, late := cam.Status(), time.Since(started) > maxWarmUp
		if s.Encoded > 0 && (mode != Guard || s.Detections > 0) {
			break
		}
		if late && s.Encoded == 0 {
			cancel()
			<-done
			return r, fmt.Errorf("no frame encoded in %v", maxWarmUp)
		}
		if late {
			o.Log.Warn("bench: no detection result yet; measuring from now, frames masked whole included", "after", maxWarmUp)
			break
		}
		select {
		case <-ctx.Done():
			cancel()
			<-done
			return r, ctx.Err()
		case <-done:
			cancel()
			return r, errors.New("the camera stopped before its first frame")
		case <-time.After(20 * time.Millisecond):
		}
	}
	r.WarmUpS = time.Since(started).Seconds()
	for len(frames) > 0 {
		<-frames
	}
	s0, u0, begin := cam.Status(), measure(), time.Now()
	r.RSSStartMB = u0.rss
	timer := time.NewTimer(o.LiveFor)
	collect := func(t pipeline.FrameTiming) {
		if t.Late {
			return
		}
		for k, d := range map[string]time.Duration{"decode": t.Capture, "queue": t.Queue, "count": t.Count, "faces": t.Faces, "plates": t.Plates, "track": t.Track, "redact": t.Redact, "encode": t.Encode} {
			if d > 0 || k == "queue" {
				ft.add(k, d)
			}
		}
		e2e = append(e2e, t.Total)
		hist[min(len(hist)-1, int(t.Total/(10*time.Millisecond)))]++
		guarded += t.Guarded
	}
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		r.RSSSamplesMB = append(r.RSSSamplesMB, measure().rss)
		r.HeapSamplesMB = append(r.HeapSamplesMB, float64(ms.HeapInuse)/(1<<20))
	}
	sample()
	every := time.NewTicker(30 * time.Second)
	defer every.Stop()
	// A guard run's window began at a detection's result and, once LiveFor
	// has passed, ends at the next one: it then holds whole detections, not
	// a share of the last that depends on where the timer fell (on vtest a
	// detection is about 1.4 ms of CPU a frame, and a 20 s window ending
	// on the timer held the results of 3 or 4). The wait is bounded: with
	// no result by then (a stalled detector), the window ends there. The
	// result is looked for as each frame comes, not on a ticker of its own:
	// the window's CPU is the camera's, and a poll's wake-ups would count.
	var bound <-chan time.Time // set once LiveFor has passed: the wait
	var waitFrom uint64
loop:
	for {
		select {
		case t := <-frames:
			collect(t)
			if bound != nil && cam.Status().Detections > waitFrom {
				r.WindowEnd = "detection"
				break loop
			}
		case <-every.C:
			sample()
		case <-timer.C:
			if mode != Guard {
				break loop
			}
			waitFrom, bound = cam.Status().Detections, time.After(guardWindowWait(o.DetectFPS))
		case <-bound:
			r.WindowEnd = "timer"
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	sample()
	s1, u1 := cam.Status(), measure()
	// The window ends here, with the CPU reading: stopping the camera waits
	// for a detection in progress, time in which no frame is sent.
	r.Seconds = time.Since(begin).Seconds()
	cancel()
	<-done
	r.Width, r.Height, r.SourceFPS = s1.Width, s1.Height, s1.SourceFPS
	r.Frames = int(s1.Encoded - s0.Encoded)
	r.Dropped = int((s1.Dropped - s0.Dropped) + (s1.Late - s0.Late))
	r.Masked, r.DetectMs = int(s1.Masked-s0.Masked), s1.DetectMs
	r.Detections, r.DetectSkipped = int(s1.Detections-s0.Detections), int(s1.DetectSkipped-s0.DetectSkipped)
	r.CountRuns = int(s1.CountRuns - s0.CountRuns)
	if len(e2e) > 0 {
		r.GuardedShare = guarded / float64(len(e2e))
	}
	if r.Frames > 0 {
		r.FPS = float64(r.Frames) / r.Seconds
		r.CPUMsFrame = float64(u1.cpu-u0.cpu) / float64(time.Millisecond) / float64(r.Frames)
	}
	r.RSSEndMB, r.PeakRSSMB = u1.rss, u1.peak
	r.Stages, r.EndToEnd, r.Histogram = ft.dists(), dist(e2e), trimHist(hist)
	return r, nil
}

func trimHist(h []int) []int {
	last := 0
	for i, v := range h {
		if v > 0 {
			last = i
		}
	}
	return h[:last+1]
}

// seen returns counting's Yolo boxes of the frame it just looked at, when
// they can stand in for the engine's vehicle search (as a camera does).
func seen(c *pipeline.Counting, e *pipeline.Engine) ([]detect.Detection, bool) {
	if c == nil || e == nil || !c.SharesWith(e.Config()) {
		return nil, false
	}
	return c.Seen()
}

type discard struct{}

func (discard) WriteSample(media.Sample) {}

func imageRect(m gocv.Mat) image.Rectangle { return image.Rect(0, 0, m.Cols(), m.Rows()) }
