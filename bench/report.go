package bench

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the runs and ratios for people.
func (r *Report) WriteTable(w io.Writer) error {
	if r.DNN != "" {
		fmt.Fprintf(w, "detectors on %s\n", r.DNN)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "clip\tmode\tsize\tframes\tdropped\tfps\tCPU ms/frame\tp50 ms\tp95 ms\tp99 ms\tRSS MB start→end\t")
	for _, s := range Stages {
		fmt.Fprintf(tw, "%s p50\t", s)
	}
	fmt.Fprintln(tw)
	for _, run := range r.Runs {
		mode := run.Mode
		if run.Round > 0 {
			mode = fmt.Sprintf("%s #%d", mode, run.Round)
		}
		fmt.Fprintf(tw, "%s\t%s\t%dx%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f→%.0f\t", run.Clip, mode, run.Width, run.Height, run.Frames, run.Dropped,
			run.FPS, run.CPUMsFrame, run.EndToEnd.P50, run.EndToEnd.P95, run.EndToEnd.P99, run.RSSStartMB, run.RSSEndMB)
		for _, s := range Stages {
			if d, ok := run.Stages[s]; ok {
				fmt.Fprintf(tw, "%.1f\t", d.P50)
			} else {
				fmt.Fprint(tw, "-\t")
			}
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "clip\tveil/naive fps (>=3)\tveil/pass-through CPU (<=2)\tstride\tstride/naive fps\tstride masked area\tlive fps / source\tlive dropped\tlive p99 ms (<=100)\tguard fps\tguard dropped\tguard p99 ms\tguard masked area\tguard/pass-through CPU (<=2)\tguard/live pass-through CPU (<=2)\t")
	for _, q := range r.Ratios {
		stride, strideFPS, strideArea := "-", "-", "-"
		if q.StrideEvery > 0 {
			stride = fmt.Sprintf("every %d", q.StrideEvery)
			strideFPS, strideArea = fmt.Sprintf("%.2f", q.StrideOverNaiveFPS), fmt.Sprintf("%.1f%%", 100*q.StrideArea)
		}
		overLive := "-"
		if q.GuardCPUOverLivePass > 0 {
			overLive = fmt.Sprintf("%.2f", q.GuardCPUOverLivePass)
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%s\t%s\t%s\t%.1f / %.0f\t%.1f%%\t%.0f\t%.1f\t%.1f%%\t%.0f\t%.1f%%\t%.2f\t%s\t\n", q.Clip, q.VeilOverNaiveFPS, q.VeilCPUOverPassThru,
			stride, strideFPS, strideArea, q.LiveFPS, q.LiveSourceFPS, 100*q.LiveDropShare, q.LiveP99Ms,
			q.GuardFPS, 100*q.GuardDropShare, q.GuardP99Ms, 100*q.GuardArea, q.GuardCPUOverPassThru, overLive)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Schedule) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "clip	detect every	how	frames detected	tiles run	guard masked	regions (every frame)	still destroyed	recall vs every frame	")
	for _, s := range r.Schedule {
		how, tiles, masked := "hold", "-", "-"
		switch {
		case s.Reuse != nil:
			how = "reuse " + fmt.Sprintf("%g/%d", s.Reuse.Threshold, s.Reuse.MaxAge)
			tiles = fmt.Sprintf("%.0f%%", 100*float64(s.Tiles.Run)/float64(max(1, s.Tiles.Run+s.Tiles.Reused)))
		case s.GuardLag > 0:
			how = fmt.Sprintf("guard, lag %d", s.GuardLag)
			masked = fmt.Sprintf("%.1f%%", 100*s.MaskedShare)
		case s.Stride:
			how = "stride (guard between)"
			masked = fmt.Sprintf("%.1f%%", 100*s.MaskedShare)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d/%d\t%s\t%s\t%d\t%d\t%.3f\t\n", s.Clip, s.Every, how, s.Detected, s.Frames, tiles, masked, s.Regions, s.Covered, s.Recall)
	}
	return tw.Flush()
}

// WriteJSON writes the report.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

var stageColours = map[string]string{"decode": "#6e7781", "queue": "#afb8c1", "count": "#8250df", "faces": "#cf222e",
	"plates": "#bc4c00", "track": "#4d2d00", "redact": "#1a7f37", "encode": "#0969da"}

// WritePlots writes stages.svg (mean ms per stage, stacked, per run) and,
// for live runs, latency.svg (capture-to-sample histogram) into dir.
func (r *Report) WritePlots(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	// Per-stage bars.
	const rowH, left, width = 26, 190, 560
	maxMs := 1.0
	for _, run := range r.Runs {
		sum := 0.0
		for _, s := range Stages {
			sum += run.Stages[s].Mean
		}
		maxMs = max(maxMs, sum)
	}
	var b strings.Builder
	h := 60 + rowH*len(r.Runs) + 40
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`, left+width+90, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#fff"/><text x="10" y="20" font-size="14">Mean ms per frame in each stage (veil bench, %s)</text>`, html.EscapeString(r.Host.CPUModel))
	for i, run := range r.Runs {
		y := 40 + i*rowH
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s %s</text>`, left-8, y+15, html.EscapeString(run.Clip), run.Mode)
		x := float64(left)
		for _, s := range Stages {
			d := run.Stages[s].Mean
			if d <= 0 {
				continue
			}
			w := d / maxMs * width
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s %.1f ms</title></rect>`, x, y+2, w, rowH-6, stageColours[s], s, d)
			x += w
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%.0f ms</text>`, x+4, y+15, (x-left)/width*maxMs)
	}
	ly := 40 + rowH*len(r.Runs) + 16
	for i, s := range Stages {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d">%s</text>`, 10+i*90, ly, stageColours[s], 24+i*90, ly+10, s)
	}
	b.WriteString(`</svg>`)
	p := filepath.Join(dir, "stages.svg")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	files = append(files, p)

	// Live latency histograms.
	for _, run := range r.Runs {
		if (run.Mode != Live && run.Mode != LivePass && run.Mode != Guard) || len(run.Histogram) == 0 {
			continue
		}
		b.Reset()
		peak := 1
		for _, v := range run.Histogram {
			peak = max(peak, v)
		}
		const W, H, bw = 700, 260, 6
		fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12"><rect width="100%%" height="100%%" fill="#fff"/>`, W, H)
		fmt.Fprintf(&b, `<text x="10" y="20" font-size="14">%s %s: capture-to-sample latency, 10 ms bins (p50 %.0f, p95 %.0f, p99 %.0f ms; %d frames)</text>`,
			html.EscapeString(run.Clip), run.Mode, run.EndToEnd.P50, run.EndToEnd.P95, run.EndToEnd.P99, run.EndToEnd.N)
		for i, v := range run.Histogram {
			bh := float64(v) / float64(peak) * (H - 70)
			fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="#0969da"><title>%d-%d ms: %d</title></rect>`, 40+i*bw, H-30-bh, bw-1, bh, i*10, i*10+10, v)
		}
		for ms := 0; ms < len(run.Histogram)*10; ms += 100 {
			fmt.Fprintf(&b, `<text x="%d" y="%d">%d</text>`, 40+ms/10*bw, H-12, ms)
		}
		b.WriteString(`</svg>`)
		p := filepath.Join(dir, "latency-"+safe(run.Clip)+"-"+run.Mode+".svg")
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			return files, err
		}
		files = append(files, p)
	}
	return files, nil
}

func safe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, strings.ToLower(s))
}
