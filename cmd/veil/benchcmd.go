package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/veil-gateway/veil/bench"
	"github.com/veil-gateway/veil/config"
	"github.com/veil-gateway/veil/detect"
	"github.com/veil-gateway/veil/models"
	"github.com/veil-gateway/veil/pipeline"
)

const benchUsage = `usage: veil bench [flags]

Measures every stage (decode, counting, faces, plates, hold, redact, encode)
and end to end: latency p50/p95/p99, fps, frames, drops, CPU time per frame,
RSS. Each clip runs in seven modes, so every figure is a ratio measured in
the same run: passthrough (decode and encode only), naive (the same
detectors at full resolution on every frame, one goroutine), veil (the live
preset, stages overlapped, every frame detected, as fast as frames decode),
stride (veil detecting every -stride-th frame, the frames between redacted
from it plus every area that changed since, as veil redact -detect-every
does), live (a real camera pipeline paced at the clip's frame rate, each
frame waiting for its detection: drops and latency), livepass (the live
frame path with nothing detected) and guard (the camera as it runs by
default, detection beside the frame path; its CPU is compared with both
pass-throughs).

The default clip is vtest.avi from the shared data (else Debian's copy);
-sizes adds copies scaled to 720p and 1080p at 30 fps (made with ffmpeg,
cached under the user cache directory).
`

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchUsage); fs.PrintDefaults() }
	var clips multiFlag
	fs.Var(&clips, "clip", "a video to measure (repeatable; default vtest.avi)")
	sizes := fs.String("sizes", "native,720,1080", "sizes to measure each clip at: native, 720, 1080")
	modes := fs.String("modes", "passthrough,naive,veil,stride,live,livepass,guard", "modes to run (also: schedule, the recall cost of detecting less)")
	frames := fs.Int("frames", 90, "frames measured per throughput run")
	rounds := fs.Int("rounds", 1, "run the modes of each clip (all but schedule) this many times in turn; ratios are the rounds' medians")
	liveFor := fs.Duration("live", 20*time.Second, "length of each live run (a guard run goes on to the next detection's result, so it measures whole detection periods)")
	report := fs.String("report", "", "write the JSON report here")
	plots := fs.String("plots", "", "write SVG plots (stages.svg, latency-*.svg) into this directory")
	modelsDir := fs.String("models", "", "models directory (default $VEIL_MODELS or ./models)")
	preset := fs.String("preset", "live", "detector preset of the veil and live runs: live or thorough")
	dnn := fs.String("dnn", pipeline.DNNAuto, "inference engine of the detectors in every run: onnxruntime, opencv, or auto (ONNX Runtime when set-up installed it)")
	count := fs.Bool("count", true, "count people and vehicles in the naive, veil and live runs")
	guard := fs.Float64("guard", pipeline.GuardThreshold, "guard, stride and schedule modes: the guard's change threshold (grey levels of a 4x4 block's mean; twice it for a 2x2 cell's)")
	guardLags := fs.String("guard-lags", "3,6,12", "schedule mode: lags (frames) at which the guard's recall is measured, comma-separated")
	still := fs.Bool("still", false, "measure each clip held still instead: its first frame for 30 s at 30 fps with faint sensor-like noise (a quiet scene, for guard mode's motion gate)")
	detectFPS := fs.Float64("detect-fps", config.DefaultCamera().DetectFPS, "guard runs: at most this many detections a second (detect_fps; 0: no cap)")
	countFPS := fs.Float64("count-fps", config.DemoCamera().Count.FPS, "guard runs: counting's detector alone at most this many times a second between detections (count.fps; 0: with each detection)")
	countPasses := fs.String("count-passes", config.DemoCamera().Count.Passes, "counting's Yolo passes, zoom[:maxtiles],... (count.passes)")
	stride := fs.Int("stride", 3, "stride runs: detect every Nth frame, the frames between redacted as the guard does")
	threads := fs.Int("opencv-threads", 0, "OpenCV's threads (process-wide: every OpenCV parallel loop, each network run included) in every run (0: as veil serve would: 1 in guard and livepass runs with -detect-fps, OpenCV's default in the rest; -1: OpenCV's default, every core)")
	cpuProfile := fs.String("cpuprofile", "", "write a Go CPU profile of the whole bench here (go tool pprof; OpenCV's own threads show as external code)")
	reuse := fs.String("reuse", "", "tile reuse of the veil and live runs, threshold/max-age (default: the preset's; 0/0 turns it off); in schedule mode a comma-separated list to measure")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *frames < 1 || *frames > 100000 || *rounds < 1 || *rounds > 100 || *liveFor < time.Second || *stride < 1 || *stride > 100 || *threads < -1 || *threads > 64 {
		fmt.Fprintln(stderr, "veil bench: -frames must be 1-100000, -rounds 1-100, -live at least 1s, -stride 1-100, -opencv-threads -1-64")
		return exitUsage
	}
	for _, err := range []error{pipeline.CheckDetectFPS("-detect-fps", *detectFPS), pipeline.CheckCountFPS("-count-fps", *countFPS)} {
		if err != nil {
			fmt.Fprintln(stderr, "veil bench:", err)
			return exitUsage
		}
	}
	if _, err := pipeline.ParsePasses(*countPasses); err != nil {
		fmt.Fprintf(stderr, "veil bench: -count-passes: %v\n", err)
		return exitUsage
	}
	eng, err := config.Preset(*preset)
	if err != nil {
		fmt.Fprintf(stderr, "veil bench: %v\n", err)
		return exitUsage
	}
	eng.DNN = *dnn
	if err := eng.Validate(); err != nil {
		fmt.Fprintf(stderr, "veil bench: -dnn: %v\n", err)
		return exitUsage
	}
	reuses := []detect.Reuse{eng.Reuse}
	if *reuse != "" {
		if reuses, err = parseReuses(*reuse); err != nil {
			fmt.Fprintf(stderr, "veil bench: -reuse: %v\n", err)
			return exitUsage
		}
		eng.Reuse = reuses[0]
	}
	var lags []int
	for _, f := range strings.Split(*guardLags, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1000 {
			fmt.Fprintf(stderr, "veil bench: -guard-lags: %q is not a lag of 1-1000 frames\n", f)
			return exitUsage
		}
		lags = append(lags, n)
	}
	if len(clips) == 0 {
		clips = append(clips, defaultBenchClip())
	}
	var list []bench.Clip
	for _, c := range clips {
		for _, size := range strings.Split(*sizes, ",") {
			cl, err := benchClip(ctx, c, strings.TrimSpace(size), *still)
			if err != nil {
				fmt.Fprintf(stderr, "veil bench: %v\n", err)
				return exitFail
			}
			list = append(list, cl)
		}
	}
	naive := eng
	naive.UltraFace, naive.PlateVehicles = false, false
	naive.Reuse = detect.Reuse{}
	naive.FacePasses = []detect.Pass{{Zoom: 1}} // full resolution, every tile
	naive.PlatePasses = []detect.Pass{{Zoom: 1}}
	var cc, naiveCount *pipeline.CountConfig
	if *count {
		def := config.DemoCamera().Count
		def.FPS, def.Passes = *countFPS, *countPasses
		if cc, err = def.Pipeline(eng.Reuse); err != nil {
			fmt.Fprintf(stderr, "veil bench: %v\n", err)
			return exitFail
		}
		// The naive loop counts too, with the same detector at full
		// resolution: every native tile, every frame, nothing reused.
		n := *cc
		n.Passes, n.Reuse = []detect.Pass{{Zoom: 1}}, detect.Reuse{}
		naiveCount = &n
	}
	opt := bench.Options{Clips: list, Modes: strings.Split(*modes, ","), Frames: *frames, Rounds: *rounds, WarmUp: 5, LiveFor: *liveFor,
		Engine: eng, NaiveEng: naive, Count: cc, NaiveCount: naiveCount, Hold: 5, Bitrate: 2500, MaxLateMs: 2000,
		Store: models.Open(models.Dir(*modelsDir)), Log: log, Progress: stderr, Reuses: reuses,
		GuardThreshold: *guard, GuardLags: lags, DetectFPS: *detectFPS, Stride: *stride, OpenCVThreads: *threads}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "veil bench: -cpuprofile: %v\n", err)
			return exitFail
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "veil bench: -cpuprofile: %v\n", err)
			return exitFail
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := bench.Do(ctx, opt)
	if err != nil {
		fmt.Fprintf(stderr, "veil bench: %v\n", err)
		return exitFail
	}
	rep.Version = version
	if err := rep.WriteTable(stdout); err != nil {
		return exitFail
	}
	if *report != "" {
		if err := writeJSONFile(*report, stdout, rep); err != nil {
			fmt.Fprintf(stderr, "veil bench: %v\n", err)
			return exitFail
		}
	}
	if *plots != "" {
		files, err := rep.WritePlots(*plots)
		if err != nil {
			fmt.Fprintf(stderr, "veil bench: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(stderr, "plots: %s\n", strings.Join(files, " "))
	}
	return exitOK
}

// parseReuses reads a comma-separated list of reuse settings.
func parseReuses(s string) ([]detect.Reuse, error) {
	var out []detect.Reuse
	for _, f := range strings.Split(s, ",") {
		r, err := pipeline.ParseReuse(f)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// sharedDataDir is where the shared test data is: $VEIL_DATA, else
// ../shared/data (beside the checkout).
func sharedDataDir() string {
	if p := os.Getenv("VEIL_DATA"); p != "" {
		return p
	}
	return filepath.Join("..", "shared", "data")
}

// defaultBenchClip is the shared data's vtest.avi, else Debian's.
func defaultBenchClip() string {
	if c := filepath.Join(sharedDataDir(), "video", "vtest.avi"); fileExists(c) {
		return c
	}
	return pipeline.DemoClip
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// benchClip returns path at its own size, or a copy scaled to 720p or
// 1080p at 30 fps (real footage; the frames added to reach the rate blend
// their neighbours, so no two frames are the same, as from a real camera).
// With still, it returns a quiet scene instead: the clip's first frame (at
// that size) held for 30 s at 30 fps with faint noise added to every frame,
// as a camera's sensor adds it.
func benchClip(ctx context.Context, path, size string, still bool) (bench.Clip, error) {
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	if !fileExists(path) {
		return bench.Clip{}, fmt.Errorf("clip %s: not found", path)
	}
	var scale string
	switch size {
	case "native", "":
		if !still {
			return bench.Clip{Name: name, Path: path}, nil
		}
		scale = "scale=trunc(iw/2)*2:trunc(ih/2)*2"
	case "720", "1080":
		h, _ := strconv.Atoi(size)
		scale = fmt.Sprintf("scale=%d:%d", h*16/9, h)
		name = fmt.Sprintf("%s-%dp30", name, h)
	default:
		return bench.Clip{}, fmt.Errorf("size %q: want native, 720 or 1080", size)
	}
	vf, file := scale+",minterpolate=fps=30:mi_mode=blend", name+"-blend.avi"
	if still {
		vf, name = scale+",trim=end_frame=1,loop=loop=899:size=1:start=0,setpts=N/30/TB,noise=alls=4:allf=t", name+"-still"
		file = name + ".avi"
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "veil", "bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return bench.Clip{}, err
	}
	out := filepath.Join(dir, file)
	if !fileExists(out) {
		tmp := out + ".tmp.avi"
		cmd := exec.CommandContext(ctx, "ffmpeg", "-loglevel", "error", "-nostdin", "-y", "-i", path,
			"-vf", vf, "-r", "30", "-t", "30", "-c:v", "mjpeg", "-q:v", "3", "-an", tmp)
		if b, err := cmd.CombinedOutput(); err != nil {
			os.Remove(tmp)
			return bench.Clip{}, fmt.Errorf("making the clip %s with ffmpeg: %v: %s", name, err, b)
		}
		if err := os.Rename(tmp, out); err != nil {
			return bench.Clip{}, err
		}
	}
	return bench.Clip{Name: name, Path: out}, nil
}
