package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/veil-gateway/veil/internal/testenv"
	"github.com/veil-gateway/veil/pipeline"
)

// cheap keeps the end-to-end runs quick: one YuNet pass, no plates.
var cheap = []string{"-plates=false", "-ultraface=false", "-face-passes", "0", "-progress", "never"}

func veil(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func countFrames(t *testing.T, path string) (int, pipeline.VideoInfo) {
	t.Helper()
	n, info, err := pipeline.CountFrames(path)
	if err != nil {
		t.Fatal(err)
	}
	return n, info
}

// TestRedactVtestEndToEnd runs the CLI on the whole pedestrian clip.
func TestRedactVtestEndToEnd(t *testing.T) {
	in := testenv.Data(t, "video/vtest.avi")
	dir := t.TempDir()
	out := filepath.Join(dir, "vtest.mp4")
	report := filepath.Join(dir, "report.json")
	code, stdout, stderr := veil(t, append([]string{"redact", in, "-o", out, "-report", report, "-models", testenv.Models(t)}, cheap...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	n, info := countFrames(t, out)
	if n != 795 || info.Width != 768 || info.Height != 576 || info.FPS < 9.9 || info.FPS > 10.1 {
		t.Errorf("output: %d frames %dx%d %v fps, want 795 768x576 10", n, info.Width, info.Height, info.FPS)
	}
	var rep runReport
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Files) != 1 || rep.Files[0].Frames != 795 || rep.Files[0].MsPerFrame.Faces <= 0 {
		t.Errorf("report: %s", b)
	}
	// Running again must not overwrite the first output.
	if code, _, stderr := veil(t, append([]string{"redact", in, "-o", out, "-models", testenv.Models(t)}, cheap...)...); code == 0 || !strings.Contains(stderr, "exists") {
		t.Errorf("second run: exit %d, %q; want a refusal to overwrite", code, stderr)
	}
}

// TestRedactBadInputs: broken files get clear errors naming them, a non-zero
// exit, no output; the good files are still redacted.
func TestRedactBadInputs(t *testing.T) {
	src := t.TempDir()
	good, err := os.ReadFile(testenv.Data(t, "faces-dlib/images/2007_007763.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"good.jpg":        good,
		"sub/good2.jpg":   good,
		"empty.jpg":       nil,
		"notes.jpg":       []byte("this is a text file\n"),
		"cut.avi":         []byte("RIFF\x00\x00\x00\x00AVI LIST"),
		"ignored.txt":     []byte("not media: skipped in a directory"),
		"sub/broken.png":  []byte("\x89PNG\r\n\x1a\n garbage"),
		"sub/deeper/x.md": []byte("#"),
	}
	for name, b := range files {
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "out")
	code, _, stderr := veil(t, append([]string{"redact", src, "-o", out, "-models", testenv.Models(t)}, cheap...)...)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, bad := range []string{"empty.jpg", "notes.jpg", "cut.avi", "broken.png"} {
		if !strings.Contains(stderr, bad) {
			t.Errorf("stderr does not name %s:\n%s", bad, stderr)
		}
	}
	var got []string
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(out, p)
			got = append(got, rel)
		}
		return nil
	})
	if strings.Join(got, ",") != "good.jpg,sub/good2.jpg" {
		t.Errorf("outputs %v, want exactly good.jpg and sub/good2.jpg (no partial or temporary files)", got)
	}
}

func TestRedactErrors(t *testing.T) {
	img := testenv.Data(t, "faces-dlib/images/2007_007763.jpg")
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, []byte("x"), 0o644)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantMsg  string
	}{
		{"unwritable output", []string{"redact", img, "-o", filepath.Join(notDir, "out.jpg"), "-models", testenv.Models(t)}, 1, "out.jpg"},
		{"missing models", []string{"redact", img, "-o", filepath.Join(t.TempDir(), "o.jpg"), "-models", t.TempDir()}, 1, "yunet_2021sep_static_640x480.onnx"},
		{"missing input", []string{"redact", "/nonexistent/x.jpg", "-o", t.TempDir()}, 1, "/nonexistent/x.jpg"},
		{"bad style", []string{"redact", img, "-o", t.TempDir(), "-style", "sepia"}, 2, "sepia"},
		{"bad passes", []string{"redact", img, "-o", t.TempDir(), "-face-passes", "0,99"}, 2, "face-passes"},
		{"no output", []string{"redact", img}, 2, "usage"},
		{"bad detect-every", []string{"redact", img, "-o", t.TempDir(), "-detect-every", "0"}, 2, "-detect-every"},
		{"unknown command", []string{"frobnicate"}, 2, "frobnicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{tt.args[0]}, cheap...), tt.args[1:]...)
			code, stdout, stderr := veil(t, args...)
			if code != tt.wantCode || !strings.Contains(stdout+stderr, tt.wantMsg) {
				t.Errorf("exit %d, output %q; want exit %d mentioning %q", code, stdout+stderr, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func FuzzInterleave(f *testing.F) {
	f.Add("in.mp4 -o out.mp4 -hold 3")
	f.Add("-o x -- -y")
	f.Add("a -overwrite b -o")
	f.Fuzz(func(t *testing.T, s string) {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		out := fs.String("o", "", "")
		ow := fs.Bool("overwrite", false, "")
		fields := strings.Fields(s)
		got := interleave(fs, fields)
		if len(got) != len(fields) && !slices.Contains(fields, "--") {
			t.Fatalf("interleave(%q) = %q: lost or invented arguments", fields, got)
		}
		_ = fs.Parse(got) // must not panic
		_, _ = out, ow
	})
}

func TestProgressQuietInAPipe(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, "auto", 2)
	p.file(0, "a.mp4")
	p.frames(5, 10)
	p.done()
	if b.Len() != 0 {
		t.Errorf("auto progress wrote %q to a non-terminal", b.String())
	}
	p = newProgress(&b, "always", 2)
	p.file(1, "b.mp4")
	p.frames(10, 10)
	if !strings.Contains(b.String(), "100%") || !strings.Contains(b.String(), "frame 10/10") {
		t.Errorf("progress line %q, want 100%% and the frame count", b.String())
	}
}

// TestBenchBadFlags: bad bench flags are usage errors, named, before any
// clip is made or model loaded.
func TestBenchBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-guard-lags", "3,x"}, "-guard-lags"},
		{[]string{"-guard-lags", "0"}, "-guard-lags"},
		{[]string{"-frames", "0"}, "-frames"},
		{[]string{"-rounds", "0"}, "-rounds"},
		{[]string{"-stride", "0"}, "-stride"},
		{[]string{"-opencv-threads", "-2"}, "-opencv-threads"},
		{[]string{"-reuse", "10"}, "-reuse"},
		{[]string{"-count-fps", "31"}, "-count-fps"},
		{[]string{"-count-passes", "x"}, "-count-passes"},
	} {
		code, _, stderr := veil(t, append([]string{"bench"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("veil bench %v: exit %d, stderr %q; want usage error naming %s", tc.args, code, stderr, tc.want)
		}
	}
}

// TestEvalCountingBadFlags: veil eval -counting names what is wrong before
// any model loads or clip opens.
func TestEvalCountingBadFlags(t *testing.T) {
	truth := filepath.Join("..", "..", "testdata", "counting", "vtest-line.json")
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"clip": "x.avi", "width": 0}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-counting", truth, "gt.csv"}, "usage"},
		{[]string{"-counting", truth, "-count-every", "0"}, "-count-every"},
		{[]string{"-counting", truth, "-count-live", "5-3"}, "-count-live"},
		{[]string{"-counting", truth, "-count-every", "", "-count-live", ""}, "no schedule"},
		{[]string{"-counting", truth, "-count-passes", "0,x"}, "-count-passes"},
		{[]string{"-counting", truth, "-count-live", "", "-count-full-every", "12"}, "-count-full-every"},
		{[]string{"-counting", truth, "-face-model", "yunet-xl"}, "face model"},
		{[]string{"-counting", bad}, "frame size"},
		{[]string{"-counting", truth, "-data", t.TempDir()}, "not there"},
	} {
		code, _, stderr := veil(t, append([]string{"eval"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("veil eval %v: exit %d, stderr %q; want usage error naming %s", tc.args, code, stderr, tc.want)
		}
	}
}
