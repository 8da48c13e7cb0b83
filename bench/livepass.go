package bench

import (
	"context"
	"errors"
	"math"
	"os"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/pipeline"
	"github.com/veil-gateway/veil/redact"
)

// livePass is the live frame path with nothing detected: the camera's
// capture (pipeline.Capture, paced at the clip's rate), the newest frame
// handed to a second goroutine that redacts nothing and encodes it with the
// camera's encoder settings (pipeline.VP8Sink, real timestamps). It is the
// baseline a live camera's CPU is measured against: decoding and encoding
// a frame costs more per frame when frames come at a camera's pace than
// back to back (caches go cold between frames, threads sleep and wake), and
// that cost is the source's, not redaction's.
func livePass(ctx context.Context, clip Clip, o Options) (Run, error) {
	r := Run{Clip: clip.Name, Mode: LivePass, OpenCVThreadsEnv: os.Getenv("OPENCV_FOR_THREADS_NUM")}
	cp, err := pipeline.OpenCapture(ctx, clip.Path)
	if err != nil {
		return r, err
	}
	info := cp.Info()
	fps := info.FPS
	var minGap time.Duration // a camera's fps cap takes frames at most this close (Camera.capture)
	if o.LiveFPS > 0 {
		minGap = time.Duration(float64(time.Second) / o.LiveFPS * 0.9)
		fps = min(fps, o.LiveFPS)
	}
	w, h := info.Width&^1, info.Height&^1 // as a camera encodes
	sink, err := pipeline.NewVP8Sink(w, h, max(1, int(math.Round(fps))), o.Bitrate, 1)
	if err != nil {
		cp.Close()
		return r, err
	}
	defer sink.Close()
	none := redact.New(redact.Pixelate)
	defer none.Close()
	scaled := gocv.NewMat()
	defer scaled.Close()

	type frame struct {
		mat gocv.Mat
		at  time.Time
		dec time.Duration
	}
	const pool = 4 // as a camera session's
	free := make(chan gocv.Mat, pool)
	for range pool {
		free <- gocv.NewMat()
	}
	frames := make(chan frame, 1)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var dropped atomic.Int64
	capDone := make(chan error, 1)
	go func() { // the capture goroutine: never waits on the encoder
		defer close(frames)
		defer cp.Close()
		var last time.Time
		for {
			var m gocv.Mat
			select {
			case m = <-free:
			case <-cctx.Done():
				capDone <- nil
				return
			}
			if err := cp.Read(cctx, &m); err != nil {
				free <- m
				capDone <- err
				return
			}
			now := time.Now()
			if minGap > 0 && now.Sub(last) < minGap {
				free <- m
				continue
			}
			last = now
			if old, ok := pipeline.OfferNewest(frames, frame{m, now, cp.LastRead()}); ok {
				free <- old.mat
				dropped.Add(1)
			}
		}
	}()
	defer func() {
		cancel()
		for f := range frames {
			free <- f.mat
		}
		for range pool {
			m := <-free
			m.Close()
		}
	}()

	ft := frameTimes{}
	var e2e []time.Duration
	hist := make([]int, 100)
	var origin time.Time
	var u0 usage
	var begin, end time.Time
	warm := true
	var dropped0 int64
	for f := range frames {
		t0 := time.Now()
		fr, err := none.Apply(f.mat, nil)
		if err != nil {
			free <- fr.Release()
			return r, err
		}
		if origin.IsZero() {
			origin = f.at
		}
		out := &fr
		if fm := fr.Mat(); fm.Cols() != w || fm.Rows() != h {
			sc, err := fr.ScaleInto(scaled, w, h) // sc shares scaled's buffer
			if err != nil {
				free <- fr.Release()
				return r, err
			}
			out = &sc
		}
		_, err = sink.EncodeAt(out, f.at.Sub(origin))
		done := time.Now()
		free <- fr.Release()
		if err != nil {
			return r, err
		}
		if warm { // measure from the first encoded frame, as live runs do
			warm, u0, begin, dropped0 = false, measure(), done, dropped.Load()
			r.RSSStartMB = u0.rss
			continue
		}
		r.Frames++
		ft.add("decode", f.dec)
		ft.add("queue", t0.Sub(f.at))
		ft.add("encode", done.Sub(t0))
		total := done.Sub(f.at) + f.dec // capture start to encoded sample, as a camera's FrameTiming.Total
		e2e = append(e2e, total)
		hist[min(len(hist)-1, int(total/(10*time.Millisecond)))]++
		end = done
		if done.Sub(begin) >= o.LiveFor {
			break
		}
	}
	u1 := measure()
	cancel()
	for f := range frames { // the capture goroutine has stopped once frames closes
		free <- f.mat
	}
	if err := <-capDone; err != nil && cctx.Err() == nil { // not stopped by us, nor by the caller
		return r, err
	}
	if r.Frames == 0 {
		return r, errors.New("live pass-through: no frame encoded")
	}
	r.Seconds = end.Sub(begin).Seconds()
	r.Width, r.Height, r.SourceFPS = w, h, fps
	r.Dropped = int(dropped.Load() - dropped0)
	r.FPS = float64(r.Frames) / r.Seconds
	r.CPUMsFrame = float64(u1.cpu-u0.cpu) / float64(time.Millisecond) / float64(r.Frames)
	r.RSSEndMB, r.PeakRSSMB = u1.rss, u1.peak
	r.Stages, r.EndToEnd, r.Histogram = ft.dists(), dist(e2e), trimHist(hist)
	return r, nil
}
