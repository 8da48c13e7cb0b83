package pipeline

import (
	"context"
	"fmt"
	"image"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/count"
	"github.com/veil-gateway/veil/detect"
	"github.com/veil-gateway/veil/models"
	"github.com/veil-gateway/veil/redact"
	"github.com/veil-gateway/veil/track"
	"github.com/veil-gateway/veil/transport/media"
)

// SampleWriter receives a camera's encoded, redacted samples. It must not
// block: the WHEP side fans them out to per-viewer queues.
type SampleWriter interface {
	WriteSample(media.Sample)
}

// CameraConfig is one live camera.
type CameraConfig struct {
	Name          string
	Source        string
	Engine        Config
	Zones         [][][2]float64 // polygons as fractions of the frame, always masked
	Width, Height int            // output size; 0: the source's (rounded down to even)
	FPS           float64        // most frames per second taken from the source; 0: all
	BitrateKbps   int
	MaxLatency    time.Duration // a frame older than this once redacted is dropped
	Hold          int           // frames a region stays redacted after it was last seen
	// Count, when set, counts people and vehicles; crossings go to Events.
	Count  *CountConfig
	Events EventWriter
	// OnFrame, when set, gets each processed frame's stage times (veil
	// bench). Called from the camera's worker; it must be quick.
	OnFrame func(FrameTiming)
	// Guard sends every frame at the camera's rate while detection runs
	// at its own on the newest frame: between detections a frame is
	// redacted with what detection found plus every block that changed
	// since (see Guard). Off: each frame waits for its own detection, and
	// frames that arrive meanwhile are dropped.
	Guard bool
	// GuardThreshold is the guard's change threshold (0: GuardThreshold).
	GuardThreshold float64
	// DetectFPS caps how often guard mode runs detection (0: as often as
	// it can): less CPU, paid for with more of the frame masked.
	DetectFPS float64
	// GuardRecheck is the longest guard mode's motion gate lets a result
	// stand for frames in which nothing changed (0: GuardRecheck).
	GuardRecheck time.Duration
}

// FrameTiming is where one frame's time went, from capture to sample.
type FrameTiming struct {
	Capture  time.Duration // reading and decoding the frame
	Queue    time.Duration // waiting for the worker
	Count    time.Duration // people and vehicles, tracking, counting
	Faces    time.Duration
	Plates   time.Duration // including the vehicle search for plates
	Track    time.Duration // temporal hold
	Redact   time.Duration // destroying regions, zones, scaling
	Encode   time.Duration
	Total    time.Duration // capture start to encoded sample (or to the drop)
	Late     bool          // dropped: redacted after max latency
	Captured time.Time
	Guarded  float64 // guard mode: share of the frame masked because it changed since detection
}

// EventWriter receives a camera's line crossings. It must not block.
type EventWriter interface {
	WriteEvent(count.Event)
}

// Camera states, as the API and viewer show them.
const (
	StateStarting     = "starting"
	StateRunning      = "running"
	StateReconnecting = "reconnecting"
	StateStopped      = "stopped"
)

// CameraStatus is a snapshot of one camera.
type CameraStatus struct {
	Name       string    `json:"name"`
	Source     string    `json:"source"` // password removed
	State      string    `json:"state"`
	Error      string    `json:"error,omitempty"`
	Since      time.Time `json:"since"` // when State was entered
	Width      int       `json:"width"`
	Height     int       `json:"height"`
	SourceFPS  float64   `json:"source_fps"`
	FPS        float64   `json:"fps"` // encoded frames per second (moving average)
	Captured   uint64    `json:"frames_captured"`
	Encoded    uint64    `json:"frames_encoded"`
	Skipped    uint64    `json:"frames_skipped"`      // above the configured fps
	Dropped    uint64    `json:"frames_dropped"`      // the detector was busy: a newer frame replaced it
	Late       uint64    `json:"frames_dropped_late"` // redacted too late (fail closed)
	Masked     uint64    `json:"frames_masked"`       // detection failed: sent fully masked
	Faces      uint64    `json:"faces_redacted"`
	Plates     uint64    `json:"plates_redacted"`
	Reconnects uint64    `json:"reconnects"`
	Detections uint64    `json:"detections"` // frames detection ran on
	// Guard mode: frames not given to detection because no block had changed
	// since the frame the last result is for (the motion gate).
	DetectSkipped uint64 `json:"detections_skipped"`
	// Guard mode with counting at its own rate (CountConfig.FPS): runs of
	// counting's detector alone, between detections.
	CountRuns uint64  `json:"count_runs"`
	LatencyMs float64 `json:"latency_ms"` // capture to encoded sample (moving average)
	DetectMs  float64 `json:"detect_ms"`  // detection per frame, wall time, counting included when it ran along (moving average)
}

// Camera is one pipeline: capture -> (newest frame wins) -> detect -> hold
// -> redact -> zones -> scale -> VP8 -> SampleWriter. Run drives it;
// Status and RequestKeyframe are safe from any goroutine.
type Camera struct {
	cfg      CameraConfig
	eng      *Engine
	counting *Counting // nil without counting
	share    bool      // the plate search takes its vehicles from counting's Yolo
	out      SampleWriter
	log      *slog.Logger

	keyframe atomic.Bool
	mu       sync.Mutex
	st       CameraStatus
	done     chan struct{} // closed when Run returns
}

// NewCamera loads the camera's detectors (each camera has its own: OpenCV
// networks are not safe for concurrent use).
func NewCamera(cfg CameraConfig, store *models.Store, out SampleWriter, log *slog.Logger) (*Camera, error) {
	if cfg.MaxLatency <= 0 || cfg.BitrateKbps <= 0 {
		return nil, fmt.Errorf("camera %s: max latency and bitrate must be set", cfg.Name)
	}
	if err := cfg.Engine.Validate(); err != nil {
		return nil, fmt.Errorf("camera %s: %w", cfg.Name, err)
	}
	if err := CheckDetectFPS("detect fps", cfg.DetectFPS); err != nil {
		return nil, fmt.Errorf("camera %s: %w", cfg.Name, err)
	}
	cfg.Engine.Reuse = guardReuse(cfg, cfg.Engine.Reuse)
	if cfg.Count != nil {
		if err := CheckCountFPS("count fps", cfg.Count.FPS); err != nil {
			return nil, fmt.Errorf("camera %s: %w", cfg.Name, err)
		}
		cc := *cfg.Count // the caller's stays as it was
		cc.Reuse = guardReuse(cfg, cc.Reuse)
		cc.DNN = cfg.Engine.DNN
		cfg.Count = &cc
	}
	eng, err := NewEngine(cfg.Engine, store)
	if err != nil {
		return nil, fmt.Errorf("camera %s: %w", cfg.Name, err)
	}
	c := &Camera{cfg: cfg, eng: eng, out: out, log: log.With("camera", cfg.Name), done: make(chan struct{})}
	if dnn, why := eng.DNN(); why != nil {
		c.log.Warn("detectors on OpenCV: ONNX Runtime unavailable", "dnn", dnn, "err", why)
	} else {
		c.log.Info("detectors", "dnn", dnn)
	}
	if cfg.Count != nil {
		if c.counting, err = NewCounting(*cfg.Count, store); err != nil {
			eng.Close()
			return nil, fmt.Errorf("camera %s: counting: %w", cfg.Name, err)
		}
		c.share = c.counting.SharesWith(cfg.Engine)
	}
	c.st = CameraStatus{Name: cfg.Name, Source: Redacted(cfg.Source), State: StateStarting, Since: time.Now()}
	return c, nil
}

// RequestKeyframe makes the next encoded frame a keyframe (a viewer joined
// or lost packets).
func (c *Camera) RequestKeyframe() { c.keyframe.Store(true) }

// Counts returns what the camera counted so far; ok is false without
// counting.
func (c *Camera) Counts() (snap CountSnapshot, ok bool) {
	if c.counting == nil {
		return CountSnapshot{}, false
	}
	return c.counting.Snapshot(), true
}

// Status returns a snapshot.
func (c *Camera) Status() CameraStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st
}

func (c *Camera) update(f func(*CameraStatus)) {
	c.mu.Lock()
	f(&c.st)
	c.mu.Unlock()
}

func (c *Camera) setState(state string, err error) {
	c.update(func(s *CameraStatus) {
		if s.State != state {
			s.State, s.Since = state, time.Now()
		}
		s.Error = ""
		if err != nil {
			s.Error = err.Error()
		}
		if state != StateRunning {
			s.FPS = 0
		}
	})
}

// Backoff between reconnection attempts.
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Done is closed when Run has returned: nothing is counted or sent after.
func (c *Camera) Done() <-chan struct{} { return c.done }

// Run captures, redacts and encodes until ctx ends, reopening the source
// with backoff when it fails. It closes the camera's detectors on return.
// Call it once.
func (c *Camera) Run(ctx context.Context) error {
	defer close(c.done)
	defer c.eng.Close()
	if c.counting != nil {
		defer c.counting.Close()
	}
	defer c.setState(StateStopped, nil)
	backoff := minBackoff
	for first := true; ; first = false {
		if !first {
			c.update(func(s *CameraStatus) { s.Reconnects++ })
		}
		cp, err := OpenCapture(ctx, c.cfg.Source)
		if err == nil {
			c.log.Info("source open", "source", Redacted(c.cfg.Source), "size", fmt.Sprintf("%dx%d", cp.Info().Width, cp.Info().Height), "fps", cp.Info().FPS)
			before, opened := c.Status().Encoded, time.Now()
			err = c.session(ctx, cp)
			cp.Close()
			// A source that opens but fails at once (wrong frames, dies on
			// the first read) keeps backing off; one that ran resets it.
			if c.Status().Encoded > before || time.Since(opened) > 10*time.Second {
				backoff = minBackoff
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		c.log.Warn("source failed; retrying", "err", err, "in", backoff)
		c.setState(StateReconnecting, err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

type captured struct {
	mat  gocv.Mat
	at   time.Time     // when the frame was read
	read time.Duration // how long reading and decoding took
}

// poolSize Mats circulate per session: one being filled, one waiting, one
// being redacted, one spare.
const poolSize = 4

// session runs one opened source until it fails or ctx ends.
func (c *Camera) session(ctx context.Context, cp *Capture) error {
	free := make(chan gocv.Mat, poolSize)
	for range poolSize {
		free <- gocv.NewMat()
	}
	frames := make(chan captured, 1) // the newest frame; an older one is dropped
	capErr := make(chan error, 1)
	w := newWorker(c, cp.Info().FPS) // before capture starts: Read may update Info
	sctx, cancel := context.WithCancel(ctx)
	go c.capture(sctx, cp, free, frames, capErr)
	var det *detector
	if c.cfg.Guard {
		det = c.startDetector(sctx)
		w.det = det
	}

	defer func() {
		cancel()
		for f := range frames { // the capture goroutine ends after its current Read
			free <- f.mat
		}
		if det != nil {
			det.stop()
		}
		w.close()
		for range poolSize {
			m := <-free
			m.Close()
		}
	}()
	for {
		select {
		case f, ok := <-frames:
			if !ok {
				return <-capErr
			}
			m, err := w.process(f)
			free <- m
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// capture reads frames and offers each to the worker, replacing a frame
// the worker has not taken yet: a slow detector never blocks the camera.
func (c *Camera) capture(ctx context.Context, cp *Capture, free chan gocv.Mat, frames chan captured, capErr chan<- error) {
	defer close(frames)
	var minGap time.Duration
	if c.cfg.FPS > 0 {
		minGap = time.Duration(float64(time.Second) / c.cfg.FPS * 0.9)
	}
	var last time.Time
	loggedAt, dropped := time.Now(), 0 // drops are logged at most every 30 s
	for {
		var m gocv.Mat
		select {
		case m = <-free:
		case <-ctx.Done():
			capErr <- ctx.Err()
			return
		}
		if err := cp.Read(ctx, &m); err != nil {
			free <- m
			capErr <- err
			return
		}
		now := time.Now()
		read := cp.LastRead()
		skip := minGap > 0 && now.Sub(last) < minGap
		c.update(func(s *CameraStatus) {
			s.Captured++
			if skip {
				s.Skipped++
			}
		})
		if skip {
			free <- m
			continue
		}
		last = now
		if old, ok := OfferNewest(frames, captured{m, now, read}); ok {
			free <- old.mat
			c.update(func(s *CameraStatus) { s.Dropped++ })
			dropped++
			if time.Since(loggedAt) > 30*time.Second {
				c.log.Info("detector slower than the camera: frames replaced by newer ones", "dropped", dropped, "in", time.Since(loggedAt).Round(time.Second))
				dropped, loggedAt = 0, time.Now()
			}
		}
	}
}

// OfferNewest puts v in ch, a one-slot queue with a single sender (the
// caller), without waiting: a value the receiver has not taken yet is
// replaced, and returned with true, for the caller to recycle and count.
// It is how capture hands frames on, so a slow consumer never blocks it.
func OfferNewest[T any](ch chan T, v T) (old T, replaced bool) {
	select {
	case ch <- v:
		return old, false
	default:
	}
	select {
	case old = <-ch:
		replaced = true
	default: // the receiver took it meanwhile
	}
	ch <- v // the only sender, and the slot is free
	return old, replaced
}

// worker is the detect -> encode half of one session.
type worker struct {
	c        *Camera
	hold     *track.Hold
	sink     *VP8Sink
	scaled   gocv.Mat
	zones    [][]image.Point
	w, h     int
	seq      uint64
	lastOut  time.Time
	fpsAvg   float64
	started  bool
	srcFPS   float64
	origin   time.Time // capture time of the session's first encoded frame
	warnedAt time.Time
	det      *detector // guard mode: detection runs beside the worker
}

func newWorker(c *Camera, fps float64) *worker {
	w := &worker{c: c, scaled: gocv.NewMat(), srcFPS: fps}
	if c.cfg.Hold > 0 {
		w.hold = track.NewHold(c.cfg.Hold)
	}
	return w
}

func (w *worker) close() {
	if w.sink != nil {
		w.sink.Close()
	}
	w.scaled.Close()
}

// setup fixes the output size, zones and encoder from the first frame.
func (w *worker) setup(cols, rows int, fps float64) error {
	cfg := w.c.cfg
	w.w, w.h = cfg.Width, cfg.Height
	if w.w == 0 {
		w.w, w.h = cols&^1, rows&^1
	}
	if w.w < 16 || w.h < 16 {
		return fmt.Errorf("frame %dx%d is too small to encode", cols, rows)
	}
	for _, z := range cfg.Zones {
		p := make([]image.Point, len(z))
		for i, pt := range z {
			p[i] = image.Pt(int(math.Round(pt[0]*float64(cols))), int(math.Round(pt[1]*float64(rows))))
		}
		w.zones = append(w.zones, p)
	}
	if w.c.counting != nil {
		// Counting sees the detected frames only: the source's rate (not
		// the camera's fps, which takes every kth frame) tells it how many
		// went by.
		w.c.counting.SetRate(fps)
	}
	if cfg.FPS > 0 && cfg.FPS < fps {
		fps = cfg.FPS
	}
	sink, err := NewVP8Sink(w.w, w.h, max(1, int(math.Round(fps))), cfg.BitrateKbps, 1)
	if err != nil {
		return err
	}
	w.sink = sink
	w.c.update(func(s *CameraStatus) { s.Width, s.Height, s.SourceFPS = w.w, w.h, fps })
	return nil
}

// process redacts and encodes one frame. It returns the Mat to recycle and
// an error only when the session cannot go on (the encoder failed).
func (w *worker) process(f captured) (gocv.Mat, error) {
	c := w.c
	if !w.started {
		if err := w.setup(f.mat.Cols(), f.mat.Rows(), w.srcFPS); err != nil {
			return f.mat, err
		}
		w.started = true
		c.setState(StateRunning, nil)
	}
	ft := FrameTiming{Capture: f.read, Queue: time.Since(f.at), Captured: f.at}
	defer func() {
		if c.cfg.OnFrame != nil {
			ft.Total = time.Since(f.at) + f.read
			c.cfg.OnFrame(ft)
		}
	}()
	if w.det != nil {
		t0 := time.Now()
		frame, guarded := w.det.redact(f)
		ft.Guarded = guarded
		if frame.Masked() {
			c.update(func(s *CameraStatus) { s.Masked++ })
		}
		return w.send(frame, f, &ft, t0)
	}
	var t Timings
	bounds := image.Rect(0, 0, f.mat.Cols(), f.mat.Rows())
	detStart := time.Now()
	dets, count, detErr := c.detect(f.mat, f.at, true, &t, w.warn)
	detWall := time.Since(detStart)
	ft.Count = count
	faces, plates := countClasses(dets)
	if detErr != nil {
		w.warn("detection failed: frame masked", detErr)
	} else if w.hold != nil {
		t0 := time.Now()
		dets = w.hold.Update(dets, bounds)
		ft.Track = time.Since(t0)
	}
	ft.Faces, ft.Plates = t.Faces, t.Plates+t.Vehicles
	t0 := time.Now()
	frame, err := c.eng.Redact(f.mat, dets, detErr, &t)
	if err != nil && detErr == nil {
		w.warn("redaction failed: frame masked", err)
		frame = redact.Blackout(frame.Release())
	}
	c.update(func(s *CameraStatus) {
		s.Faces += uint64(faces)
		s.Plates += uint64(plates)
		if frame.Masked() {
			s.Masked++
		}
		s.DetectMs = ewma(s.DetectMs, ms(detWall), 0.1)
	})
	return w.send(frame, f, &ft, t0)
}

// send masks the zones of a redacted frame, scales and encodes it, and
// passes the sample on (or drops a frame that is already too late). It
// returns the Mat to recycle.
func (w *worker) send(frame redact.Frame, f captured, ft *FrameTiming, t0 time.Time) (gocv.Mat, error) {
	c := w.c
	frame.MaskPolygons(w.zones)
	if age := time.Since(f.at); age > c.cfg.MaxLatency {
		// Fail closed: detection finished too late for this frame to be live.
		c.update(func(s *CameraStatus) { s.Late++ })
		ft.Late = true
		w.warn("frame redacted too late: dropped", fmt.Errorf("%v > max latency %v", age.Round(time.Millisecond), c.cfg.MaxLatency))
		return frame.Release(), nil
	}
	out := &frame
	if fm := frame.Mat(); fm.Cols() != w.w || fm.Rows() != w.h {
		sc, err := frame.ScaleInto(w.scaled, w.w, w.h) // sc shares w.scaled's buffer
		if err != nil {
			return frame.Release(), err
		}
		out = &sc
	}
	ft.Redact = time.Since(t0)
	if c.keyframe.Swap(false) {
		w.sink.RequestKeyframe()
	}
	t0 = time.Now()
	if w.origin.IsZero() {
		w.origin = f.at
	}
	s, err := w.sink.EncodeAt(out, f.at.Sub(w.origin))
	if err != nil {
		return frame.Release(), fmt.Errorf("encoder: %w", err)
	}
	now := time.Now()
	ft.Encode = now.Sub(t0)
	w.seq++
	s.Capture, s.Seq = f.at, w.seq
	c.out.WriteSample(s)
	if !w.lastOut.IsZero() {
		if dt := now.Sub(w.lastOut).Seconds(); dt > 0 {
			w.fpsAvg = ewma(w.fpsAvg, 1/dt, 0.1)
		}
	}
	w.lastOut = now
	c.update(func(st *CameraStatus) {
		st.Encoded++
		st.FPS = w.fpsAvg
		st.LatencyMs = ewma(st.LatencyMs, ms(now.Sub(f.at)), 0.1)
	})
	return frame.Release(), nil
}

// detect finds faces and plates in img and, with withCount (and counting
// on), counts people and vehicles in it while faces are found; counting's
// Yolo boxes stand in for the engine's own vehicle search when they can
// (c.share). count is the time counting took.
func (c *Camera) detect(img gocv.Mat, at time.Time, withCount bool, t *Timings, warn func(string, error)) (dets []detect.Detection, count time.Duration, err error) {
	along := func() ([]detect.Detection, bool) {
		if c.counting == nil || !withCount {
			return nil, false
		}
		t0 := time.Now()
		c.count(img, at, false, warn)
		count = time.Since(t0)
		if c.share {
			return c.counting.Seen()
		}
		return nil, false
	}
	dets, err = c.eng.DetectAlong(img, along, t)
	return dets, count, err
}

// count runs counting on img (light: one look at the whole frame, as
// between guard-mode detections) and sends its events. Counting reads the
// frame and keeps only numbers: its failure costs counts (reported to warn),
// never redaction.
func (c *Camera) count(img gocv.Mat, at time.Time, light bool, warn func(string, error)) {
	events, err := c.counting.process(img, at, light)
	if err != nil {
		warn("counting failed", err)
	}
	if c.cfg.Events != nil {
		for _, e := range events {
			c.cfg.Events.WriteEvent(e)
		}
	}
}

// warn logs at most once every 10 s per worker: a broken detector must not
// flood the log.
func (w *worker) warn(msg string, err error) {
	if time.Since(w.warnedAt) > 10*time.Second {
		w.c.log.Warn(msg, "err", err)
		w.warnedAt = time.Now()
	}
}

func countClasses(dets []detect.Detection) (faces, plates int) {
	for _, d := range dets {
		switch d.Class {
		case detect.Face:
			faces++
		case detect.Plate:
			plates++
		}
	}
	return faces, plates
}

func ewma(avg, v, a float64) float64 {
	if avg == 0 {
		return v
	}
	return avg + a*(v-avg)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
