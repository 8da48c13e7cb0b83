package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/detect"
	"github.com/veil-gateway/veil/redact"
	"github.com/veil-gateway/veil/track"
)

// Stats is what redacting one file did and cost.
type Stats struct {
	Frames       int     `json:"frames"`
	Faces        int     `json:"faces"`
	Plates       int     `json:"plates"`
	HeldRegions  int     `json:"held_regions"`
	MaskedFrames int     `json:"masked_frames"`
	AudioKept    bool    `json:"audio_kept,omitempty"`
	MsPerFrame   StageMs `json:"ms_per_frame"`
	// Detected: frames detection ran on (all but with DetectEvery > 1);
	// GuardedArea: the share of each frame masked for what moved since the
	// last detection, averaged over every frame (detected ones count 0).
	Detected    int     `json:"detected_frames"`
	GuardedArea float64 `json:"guarded_area,omitempty"`
}

// StageMs is mean milliseconds per frame for each stage.
type StageMs struct {
	Decode   float64 `json:"decode"`
	Faces    float64 `json:"faces"`
	Vehicles float64 `json:"vehicles"`
	Plates   float64 `json:"plates"`
	Track    float64 `json:"track"`
	Redact   float64 `json:"redact"`
	Encode   float64 `json:"encode"`
	Total    float64 `json:"total"`
}

type stageTotals struct {
	Timings
	decode, track, encode, total time.Duration
}

func (s *stageTotals) perFrame(n int) StageMs {
	if n == 0 {
		return StageMs{}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }
	return StageMs{Decode: ms(s.decode), Faces: ms(s.Faces), Vehicles: ms(s.Vehicles), Plates: ms(s.Plates), Track: ms(s.track), Redact: ms(s.Redact), Encode: ms(s.encode), Total: ms(s.total)}
}

func tally(st *Stats, dets []detect.Detection) {
	for _, d := range dets {
		switch d.Class {
		case detect.Face:
			st.Faces++
		case detect.Plate:
			st.Plates++
		}
	}
}

// tempPath is a hidden file beside final with the same extension (OpenCV
// picks the encoder by extension).
func tempPath(final string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(final), "."+strings.TrimSuffix(filepath.Base(final), filepath.Ext(final))+".veil-*"+filepath.Ext(final))
	if err != nil {
		return "", err
	}
	name := f.Name()
	f.Close()
	return name, nil
}

// checkWritable fails early, with the path in the message, when out cannot
// be written, and refuses to write over in.
func checkOutput(in, out string) error {
	if SameFile(in, out) {
		return fmt.Errorf("%s: output would overwrite the input", out)
	}
	dir := filepath.Dir(out)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("output directory %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("output directory %s: not a directory", dir)
	}
	return nil
}

// SameFile reports whether a and b name one existing file.
func SameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	if err != nil {
		return false
	}
	return os.SameFile(sa, sb)
}

// RedactImageFile redacts one JPEG or PNG into out, through a temporary
// file renamed into place.
func RedactImageFile(ctx context.Context, eng *Engine, in, out string) (Stats, error) {
	var st Stats
	if err := checkOutput(in, out); err != nil {
		return st, err
	}
	if KindOf(out) != KindImage {
		return st, fmt.Errorf("%s: output must be .jpg, .jpeg or .png", out)
	}
	var tot stageTotals
	start := time.Now()
	raw := gocv.NewMat()
	if err := ReadImage(in, &raw); err != nil {
		raw.Close()
		return st, err
	}
	tot.decode = time.Since(start)
	dets, err := eng.Detect(raw, &tot.Timings)
	if err != nil {
		raw.Close()
		return st, fmt.Errorf("%s: %w", in, err)
	}
	frame, err := eng.Redact(raw, dets, nil, &tot.Timings)
	defer frame.Close()
	if err != nil {
		return st, fmt.Errorf("%s: %w", in, err)
	}
	encStart := time.Now()
	if err := writeImage(&frame, out); err != nil {
		return st, err
	}
	tot.encode = time.Since(encStart)
	tot.total = time.Since(start)
	st.Frames, st.Detected = 1, 1
	tally(&st, dets)
	st.MsPerFrame = tot.perFrame(1)
	return st, nil
}

func writeImage(f *redact.Frame, out string) error {
	tmp, err := tempPath(out)
	if err != nil {
		return fmt.Errorf("%s: %w", out, err)
	}
	if !gocv.IMWrite(tmp, f.Mat()) {
		os.Remove(tmp)
		return fmt.Errorf("%s: could not write image", out)
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%s: %w", out, err)
	}
	return nil
}

// fourccFor picks a codec OpenCV's FFmpeg writer has for the output container.
func fourccFor(out string) (string, error) {
	switch strings.ToLower(filepath.Ext(out)) {
	case ".mp4", ".m4v", ".mov":
		return "mp4v", nil
	case ".avi":
		return "MJPG", nil
	case ".mkv":
		return "MJPG", nil
	}
	return "", fmt.Errorf("%s: output video must be .mp4, .m4v, .mov, .avi or .mkv", out)
}

// VideoOptions tune video redaction.
type VideoOptions struct {
	HoldFrames int                           // temporal hold; 0 disables
	Progress   func(done, total int)         // called after each frame; may be nil
	Ffmpeg     string                        // ffmpeg binary for keeping audio; "" looks it up, "-" disables
	OnFrame    func(dets []detect.Detection) // test hook: the detections redacted in each frame (between detections, the held ones; not the changed areas)
	// DetectEvery > 1 detects every Nth frame only; the frames in between
	// are redacted from it as the live guard does (Stride): its regions,
	// plus every area that changed since. HoldFrames then counts detected
	// frames, and Stats' faces and plates what detection found.
	DetectEvery int
}

// RedactVideoFile redacts every frame of in into out, keeping frame rate,
// size and frame count, and the audio track when ffmpeg is installed. On any
// error nothing is left at out.
func RedactVideoFile(ctx context.Context, eng *Engine, in, out string, opt VideoOptions) (Stats, error) {
	var st Stats
	if err := checkOutput(in, out); err != nil {
		return st, err
	}
	fourcc, err := fourccFor(out)
	if err != nil {
		return st, err
	}
	src, err := OpenVideo(in)
	if err != nil {
		return st, err
	}
	defer src.Close()
	info := src.Info()
	tmp, err := tempPath(out)
	if err != nil {
		return st, fmt.Errorf("%s: %w", out, err)
	}
	defer os.Remove(tmp) // a no-op once renamed
	w, err := gocv.VideoWriterFile(tmp, fourcc, info.FPS, info.Width, info.Height, true)
	if err != nil || !w.IsOpened() {
		if w != nil {
			w.Close()
		}
		return st, fmt.Errorf("%s: could not open video writer (%s)", out, fourcc)
	}
	st, err = redactStream(ctx, eng, src, videoSink{w}, info, opt)
	if cerr := w.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%s: %w", out, cerr)
	}
	if err != nil {
		return st, err
	}
	final := tmp
	if kept, merged, err := muxAudio(ctx, opt.Ffmpeg, in, tmp); err != nil {
		return st, fmt.Errorf("%s: keeping audio: %w", out, err)
	} else if kept {
		defer os.Remove(merged)
		final = merged
		st.AudioKept = true
	}
	if err := os.Rename(final, out); err != nil {
		return st, fmt.Errorf("%s: %w", out, err)
	}
	return st, nil
}

// Sink receives frames for writing or sending. It accepts only redacted
// frames: a raw capture cannot be handed to it.
type Sink interface {
	Write(f *redact.Frame) error
}

// videoSink writes redacted frames into a video file.
type videoSink struct{ w *gocv.VideoWriter }

func (s videoSink) Write(f *redact.Frame) error { return s.w.Write(f.Mat()) }

type decoded struct {
	mat gocv.Mat
	dur time.Duration
}

// redactStream runs decode in its own goroutine (it overlaps with detection)
// and detect -> hold -> redact -> write in this one. Frames travel through a
// fixed pool of Mats; nothing is allocated per frame.
func redactStream(ctx context.Context, eng *Engine, src *VideoFile, w Sink, info VideoInfo, opt VideoOptions) (Stats, error) {
	var st Stats
	var tot stageTotals
	const poolSize = 4
	free := make(chan gocv.Mat, poolSize)
	for range poolSize {
		free <- gocv.NewMat()
	}
	frames := make(chan decoded, poolSize)
	readErr := make(chan error, 1)
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(frames)
		for {
			var m gocv.Mat
			select {
			case m = <-free:
			case <-ctx.Done():
				readErr <- ctx.Err()
				return
			}
			start := time.Now()
			if err := src.Read(&m); err != nil {
				free <- m
				if errors.Is(err, io.EOF) {
					err = nil
				}
				readErr <- err
				return
			}
			frames <- decoded{m, time.Since(start)}
		}
	}()
	defer func() {
		cancel()
		for d := range frames { // drain so the reader ends and hands back its Mats
			free <- d.mat
		}
		for range poolSize {
			m := <-free
			m.Close()
		}
	}()

	var hold *track.Hold
	if opt.HoldFrames > 0 {
		hold = track.NewHold(opt.HoldFrames)
	}
	// write writes a redacted frame (err: redaction failed) and hands its
	// Mat back to the pool.
	write := func(frame redact.Frame, err error) error {
		if err != nil {
			free <- frame.Release()
			return fmt.Errorf("frame %d: %w", st.Frames, err)
		}
		t0 := time.Now()
		err = w.Write(&frame)
		tot.encode += time.Since(t0)
		free <- frame.Release()
		if err != nil {
			return fmt.Errorf("frame %d: %w", st.Frames, err)
		}
		st.Frames++
		if opt.Progress != nil {
			opt.Progress(st.Frames, info.Frames)
		}
		return nil
	}
	var stride *Stride
	if opt.DetectEvery > 1 {
		stride = NewStride(opt.DetectEvery, GuardThreshold)
		defer stride.Close()
	}
	guarded := 0.0
	bounds := imageRect(info.Width, info.Height)
	begin := time.Now()
	for d := range frames {
		tot.decode += d.dur
		if stride != nil && !stride.Due() {
			t0 := time.Now()
			dets, changed := stride.Between(d.mat)
			guarded += stride.Share()
			tot.track += time.Since(t0)
			if opt.OnFrame != nil {
				opt.OnFrame(dets)
			}
			frame, err := eng.RedactWith(d.mat, dets, changed, &tot.Timings)
			if err := write(frame, err); err != nil {
				return st, err
			}
			continue
		}
		st.Detected++
		dets, err := eng.Detect(d.mat, &tot.Timings)
		if err != nil {
			free <- d.mat
			return st, fmt.Errorf("frame %d: %w", st.Frames, err)
		}
		tally(&st, dets)
		if hold != nil {
			t0 := time.Now()
			n := len(dets)
			dets = hold.Update(dets, bounds)
			st.HeldRegions += len(dets) - n
			tot.track += time.Since(t0)
		}
		if stride != nil {
			dets = stride.Detected(d.mat, dets)
		}
		if opt.OnFrame != nil {
			opt.OnFrame(dets)
		}
		frame, err := eng.Redact(d.mat, dets, nil, &tot.Timings)
		if err := write(frame, err); err != nil {
			return st, err
		}
	}
	tot.total = time.Since(begin)
	if st.Frames > 0 {
		st.GuardedArea = guarded / float64(st.Frames)
	}
	st.MsPerFrame = tot.perFrame(st.Frames)
	if err := <-readErr; err != nil {
		return st, err
	}
	if st.Frames == 0 {
		return st, fmt.Errorf("%w: no frames", ErrNotVideo)
	}
	return st, nil
}

// muxAudio copies the audio of in next to the redacted video, when in has
// audio and ffmpeg is installed. It returns the merged file's path.
func muxAudio(ctx context.Context, ffmpeg, in, video string) (bool, string, error) {
	if ffmpeg == "-" {
		return false, "", nil
	}
	if ffmpeg == "" {
		p, err := exec.LookPath("ffmpeg")
		if err != nil {
			return false, "", nil
		}
		ffmpeg = p
	}
	probe, err := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-nostdin", "-i", in).CombinedOutput()
	_ = err // ffmpeg -i without an output always exits 1; its stderr lists the streams
	if !strings.Contains(string(probe), "Audio:") {
		return false, "", nil
	}
	merged, err := tempPath(video)
	if err != nil {
		return false, "", err
	}
	cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-i", video, "-i", in, "-map", "0:v:0", "-map", "1:a?", "-c:v", "copy", "-c:a", "copy", "-shortest", merged)
	if outb, err := cmd.CombinedOutput(); err != nil {
		// Some audio codecs cannot go into the output container: re-encode.
		cmd = exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
			"-i", video, "-i", in, "-map", "0:v:0", "-map", "1:a?", "-c:v", "copy", "-c:a", "aac", "-shortest", merged)
		if outb2, err2 := cmd.CombinedOutput(); err2 != nil {
			os.Remove(merged)
			return false, "", fmt.Errorf("ffmpeg: %v: %s / %s", err2, strings.TrimSpace(string(outb)), strings.TrimSpace(string(outb2)))
		}
	}
	return true, merged, nil
}
