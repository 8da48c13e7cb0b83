// Package linetruth reads a hand-counted line on a clip (the format of
// testdata/counting/vtest-line.json) and scores counted crossings against
// it. It uses no image library, so network-side tests can read it too.
package linetruth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/veil-gateway/veil/count"
)

// Truth is a hand-counted line: the clip it is for, the line, the counts
// each way and every crossing's frame.
type Truth struct {
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
	Crossings []Crossing            `json:"crossings"` // by frame
}

// Crossing is one person crossing the line.
type Crossing struct {
	Frame     int    `json:"frame"` // 0-based
	Direction string `json:"direction"`
}

// MaxFile bounds a truth file's size.
const MaxFile = 1 << 20

// Parse reads a truth and checks it is usable: a clip inside the data
// directory, a frame size, rate and length, a line of two distinct points
// inside the frame, at least one crossing, each "in" or "out" at a frame of
// the clip, adding up to the counts. Crossings come back sorted by frame.
func Parse(b []byte) (Truth, error) {
	var gt Truth
	if len(b) > MaxFile {
		return gt, fmt.Errorf("line truth: %d bytes, more than %d", len(b), MaxFile)
	}
	if err := json.Unmarshal(b, &gt); err != nil {
		return gt, fmt.Errorf("line truth: %w", err)
	}
	inside := func(p [2]float64) bool { return p[0] >= 0 && p[0] <= gt.Width && p[1] >= 0 && p[1] <= gt.Height }
	switch {
	case gt.Clip == "" || !filepath.IsLocal(filepath.FromSlash(gt.Clip)):
		return gt, fmt.Errorf("line truth: clip %q must be a path inside the data directory", gt.Clip)
	case !(gt.Width >= 2 && gt.Width <= 16384 && gt.Height >= 2 && gt.Height <= 16384) || gt.Width != math.Trunc(gt.Width) || gt.Height != math.Trunc(gt.Height):
		return gt, fmt.Errorf("line truth: frame size %vx%v", gt.Width, gt.Height)
	case !(gt.FPS > 0 && gt.FPS <= 1000) || gt.Frames < 1:
		return gt, fmt.Errorf("line truth: %v fps, %d frames", gt.FPS, gt.Frames)
	case !inside(gt.Line.A) || !inside(gt.Line.B) || gt.Line.A == gt.Line.B:
		return gt, fmt.Errorf("line truth: line %v-%v is not two points inside the frame", gt.Line.A, gt.Line.B)
	case len(gt.Crossings) == 0:
		return gt, errors.New("line truth: no crossings")
	}
	ins, outs := 0, 0
	for _, c := range gt.Crossings {
		switch {
		case c.Frame < 0 || c.Frame >= gt.Frames:
			return gt, fmt.Errorf("line truth: crossing at frame %d of %d", c.Frame, gt.Frames)
		case c.Direction == count.In:
			ins++
		case c.Direction == count.Out:
			outs++
		default:
			return gt, fmt.Errorf("line truth: crossing at frame %d goes %q (want %s or %s)", c.Frame, c.Direction, count.In, count.Out)
		}
	}
	if ins != gt.Counts.In || outs != gt.Counts.Out {
		return gt, fmt.Errorf("line truth: crossings add up to in %d out %d, counts say in %d out %d", ins, outs, gt.Counts.In, gt.Counts.Out)
	}
	slices.SortStableFunc(gt.Crossings, func(a, b Crossing) int { return a.Frame - b.Frame })
	return gt, nil
}

// Read reads a truth file.
func Read(path string) (Truth, error) {
	f, err := os.Open(path)
	if err != nil {
		return Truth{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFile+1))
	if err != nil {
		return Truth{}, err
	}
	gt, err := Parse(b)
	if err != nil {
		return gt, fmt.Errorf("%s: %w", path, err)
	}
	return gt, nil
}

// Fractions returns the line's ends in fractions of the frame.
func (gt Truth) Fractions() (a, b [2]float64) {
	return [2]float64{gt.Line.A[0] / gt.Width, gt.Line.A[1] / gt.Height}, [2]float64{gt.Line.B[0] / gt.Width, gt.Line.B[1] / gt.Height}
}

// CountLine is the truth's line as counting takes it.
func (gt Truth) CountLine() count.Line {
	a, b := gt.Fractions()
	return count.Line{Name: gt.Line.Name, A: count.Point{X: a[0], Y: a[1]}, B: count.Point{X: b[0], Y: b[1]}}
}

// Within is how far from a hand-counted crossing a counted one may be (the
// truth's frames are good to about 2 frames; a track's feet cross a little
// before or after the person's do).
const Within = 2 * time.Second

// Person is the class the truth counts.
const Person = "person"

// Match pairs each counted person crossing on the truth's line, in time
// order, with the earliest unpaired true crossing of the same direction
// within Within. It returns how many true crossings were paired (found) and
// how many person crossings on the line were counted; other classes and
// lines are not looked at. since is the time of the clip's frame 0.
func (gt Truth) Match(events []count.Event, since time.Time) (found, counted int) {
	within := int(math.Round(Within.Seconds() * gt.FPS))
	used := make([]bool, len(gt.Crossings))
	for _, e := range events {
		if e.Class != Person || e.Line != gt.Line.Name {
			continue
		}
		counted++
		frame := int(math.Round(e.Time.Sub(since).Seconds() * gt.FPS))
		for i, c := range gt.Crossings {
			if !used[i] && c.Direction == e.Direction && abs(c.Frame-frame) <= within {
				used[i], found = true, found+1
				break
			}
		}
	}
	return found, counted
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
