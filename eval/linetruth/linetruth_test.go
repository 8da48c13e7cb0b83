package linetruth_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/veil-gateway/veil/count"
	"github.com/veil-gateway/veil/eval/linetruth"
)

var truthFile = filepath.Join("..", "..", "testdata", "counting", "vtest-line.json")

// The repository's truth reads; every way a truth can be wrong is named.
func TestParse(t *testing.T) {
	good, err := os.ReadFile(truthFile)
	if err != nil {
		t.Fatal(err)
	}
	gt, err := linetruth.Parse(good)
	if err != nil {
		t.Fatalf("the repository's truth: %v", err)
	}
	if gt.Clip != "video/vtest.avi" || gt.Frames != 795 || gt.FPS != 10 || len(gt.Crossings) != 27 || gt.Counts.In != 12 || gt.Counts.Out != 15 {
		t.Errorf("read %s, %d frames at %v fps, %d crossings, in %d out %d", gt.Clip, gt.Frames, gt.FPS, len(gt.Crossings), gt.Counts.In, gt.Counts.Out)
	}
	s := string(good)
	for _, tc := range []struct{ name, old, new, want string }{
		{"not json", "{", "[", "invalid character"},
		{"no clip", `"clip": "video/vtest.avi"`, `"clip": ""`, "clip"},
		{"clip outside the data", `"clip": "video/vtest.avi"`, `"clip": "../../etc/passwd"`, "inside the data"},
		{"absolute clip", `"clip": "video/vtest.avi"`, `"clip": "/etc/passwd"`, "inside the data"},
		{"no width", `"width": 768`, `"width": 0`, "frame size"},
		{"fractional height", `"height": 576`, `"height": 576.5`, "frame size"},
		{"no fps", `"fps": 10`, `"fps": 0`, "fps"},
		{"no frames", `"frames": 795`, `"frames": 0`, "frames"},
		{"line outside", `"a": [350, 390]`, `"a": [350, 900]`, "not two points"},
		{"line of one point", `"a": [350, 390]`, `"a": [350, 180]`, "not two points"},
		{"crossing past the end", `{"frame": 13,`, `{"frame": 795,`, "frame 795"},
		{"negative frame", `{"frame": 13,`, `{"frame": -1,`, "frame -1"},
		{"bad direction", `"direction": "in"`, `"direction": "up"`, `"up"`},
		{"counts disagree", `"in": 12`, `"in": 13`, "add up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(s, tc.old) {
				t.Fatalf("truth file has no %q to change", tc.old)
			}
			_, err := linetruth.Parse([]byte(strings.Replace(s, tc.old, tc.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
	if _, err := linetruth.Parse([]byte(`{"clip":"c","width":10,"height":10,"fps":1,"frames":5,"line":{"a":[1,1],"b":[2,2]}}`)); err == nil || !strings.Contains(err.Error(), "no crossings") {
		t.Errorf("no crossings: %v", err)
	}
	// A valid truth padded past the cap: refused for its size, by Parse
	// and by Read.
	big := append(slices.Clone(good), strings.Repeat(" ", linetruth.MaxFile)...)
	if _, err := linetruth.Parse(big); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("an oversized truth: %v", err)
	}
	path := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(path, big, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := linetruth.Read(path); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("reading an oversized truth: %v", err)
	}
	if _, err := linetruth.Read(filepath.Join(t.TempDir(), "none.json")); err == nil {
		t.Error("missing file: no error")
	}
}

// Match pairs counted crossings with true ones: same direction, within 2 s,
// each true one at most once; other classes and lines do not count.
func TestMatch(t *testing.T) {
	gt, err := linetruth.Parse([]byte(`{"clip":"c.avi","width":100,"height":100,"fps":10,"frames":1000,
		"line":{"name":"l","a":[50,0],"b":[50,100]},"counts":{"in":2,"out":1},
		"crossings":[{"frame":300,"direction":"in"},{"frame":100,"direction":"in"},{"frame":200,"direction":"out"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if gt.Crossings[0].Frame != 100 {
		t.Fatalf("crossings not sorted by frame: %v", gt.Crossings)
	}
	since := time.Unix(1000, 0)
	at := func(frame int, dir string) count.Event {
		return count.Event{Time: since.Add(time.Duration(frame) * 100 * time.Millisecond), Line: "l", Class: linetruth.Person, Direction: dir}
	}
	car := at(100, count.In)
	car.Class = "car"
	other := at(300, count.In)
	other.Line = "m"
	for _, tc := range []struct {
		name           string
		events         []count.Event
		found, counted int
	}{
		{"none", nil, 0, 0},
		{"all, on time", []count.Event{at(100, count.In), at(200, count.Out), at(300, count.In)}, 3, 3},
		{"2 s late still matches", []count.Event{at(120, count.In)}, 1, 1},
		{"2.1 s late does not", []count.Event{at(121, count.In)}, 0, 1},
		{"wrong direction", []count.Event{at(100, count.Out)}, 0, 1},
		{"one true crossing matched once", []count.Event{at(100, count.In), at(101, count.In)}, 1, 2},
		{"other class, other line", []count.Event{car, other}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if found, counted := gt.Match(tc.events, since); found != tc.found || counted != tc.counted {
				t.Errorf("found %d of %d counted, want %d of %d", found, counted, tc.found, tc.counted)
			}
		})
	}
	a, b := gt.Fractions()
	if l := gt.CountLine(); a != [2]float64{0.5, 0} || b != [2]float64{0.5, 1} || l.Name != "l" || l.A.X != 0.5 || l.B.Y != 1 {
		t.Errorf("line %v-%v, count line %+v", a, b, l)
	}
}

// FuzzParse: whatever the file says, Parse returns an error or a truth
// whose line lies inside its frame and whose crossings lie inside the clip.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile(truthFile); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"clip":"c","width":10,"height":10,"fps":1,"frames":5,"line":{"a":[1,1],"b":[2,2]},"counts":{"in":1},"crossings":[{"frame":1,"direction":"in"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		gt, err := linetruth.Parse(b)
		if err != nil {
			return
		}
		a, c := gt.Fractions()
		for _, p := range [][2]float64{a, c} {
			if !(p[0] >= 0 && p[0] <= 1 && p[1] >= 0 && p[1] <= 1) {
				t.Fatalf("line end %v outside the frame", p)
			}
		}
		for _, x := range gt.Crossings {
			if x.Frame < 0 || x.Frame >= gt.Frames {
				t.Fatalf("crossing at frame %d of %d", x.Frame, gt.Frames)
			}
		}
		gt.Match([]count.Event{{Class: linetruth.Person, Line: gt.Line.Name, Direction: count.In}}, time.Time{})
	})
}
