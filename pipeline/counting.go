package pipeline

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/count"
	"github.com/veil-gateway/veil/detect"
	"github.com/veil-gateway/veil/models"
	"github.com/veil-gateway/veil/track"
)

// CountConfig sets up anonymous counting on a camera: people and vehicles
// found by Yolo-Fastest, tracked, counted across lines and inside zones.
// Lines and zones are in fractions of the frame.
type CountConfig struct {
	Every int // detector on every Nth frame; tracks are predicted in between
	// FPS, in guard mode, runs counting's detector at most this often on
	// its own, between detections, so that DetectFPS can space faces and
	// plates out (the guard covers the frames between) while counting
	// keeps following walkers (0: counting runs with each detection).
	FPS       float64
	Threshold float32
	Passes    []detect.Pass
	Reuse     detect.Reuse // answer unchanged tiles from memory
	Lines     []count.Line // fractions of the frame
	Zones     []count.Zone // fractions of the frame
	DNN       string       // Yolo-Fastest's inference engine, as Config.DNN (a camera gives its engine's)
}

// CountSnapshot is what a camera has counted so far.
type CountSnapshot struct {
	Since   time.Time         `json:"since"`
	Lines   []count.LineTotal `json:"lines"`
	Zones   []count.ZoneCount `json:"zones"`
	Objects map[string]int    `json:"objects"` // confirmed tracks in view
}

// Counting runs detection, tracking and counting frame by frame. It reads
// frames but keeps nothing of them: only boxes, then only numbers.
type Counting struct {
	cfg     CountConfig
	yolo    *detect.Yolo
	tracker *track.Tracker
	frame   int
	// seen: what Yolo found in the last frame it ran on (every class, at
	// SharedThreshold or above), for the plate search to reuse; ran: Yolo
	// ran on the last frame.
	seen  []detect.Detection
	ran   bool
	light bool // the last frame had a light look (process): seen is not shared
	// Frames a live camera did not give Process (SetRate): period is the
	// stream's frame period (0: every frame comes here, as from a file);
	// origin the time of the first frame Process saw and at the number of
	// the last (frames since origin, so rounding errors do not add up);
	// gap a moving average of frames per Process call.
	period atomic.Int64 // nanoseconds
	origin time.Time
	at     int64
	gap    float64

	// Written by Process only; mu guards them against Snapshot. counter
	// is made at the first frame, when the frame size is known.
	mu      sync.Mutex
	counter *count.Counter
	since   time.Time
	objects map[string]int
}

// NewCounting loads Yolo-Fastest from the model store.
func NewCounting(cfg CountConfig, store *models.Store) (*Counting, error) {
	if cfg.Every < 1 {
		cfg.Every = 1
	}
	cfgPath, err := store.Path(models.YoloCfg)
	if err != nil {
		return nil, err
	}
	weights, err := store.Path(models.YoloWeights)
	if err != nil {
		return nil, err
	}
	dnn, _, err := ChooseDNN(cfg.DNN, store)
	if err != nil {
		return nil, err
	}
	y, err := detect.NewYolo(detect.YoloConfig{Cfg: cfgPath, Weights: weights, Input: image.Pt(320, 320), Threshold: min(cfg.Threshold, SharedThreshold), Passes: cfg.Passes, Reuse: cfg.Reuse, DNN: dnn})
	if err != nil {
		return nil, err
	}
	c := &Counting{cfg: cfg, yolo: y}
	c.tracker = track.NewTracker(track.TrackerConfig{IoUThreshold: 0.3, MaxMissed: c.keepFrames(), MinHits: 3})
	return c, nil
}

// SetRate says the frames Process is given come from a stream of fps frames a
// second, of which it may see only some (a live camera counts on the frames
// it detects, a few frames apart on a busy scene): a frame's time then tells
// how many frames went by unseen, the tracker predicts through them and
// matches by its own uncertainty after the gap, and a track is kept through
// 10 detections that miss it rather than 10 frames. fps <= 0: every frame
// comes to Process (a file). Safe from any goroutine.
func (c *Counting) SetRate(fps float64) {
	var p int64
	if fps > 0 && fps <= 1000 {
		p = int64(float64(time.Second) / fps)
	}
	c.period.Store(p)
}

// unseen tells the tracker how many frames went by since the previous call
// without reaching Process, and returns how many frames this call spans
// (1: the frame right after the last one).
func (c *Counting) unseen(now time.Time) int {
	period := time.Duration(c.period.Load())
	if period <= 0 {
		return 1
	}
	if c.origin.IsZero() {
		c.origin = now
		return 1
	}
	limit := c.keepFrames()
	// Frame numbers from the origin: a frame read a little early or late
	// moves no later one. A pause long enough to end every track (a source
	// reconnecting, the guard's motion gate on a still scene) spans
	// limit+1 frames, whatever its length.
	n := int64(math.Round(float64(now.Sub(c.origin)) / float64(period)))
	span := int(min(max(1, n-c.at), int64(limit)+1))
	c.at = max(n, c.at+1)
	switch {
	case c.gap == 0:
		c.gap = float64(span)
	case span <= limit:
		// A slow start or a burst moves the average a step at a time.
		c.gap = 0.8*c.gap + 0.2*min(float64(span), 4*c.gap)
	}
	c.tracker.SetMaxMissed(c.keepFrames())
	for range span - 1 {
		c.tracker.Skip()
	}
	return span
}

// keepFrames is how many frames a track lives unseen: through 10 detections
// that miss it (with Yolo on every Nth frame this counting sees, and gap
// frames between those).
func (c *Counting) keepFrames() int {
	return max(10*c.cfg.Every, int(math.Ceil(10*float64(c.cfg.Every)*c.gap)))
}

// scale turns fractions into pixels once the frame size is known.
func (c *Counting) scale(w, h int, now time.Time) error {
	fw, fh := float64(w), float64(h)
	lines := make([]count.Line, len(c.cfg.Lines))
	for i, l := range c.cfg.Lines {
		lines[i] = count.Line{Name: l.Name, A: count.Point{X: l.A.X * fw, Y: l.A.Y * fh}, B: count.Point{X: l.B.X * fw, Y: l.B.Y * fh}}
	}
	zones := make([]count.Zone, len(c.cfg.Zones))
	for i, z := range c.cfg.Zones {
		p := make([]count.Point, len(z.Polygon))
		for j, q := range z.Polygon {
			p[j] = count.Point{X: q.X * fw, Y: q.Y * fh}
		}
		zones[i] = count.Zone{Name: z.Name, Polygon: p}
	}
	counter, err := count.NewCounter(lines, zones, count.Options{Margin: math.Max(4, 0.01*fh)})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.counter, c.since = counter, now
	c.mu.Unlock()
	return nil
}

// Process looks at one frame (borrowed) taken at now and returns the line
// crossings it completed.
func (c *Counting) Process(img gocv.Mat, now time.Time) ([]count.Event, error) {
	return c.process(img, now, false)
}

// process is Process; light takes one look at the whole frame instead of
// the configured passes (one network run against up to 16 at 720p): how a
// guard-mode camera counts between full detections (CountConfig.FPS), and
// CountLight in CountVideoLive. A light look's boxes are not shared (Seen
// reports that Yolo did not run).
func (c *Counting) process(img gocv.Mat, now time.Time, light bool) ([]count.Event, error) {
	if c.counter == nil {
		if err := c.scale(img.Cols(), img.Rows(), now); err != nil {
			return nil, err
		}
	}
	span := c.unseen(now)
	c.ran, c.seen, c.light = false, nil, light
	var tracks []track.Track
	if c.frame%c.cfg.Every != 0 {
		tracks = c.tracker.Skip()
	} else {
		yolo := c.yolo.Detect
		if light {
			yolo = c.yolo.DetectWhole
		}
		d, err := yolo(img)
		if err != nil {
			c.frame++
			c.tracker.Skip() // the frame passes unseen
			return nil, fmt.Errorf("people and vehicle detection: %w", err)
		}
		c.ran, c.seen = true, d
		d = slices.DeleteFunc(slices.Clone(d), func(x detect.Detection) bool { return x.Score < c.cfg.Threshold })
		// Tiles cut people at their edges: a partial box inside a whole
		// one is the same person, and would become a second track.
		tracks = c.tracker.Update(detect.DropContained(d, 0.7))
	}
	c.frame++
	obs := make([]count.Observation, 0, len(tracks))
	objects := map[string]int{}
	for _, t := range tracks {
		obs = append(obs, count.Observation{TrackID: t.ID, Class: t.Class.String(), Point: count.BottomCentre(t.Box), Confirmed: t.Confirmed, Predicted: t.Missed > 0})
		if t.Confirmed && t.Missed <= c.cfg.Every*span {
			objects[t.Class.String()]++
		}
	}
	c.mu.Lock()
	events := c.counter.Update(now, obs)
	c.objects = objects
	c.mu.Unlock()
	return events, nil
}

// SharedThreshold is the Yolo score a vehicle needs for the plate search
// (Engine): counting runs Yolo at this threshold or below so its boxes can
// be shared, and counts only those at its own.
const SharedThreshold = 0.25

// Seen returns what Yolo found in the last frame Process looked at, every
// class, scores >= SharedThreshold; ok is false if Yolo did not run on it
// (count.every > 1) or took a light look only. The plate search takes
// its vehicles from here instead of running Yolo a second time.
func (c *Counting) Seen() (dets []detect.Detection, ok bool) { return c.seen, c.ran && !c.light }

// SharesWith reports whether Yolo runs here as the engine's vehicle search
// would (same passes), so Seen can stand in for it.
func (c *Counting) SharesWith(e Config) bool {
	return e.Plates && e.PlateVehicles && slices.Equal(c.cfg.Passes, orWhole(e.VehiclePasses))
}

// Snapshot returns the counts so far (safe from any goroutine). Totals are
// built here, when asked for, not on every frame.
func (c *Counting) Snapshot() CountSnapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counter == nil { // no frame yet
		return CountSnapshot{}
	}
	return CountSnapshot{Since: c.since, Lines: c.counter.Totals(), Zones: c.counter.Occupancy(), Objects: c.objects}
}

// Close frees the detector.
func (c *Counting) Close() error { return c.yolo.Close() }

// CountedVideo is what counting a video file gave.
type CountedVideo struct {
	Snapshot   CountSnapshot
	Events     []count.Event
	Frames     int // frames read
	Detections int // frames the detector ran on
}

// CountVideo counts a whole video file frame by frame, as fast as it
// decodes (no pacing, no frame dropped): the reference a live camera's
// counts are compared with.
func CountVideo(ctx context.Context, path string, cfg CountConfig, store *models.Store) (CountedVideo, error) {
	return CountVideoLive(ctx, path, cfg, store, nil)
}

// A CountLook is what a live camera's counting does with a frame.
type CountLook uint8

// Count looks.
const (
	CountSkip  CountLook = iota // the frame never reaches counting
	CountFull                   // Process: every pass (a full detection)
	CountLight                  // one look at the whole frame (counting alone, between detections)
)

// CountVideoLive counts a video file as a live camera would that detects
// only the frames look picks (by 0-based number; nil: every frame, fully):
// the others never reach counting, which knows the stream's rate (SetRate)
// and predicts through them. It measures what counting loses at a camera's
// detection rate. On an error it returns what was counted until then.
func CountVideoLive(ctx context.Context, path string, cfg CountConfig, store *models.Store, look func(frame int) CountLook) (out CountedVideo, err error) {
	v, err := OpenVideo(path)
	if err != nil {
		return out, err
	}
	defer v.Close()
	c, err := NewCounting(cfg, store)
	if err != nil {
		return out, err
	}
	defer c.Close()
	defer func() { out.Snapshot = c.Snapshot() }() // whatever ends the loop
	if look != nil {
		c.SetRate(v.Info().FPS)
	}
	m := gocv.NewMat()
	defer m.Close()
	start := time.Unix(0, 0).UTC()
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		if err := v.Read(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		out.Frames++
		l := CountFull
		if look != nil {
			l = look(i)
		}
		if l == CountSkip {
			continue
		}
		at := start.Add(time.Duration(float64(i) / v.Info().FPS * float64(time.Second)))
		ev, err := c.process(m, at, l == CountLight)
		if c.ran {
			out.Detections++
		}
		if err != nil {
			return out, err
		}
		out.Events = append(out.Events, ev...)
	}
}
