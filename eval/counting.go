package eval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/veil-gateway/veil/count"
	"github.com/veil-gateway/veil/models"
	"github.com/veil-gateway/veil/pipeline"
)

// LineTruth is a hand-counted line on a clip (testdata/counting/vtest-line.json):
// the line, the counts each way and every crossing's frame.
type LineTruth struct {
	Clip          string  `json:"clip"` // relative to the shared data directory
	Width, Height float64 // the clip's frame size, which the line's pixels refer to
	FPS           float64 `json:"fps"`
	Frames        int     `json:"frames"`
	Line          struct {
		Name string     `json:"name"`
		A    [2]float64 `json:"a"` // pixels
		B    [2]float64 `json:"b"`
	} `json:"line"`
	Counts    struct{ In, Out int } `json:"counts"`
	Crossings []struct {
		Frame     int    `json:"frame"` // 0-based
		Direction string `json:"direction"`
	} `json:"crossings"`
}

// ParseLineTruth reads a line truth and checks it is usable: a frame size,
// a line of two distinct points inside it, crossings "in" or "out" at frame
// numbers >= 0 that add up to the counts.
func ParseLineTruth(b []byte) (LineTruth, error) {
	var gt LineTruth
	if err := json.Unmarshal(b, &gt); err != nil {
		return gt, fmt.Errorf("line truth: %w", err)
	}
	in := func(p [2]float64) bool { return p[0] >= 0 && p[0] <= gt.Width && p[1] >= 0 && p[1] <= gt.Height }
	switch {
	case gt.Clip == "":
		return gt, errors.New("line truth: no clip")
	case !(gt.Width >= 2 && gt.Width <= 16384 && gt.Height >= 2 && gt.Height <= 16384):
		return gt, fmt.Errorf("line truth: frame size %vx%v", gt.Width, gt.Height)
	case !in(gt.Line.A) || !in(gt.Line.B) || gt.Line.A == gt.Line.B:
		return gt, fmt.Errorf("line truth: line %v-%v is not two points inside the frame", gt.Line.A, gt.Line.B)
	}
	ins, outs := 0, 0
	for _, c := range gt.Crossings {
		switch {
		case c.Frame < 0:
			return gt, fmt.Errorf("line truth: crossing at frame %d", c.Frame)
		case c.Direction == "in":
			ins++
		case c.Direction == "out":
			outs++
		default:
			return gt, fmt.Errorf("line truth: crossing at frame %d goes %q (want in or out)", c.Frame, c.Direction)
		}
	}
	if ins != gt.Counts.In || outs != gt.Counts.Out {
		return gt, fmt.Errorf("line truth: crossings add up to in %d out %d, counts say in %d out %d", ins, outs, gt.Counts.In, gt.Counts.Out)
	}
	return gt, nil
}

// ReadLineTruth reads a line truth file.
func ReadLineTruth(path string) (LineTruth, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return LineTruth{}, err
	}
	gt, err := ParseLineTruth(b)
	if err != nil {
		return gt, fmt.Errorf("%s: %w", path, err)
	}
	return gt, nil
}

// Fractions returns the line's ends in fractions of the frame.
func (gt LineTruth) Fractions() (a, b [2]float64) {
	return [2]float64{gt.Line.A[0] / gt.Width, gt.Line.A[1] / gt.Height}, [2]float64{gt.Line.B[0] / gt.Width, gt.Line.B[1] / gt.Height}
}

// CountLine is the truth's line as counting takes it.
func (gt LineTruth) CountLine() count.Line {
	a, b := gt.Fractions()
	return count.Line{Name: gt.Line.Name, A: count.Point{X: a[0], Y: a[1]}, B: count.Point{X: b[0], Y: b[1]}}
}

// CountSchedule is which frames counting's detector runs on.
type CountSchedule struct {
	// Every: every Nth frame, the tracker predicting the frames between
	// (count.every; how veil redact -detect-every and the bench's stride
	// run count).
	Every int
	// LiveMin, LiveMax > 0: as a live camera counts, on the frames it
	// detected only, LiveMin to LiveMax frames apart (a fixed random
	// sequence); the frames between never reach counting, which knows the
	// stream's rate.
	LiveMin, LiveMax int
}

func (s CountSchedule) String() string {
	switch {
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
func (s CountSchedule) liveFrames() func(int) bool {
	rng := rand.New(rand.NewPCG(5, 8))
	next := 0
	return func(i int) bool {
		if i != next {
			return false
		}
		next += s.LiveMin + rng.IntN(s.LiveMax-s.LiveMin+1)
		return true
	}
}

// MatchWithin is how far from a hand-counted crossing a counted one may be
// (the truth's frames are good to about 2 frames; a track's feet cross the
// line a little before or after the person's do).
const MatchWithin = 2 * time.Second

// CountingRow is one schedule's counts against the truth.
type CountingRow struct {
	Schedule  string  `json:"schedule"`
	Every     int     `json:"every,omitempty"`
	LiveGap   []int   `json:"live_gap,omitempty"` // frames between detections, least and most
	Detected  int     `json:"frames_detected"`
	Frames    int     `json:"frames"`
	In        int     `json:"in"`
	Out       int     `json:"out"`
	TruthIn   int     `json:"truth_in"`
	TruthOut  int     `json:"truth_out"`
	Counted   int     `json:"crossings_counted"`
	Found     int     `json:"crossings_found"` // true crossings matched by a counted one of the same direction within MatchWithin
	Crossings int     `json:"crossings_true"`
	Recall    float64 `json:"recall"` // Found / Crossings
}

// Counting counts people crossing the truth's line in clip (the truth's
// clip, found by the caller) under each schedule, with cfg's detector
// settings (its lines are replaced by the truth's), and compares each with
// the truth.
func Counting(ctx context.Context, gt LineTruth, clip string, cfg pipeline.CountConfig, store *models.Store, schedules []CountSchedule) ([]CountingRow, error) {
	v, err := pipeline.OpenVideo(clip)
	if err != nil {
		return nil, err
	}
	info := v.Info()
	v.Close()
	if info.Width != int(gt.Width) || info.Height != int(gt.Height) || !(info.FPS > 0) {
		return nil, fmt.Errorf("counting: %s is %dx%d at %v fps, the truth is for %vx%v", clip, info.Width, info.Height, info.FPS, gt.Width, gt.Height)
	}
	cfg.Lines = []count.Line{gt.CountLine()}
	cfg.Zones = nil
	var rows []CountingRow
	for _, s := range schedules {
		if s.Every < 1 || s.Every > 100 || s.LiveMin < 0 || s.LiveMax < s.LiveMin || (s.LiveMax > 0 && s.LiveMin < 1) {
			return rows, fmt.Errorf("counting: bad schedule %+v", s)
		}
		c := cfg
		c.Every = s.Every
		// Every Nth frame: every frame reaches counting, which detects on
		// each Nth (count.every), as in a file; frames as the container
		// declares them.
		var pick func(int) bool
		frames, detected := info.Frames, (info.Frames+s.Every-1)/s.Every
		if s.LiveMax > 0 {
			c.Every = 1
			live := s.liveFrames()
			frames, detected = 0, 0
			pick = func(i int) bool {
				frames = max(frames, i+1)
				if live(i) {
					detected++
					return true
				}
				return false
			}
		}
		snap, events, err := pipeline.CountVideoLive(ctx, clip, c, store, pick)
		if err != nil {
			return rows, err
		}
		r := CountingRow{Schedule: s.String(), Detected: detected, Frames: frames,
			TruthIn: gt.Counts.In, TruthOut: gt.Counts.Out, Counted: len(events), Crossings: len(gt.Crossings)}
		if s.LiveMax > 0 {
			r.LiveGap = []int{s.LiveMin, s.LiveMax}
		} else {
			r.Every = s.Every
		}
		for _, l := range snap.Lines {
			if p, ok := l.Classes["person"]; ok {
				r.In, r.Out = int(p.In), int(p.Out)
			}
		}
		r.Found = matchCrossings(gt, events, snap.Since, info.FPS)
		r.Recall = float64(r.Found) / float64(max(1, r.Crossings))
		rows = append(rows, r)
	}
	return rows, nil
}

// matchCrossings pairs each counted crossing with the first unpaired true
// one of the same direction within MatchWithin, and returns the pairs.
func matchCrossings(gt LineTruth, events []count.Event, since time.Time, fps float64) int {
	within := int(math.Round(MatchWithin.Seconds() * fps))
	used := make([]bool, len(gt.Crossings))
	n := 0
	for _, e := range events {
		if e.Class != "person" {
			continue
		}
		frame := int(math.Round(e.Time.Sub(since).Seconds() * fps))
		for i, c := range gt.Crossings {
			if !used[i] && c.Direction == e.Direction && abs(c.Frame-frame) <= within {
				used[i], n = true, n+1
				break
			}
		}
	}
	return n
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// WriteCountingTable prints the rows for people.
func WriteCountingTable(w io.Writer, gt LineTruth, rows []CountingRow) error {
	fmt.Fprintf(w, "counting: line %s on %s, truth in %d out %d (%d crossings); a crossing is found when one counted the same way lies within %v of it\n",
		gt.Line.Name, gt.Clip, gt.Counts.In, gt.Counts.Out, len(gt.Crossings), MatchWithin)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "schedule\tframes detected\tin\tout\tcounted\tfound\trecall\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d/%d\t%d\t%d\t%d\t%d of %d\t%.2f\t\n", r.Schedule, r.Detected, r.Frames, r.In, r.Out, r.Counted, r.Found, r.Crossings, r.Recall)
	}
	return tw.Flush()
}
