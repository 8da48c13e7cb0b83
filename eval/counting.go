package eval

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"text/tabwriter"

	"github.com/veil-gateway/veil/count"
	"github.com/veil-gateway/veil/eval/linetruth"
	"github.com/veil-gateway/veil/models"
	"github.com/veil-gateway/veil/pipeline"
)

// CountSchedule is which frames counting's detector runs on.
type CountSchedule struct {
	// Every: every Nth frame, the tracker predicting the frames between
	// (count.every; how the bench's stride run counts).
	Every int
	// LiveMin, LiveMax > 0: as a live camera counts, on the frames it
	// detected only, LiveMin to LiveMax frames apart (a fixed random
	// sequence); the frames between never reach counting, which knows the
	// stream's rate.
	LiveMin, LiveMax int
	// FullEvery > 1 (live only): every FullEvery-th detection looks with
	// every pass, the others at the whole frame once (pipeline.CountLight), as a
	// guard-mode camera counts alone between capped detections (count.fps).
	FullEvery int
}

func (s CountSchedule) String() string {
	switch {
	case s.LiveMax > 0 && s.FullEvery > 1:
		return fmt.Sprintf("live, %d-%d frames apart, full every %s", s.LiveMin, s.LiveMax, ordinal(s.FullEvery))
	case s.LiveMax > 0:
		return fmt.Sprintf("live, detected %d-%d frames apart", s.LiveMin, s.LiveMax)
	case s.Every <= 1:
		return "every frame"
	}
	return "every " + ordinal(s.Every) + " frame"
}

func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.Itoa(n) + suffix
}

// liveFrames picks the frames a live camera detecting lo to hi frames apart
// would: a fixed sequence, so runs compare.
func (s CountSchedule) liveFrames() func(int) pipeline.CountLook {
	rng := rand.New(rand.NewPCG(5, 8))
	next, n := 0, 0
	return func(i int) pipeline.CountLook {
		if i != next {
			return pipeline.CountSkip
		}
		next += s.LiveMin + rng.IntN(s.LiveMax-s.LiveMin+1)
		n++
		if s.FullEvery > 1 && (n-1)%s.FullEvery != 0 {
			return pipeline.CountLight
		}
		return pipeline.CountFull
	}
}

// CountingRow is one schedule's counts against the truth.
type CountingRow struct {
	Schedule  string  `json:"schedule"`
	Every     int     `json:"every,omitempty"`
	LiveGap   []int   `json:"live_gap,omitempty"`   // frames between detections, least and most
	FullEvery int     `json:"full_every,omitempty"` // live: every Nth detection with every pass, the others the whole frame once
	Detected  int     `json:"frames_detected"`
	Frames    int     `json:"frames"`
	In        int     `json:"in"`
	Out       int     `json:"out"`
	TruthIn   int     `json:"truth_in"`
	TruthOut  int     `json:"truth_out"`
	Counted   int     `json:"crossings_counted"` // people counted crossing the line
	Found     int     `json:"crossings_found"`   // true crossings matched by a counted one (linetruth.Truth.Match)
	Crossings int     `json:"crossings_true"`
	Recall    float64 `json:"recall"` // Found / Crossings
}

// Counting counts people crossing the truth's line in clip (the truth's
// clip, found by the caller) under each schedule, with cfg's detector
// settings (its lines are replaced by the truth's), and compares each with
// the truth.
func Counting(ctx context.Context, gt linetruth.Truth, clip string, cfg pipeline.CountConfig, store *models.Store, schedules []CountSchedule) ([]CountingRow, error) {
	v, err := pipeline.OpenVideo(clip)
	if err != nil {
		return nil, err
	}
	info := v.Info()
	v.Close()
	// Frames are stamped at the clip's rate and read back at the truth's:
	// the two must agree to half a frame over the whole clip.
	if info.Width != int(gt.Width) || info.Height != int(gt.Height) || math.Abs(info.FPS-gt.FPS)*float64(gt.Frames)/gt.FPS >= 0.5 {
		return nil, fmt.Errorf("counting: %s is %dx%d at %v fps, the truth is for %vx%v at %v fps", clip, info.Width, info.Height, info.FPS, gt.Width, gt.Height, gt.FPS)
	}
	cfg.Lines = []count.Line{gt.CountLine()}
	cfg.Zones = nil
	var rows []CountingRow
	for _, s := range schedules {
		if s.Every < 1 || s.Every > 100 || s.LiveMin < 0 || s.LiveMax < s.LiveMin || (s.LiveMax > 0 && s.LiveMin < 1) || s.FullEvery < 0 || s.FullEvery > 1000 || (s.FullEvery > 1 && s.LiveMax == 0) {
			return rows, fmt.Errorf("counting: bad schedule %+v", s)
		}
		c := cfg
		c.Every = s.Every
		// Every Nth frame: every frame reaches counting, which detects on
		// each Nth (count.every), as in a file.
		var pick func(int) pipeline.CountLook
		if s.LiveMax > 0 {
			c.Every = 1
			pick = s.liveFrames()
		}
		got, err := pipeline.CountVideoLive(ctx, clip, c, store, pick)
		if err != nil {
			return rows, err
		}
		if got.Frames != gt.Frames {
			return rows, fmt.Errorf("counting: %s has %d frames, the truth %d", clip, got.Frames, gt.Frames)
		}
		r := CountingRow{Schedule: s.String(), Detected: got.Detections, Frames: got.Frames,
			TruthIn: gt.Counts.In, TruthOut: gt.Counts.Out, Crossings: len(gt.Crossings)}
		if s.LiveMax > 0 {
			r.LiveGap, r.FullEvery = []int{s.LiveMin, s.LiveMax}, s.FullEvery
		} else {
			r.Every = s.Every
		}
		for _, l := range got.Snapshot.Lines {
			if p, ok := l.Classes[linetruth.Person]; ok && l.Line == gt.Line.Name {
				r.In, r.Out = int(p.In), int(p.Out)
			}
		}
		r.Found, r.Counted = gt.Match(got.Events, got.Snapshot.Since)
		r.Recall = float64(r.Found) / float64(r.Crossings)
		rows = append(rows, r)
	}
	return rows, nil
}

// WriteCountingTable prints the rows for people.
func WriteCountingTable(w io.Writer, gt linetruth.Truth, rows []CountingRow) error {
	fmt.Fprintf(w, "counting: line %s on %s, truth in %d out %d (%d crossings); a crossing is found when one counted the same way lies within %v of it\n",
		gt.Line.Name, gt.Clip, gt.Counts.In, gt.Counts.Out, len(gt.Crossings), linetruth.Within)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "schedule\tframes detected\tin\tout\tcounted\tfound\trecall\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d/%d\t%d\t%d\t%d\t%d of %d\t%.2f\t\n", r.Schedule, r.Detected, r.Frames, r.In, r.Out, r.Counted, r.Found, r.Crossings, r.Recall)
	}
	return tw.Flush()
}
