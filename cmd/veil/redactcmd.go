package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/veil-gateway/veil/models"
	"github.com/veil-gateway/veil/pipeline"
)

// job is one input file and where its redacted copy goes.
type job struct {
	in, out string
	kind    pipeline.Kind
}

// fileReport is one entry of --report.
type fileReport struct {
	File   string `json:"file"`
	Output string `json:"output,omitempty"`
	Kind   string `json:"kind"`
	Error  string `json:"error,omitempty"`
	pipeline.Stats
}

type runReport struct {
	Version string       `json:"version"`
	Config  any          `json:"config"`
	Files   []fileReport `json:"files"`
	Failed  int          `json:"failed"`
	Seconds float64      `json:"seconds"`
}

func cmdRedact(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	fset := flag.NewFlagSet("veil redact", flag.ContinueOnError)
	cfgFn := engineFlags(fset)
	out := fset.String("o", "", "output file (one input) or directory (required)")
	report := fset.String("report", "", "write a JSON report here: per file frames, faces, plates, ms per frame per stage")
	hold := fset.Int("hold", 5, "video: keep a region redacted this many frames after the detector last saw it")
	overwrite := fset.Bool("overwrite", false, "replace existing output files (an input is never overwritten)")
	progress := fset.String("progress", "auto", "progress bar: auto (on a terminal), always or never")
	every := fset.Int("detect-every", 1, "video: detect every Nth frame only; the frames between are redacted from it plus every area that changed since (faster; moving areas are masked)")
	fset.Usage = func() {
		fmt.Fprintln(stderr, "usage: veil redact [flags] IN... -o OUT\n\nRedacts faces and number plates in images (jpg, png), directories (recursively,\nsame names) and videos (same fps, size and frame count; audio kept with ffmpeg).")
		fset.PrintDefaults()
	}
	if ok, code := parseFlags(fset, args, stderr); !ok {
		return code
	}
	if fset.NArg() == 0 || *out == "" {
		fset.Usage()
		return exitUsage
	}
	if *hold < 0 || *hold > 300 {
		fmt.Fprintln(stderr, "veil redact: -hold must be in [0,300]")
		return exitUsage
	}
	if *every < 1 || *every > 100 {
		fmt.Fprintln(stderr, "veil redact: -detect-every must be in [1,100]")
		return exitUsage
	}
	cfg, dir, err := cfgFn()
	if err != nil {
		fmt.Fprintln(stderr, "veil redact:", err)
		return exitUsage
	}
	jobs, errs := plan(fset.Args(), *out, *overwrite)
	rep := runReport{Version: version, Config: cfg}
	code := exitOK
	for _, e := range errs {
		fmt.Fprintln(stderr, "veil redact:", e)
		rep.Files = append(rep.Files, fileReport{File: e.file, Error: e.err.Error()})
		rep.Failed++
		code = exitFail
	}
	start := time.Now()
	if len(jobs) > 0 {
		eng, err := pipeline.NewEngine(cfg, models.Open(dir))
		if err != nil {
			fmt.Fprintln(stderr, "veil redact:", err)
			return exitFail
		}
		defer eng.Close()
		bar := newProgress(stderr, *progress, len(jobs))
		for i, j := range jobs {
			if ctx.Err() != nil {
				fmt.Fprintln(stderr, "veil redact: interrupted")
				return exitFail
			}
			bar.file(i, j.in)
			fr := fileReport{File: j.in, Output: j.out}
			var st pipeline.Stats
			var err error
			if err = os.MkdirAll(filepath.Dir(j.out), 0o755); err == nil {
				switch j.kind {
				case pipeline.KindImage:
					fr.Kind = "image"
					st, err = pipeline.RedactImageFile(ctx, eng, j.in, j.out)
				default:
					fr.Kind = "video"
					st, err = pipeline.RedactVideoFile(ctx, eng, j.in, j.out, pipeline.VideoOptions{HoldFrames: *hold, Progress: bar.frames, DetectEvery: *every})
				}
			}
			fr.Stats = st
			if err != nil {
				bar.clear()
				fmt.Fprintln(stderr, "veil redact:", err)
				fr.Error = err.Error()
				fr.Output = ""
				rep.Failed++
				code = exitFail
			} else {
				log.Debug("redacted", "file", j.in, "out", j.out, "frames", st.Frames, "faces", st.Faces, "plates", st.Plates)
			}
			rep.Files = append(rep.Files, fr)
		}
		bar.done()
	}
	rep.Seconds = time.Since(start).Seconds()
	ok := len(rep.Files) - rep.Failed
	fmt.Fprintf(stdout, "veil redact: %d file(s) redacted, %d failed, %.1f s\n", ok, rep.Failed, rep.Seconds)
	if *report != "" {
		if err := writeJSONFile(*report, stdout, rep); err != nil {
			fmt.Fprintln(stderr, "veil redact: report:", err)
			code = exitFail
		}
	}
	return code
}

type inputError struct {
	file string
	err  error
}

func (e inputError) Error() string { return e.err.Error() }

// plan expands inputs into jobs. One file input with -o naming a file writes
// that file; otherwise -o is a directory and every input keeps its name (a
// directory input keeps its tree below it).
func plan(inputs []string, out string, overwrite bool) ([]job, []inputError) {
	var jobs []job
	var errs []inputError
	outIsDir := len(inputs) > 1
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		outIsDir = true
	}
	for _, in := range inputs {
		st, err := os.Stat(in)
		if err != nil {
			errs = append(errs, inputError{in, err})
			continue
		}
		if !st.IsDir() {
			k := pipeline.KindOf(in)
			if k == pipeline.KindUnknown {
				errs = append(errs, inputError{in, fmt.Errorf("%s: not an image (jpg, png) or video file", in)})
				continue
			}
			dst := out
			if outIsDir {
				dst = filepath.Join(out, filepath.Base(in))
			} else if pipeline.KindOf(out) != k {
				errs = append(errs, inputError{in, fmt.Errorf("%s: output %s must have an extension of the same kind (image or video)", in, out)})
				continue
			}
			jobs = appendJob(jobs, &errs, job{in, dst, k}, overwrite)
			continue
		}
		if !outIsDir && len(inputs) == 1 {
			outIsDir = true
		}
		base := in
		walkErr := filepath.WalkDir(in, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				errs = append(errs, inputError{p, fmt.Errorf("%s: %w", p, err)})
				if d != nil && d.IsDir() && p != base {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				if pipeline.SameFile(p, out) {
					return fs.SkipDir // never read our own output
				}
				return nil
			}
			k := pipeline.KindOf(p)
			if k == pipeline.KindUnknown || !d.Type().IsRegular() {
				return nil
			}
			rel, err := filepath.Rel(base, p)
			if err != nil {
				return err
			}
			dst := filepath.Join(out, filepath.Base(base), rel)
			if len(inputs) == 1 {
				dst = filepath.Join(out, rel)
			}
			jobs = appendJob(jobs, &errs, job{p, dst, k}, overwrite)
			return nil
		})
		if walkErr != nil {
			errs = append(errs, inputError{in, walkErr})
		}
	}
	return jobs, errs
}

func appendJob(jobs []job, errs *[]inputError, j job, overwrite bool) []job {
	if pipeline.SameFile(j.in, j.out) {
		*errs = append(*errs, inputError{j.in, fmt.Errorf("%s: output would overwrite the input", j.in)})
		return jobs
	}
	if _, err := os.Stat(j.out); err == nil && !overwrite {
		*errs = append(*errs, inputError{j.in, fmt.Errorf("%s: output %s exists (use -overwrite)", j.in, j.out)})
		return jobs
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		*errs = append(*errs, inputError{j.in, fmt.Errorf("%s: %w", j.out, err)})
		return jobs
	}
	return append(jobs, j)
}
