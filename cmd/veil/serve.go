package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/veil-gateway/veil/config"
	"github.com/veil-gateway/veil/count"
	"github.com/veil-gateway/veil/internal/cvthreads"
	"github.com/veil-gateway/veil/models"
	"github.com/veil-gateway/veil/pipeline"
	"github.com/veil-gateway/veil/transport/natsbus"
	"github.com/veil-gateway/veil/transport/whep"
	"github.com/veil-gateway/veil/web"
)

const serveUsage = `usage: veil serve [-config veil.yml]

Runs the live gateway: every camera in the config is captured, redacted and
encoded; the viewer, GET /api/cameras, /healthz and WHEP (/whep/<camera>)
are served on http.listen (127.0.0.1:8080); status goes to NATS
(veil.<camera>.status), an embedded server on 127.0.0.1:4222 unless
nats.url is set. Without a config file it runs one "demo" camera.

Settings come from defaults, then the file, then VEIL_* environment
variables (VEIL_HTTP_LISTEN, VEIL_NATS_URL, VEIL_NATS_LISTEN,
VEIL_NATS_DISABLED, VEIL_MODELS, VEIL_LOG_LEVEL, VEIL_CAMERA_SOURCE,
VEIL_CAMERAS_<NAME>_SOURCE). See veil.example.yml.
`

func cmdServe(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, serveUsage); fs.PrintDefaults() }
	path := fs.String("config", "", "config file (default: ./veil.yml when it exists)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "veil serve: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *path == "" {
		if _, err := os.Stat("veil.yml"); err == nil {
			*path = "veil.yml"
		}
	}
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		fmt.Fprintf(stderr, "veil serve: %v\n", err)
		return exitUsage
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	g, err := newGateway(cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitFail
	}
	if err := g.run(ctx); err != nil {
		log.Error("gateway failed", "err", err)
		return exitFail
	}
	return exitOK
}

// gateway wires cameras, WHEP, the web handler and NATS together.
type gateway struct {
	cfg     config.Config
	log     *slog.Logger
	cams    []*pipeline.Camera
	streams []*whep.Stream
	whep    *whep.Server
	bus     *natsbus.Bus
	outbox  *natsbus.Outbox // counts and events, persisted in JetStream
	ln      net.Listener
}

// eventSink publishes one camera's crossings (never blocks: the outbox
// queues).
type eventSink struct {
	g      *gateway
	camera string
}

func (e eventSink) WriteEvent(ev count.Event) {
	if e.g.outbox == nil {
		return
	}
	err := e.g.outbox.Enqueue(natsbus.EventsSubject(e.camera), func(seq uint64) any {
		return natsbus.Event{Schema: natsbus.SchemaEvent, Camera: e.camera, Seq: seq, Time: ev.Time.UTC(),
			Type: "crossing", Line: ev.Line, Class: ev.Class, Direction: ev.Direction}
	})
	if err != nil {
		e.g.log.Warn("event not queued", "camera", e.camera, "err", err)
	}
}

func newGateway(cfg config.Config, log *slog.Logger) (*gateway, error) {
	if os.Getenv("OPENCV_FFMPEG_CAPTURE_OPTIONS") == "" {
		os.Setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", pipeline.CaptureEnv) // before any capture opens
	}
	cvthreads.Set(cfg.CVThreads()) // before any network runs
	log.Info("opencv", "threads", cvthreads.Get())
	g := &gateway{cfg: cfg, log: log}
	ok := false
	defer func() {
		if !ok {
			g.close()
		}
	}()
	var err error
	if g.whep, err = whep.NewServer(whep.Options{ICEHosts: cfg.HTTP.ICEHosts, MaxViewers: cfg.HTTP.MaxViewers}, log); err != nil {
		return nil, err
	}
	store := models.Open(models.Dir(cfg.Models))
	for _, cc := range cfg.Cameras {
		var cam *pipeline.Camera
		st := g.whep.AddStream(cc.Name, func() {
			if cam != nil {
				cam.RequestKeyframe()
			}
		})
		zones := make([][][2]float64, len(cc.Zones))
		for i, z := range cc.Zones {
			zones[i] = z
		}
		eng := cc.Detect.Config
		eng.DNN = cfg.DNN
		pc := pipeline.CameraConfig{
			Name: cc.Name, Source: cc.Source, Engine: eng, Zones: zones,
			Width: cc.Width, Height: cc.Height, FPS: cc.FPS, BitrateKbps: cc.BitrateKbps,
			MaxLatency: cc.MaxLatency, Hold: cc.Hold, Guard: cc.Mode == config.ModeGuard, DetectFPS: cc.DetectFPS, GuardRecheck: cc.GuardRecheck,
		}
		if cc.Count.Enabled {
			if pc.Count, err = cc.Count.Pipeline(cc.Detect.Config.Reuse); err != nil {
				return nil, fmt.Errorf("camera %s: %w", cc.Name, err)
			}
			pc.Events = eventSink{g, cc.Name}
		}
		cam, err = pipeline.NewCamera(pc, store, st, log)
		if err != nil {
			return nil, err
		}
		g.cams = append(g.cams, cam)
		g.streams = append(g.streams, st)
	}
	if !cfg.NATS.Disabled {
		if g.bus, err = natsbus.Start(natsbus.Options{URL: cfg.NATS.URL, Creds: cfg.NATS.Creds, TLSCA: cfg.NATS.TLSCA, Listen: cfg.NATS.Listen, StoreDir: cfg.NATS.StoreDir}, log); err != nil {
			return nil, err
		}
		g.outbox = natsbus.NewOutbox(g.bus.Conn(), log)
	}
	if g.ln, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
		return nil, fmt.Errorf("http.listen: %w (set http.listen or VEIL_HTTP_LISTEN)", err)
	}
	ok = true
	return g, nil
}

// apiCamera is one entry of GET /api/cameras.
type apiCamera struct {
	pipeline.CameraStatus
	whep.ViewerStats
	WHEPURL string `json:"whep_url"`
	// Counting: what was counted, and the configured lines and zones (in
	// fractions of the frame) for the viewer to draw.
	Counts     *pipeline.CountSnapshot `json:"counts,omitempty"`
	CountLines []config.CountLine      `json:"count_lines,omitempty"`
	CountZones []config.CountZone      `json:"count_zones,omitempty"`
}

func (g *gateway) cameras() any {
	out := make([]apiCamera, len(g.cams))
	for i := range g.cams {
		out[i] = g.camera(i, true)
	}
	return out
}

// camera is camera i's API entry; withCounts adds what it counted.
func (g *gateway) camera(i int, withCounts bool) apiCamera {
	c := g.cams[i]
	s := c.Status()
	a := apiCamera{CameraStatus: s, ViewerStats: g.streams[i].Stats(), WHEPURL: "/whep/" + s.Name}
	if withCounts {
		if snap, ok := c.Counts(); ok {
			a.Counts = &snap
			a.CountLines, a.CountZones = g.cfg.Cameras[i].Count.Lines, g.cfg.Cameras[i].Count.Zones
		}
	}
	return a
}

func (g *gateway) healthy() error {
	if g.bus != nil && !g.bus.Conn().IsConnected() {
		return errors.New("nats: not connected")
	}
	return nil
}

func (g *gateway) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range g.cams {
		wg.Go(func() { _ = c.Run(ctx) })
	}
	srv := web.Server(g.cfg.HTTP.Listen, web.Handler(web.Options{Cameras: g.cameras, Healthy: g.healthy, WHEP: g.whep}))
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(g.ln) }()
	g.log.Info("veil serving", "viewer", "http://"+g.ln.Addr().String()+"/", "cameras", len(g.cams), "nats", g.natsURL())
	// The outbox outlives the cameras and publishers, so what they queue
	// while stopping (last crossings, the final counts) is still sent.
	octx, ocancel := context.WithCancel(context.Background())
	outboxDone := make(chan struct{})
	if g.bus != nil {
		go func() { g.outbox.Run(octx); close(outboxDone) }()
	} else {
		close(outboxDone)
	}
	if g.bus != nil {
		wg.Go(func() { g.publishStatus(ctx) })
		for i, c := range g.cams {
			if cc := g.cfg.Cameras[i]; cc.Count.Enabled {
				wg.Go(func() { g.publishCounts(ctx, c, cc.Count.PublishEvery) })
			}
		}
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-srvErr:
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = srv.Shutdown(sctx)
	scancel()
	g.whep.Close()
	wg.Wait()
	ocancel()
	<-outboxDone
	g.close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	g.log.Info("veil stopped")
	return err
}

func (g *gateway) natsURL() string {
	if g.bus == nil {
		return "disabled"
	}
	return g.bus.URL()
}

// publishStatus sends each camera's status to veil.<camera>.status every
// 2 s: counters only, never pixels.
func (g *gateway) publishStatus(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	var seq uint64 // every camera's status goes out on each tick: one number serves all
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			seq++
			for i := range g.cams {
				c := g.camera(i, false) // counts have their own subject
				msg := natsbus.Status{Schema: natsbus.SchemaStatus, Camera: c.Name, Seq: seq, Time: time.Now().UTC(), Status: c}
				if err := g.bus.PublishJSON(natsbus.StatusSubject(c.Name), msg); err != nil {
					g.log.Debug("status publish failed", "camera", c.Name, "err", err)
				}
			}
		}
	}
}

// publishCounts queues a camera's counts every period (and once more at
// the end, so the last crossings are in a final aggregate).
func (g *gateway) publishCounts(ctx context.Context, c *pipeline.Camera, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// The final counts once the camera has stopped, so they
			// include its last crossings (bounded, should it hang).
			wait := time.NewTimer(10 * time.Second)
			select {
			case <-c.Done():
			case <-wait.C:
				g.log.Warn("camera still running 10 s after stop: final counts may miss its last crossings", "camera", c.Status().Name)
			}
			wait.Stop()
			g.queueCounts(c)
			return
		case <-t.C:
			g.queueCounts(c)
		}
	}
}

func (g *gateway) queueCounts(c *pipeline.Camera) {
	snap, ok := c.Counts()
	if !ok || snap.Since.IsZero() {
		return // nothing counted yet
	}
	st := c.Status()
	msg := natsbus.Counts{Schema: natsbus.SchemaCounts, Camera: st.Name, Since: snap.Since.UTC(), Objects: snap.Objects,
		Redacted: natsbus.Redacted{Faces: st.Faces, Plates: st.Plates}, Lines: []natsbus.LineCounts{}, Zones: []natsbus.ZoneCounts{}}
	for _, l := range snap.Lines {
		lc := natsbus.LineCounts{Line: l.Line, Classes: map[string]natsbus.InOut{}}
		for cls, io := range l.Classes {
			lc.Classes[cls] = natsbus.InOut{In: io.In, Out: io.Out}
		}
		msg.Lines = append(msg.Lines, lc)
	}
	for _, z := range snap.Zones {
		msg.Zones = append(msg.Zones, natsbus.ZoneCounts{Zone: z.Zone, Classes: z.Classes})
	}
	if msg.Objects == nil {
		msg.Objects = map[string]int{}
	}
	err := g.outbox.Enqueue(natsbus.CountsSubject(st.Name), func(seq uint64) any {
		msg.Seq, msg.Time = seq, time.Now().UTC()
		return msg
	})
	if err != nil {
		g.log.Warn("counts not queued", "camera", st.Name, "err", err)
	}
}

func (g *gateway) close() {
	if g.ln != nil {
		g.ln.Close()
	}
	if g.bus != nil {
		g.bus.Close()
	}
}
