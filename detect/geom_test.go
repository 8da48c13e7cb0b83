package detect

import (
	"image"
	"testing"
)

func TestIoU(t *testing.T) {
	tests := []struct {
		name string
		a, b image.Rectangle
		want float64
	}{
		{"same", image.Rect(0, 0, 10, 10), image.Rect(0, 0, 10, 10), 1},
		{"disjoint", image.Rect(0, 0, 10, 10), image.Rect(20, 20, 30, 30), 0},
		{"half", image.Rect(0, 0, 10, 10), image.Rect(5, 0, 15, 10), 50.0 / 150},
		{"touching", image.Rect(0, 0, 10, 10), image.Rect(10, 0, 20, 10), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IoU(tt.a, tt.b); got < tt.want-1e-9 || got > tt.want+1e-9 {
				t.Errorf("IoU = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNMSKeepsBestOfOverlapping(t *testing.T) {
	dets := []Detection{
		{Box: image.Rect(0, 0, 10, 10), Class: Face, Score: 0.6},
		{Box: image.Rect(1, 1, 11, 11), Class: Face, Score: 0.9},
		{Box: image.Rect(1, 1, 11, 11), Class: Plate, Score: 0.5}, // other class stays
		{Box: image.Rect(50, 50, 60, 60), Class: Face, Score: 0.4},
	}
	got := NMS(dets, 0.3)
	if len(got) != 3 {
		t.Fatalf("got %d detections, want 3: %+v", len(got), got)
	}
	if got[0].Score != 0.9 {
		t.Errorf("first kept score %v, want 0.9", got[0].Score)
	}
}

func TestMergeContainedNeverShrinks(t *testing.T) {
	big := image.Rect(0, 0, 100, 100)
	part := image.Rect(20, 20, 40, 40) // a second pass found an eye, with a higher score
	got := MergeContained([]Detection{{Box: part, Class: Face, Score: 0.9}, {Box: big, Class: Face, Score: 0.5}}, 0.7)
	if len(got) != 1 || got[0].Box != big {
		t.Fatalf("got %+v, want one box %v", got, big)
	}
}

func TestPad(t *testing.T) {
	b := image.Rect(0, 0, 100, 100)
	tests := []struct {
		name   string
		r      image.Rectangle
		fx, fy float64
		want   image.Rectangle
	}{
		{"inside", image.Rect(40, 40, 60, 60), 0.1, 0.5, image.Rect(38, 30, 62, 70)},
		{"clipped", image.Rect(0, 0, 20, 20), 0.5, 0.5, image.Rect(0, 0, 30, 30)},
		{"zero", image.Rect(10, 10, 20, 20), 0, 0, image.Rect(10, 10, 20, 20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Pad(tt.r, tt.fx, tt.fy, b); got != tt.want {
				t.Errorf("Pad = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMergeTextLines(t *testing.T) {
	tests := []struct {
		name string
		in   []image.Rectangle
		want int
	}{
		// "ABC 123": two boxes on one line with a space between: one box.
		{"plate split at space", []image.Rectangle{image.Rect(0, 0, 30, 10), image.Rect(36, 1, 70, 11)}, 1},
		// Three pieces at hyphens.
		{"three pieces", []image.Rectangle{image.Rect(0, 0, 20, 10), image.Rect(25, 0, 45, 10), image.Rect(50, 0, 70, 10)}, 1},
		// Two lines of text are not one line.
		{"two lines", []image.Rectangle{image.Rect(0, 0, 30, 10), image.Rect(0, 20, 30, 30)}, 2},
		// Far apart on the same row: two signs.
		{"far apart", []image.Rectangle{image.Rect(0, 0, 30, 10), image.Rect(100, 0, 130, 10)}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dets []Detection
			for _, r := range tt.in {
				dets = append(dets, Detection{Box: r, Class: Plate, Score: 0.8})
			}
			got := MergeTextLines(dets, 1.0)
			if len(got) != tt.want {
				t.Fatalf("got %d boxes %+v, want %d", len(got), got, tt.want)
			}
			if tt.want == 1 {
				var u image.Rectangle
				for _, r := range tt.in {
					u = u.Union(r)
				}
				if got[0].Box != u {
					t.Errorf("merged box %v, want the union %v", got[0].Box, u)
				}
			}
		})
	}
}

func TestPlanCoversFrame(t *testing.T) {
	in := image.Pt(640, 480)
	tests := []struct {
		name      string
		w, h      int
		pass      Pass
		wantTiles int
	}{
		{"fit", 1920, 1080, Pass{Zoom: 0}, 1},
		{"zoom below fit is one tile", 400, 300, Pass{Zoom: 1}, 1},
		{"zoom 2 of 400x300", 400, 300, Pass{Zoom: 2}, 4},
		{"native 720p", 1280, 720, Pass{Zoom: 1}, 6},
		{"bounded", 1920, 1080, Pass{Zoom: 2, MaxTiles: 6}, 6},
		{"small crop capped", 100, 60, Pass{Zoom: 0, MaxFit: 3}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tiles := plan(tt.w, tt.h, in, tt.pass)
			if len(tiles) > tt.wantTiles || (tt.pass.MaxTiles == 0 && len(tiles) != tt.wantTiles) {
				t.Fatalf("got %d tiles, want %d", len(tiles), tt.wantTiles)
			}
			// Every pixel is in some tile, every tile is inside the frame and
			// fits the network input after scaling.
			if tt.pass.MaxFit > 0 && tiles[0].scale > tt.pass.MaxFit {
				t.Fatalf("scale %v above MaxFit %v", tiles[0].scale, tt.pass.MaxFit)
			}
			frame := image.Rect(0, 0, tt.w, tt.h)
			covered := make([]bool, tt.w*tt.h)
			for _, tl := range tiles {
				if !tl.src.In(frame) {
					t.Fatalf("tile %v leaves the frame %v", tl.src, frame)
				}
				if float64(tl.src.Dx())*tl.scale > float64(in.X)+0.5 || float64(tl.src.Dy())*tl.scale > float64(in.Y)+0.5 {
					t.Fatalf("tile %v at scale %v does not fit %v", tl.src, tl.scale, in)
				}
				for y := tl.src.Min.Y; y < tl.src.Max.Y; y++ {
					for x := tl.src.Min.X; x < tl.src.Max.X; x++ {
						covered[y*tt.w+x] = true
					}
				}
			}
			for i, c := range covered {
				if !c {
					t.Fatalf("pixel (%d,%d) is in no tile", i%tt.w, i/tt.w)
				}
			}
		})
	}
}

func TestSizeThreshold(t *testing.T) {
	st := SizeThreshold{High: 0.8, Mid: 0.6, Low: 0.4, SmallWidth: 20, MidWidth: 40}
	dets := []Detection{
		{Box: image.Rect(0, 0, 10, 10), Score: 0.5},  // small, above low: kept
		{Box: image.Rect(0, 0, 10, 10), Score: 0.3},  // small, below low: dropped
		{Box: image.Rect(0, 0, 30, 30), Score: 0.5},  // mid, below mid: dropped
		{Box: image.Rect(0, 0, 30, 30), Score: 0.65}, // mid, above mid: kept
		{Box: image.Rect(0, 0, 50, 50), Score: 0.7},  // large, below high: dropped
		{Box: image.Rect(0, 0, 50, 50), Score: 0.85}, // large, above high: kept
	}
	got := st.Keep(dets)
	if len(got) != 3 || got[0].Score != 0.5 || got[1].Score != 0.65 || got[2].Score != 0.85 {
		t.Errorf("Keep = %+v", got)
	}
	if st.min() != 0.4 || (SizeThreshold{High: 0.8}).min() != 0.8 {
		t.Error("min threshold wrong")
	}
}

func TestDropContained(t *testing.T) {
	big := Detection{Box: image.Rect(0, 0, 100, 100), Class: Face, Score: 0.5}
	inside := Detection{Box: image.Rect(20, 20, 40, 40), Class: Face, Score: 0.9}
	apart := Detection{Box: image.Rect(90, 90, 130, 130), Class: Face, Score: 0.9} // 6 % inside
	plate := Detection{Box: image.Rect(20, 20, 40, 40), Class: Plate, Score: 0.9}
	got := DropContained([]Detection{inside, big, apart, plate, big}, 0.9)
	if len(got) != 3 || got[0].Box != big.Box || got[1].Box != apart.Box || got[2].Class != Plate {
		t.Fatalf("got %+v, want the big face (once), the face apart and the plate", got)
	}
}

// TestMergedInput: when a pass's tiles run as one input, and its size.
func TestMergedInput(t *testing.T) {
	in := image.Pt(640, 640)
	tests := []struct {
		name     string
		any      int
		w, h     int
		pass     Pass
		stale    int // tiles the memo cannot answer; -1: all
		want     image.Point
		wantMerg bool
	}{
		{"fixed-size network", 0, 768, 576, Pass{Zoom: 1, MaxTiles: 6}, -1, image.Point{}, false},
		{"one tile", 32, 600, 400, Pass{Zoom: 1, MaxTiles: 6}, -1, image.Point{}, false},
		{"vtest at 1x", 32, 768, 576, Pass{Zoom: 1, MaxTiles: 6}, -1, image.Pt(768, 576), true},
		{"720p at 1x", 32, 1280, 720, Pass{Zoom: 1, MaxTiles: 6}, -1, image.Pt(1280, 736), true},
		{"1080p at the bounded zoom", 32, 1920, 1080, Pass{Zoom: 1, MaxTiles: 6}, -1, image.Pt(1568, 896), true},
		{"4K: over the pixel bound", 32, 3840, 2160, Pass{Zoom: 1, MaxTiles: 64}, -1, image.Point{}, false},
		{"everything reused", 32, 1280, 720, Pass{Zoom: 1, MaxTiles: 6}, 0, image.Point{}, false},
		{"two stale tiles cost less", 32, 1280, 720, Pass{Zoom: 1, MaxTiles: 6}, 2, image.Point{}, false},
		{"three stale tiles cost more", 32, 1280, 720, Pass{Zoom: 1, MaxTiles: 6}, 3, image.Pt(1280, 736), true},
		{"a magnified region", 32, 300, 150, Pass{Zoom: 2.5, MaxTiles: 2, MaxFit: 2.5}, -1, image.Pt(768, 384), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tiles := plan(tt.w, tt.h, in, tt.pass)
			stale := tt.stale
			if stale < 0 {
				stale = len(tiles)
			}
			tl := &tiler{anyInput: tt.any}
			got, ok := tl.mergedInput(image.Rect(0, 0, tt.w, tt.h), tiles, stale, in)
			if ok != tt.wantMerg || got != tt.want {
				t.Fatalf("%d tiles, %d stale: got %v %v, want %v %v", len(tiles), stale, got, ok, tt.want, tt.wantMerg)
			}
			if ok && (got.X%tt.any != 0 || got.Y%tt.any != 0 || got.X*got.Y >= stale*in.X*in.Y) {
				t.Fatalf("merged input %v: not a multiple of %d, or not fewer pixels than %d tiles", got, tt.any, stale)
			}
		})
	}
}
