package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/eval"
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
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: veil eval [flags] GT.csv...\n\nRuns the redaction over annotated sets (file,x,y,w,h[,label|text,region]) and\nreports recall per face width or plate region, judged from the output pixels.")
		fs.PrintDefaults()
	}
	if ok, code := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	cfg, dir, err := cfgFn()
	if err != nil {
		fmt.Fprintln(stderr, "veil eval:", err)
		return exitUsage
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
