package count

import (
	"math"
	"testing"
	"time"
)

var (
	diagonal = Line{Name: "ramp", A: Point{50, 50}, B: Point{400, 450}}
	hall     = Zone{Name: "hall", Polygon: []Point{{0, 0}, {250, 0}, {250, 250}, {0, 250}}}
	corner   = Zone{Name: "corner", Polygon: []Point{{300, 300}, {500, 300}, {300, 500}}}
)

// fuzzInput turns bytes into options and a sequence of frames. The first
// four bytes set the options; then each frame is a count byte followed by
// four bytes per observation.
func fuzzInput(data []byte) (Options, [][]Observation) {
	next := func() (byte, bool) {
		if len(data) == 0 {
			return 0, false
		}
		b := data[0]
		data = data[1:]
		return b, true
	}
	var hdr [4]byte
	for i := range hdr {
		hdr[i], _ = next()
	}
	opt := Options{
		Margin:       float64(hdr[0] % 20),
		StitchRadius: float64(hdr[1]%70) - 10, // sometimes off
		StitchFrames: 1 + int(hdr[2]%8),
	}
	opt.ForgetFrames = opt.StitchFrames + int(hdr[3]%10)
	var frames [][]Observation
	for {
		n, ok := next()
		if !ok {
			return opt, frames
		}
		var obs []Observation
		for range n % 7 {
			var b [4]byte
			for i := range b {
				b[i], _ = next()
			}
			o := Observation{
				TrackID:   uint64(b[0]%10) + 1,
				Class:     [...]string{"person", "car"}[b[0]>>4&1],
				Confirmed: b[0]>>5&1 == 0,
				Predicted: b[0]>>6 == 3,
				Point:     Point{2*float64(b[1]) + float64(b[3]&15)/4, 2*float64(b[2]) + float64(b[3]>>4)/4},
			}
			switch b[3] {
			case 0xff:
				o.Point.X = math.NaN()
			case 0xfe:
				o.Point.Y = math.Inf(-1)
			}
			obs = append(obs, o)
		}
		frames = append(frames, obs)
	}
}

// walkSeed encodes one track walking from (x, y0) to (x, y1) (in the
// fuzzer's units: half pixels), confirmed from frame conf.
func walkSeed(id byte, x, y0, y1 byte, conf int) []byte {
	out := []byte{8, 40, 5, 20}
	step := 1
	if y1 < y0 {
		step = -1
	}
	for i, y := 0, int(y0); y != int(y1); i, y = i+1, y+step*5 {
		flags := id
		if i < conf {
			flags |= 1 << 5
		}
		out = append(out, 1, flags, x, byte(y), 0)
	}
	return out
}

func FuzzCounter(f *testing.F) {
	f.Add(walkSeed(1, 100, 60, 140, 0))
	f.Add(walkSeed(2, 100, 140, 60, 4))
	f.Add(walkSeed(3, 200, 60, 140, 2)) // beyond the door's end
	f.Add(append(walkSeed(1, 100, 60, 100, 0), walkSeed(2, 100, 100, 140, 3)[4:]...))
	f.Add([]byte{0, 0, 0, 0, 6, 1, 2, 3, 0xff, 2, 3, 4, 0xfe, 0x41, 0x42, 0x43, 0x44, 1, 100, 100, 0, 1, 100, 100, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		opt, frames := fuzzInput(data)
		c, err := NewCounter([]Line{door, diagonal}, []Zone{hall, corner}, opt)
		if err != nil {
			t.Fatalf("options %+v: %v", opt, err)
		}
		type key struct {
			serial uint64
			line   int
		}
		last := map[key]string{}
		traced := 0
		c.trace = func(serial uint64, line int, dir string) {
			k := key{serial, line}
			if last[k] == dir {
				t.Fatalf("track record %d, line %d: %s twice in a row", serial, line, dir)
			}
			last[k] = dir
			traced++
		}
		events := map[[3]string]uint64{}
		window := make([]int, c.opt.ForgetFrames+1)
		for i, obs := range frames {
			now := t0.Add(time.Duration(i) * time.Second)
			got := c.Update(now, obs)
			for _, e := range got {
				if !e.Time.Equal(now) || (e.Direction != In && e.Direction != Out) || (e.Line != door.Name && e.Line != diagonal.Name) {
					t.Fatalf("bad event %+v", e)
				}
				events[[3]string{e.Line, e.Class, e.Direction}]++
			}
			// Bounded memory: only tracks seen in the last ForgetFrames+1
			// frames are remembered.
			window[i%len(window)] = len(obs)
			bound := 0
			for _, n := range window {
				bound += n
			}
			if len(c.recs) > bound {
				t.Fatalf("frame %d: %d tracks remembered, at most %d seen recently", i, len(c.recs), bound)
			}
			confirmed := 0
			for _, o := range obs {
				if o.Confirmed {
					confirmed++
				}
			}
			for _, z := range c.Occupancy() {
				n := 0
				for _, k := range z.Classes {
					n += k
				}
				if n > confirmed {
					t.Fatalf("frame %d: zone %s holds %d, with %d confirmed observations", i, z.Zone, n, confirmed)
				}
			}
		}
		total := 0
		for _, lt := range c.Totals() {
			for class, io := range lt.Classes {
				if io.In != events[[3]string{lt.Line, class, In}] || io.Out != events[[3]string{lt.Line, class, Out}] {
					t.Fatalf("totals %s %s %+v, events say in %d out %d", lt.Line, class, io,
						events[[3]string{lt.Line, class, In}], events[[3]string{lt.Line, class, Out}])
				}
				total += int(io.In + io.Out)
			}
		}
		n := 0
		for _, k := range events {
			n += int(k)
		}
		if total != n || traced != n {
			t.Fatalf("totals sum to %d, %d events, %d traced", total, n, traced)
		}
	})
}

func BenchmarkCounterUpdate(b *testing.B) {
	const tracks, period = 30, 200
	frames := make([][]Observation, period)
	for f := range frames {
		phase := 2 * math.Pi * float64(f) / period
		for i := range tracks {
			// Circles around the door and the ramp: every track crosses
			// something twice a period.
			cx, cy := 120+float64(i%6)*30, 180+float64(i/6)*20
			o := Observation{
				TrackID:   uint64(i + 1),
				Class:     [...]string{"person", "car", "bicycle"}[i%3],
				Point:     Point{cx + 60*math.Cos(phase+float64(i)), cy + 60*math.Sin(phase+float64(i))},
				Confirmed: true,
				Predicted: (f+i)%11 == 0,
			}
			frames[f] = append(frames[f], o)
		}
	}
	c := newCounter(b, []Line{door, diagonal}, []Zone{hall, corner}, Options{})
	for i, f := range frames {
		c.Update(at(i), f)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Update(at(i), frames[i%period])
		i++
	}
}
