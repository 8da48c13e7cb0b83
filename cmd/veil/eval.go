package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/config"
	"github.com/veil-gateway/veil/eval"
	"github.com/veil-gateway/veil/eval/linetruth"
	"github.com/veil-gateway/veil/models"
	"github.com/veil-gateway/veil/pipeline"
	"github.com/veil-gateway/veil/redact"
)

func cmdEval(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("veil eval", flag.ContinueOnError)
	cfgFn := engineFlags(fs)
	jsonOut := fs.String("json", "", "also write the reports as JSON to this file (- for stdout)")
	debugDir := fs.String("debug-dir", "", "write each redacted image here with the annotated boxes drawn (green redacted, red missed)")
	every := fs.Int("every", 1, "evaluate every Nth image only (a quick sample)")
	misses := fs.Bool("misses", false, "list the annotated boxes left readable")
	counting := fs.String("counting", "", "instead of image sets: count people crossing the hand-counted line in this file (testdata/counting/vtest-line.json) and compare with it")
	countEvery := fs.String("count-every", "1,2,3,4", "-counting: detect every Nth frame, the tracker predicting between (a list)")
	countLive := fs.String("count-live", "3-5", "-counting: also count as a live camera does, detecting MIN-MAX frames apart (\"\": not)")
	countFull := fs.Int("count-full-every", 0, "-counting, -count-live: every Nth detection with every pass, the others at the whole frame once, as a guard camera with detect_fps and count.fps counts (0: all full)")
	countPasses := fs.String("count-passes", config.DefaultCamera().Count.Passes, "-counting: Yolo's passes, zoom[:maxtiles],... (a camera's count.passes)")
	dataDir := fs.String("data", "", "-counting: the shared data directory the truth's clip is in (default $VEIL_DATA, else ../shared/data)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: veil eval [flags] GT.csv...\n       veil eval [flags] -counting LINE.json\n\nRuns the redaction over annotated sets (file,x,y,w,h[,label|text,region]) and\nreports recall per face width or plate region, judged from the output pixels.\nWith -counting, counts people crossing a hand-counted line at each detection\nschedule and reports the counts and the crossings found against the truth.")
		fs.PrintDefaults()
	}
	if ok, code := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if (fs.NArg() == 0) == (*counting == "") {
		fs.Usage()
		return exitUsage
	}
	cfg, dir, err := cfgFn()
	if err != nil {
		fmt.Fprintln(stderr, "veil eval:", err)
		return exitUsage
	}
	if *counting != "" {
		scheds, err := countSchedules(*countEvery, *countLive, *countFull)
		if err != nil {
			fmt.Fprintln(stderr, "veil eval:", err)
			return exitUsage
		}
		if _, err := pipeline.ParsePasses(*countPasses); err != nil {
			fmt.Fprintln(stderr, "veil eval: -count-passes:", err)
			return exitUsage
		}
		return evalCounting(ctx, *counting, *dataDir, *countPasses, scheds, dir, *jsonOut, stdout, stderr)
	}
	eng, err := pipeline.NewEngine(cfg, models.Open(dir))
	if err != nil {
		fmt.Fprintln(stderr, "veil eval:", err)
		return exitFail
	}
	defer eng.Close()
	fn := func(raw gocv.Mat) (redact.Frame, error) {
		var t pipeline.Timings
		dets, err := eng.Detect(raw, &t)
		return eng.Redact(raw, dets, err, &t)
	}
	code := exitOK
	var reports []*eval.Report
	for _, gt := range fs.Args() {
		rep, err := eval.Run(ctx, gt, eval.Options{DebugDir: *debugDir, Every: *every}, fn)
		if err != nil {
			fmt.Fprintln(stderr, "veil eval:", err)
			code = exitFail
			continue
		}
		rep.WriteTable(stdout)
		if *misses {
			for _, m := range rep.Misses {
				fmt.Fprintf(stdout, "miss %s %d,%d %dx%d cover %.2f\n", m.File, m.X, m.Y, m.W, m.H, m.Cover)
			}
		}
		fmt.Fprintln(stdout)
		if len(rep.Errors) > 0 {
			code = exitFail
		}
		reports = append(reports, rep)
	}
	if *jsonOut != "" {
		if err := writeJSONFile(*jsonOut, stdout, reports); err != nil {
			fmt.Fprintln(stderr, "veil eval:", err)
			return exitFail
		}
	}
	return code
}

func writeJSONFile(path string, stdout io.Writer, v any) error {
	if path == "-" {
		return encodeJSON(stdout, v)
	}
	return atomicWrite(path, func(w io.Writer) error { return encodeJSON(w, v) })
}

// atomicWrite writes through a temporary file in the same directory and
// renames it into place, so a failure leaves no half-written file.
func atomicWrite(path string, fill func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".veil-*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err := fill(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// countSchedules reads -count-every (a list of N), -count-live (MIN-MAX or
// "") and -count-full-every (for the live schedule).
func countSchedules(every, live string, fullEvery int) ([]eval.CountSchedule, error) {
	if fullEvery < 0 || fullEvery > 1000 || (fullEvery > 1 && strings.TrimSpace(live) == "") {
		return nil, fmt.Errorf("-count-full-every %d: want 0-1000, with -count-live", fullEvery)
	}
	var out []eval.CountSchedule
	for _, f := range strings.Split(every, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 100 {
			return nil, fmt.Errorf("-count-every %q: want a list of 1-100", every)
		}
		out = append(out, eval.CountSchedule{Every: n})
	}
	if live = strings.TrimSpace(live); live != "" {
		a, b, ok := strings.Cut(live, "-")
		lo, err1 := strconv.Atoi(a)
		hi, err2 := strconv.Atoi(b)
		if !ok || err1 != nil || err2 != nil || lo < 1 || hi < lo || hi > 1000 {
			return nil, fmt.Errorf("-count-live %q: want MIN-MAX frames, 1 <= MIN <= MAX <= 1000", live)
		}
		out = append(out, eval.CountSchedule{Every: 1, LiveMin: lo, LiveMax: hi, FullEvery: fullEvery})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-count-every and -count-live: no schedule to count")
	}
	return out, nil
}

// evalCounting is veil eval -counting: the truth's clip counted at each
// schedule with a default camera's counting settings and tile reuse, as
// veil serve counts (count: and detect: in veil.example.yml).
func evalCounting(ctx context.Context, truthPath, dataDir, passes string, scheds []eval.CountSchedule, modelsDir, jsonOut string, stdout, stderr io.Writer) int {
	gt, err := linetruth.Read(truthPath)
	if err != nil {
		fmt.Fprintln(stderr, "veil eval:", err)
		return exitUsage
	}
	if dataDir == "" {
		dataDir = sharedDataDir()
	}
	clip := filepath.Join(dataDir, filepath.FromSlash(gt.Clip))
	if !fileExists(clip) {
		fmt.Fprintf(stderr, "veil eval: the truth's clip %s is not there (-data names the shared data directory)\n", clip)
		return exitUsage
	}
	cam := config.DefaultCamera()
	cam.Count.Passes = passes
	cc, err := cam.Count.Pipeline(cam.Detect.Config.Reuse)
	if err != nil {
		fmt.Fprintln(stderr, "veil eval:", err)
		return exitFail
	}
	rows, err := eval.Counting(ctx, gt, clip, *cc, models.Open(modelsDir), scheds)
	if err != nil {
		fmt.Fprintln(stderr, "veil eval:", err)
		return exitFail
	}
	if err := eval.WriteCountingTable(stdout, gt, rows); err != nil {
		fmt.Fprintln(stderr, "veil eval:", err)
		return exitFail
	}
	if jsonOut != "" {
		out := struct {
			Schema string             `json:"schema"`
			Truth  string             `json:"truth"`
			Clip   string             `json:"clip"`
			Line   string             `json:"line"`
			Rows   []eval.CountingRow `json:"rows"`
		}{"veil.eval.counting/v1", truthPath, gt.Clip, gt.Line.Name, rows}
		if err := writeJSONFile(jsonOut, stdout, out); err != nil {
			fmt.Fprintln(stderr, "veil eval:", err)
			return exitFail
		}
	}
	return exitOK
}
