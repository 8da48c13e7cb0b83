package vp8

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// frame draws a moving gradient into an I420 buffer.
func frame(w, h, t int) []byte {
	b := make([]byte, I420Size(w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			b[y*w+x] = byte(x + y + 4*t)
		}
	}
	for i := w * h; i < len(b); i++ {
		b[i] = 128
	}
	return b
}

// writeIVF wraps VP8 frames in the IVF container so ffmpeg can decode them.
func writeIVF(path string, w, h, fps int, frames [][]byte) error {
	var buf []byte
	hdr := make([]byte, 32)
	copy(hdr, "DKIF")
	binary.LittleEndian.PutUint16(hdr[6:], 32)
	copy(hdr[8:], "VP80")
	binary.LittleEndian.PutUint16(hdr[12:], uint16(w))
	binary.LittleEndian.PutUint16(hdr[14:], uint16(h))
	binary.LittleEndian.PutUint32(hdr[16:], uint32(fps))
	binary.LittleEndian.PutUint32(hdr[20:], 1)
	binary.LittleEndian.PutUint32(hdr[24:], uint32(len(frames)))
	buf = append(buf, hdr...)
	for i, f := range frames {
		fh := make([]byte, 12)
		binary.LittleEndian.PutUint32(fh[0:], uint32(len(f)))
		binary.LittleEndian.PutUint64(fh[4:], uint64(i))
		buf = append(buf, fh...)
		buf = append(buf, f...)
	}
	return os.WriteFile(path, buf, 0o644)
}

func TestEncodeDecodes(t *testing.T) {
	const w, h, n = 640, 360, 30
	e, err := NewEncoder(Config{Width: w, Height: h, FPS: 30, KbitRate: 1000, Threads: 2, Speed: 10, KeyframeMax: 300})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var frames [][]byte
	for i := range n {
		data, key, err := e.Encode(frame(w, h, i), i == 15)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 {
			t.Fatalf("frame %d: no data (real-time, no lag: every frame must produce one)", i)
		}
		if (i == 0 || i == 15) != key {
			t.Errorf("frame %d: key = %v", i, key)
		}
		frames = append(frames, append([]byte(nil), data...))
	}
	ivf := filepath.Join(t.TempDir(), "out.ivf")
	if err := writeIVF(ivf, w, h, 30, frames); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-i", ivf, "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg cannot decode the stream: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "frame=   30") && !strings.Contains(string(out), "frame=30") {
		t.Errorf("ffmpeg did not decode 30 frames:\n%s", out)
	}
}

func TestBadInput(t *testing.T) {
	if _, err := NewEncoder(Config{Width: 641, Height: 360, FPS: 30, KbitRate: 1000, Threads: 1, Speed: 10, KeyframeMax: 30}); !errors.Is(err, ErrConfig) {
		t.Errorf("odd width: err = %v, want ErrConfig", err)
	}
	e, err := NewEncoder(Config{Width: 64, Height: 64, FPS: 30, KbitRate: 100, Threads: 1, Speed: 10, KeyframeMax: 30})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, _, err := e.Encode(make([]byte, 10), false); !errors.Is(err, ErrFrame) {
		t.Errorf("short frame: err = %v, want ErrFrame", err)
	}
}

// BenchmarkEncode720p: a 1280x720 frame at speed 10 with 1 and 2 threads
// (TOOLCHAIN.md measured ~13 and ~8 ms).
func BenchmarkEncode720p(b *testing.B) {
	for _, threads := range []int{1, 2} {
		b.Run(map[int]string{1: "1thread", 2: "2threads"}[threads], func(b *testing.B) {
			e, err := NewEncoder(Config{Width: 1280, Height: 720, FPS: 30, KbitRate: 2500, Threads: threads, Speed: 10, KeyframeMax: 300})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			frames := [][]byte{frame(1280, 720, 0), frame(1280, 720, 1)}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, _, err := e.Encode(frames[i%2], false); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
