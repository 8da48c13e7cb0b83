package pipeline_test

import (
	"context"
	"image"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/internal/testenv"
	"github.com/veil-gateway/veil/pipeline"
)

// covered is the share of r's pixels inside any of rs.
func covered(r image.Rectangle, rs []image.Rectangle) float64 {
	in := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			for _, c := range rs {
				if image.Pt(x, y).In(c) {
					in++
					break
				}
			}
		}
	}
	return float64(in) / float64(max(1, r.Dx()*r.Dy()))
}

// dlibPhoto is faces-dlib's 2008_002079.jpg (closed with the test) and its
// annotated faces.
func dlibPhoto(t *testing.T) (gocv.Mat, []image.Rectangle) {
	t.Helper()
	photo := gocv.IMRead(testenv.Data(t, "faces-dlib/images/2008_002079.jpg"), gocv.IMReadColor)
	if photo.Empty() {
		t.Fatal("cannot read test image")
	}
	t.Cleanup(func() { photo.Close() })
	return photo, readBoxes(t, "2008_002079.jpg")
}

// paintedPhoto is dlibPhoto, and a copy of it with every face painted grey.
func paintedPhoto(t *testing.T) (photo, hidden gocv.Mat, faces []image.Rectangle) {
	t.Helper()
	photo, faces = dlibPhoto(t)
	hidden = photo.Clone()
	t.Cleanup(func() { hidden.Close() })
	for _, f := range faces {
		r := hidden.Region(f)
		r.SetTo(gocv.NewScalar(128, 128, 128, 0))
		r.Close()
	}
	return photo, hidden, faces
}

// TestStride: a real photo whose faces are painted over is "detected" with
// nothing found (as if detection missed every face: the worst case); the
// photo itself then arrives between detections, its faces appearing. Only
// the guard can cover them: every annotated face must lie in the areas
// Between reports changed, and those must not be the whole frame. A frame
// like the detected one changes nothing, and every third frame is due.
func TestStride(t *testing.T) {
	photo, hidden, faces := paintedPhoto(t)
	s := pipeline.NewStride(3, pipeline.GuardThreshold)
	defer s.Close()
	if !s.Due() {
		t.Fatal("the first frame is not due: nothing has been detected yet")
	}
	s.Detected(hidden, nil)

	// Frame 1: the faces appear.
	if s.Due() {
		t.Fatal("frame 1 of 3 is due")
	}
	held, changed := s.Between(photo)
	if len(held) != 0 {
		t.Fatalf("held %v, want what was detected: nothing", held)
	}
	for _, f := range faces {
		if c := covered(f, changed); c < 0.99 {
			t.Errorf("face %v appeared between detections and is only %.0f%% covered", f, 100*c)
		}
	}
	t.Logf("%d faces appeared; the guard masked %.1f%% of the frame", len(faces), 100*s.Share())
	if share := s.Share(); share <= 0 || share > 0.3 {
		t.Errorf("the guard masked %.0f%% of the frame for %d faces", 100*share, len(faces))
	}

	// Frame 2: the detected frame again: nothing changed.
	if s.Due() {
		t.Fatal("frame 2 of 3 is due")
	}
	if _, changed := s.Between(hidden); len(changed) != 0 || s.Share() != 0 {
		t.Errorf("the detected frame itself changed %v", changed)
	}
	if !s.Due() {
		t.Fatal("frame 3 is not due")
	}
}

// TestRedactVideoDetectEvery redacts a real photo whose faces appear in a
// frame detection does not run on (detect every 3rd frame; frame 0 has the
// faces painted over): read back from the output file, every annotated
// face of every later frame is destroyed, as far from the photo's pixels as
// in the frames where detection ran, and far more than JPEG noise.
func TestRedactVideoDetectEvery(t *testing.T) {
	photo, hidden, faces := paintedPhoto(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "appear.avi")
	w, err := gocv.VideoWriterFile(in, "MJPG", 10, photo.Cols(), photo.Rows(), true)
	if err != nil {
		t.Fatal(err)
	}
	const frames = 7
	for i := range frames {
		if i == 0 {
			w.Write(hidden)
		} else {
			w.Write(photo)
		}
	}
	w.Close()
	out := filepath.Join(dir, "out.avi")
	st, err := pipeline.RedactVideoFile(context.Background(), newEngine(t, fastConfig()), in, out, pipeline.VideoOptions{DetectEvery: 3})
	if err != nil {
		t.Fatal(err)
	}
	if st.Frames != frames || st.Detected != 3 || st.GuardedArea <= 0 {
		t.Errorf("stats %+v: want %d frames, 3 detected (0, 3, 6), some area guarded", st, frames)
	}
	v, err := pipeline.OpenVideo(out)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	m, diff := gocv.NewMat(), gocv.NewMat()
	defer m.Close()
	defer diff.Close()
	for i := 0; v.Read(&m) == nil; i++ {
		if i == 0 {
			continue
		}
		for _, f := range faces {
			a, b := m.Region(f), photo.Region(f)
			gocv.AbsDiff(a, b, &diff)
			mean := diff.Mean()
			a.Close()
			b.Close()
			d := (mean.Val1 + mean.Val2 + mean.Val3) / 3
			if d < 8 {
				t.Errorf("frame %d (detected: %v): face %v differs from the photo by %.1f grey levels: left readable", i, i%3 == 0, f, d)
			}
		}
	}
}
