package pipeline_test

import (
	"context"
	"errors"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/detect"
	"github.com/veil-gateway/veil/internal/testenv"
	"github.com/veil-gateway/veil/models"
	"github.com/veil-gateway/veil/pipeline"
)

// fastConfig keeps tests quick: one YuNet pass, no plates.
func fastConfig() pipeline.Config {
	c := pipeline.DefaultConfig()
	c.Plates = false
	c.UltraFace = false
	c.FacePasses = []detect.Pass{{Zoom: 0}}
	return c
}

func newEngine(t testing.TB, c pipeline.Config) *pipeline.Engine {
	t.Helper()
	e, err := pipeline.NewEngine(c, models.Open(testenv.Models(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// shortClip cuts the first n frames of vtest.avi without re-encoding.
func shortClip(t testing.TB, n int) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "short.avi")
	cmd := exec.Command("ffmpeg", "-loglevel", "error", "-nostdin", "-i", testenv.Data(t, "video/vtest.avi"), "-frames:v", strconv.Itoa(n), "-c", "copy", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, b)
	}
	return out
}

func TestReadImageRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	jpeg, err := os.ReadFile(testenv.Data(t, "faces-dlib/images/2007_007763.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want error
	}{
		{"zero bytes", write("empty.jpg", nil), pipeline.ErrEmptyFile},
		{"text named jpg", write("notes.jpg", []byte("hello, this is text\n")), pipeline.ErrNotImage},
		{"truncated jpeg", write("cut.jpg", jpeg[:200]), pipeline.ErrNotImage},
		{"png bomb header", write("bomb.png", append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"), 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00)), pipeline.ErrNotImage},
		{"missing", filepath.Join(dir, "nope.jpg"), os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := gocv.NewMat()
			defer m.Close()
			err := pipeline.ReadImage(tt.path, &m)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), filepath.Base(tt.path)) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestRedactVideoKeepsFormat(t *testing.T) {
	in := shortClip(t, 40)
	out := filepath.Join(t.TempDir(), "out.mp4")
	st, err := pipeline.RedactVideoFile(context.Background(), newEngine(t, fastConfig()), in, out, pipeline.VideoOptions{HoldFrames: 3})
	if err != nil {
		t.Fatal(err)
	}
	if st.Frames != 40 {
		t.Errorf("redacted %d frames, want 40", st.Frames)
	}
	n, info := countFrames(t, out)
	if info.Width != 768 || info.Height != 576 || info.FPS < 9.9 || info.FPS > 10.1 {
		t.Errorf("output %dx%d at %v fps, want 768x576 at 10", info.Width, info.Height, info.FPS)
	}
	if n != 40 {
		t.Errorf("output has %d frames, want 40", n)
	}
	// No temporary file is left beside the output.
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 1 {
		t.Errorf("output directory holds %d entries, want only the output", len(entries))
	}
}

func TestTruncatedVideoLeavesNoOutput(t *testing.T) {
	full, err := os.ReadFile(testenv.Data(t, "video/vtest.avi"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "cut.avi")
	if err := os.WriteFile(in, full[:len(full)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(dir, "out")
	os.Mkdir(outDir, 0o755)
	out := filepath.Join(outDir, "cut.mp4")
	_, err = pipeline.RedactVideoFile(context.Background(), newEngine(t, fastConfig()), in, out, pipeline.VideoOptions{})
	if !errors.Is(err, pipeline.ErrTruncated) {
		t.Fatalf("err = %v, want ErrTruncated", err)
	}
	if entries, _ := os.ReadDir(outDir); len(entries) != 0 {
		t.Errorf("a failed run left %d files in the output directory", len(entries))
	}
}

func TestRedactRefusesToOverwriteInput(t *testing.T) {
	in := shortClip(t, 5)
	if _, err := pipeline.RedactVideoFile(context.Background(), newEngine(t, fastConfig()), in, in, pipeline.VideoOptions{}); err == nil {
		t.Fatal("want an error when the output is the input")
	}
}

// TestTemporalHold builds a clip from a real photo in which every third frame
// is blurred so the detector misses the faces in it (the flicker case). With
// the hold every annotated face is covered in every frame; without it, the
// blurred frames leave faces uncovered (so the test can fail).
func TestTemporalHold(t *testing.T) {
	src, faces := dlibPhoto(t)
	clip := filepath.Join(t.TempDir(), "flicker.avi")
	w, err := gocv.VideoWriterFile(clip, "MJPG", 10, src.Cols(), src.Rows(), true)
	if err != nil {
		t.Fatal(err)
	}
	blurred := gocv.NewMat()
	defer blurred.Close()
	gocv.GaussianBlur(src, &blurred, image.Pt(0, 0), 9, 9, gocv.BorderReflect)
	const frames = 30
	for i := range frames {
		if i%3 == 2 {
			w.Write(blurred)
		} else {
			w.Write(src)
		}
	}
	w.Close()

	uncovered := func(hold int) int {
		n := 0
		opt := pipeline.VideoOptions{HoldFrames: hold, OnFrame: func(dets []detect.Detection) {
			for _, f := range faces {
				hit := false
				for _, d := range dets {
					if detect.IoU(d.Box, f) >= 0.3 || f.In(d.Box) {
						hit = true
					}
				}
				if !hit {
					n++
				}
			}
		}}
		out := filepath.Join(t.TempDir(), "out.avi")
		if _, err := pipeline.RedactVideoFile(context.Background(), newEngine(t, fastConfig()), clip, out, opt); err != nil {
			t.Fatal(err)
		}
		return n
	}
	without := uncovered(0)
	with := uncovered(3)
	t.Logf("face-frames uncovered: %d without hold, %d with", without, with)
	if without == 0 {
		t.Fatal("the blurred frames did not make the detector miss: the test proves nothing")
	}
	if with != 0 {
		t.Errorf("%d face-frames uncovered with the hold, want 0", with)
	}
}

func readBoxes(t *testing.T, file string) []image.Rectangle {
	t.Helper()
	b, err := os.ReadFile(testenv.Data(t, "faces-dlib/gt.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var out []image.Rectangle
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(strings.TrimSpace(line), ",")
		if len(f) != 5 || f[0] != file {
			continue
		}
		v := make([]int, 4)
		for i := range v {
			n, err := strconv.Atoi(f[i+1])
			if err != nil {
				t.Fatalf("gt.csv: %q: %v", line, err)
			}
			v[i] = n
		}
		out = append(out, image.Rect(v[0], v[1], v[0]+v[2], v[1]+v[3]))
	}
	if len(out) == 0 {
		t.Fatalf("no boxes for %s", file)
	}
	return out
}

func TestDetectionErrorMasksFrame(t *testing.T) {
	e := newEngine(t, fastConfig())
	raw := gocv.NewMatWithSize(100, 100, gocv.MatTypeCV8UC3)
	raw.SetTo(gocv.NewScalar(200, 200, 200, 0))
	var tm pipeline.Timings
	f, err := e.Redact(raw, nil, errors.New("detector timed out"), &tm)
	defer f.Close()
	if err == nil || !f.Masked() {
		t.Fatalf("err = %v, masked = %v; want the error and a masked frame", err, f.Masked())
	}
	m := f.Mat()
	if v := m.GetVecbAt(50, 50); v[0] != 0 {
		t.Errorf("masked frame pixel = %v, want black", v)
	}
}

func TestParsePasses(t *testing.T) {
	tests := []struct {
		in      string
		want    []detect.Pass
		wantErr bool
	}{
		{"0", []detect.Pass{{}}, false},
		{"0,2:12", []detect.Pass{{}, {Zoom: 2, MaxTiles: 12}}, false},
		{" 1.5 , 3:4", []detect.Pass{{Zoom: 1.5}, {Zoom: 3, MaxTiles: 4}}, false},
		{"", nil, true},
		{"-1", nil, true},
		{"9", nil, true},
		{"NaN", nil, true},
		{"2:0", nil, true},
		{"2:x", nil, true},
		{"1,1,1,1,1,1,1,1,1", nil, true},
	}
	for _, tt := range tests {
		got, err := pipeline.ParsePasses(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParsePasses(%q) err = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && pipeline.FormatPasses(got) != pipeline.FormatPasses(tt.want) {
			t.Errorf("ParsePasses(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func FuzzParsePasses(f *testing.F) {
	for _, s := range []string{"0", "0,2:12", "1.5,3:4", "", "2:", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := pipeline.ParsePasses(s)
		if err != nil {
			return
		}
		for _, p := range ps {
			if p.Zoom < 0 || p.Zoom > 8 || p.MaxTiles < 0 || p.MaxTiles > 256 {
				t.Fatalf("out of range pass %+v from %q", p, s)
			}
		}
		again, err := pipeline.ParsePasses(pipeline.FormatPasses(ps))
		if err != nil || pipeline.FormatPasses(again) != pipeline.FormatPasses(ps) {
			t.Fatalf("round trip of %q failed: %v", s, err)
		}
	})
}

func TestConfigValidateNamesField(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*pipeline.Config)
		want string
	}{
		{"face threshold", func(c *pipeline.Config) { c.FaceThreshold = 1.5 }, "face threshold"},
		{"nothing to redact", func(c *pipeline.Config) { c.Faces, c.Plates = false, false }, "nothing would be redacted"},
		{"no vehicle tiles", func(c *pipeline.Config) { c.PlateVehicleTiles = 0 }, "plate vehicle tiles"},
		{"too many vehicle tiles", func(c *pipeline.Config) { c.PlateVehicleTiles = 17 }, "plate vehicle tiles"},
		{"vehicle zoom", func(c *pipeline.Config) { c.PlateVehicleZoom = 0.5 }, "plate vehicle zoom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := pipeline.DefaultConfig()
			tc.edit(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want an error naming %q", err, tc.want)
			}
		})
	}
	c := pipeline.DefaultConfig()
	c.PlateVehicles, c.PlateVehicleTiles = false, 0 // unused when the search is off
	if err := c.Validate(); err != nil {
		t.Errorf("Validate with the vehicle search off = %v", err)
	}
}

// TestAudioIsKept: a clip with a sound track comes out with the same frames
// and a sound track (remuxed with ffmpeg).
func TestAudioIsKept(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is installed by hack/install-deps.sh; it is missing")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "talk.mp4")
	cmd := exec.Command("ffmpeg", "-loglevel", "error", "-nostdin", "-i", testenv.Data(t, "video/vtest.avi"),
		"-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-frames:v", "30", "-c:v", "mpeg4", "-c:a", "aac", "-shortest", in)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, b)
	}
	out := filepath.Join(dir, "out.mp4")
	st, err := pipeline.RedactVideoFile(context.Background(), newEngine(t, fastConfig()), in, out, pipeline.VideoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !st.AudioKept || st.Frames != 30 {
		t.Errorf("audio kept %v, %d frames; want true, 30", st.AudioKept, st.Frames)
	}
	probe, _ := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-i", out).CombinedOutput()
	if !strings.Contains(string(probe), "Audio:") {
		t.Errorf("output has no audio stream:\n%s", probe)
	}
	n, _ := countFrames(t, out)
	if n != 30 {
		t.Errorf("output has %d frames, want 30", n)
	}
}

func countFrames(t *testing.T, path string) (int, pipeline.VideoInfo) {
	t.Helper()
	n, info, err := pipeline.CountFrames(path)
	if err != nil {
		t.Fatal(err)
	}
	return n, info
}
