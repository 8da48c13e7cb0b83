package pipeline

import (
	"context"
	"fmt"
	"image"
	"slices"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/detect"
	"github.com/veil-gateway/veil/internal/cvthreads"
	"github.com/veil-gateway/veil/redact"
	"github.com/veil-gateway/veil/track"
)

// detector is a guard-mode camera's detection, run in its own goroutine on
// the newest frame it is offered, while the worker redacts every frame with
// its latest result and the guard (see CameraConfig.Guard).
type detector struct {
	c     *Camera
	ready chan *detJob // the job, when the detector is idle
	jobs  chan *detJob
	done  chan struct{}
	job   *detJob

	// The worker's side.
	guard  *Guard
	red    *redact.Redactor
	thumb  gocv.Mat // the current frame's
	refSeq int      // the result's seq the guard's ref is (Guard.SetRef)

	mu     sync.Mutex // guards the result
	result detResult
}

// detJob is a frame handed to the detector: a copy, so the worker can go on.
type detJob struct {
	mat   gocv.Mat
	thumb gocv.Mat
	at    time.Time
}

// detResult is the latest finished detection.
type detResult struct {
	ok    bool
	err   error
	dets  []detect.Detection // found, held and sticky regions
	thumb gocv.Mat           // the guard thumb of the frame detection ran on
	seq   int                // how many thumbs have been published
	at    time.Time          // that frame's capture time
	done  time.Time          // when detection finished, or the motion gate last passed a frame
	still time.Time          // capture time of the newest frame the motion gate passed on it
}

func (c *Camera) startDetector(ctx context.Context) *detector {
	th := c.cfg.GuardThreshold
	if th <= 0 {
		th = GuardThreshold
	}
	d := &detector{c: c, ready: make(chan *detJob, 1), jobs: make(chan *detJob, 1), done: make(chan struct{}),
		job:   &detJob{mat: gocv.NewMat(), thumb: gocv.NewMat()},
		guard: NewGuard(th, GuardDilate), red: redact.New(c.cfg.Engine.Style), thumb: gocv.NewMat(),
		result: detResult{thumb: gocv.NewMat()}}
	// The frame path comes first here: detectors side by side would take
	// more of the two cores from it (1080p30: 26.2 fps and 46 frames
	// dropped in 20 s side by side, 29.0 fps and 4 one by one).
	c.eng.OneByOne(true)
	d.ready <- d.job
	go d.run(ctx, th)
	return d
}

// stop waits for the detection in progress, then frees everything.
func (d *detector) stop() {
	<-d.done
	d.job.mat.Close()
	d.job.thumb.Close()
	d.guard.Close()
	d.red.Close()
	d.thumb.Close()
	d.result.thumb.Close()
}

func (d *detector) run(ctx context.Context, threshold float64) {
	defer close(d.done)
	c := d.c
	g := NewGuard(threshold, GuardDilate)
	defer g.Close()
	var hold *track.Hold
	if c.cfg.Hold > 0 {
		hold = track.NewHold(c.cfg.Hold)
	}
	sticky := NewSticky(StickyMaxAge)
	prev := gocv.NewMat()
	defer prev.Close()
	havePrev := false
	var warnedAt time.Time
	warn := func(msg string, err error) {
		if time.Since(warnedAt) > 10*time.Second {
			c.log.Warn(msg, "err", err)
			warnedAt = time.Now()
		}
	}
	// When the next detection and the next counting are due (zero: now),
	// and how long counting alone took last.
	var nextDetect, nextCount time.Time
	var countTook time.Duration
	for {
		var j *detJob
		select {
		case j = <-d.jobs:
		case <-ctx.Done():
			return
		}
		if ctx.Err() != nil { // both were ready: shutting down takes no frame
			return
		}
		started := time.Now()
		countDue := !started.Before(nextCount)
		if countDue {
			nextCount = started.Add(c.countPeriod())
		}
		if c.countPeriod() > 0 && countDue && started.Add(countTook).Before(nextDetect) { // only counting is due: it runs alone
			c.count(j.mat, j.at, true, warn)
			c.update(func(s *CameraStatus) { s.CountRuns++ })
			countTook = time.Since(started)
			if !d.waitDue(ctx, nextDetect, nextCount) {
				return
			}
			d.ready <- j // the only job: the slot is free
			continue
		}
		// A detection is due, or will be before counting alone could end.
		nextDetect = started.Add(c.detectPeriod())
		var t Timings
		dets, _, err := c.detect(j.mat, j.at, countDue, &t, warn)
		faces, plates := countClasses(dets)
		if err != nil {
			warn("detection failed: frames masked", err)
		} else {
			bounds := image.Rect(0, 0, j.mat.Cols(), j.mat.Rows())
			var p *gocv.Mat
			if havePrev {
				p = &prev
			}
			found := sticky.Update(g, dets, j.thumb, p)
			if hold != nil {
				found = append(hold.Update(dets, bounds), found...)
			}
			dets = found
		}
		d.mu.Lock()
		d.result.ok, d.result.err, d.result.dets, d.result.at, d.result.done = err == nil, err, slices.Clone(dets), j.at, time.Now()
		d.result.still = time.Time{}
		j.thumb.CopyTo(&d.result.thumb)
		d.result.seq++
		d.mu.Unlock()
		// Counted once its result is the one frames are redacted with.
		c.update(func(s *CameraStatus) {
			s.Faces += uint64(faces)
			s.Plates += uint64(plates)
			s.DetectMs = ewma(s.DetectMs, ms(time.Since(started)), 0.1)
			s.Detections++
		})
		j.thumb.CopyTo(&prev)
		havePrev = err == nil
		if !d.waitDue(ctx, nextDetect, nextCount) {
			return
		}
		d.ready <- j // the only job: the slot is free
	}
}

// waitDue waits until a detection or counting is due (the cap: with
// DetectFPS, and counting's own rate between detections). It reports false
// on cancellation: the run loop then ends without taking another frame.
func (d *detector) waitDue(ctx context.Context, nextDetect, nextCount time.Time) bool {
	next := nextDetect
	if d.c.countPeriod() > 0 && nextCount.Before(next) {
		next = nextCount
	}
	if wait := time.Until(next); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return ctx.Err() == nil
}

// countPeriod is the least time between two runs of counting's detector in
// guard mode (CountConfig.FPS; 0: it runs with each detection).
func (c *Camera) countPeriod() time.Duration {
	if c.counting == nil || c.cfg.Count.FPS <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / c.cfg.Count.FPS)
}

// recheck is the camera's GuardRecheck, or the default.
func (cfg CameraConfig) recheck() time.Duration {
	if cfg.GuardRecheck > 0 {
		return cfg.GuardRecheck
	}
	return GuardRecheck
}

// guardReuse is r, tile reuse of a camera's detectors (the engine's, and
// counting's, whose boxes the plate search shares). Reuse bounds how long a
// tile is answered from memory in detections (MaxAge); with detections
// spaced out by DetectFPS the bound is kept in time instead, to the motion
// gate's recheck (0.2 a second and 10 s: 2 detections, not 15, so 75 s;
// fewer than one detection a recheck: no reuse).
func guardReuse(cfg CameraConfig, r detect.Reuse) detect.Reuse {
	if !cfg.Guard || cfg.DetectFPS <= 0 || !r.Enabled() {
		return r
	}
	r.MaxAge = min(r.MaxAge, int(cfg.recheck().Seconds()*cfg.DetectFPS))
	return r
}

// CheckDetectFPS and CheckCountFPS name a guard-mode rate (DetectFPS,
// CountConfig.FPS) out of range, calling it name: 0, or one whose period
// fits a time.Duration.
func CheckDetectFPS(name string, v float64) error {
	return checkRate(name, v, 0.01, 120, "no cap")
}

// CheckCountFPS: see CheckDetectFPS.
func CheckCountFPS(name string, v float64) error {
	return checkRate(name, v, 0.1, 30, "only with each detection")
}

// checkRate accepts 0 (meaning zero) or [lo, hi].
func checkRate(name string, v, lo, hi float64, zero string) error {
	if v == 0 || (v >= lo && v <= hi) {
		return nil
	}
	return fmt.Errorf("%s %v: want %v-%v, or 0 (%s)", name, v, lo, hi, zero)
}

// CVThreadsFor is the OpenCV thread count a camera runs best on: one for a
// guard-mode camera whose detections are capped (detectFPS > 0), which runs
// one network at a time beside its frame path on a schedule, so a slower
// network costs no frame and one thread spends less CPU on it
// (bench/README.md); else OpenCV's default (every core): a sync camera's
// frame waits for its detection, and an uncapped guard camera would only
// detect less often. The count is process-wide (veil serve: the cameras'
// common choice, config.Config.CVThreads; veil bench: each run's).
func CVThreadsFor(guard bool, detectFPS float64) int {
	if guard && detectFPS > 0 {
		return 1
	}
	return cvthreads.Default
}

// detectPeriod is the least time between the starts of two detections
// (DetectFPS; 0 when uncapped).
func (c *Camera) detectPeriod() time.Duration {
	if c.cfg.DetectFPS <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / c.cfg.DetectFPS)
}

// redact is the worker's half: it offers f to the detector if idle, then
// redacts f with the latest result plus what changed since its frame. The
// frame is masked whole (fail closed) with no result yet, after a failed
// detection, when detection has produced nothing for the camera's max
// latency past the detection period (stalled), or when the result's frame
// (or the newest frame the motion gate passed on it) is older than that
// plus max latency again (the guard's comparison would span too long to
// trust). f.mat passes to the returned Frame; masked is
// the share of it the guard masked (1 when masked whole).
//
// The motion gate: a frame none of whose blocks differs from the frame the
// result is for (the guard's own test) holds nothing that frame did not, so
// the result stands for it as it is, and the frame is not offered to the
// detector. A still scene then costs no detection; one still runs at least
// every GuardRecheck (capture time; CameraConfig.GuardRecheck).
func (d *detector) redact(f captured) (frame redact.Frame, masked float64) {
	d.guard.Thumb(f.mat, &d.thumb)
	w, h := f.mat.Cols(), f.mat.Rows()
	recheck := d.c.cfg.recheck()
	d.mu.Lock()
	r := d.result
	if r.seq != d.refSeq { // a new result: its frame's grids are made once
		d.guard.SetRef(r.thumb)
		d.refSeq = r.seq
	}
	boxes := d.guard.ChangedRef(d.thumb, w, h)
	// No region changed (ChangedRef returns none only for thumbs that match):
	// the motion gate passes the frame on the result.
	gated := r.ok && len(boxes) == 0 && f.at.Sub(r.at) < recheck
	if gated {
		d.result.still, d.result.done = f.at, time.Now()
		r = d.result
	}
	d.mu.Unlock()
	if gated {
		d.c.update(func(s *CameraStatus) { s.DetectSkipped++ })
	} else {
		select {
		case j := <-d.ready:
			f.mat.CopyTo(&j.mat)
			d.thumb.CopyTo(&j.thumb)
			j.at = f.at
			d.jobs <- j
		default:
		}
	}
	checked := r.at // the newest frame the result is known to hold for
	if r.still.After(checked) {
		checked = r.still
	}
	// A capped detector waits a period between detections by design: the
	// bounds are on falling behind that schedule.
	maxLate := d.c.cfg.MaxLatency + d.c.detectPeriod()
	if !r.ok || time.Since(r.done) > maxLate || f.at.Sub(checked) > maxLate+d.c.cfg.MaxLatency {
		return redact.Blackout(f.mat), 1
	}
	boxes = append(boxes, d.c.eng.Boxes(r.dets, image.Rect(0, 0, w, h))...)
	frame, err := d.red.Apply(f.mat, boxes)
	if err != nil {
		return redact.Blackout(frame.Release()), 1
	}
	return frame, d.guard.Share()
}
