package eval

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/pipeline"
	"github.com/veil-gateway/veil/redact"
)

// RedactFunc redacts one image. Ownership of raw passes to it.
type RedactFunc func(raw gocv.Mat) (redact.Frame, error)

// Bucket is recall over a group of boxes.
type Bucket struct {
	Name   string  `json:"name"`
	Boxes  int     `json:"boxes"`
	Hit    int     `json:"redacted"`
	Recall float64 `json:"recall"`
}

// Miss is an annotated box left (partly) readable.
type Miss struct {
	File  string  `json:"file"`
	X     int     `json:"x"`
	Y     int     `json:"y"`
	W     int     `json:"w"`
	H     int     `json:"h"`
	Cover float64 `json:"cover"`
}

// Report is the result of one evaluation.
type Report struct {
	Set           string   `json:"set"`
	Kind          Kind     `json:"kind"`
	Images        int      `json:"images"`
	Boxes         int      `json:"boxes"`
	Hit           int      `json:"redacted"`
	Recall        float64  `json:"recall"`
	Buckets       []Bucket `json:"buckets"`
	OverRedaction float64  `json:"over_redaction"`
	MsPerImage    float64  `json:"ms_per_image"`
	Errors        []string `json:"errors,omitempty"`
	Misses        []Miss   `json:"misses,omitempty"`
}

// Face width buckets, in pixels.
var faceBuckets = []struct {
	name   string
	lo, hi int
}{{"<16", 0, 16}, {"16-32", 16, 32}, {"32-64", 32, 64}, {"64-128", 64, 128}, {">=128", 128, 1 << 30}}

func bucketOf(k Kind, b Box) string {
	if k == Plates {
		if b.Region == "" {
			return "all"
		}
		return b.Region
	}
	w := b.Rect.Dx()
	for _, fb := range faceBuckets {
		if w >= fb.lo && w < fb.hi {
			return fb.name
		}
	}
	return ">=128"
}

// Options tune a run.
type Options struct {
	Kind     Kind   // overrides the kind read from the CSV header
	DebugDir string // when set, each output image is written here with the annotated boxes drawn (green redacted, red missed)
	Every    int    // evaluate every Nth image only (sorted by name); 0 or 1 means all
}

// Run evaluates the set whose ground truth is csvPath (images in an images/
// folder beside it, or beside the CSV). Per-image failures are recorded in
// the report and the run goes on.
func Run(ctx context.Context, csvPath string, opt Options, fn RedactFunc) (*Report, error) {
	kindOverride := opt.Kind
	f, err := os.Open(csvPath)
	if err != nil {
		return nil, err
	}
	boxes, kind, err := ParseCSV(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", csvPath, err)
	}
	if kindOverride != "" {
		kind = kindOverride
	}
	dir := filepath.Dir(csvPath)
	imgDir := filepath.Join(dir, "images")
	if st, err := os.Stat(imgDir); err != nil || !st.IsDir() {
		imgDir = dir
	}
	byFile := map[string][]Box{}
	var files []string
	for _, b := range boxes {
		if _, ok := byFile[b.File]; !ok {
			files = append(files, b.File)
		}
		byFile[b.File] = append(byFile[b.File], b)
	}
	sort.Strings(files)
	if opt.Every > 1 {
		var kept []string
		for i, f := range files {
			if i%opt.Every == 0 {
				kept = append(kept, f)
			}
		}
		files = kept
	}

	rep := &Report{Set: dir, Kind: kind}
	buckets := map[string]*Bucket{}
	var outDestroyed, outTotal int
	var elapsed time.Duration
	orig := gocv.NewMat()
	defer orig.Close()
	for _, file := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := filepath.Join(imgDir, filepath.FromSlash(file))
		if err := pipeline.ReadImage(p, &orig); err != nil {
			rep.Errors = append(rep.Errors, err.Error())
			continue
		}
		work := orig.Clone()
		start := time.Now()
		frame, err := fn(work)
		elapsed += time.Since(start)
		if err != nil {
			frame.Close()
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		out := frame.Mat()
		d := NewDiff(orig.ToBytes(), out.ToBytes(), orig.Cols(), orig.Rows())
		if opt.DebugDir != "" {
			if err := writeDebug(opt.DebugDir, file, out, kind, d, byFile[file]); err != nil {
				rep.Errors = append(rep.Errors, err.Error())
			}
		}
		frame.Close()
		rep.Images++
		rects := make([]image.Rectangle, 0, len(byFile[file]))
		for _, b := range byFile[file] {
			rects = append(rects, b.Rect)
			if b.Rect.Dx() < 1 || b.Rect.Dy() < 1 {
				continue
			}
			name := bucketOf(kind, b)
			bk := buckets[name]
			if bk == nil {
				bk = &Bucket{Name: name}
				buckets[name] = bk
			}
			bk.Boxes++
			rep.Boxes++
			if d.Destroyed(kind, b.Rect) {
				bk.Hit++
				rep.Hit++
			} else {
				r := b.Rect
				if kind == Plates {
					r = Inner(r)
				}
				rep.Misses = append(rep.Misses, Miss{File: file, X: b.Rect.Min.X, Y: b.Rect.Min.Y, W: b.Rect.Dx(), H: b.Rect.Dy(), Cover: d.Cover(r)})
			}
		}
		od, ot := d.Outside(rects)
		outDestroyed += od
		outTotal += ot
	}
	rep.Recall = ratio(rep.Hit, rep.Boxes)
	if outTotal > 0 {
		rep.OverRedaction = float64(outDestroyed) / float64(outTotal)
	}
	if rep.Images > 0 {
		rep.MsPerImage = float64(elapsed.Microseconds()) / 1000 / float64(rep.Images)
	}
	order := []string{}
	if kind == Faces {
		for _, fb := range faceBuckets {
			order = append(order, fb.name)
		}
	} else {
		for name := range buckets {
			order = append(order, name)
		}
		sort.Strings(order)
	}
	for _, name := range order {
		if bk := buckets[name]; bk != nil {
			bk.Recall = ratio(bk.Hit, bk.Boxes)
			rep.Buckets = append(rep.Buckets, *bk)
		}
	}
	return rep, nil
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// RecallWhere adds up the redacted and total boxes of the buckets whose
// names keep accepts.
func (r *Report) RecallWhere(keep func(name string) bool) (hit, total int) {
	for _, b := range r.Buckets {
		if keep(b.Name) {
			hit += b.Hit
			total += b.Boxes
		}
	}
	return hit, total
}

// WriteTable prints the report for people.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "%s (%s): %d images, %d boxes, %.1f ms/image\n", r.Set, r.Kind, r.Images, r.Boxes, r.MsPerImage)
	head := "width px"
	if r.Kind == Plates {
		head = "region"
	}
	fmt.Fprintf(tw, "%s\tboxes\tredacted\trecall\t\n", head)
	for _, b := range r.Buckets {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.3f\t\n", b.Name, b.Boxes, b.Hit, b.Recall)
	}
	fmt.Fprintf(tw, "all\t%d\t%d\t%.3f\t\n", r.Boxes, r.Hit, r.Recall)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "over-redaction (area destroyed outside annotated boxes): %.4f\n", r.OverRedaction)
	for _, e := range r.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
	return nil
}

// WriteJSON writes the report for machines.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func writeDebug(dir, file string, out gocv.Mat, kind Kind, d Diff, boxes []Box) error {
	m := out.Clone()
	defer m.Close()
	for _, b := range boxes {
		c := color.RGBA{G: 255, A: 255}
		if !d.Destroyed(kind, b.Rect) {
			c = color.RGBA{R: 255, A: 255}
		}
		gocv.Rectangle(&m, b.Rect.Intersect(image.Rect(0, 0, m.Cols(), m.Rows())), c, 1)
	}
	p := filepath.Join(dir, filepath.FromSlash(file))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if !gocv.IMWrite(p, m) {
		return fmt.Errorf("%s: could not write debug image", p)
	}
	return nil
}
