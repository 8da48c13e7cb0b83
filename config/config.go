// Package config reads veil.yml: defaults, then the file, then VEIL_*
// environment variables, then a validation that names the bad field.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/veil-gateway/veil/count"
	"github.com/veil-gateway/veil/detect"
	"github.com/veil-gateway/veil/internal/cvthreads"
	"github.com/veil-gateway/veil/pipeline"
	"github.com/veil-gateway/veil/redact"
)

// Config is the whole gateway.
type Config struct {
	LogLevel string `yaml:"log_level"` // debug, info, warn, error
	Models   string `yaml:"models"`    // models directory ("": $VEIL_MODELS or ./models)
	// OpenCVThreads: threads each OpenCV parallel loop (each resize and
	// colour conversion, and each network's forward pass when a network
	// runs on OpenCV: dnn) spreads over, process-wide; 0: chosen by the
	// cameras (CVThreads); -1: OpenCV's default (every core). Networks on
	// ONNX Runtime run on one thread each.
	OpenCVThreads int `yaml:"opencv_threads"`
	// DNN: the inference engine of the detectors' networks, process-wide
	// (pipeline.Config.DNN): auto (ONNX Runtime when set-up installed it,
	// else OpenCV), onnxruntime or opencv.
	DNN     string  `yaml:"dnn"`
	HTTP    HTTP    `yaml:"http"`
	NATS    NATS    `yaml:"nats"`
	Cameras Cameras `yaml:"cameras"`
}

// HTTP is the viewer, the API and WHEP.
type HTTP struct {
	Listen     string `yaml:"listen"`      // host:port; 127.0.0.1 by default, never all interfaces unless asked
	MaxViewers int    `yaml:"max_viewers"` // per camera
	// ICEHosts restricts the addresses offered to browsers ("" = all
	// interfaces, loopback included).
	ICEHosts []string `yaml:"ice_hosts"`
}

// NATS is where status (and, later, counts) go.
type NATS struct {
	// URL of an external server or cluster; empty runs an embedded server.
	URL      string `yaml:"url"`
	Creds    string `yaml:"creds"`     // a .creds file for the external server
	TLSCA    string `yaml:"tls_ca"`    // CA file to verify the external server
	Listen   string `yaml:"listen"`    // the embedded server's host:port
	StoreDir string `yaml:"store_dir"` // the embedded server's JetStream directory ("" = a temporary one)
	Disabled bool   `yaml:"disabled"`
}

// Camera is one source and what is done to it.
type Camera struct {
	Name string `yaml:"name"`
	// Source: "demo", a video file (played in a loop at its own rate), a
	// V4L2 device (/dev/video0), or an rtsp://, http:// or https:// URL.
	Source      string        `yaml:"source"`
	Detect      Detect        `yaml:"detect"`
	Zones       []Zone        `yaml:"zones"`        // always masked, e.g. windows of homes
	Width       int           `yaml:"width"`        // output size (0: the source's)
	Height      int           `yaml:"height"`       //
	FPS         float64       `yaml:"fps"`          // most frames per second processed (0: the source's)
	BitrateKbps int           `yaml:"bitrate_kbps"` // VP8 target
	MaxLatency  time.Duration `yaml:"max_latency"`  // a frame older than this when redacted is dropped
	Hold        int           `yaml:"hold"`         // frames a region stays redacted after it was last seen
	// Mode: "guard" (the default: every frame is sent at the camera's
	// rate; between detections, every block that changed since detection
	// last looked is masked too) or "sync" (each frame waits for its own
	// detection; frames that arrive meanwhile are dropped).
	Mode string `yaml:"mode"`
	// DetectFPS caps detections per second in guard mode (0: as many as
	// the cores allow): less CPU, more of the frame masked.
	DetectFPS float64 `yaml:"detect_fps"`
	// GuardRecheck: in guard mode a frame in which nothing changed since
	// the last detection's frame is not detected again; a detection still
	// runs at least this often (0: pipeline.GuardRecheck, 10 s).
	GuardRecheck time.Duration `yaml:"guard_recheck"`
	Count        Count         `yaml:"count"`
}

// Camera modes.
const (
	ModeSync  = "sync"
	ModeGuard = "guard"
)

// Count configures anonymous counting of people and vehicles on a camera.
type Count struct {
	Enabled bool `yaml:"enabled"`
	// Every runs the people/vehicle detector on every Nth frame the camera
	// processes (1: all); tracks are predicted in between.
	Every     int     `yaml:"every"`
	Threshold float32 `yaml:"threshold"` // Yolo-Fastest score
	Passes    string  `yaml:"passes"`    // zoom[:maxtiles],... (Yolo's input is 320x320)
	// FPS (guard mode): the people/vehicle detector runs on its own at most
	// this often between detections, so detect_fps can be low while
	// counting keeps pace (0: it runs with each detection).
	FPS          float64       `yaml:"fps"`
	Lines        []CountLine   `yaml:"lines"`
	Zones        []CountZone   `yaml:"zones"`
	PublishEvery time.Duration `yaml:"publish_every"` // veil.<camera>.counts period
}

// CountLine is a directed segment in fractions of the frame; "in" is a
// crossing from the left of A->B to its right (image coordinates, y down).
type CountLine struct {
	Name string     `yaml:"name" json:"name"`
	A    [2]float64 `yaml:"a" json:"a"`
	B    [2]float64 `yaml:"b" json:"b"`
}

// CountZone is a polygon in fractions of the frame whose occupancy is
// reported.
type CountZone struct {
	Name    string `yaml:"name" json:"name"`
	Polygon Zone   `yaml:"polygon" json:"polygon"`
}

// Validate checks the counting settings.
func (c Count) Validate() error {
	if !c.Enabled {
		return nil
	}
	switch {
	case c.Every < 1 || c.Every > 100:
		return fmt.Errorf("count.every %d: want 1-100", c.Every)
	case !(c.Threshold > 0 && c.Threshold < 1):
		return fmt.Errorf("count.threshold %v: want (0,1)", c.Threshold)
	case c.PublishEvery < time.Second || c.PublishEvery > time.Hour:
		return fmt.Errorf("count.publish_every %v: want 1s-1h", c.PublishEvery)
	}
	if err := pipeline.CheckCountFPS("count.fps", c.FPS); err != nil {
		return err
	}
	if _, err := pipeline.ParsePasses(c.Passes); err != nil {
		return fmt.Errorf("count.passes: %w", err)
	}
	names := map[string]bool{}
	for i, l := range c.Lines {
		if !nameRE.MatchString(l.Name) || names[l.Name] {
			return fmt.Errorf("count.lines[%d]: name %q must be unique, 1-63 of a-z, 0-9, '-', '_'", i, l.Name)
		}
		names[l.Name] = true
		for _, p := range [][2]float64{l.A, l.B} {
			if !(p[0] >= 0 && p[0] <= 1 && p[1] >= 0 && p[1] <= 1) {
				return fmt.Errorf("count.lines[%d] (%s): point %v outside [0,1] (fractions of the frame)", i, l.Name, p)
			}
		}
		if l.A == l.B {
			return fmt.Errorf("count.lines[%d] (%s): a and b are the same point", i, l.Name)
		}
	}
	for i, z := range c.Zones {
		if !nameRE.MatchString(z.Name) || names[z.Name] {
			return fmt.Errorf("count.zones[%d]: name %q must be unique (among lines too), 1-63 of a-z, 0-9, '-', '_'", i, z.Name)
		}
		names[z.Name] = true
		if err := validPolygon(z.Polygon); err != nil {
			return fmt.Errorf("count.zones[%d] (%s): %w", i, z.Name, err)
		}
	}
	return nil
}

func validPolygon(z Zone) error {
	if len(z) < 3 || len(z) > 64 {
		return fmt.Errorf("%d points, want 3-64", len(z))
	}
	for _, p := range z {
		if !(p[0] >= 0 && p[0] <= 1 && p[1] >= 0 && p[1] <= 1) {
			return fmt.Errorf("point %v outside [0,1] (zones are fractions of the frame)", p)
		}
	}
	return nil
}

// Zone is a polygon in frame coordinates scaled to [0,1], always masked.
type Zone [][2]float64

// Cameras decodes a YAML list of cameras, each starting from the defaults.
type Cameras []Camera

// UnmarshalYAML fills each camera's unset fields with the defaults.
func (cs *Cameras) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("line %d: cameras must be a list", n.Line)
	}
	out := make(Cameras, 0, len(n.Content))
	for i, item := range n.Content {
		c := DefaultCamera()
		if err := decodeStrict(item, &c); err != nil {
			return fmt.Errorf("cameras[%d]: %w", i, err)
		}
		out = append(out, c)
	}
	*cs = out
	return nil
}

// Detect chooses the detectors of one camera: a preset, then overrides.
type Detect struct {
	// Preset: "live" (default: whole-frame and 2x faces; plates over the
	// whole frame and inside each vehicle) or "thorough" (veil redact's
	// defaults: also UltraFace and plates inside vehicles; about 1 frame/s).
	Preset string
	Config pipeline.Config
}

// detectYAML is how a Detect is written: the preset's values, overridden
// by the fields that are set.
type detectYAML struct {
	Preset         string   `yaml:"preset"`
	Faces          *bool    `yaml:"faces"`
	Plates         *bool    `yaml:"plates"`
	FaceThreshold  *float32 `yaml:"face_threshold"`
	FacePasses     *string  `yaml:"face_passes"`
	UltraFace      *bool    `yaml:"ultra_face"`
	PlateThreshold *float32 `yaml:"plate_threshold"`
	PlatePasses    *string  `yaml:"plate_passes"`
	PlateVehicles  *bool    `yaml:"plate_vehicles"`
	// PlateVehicleTiles: most text-detector tiles per vehicle searched.
	PlateVehicleTiles *int `yaml:"plate_vehicle_tiles"`
	// PlateVehicleSmall: side of the smallest text-detector input for small
	// vehicles; a third sits between it and 640 when one fits (0: both off).
	PlateVehicleSmall *int    `yaml:"plate_vehicle_small"`
	Reuse             *string `yaml:"reuse"`
	Style             *string `yaml:"style"`
}

// decodeStrict decodes a mapping into the struct dst points to, field by
// field, so an unknown key or a bad value names its field (yaml.v3's
// KnownFields does not reach into custom unmarshalers).
func decodeStrict(n *yaml.Node, dst any) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a mapping of fields", n.Line)
	}
	v := reflect.ValueOf(dst).Elem()
	fields := map[string]int{}
	var names []string
	for i := range v.NumField() {
		tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
		if tag != "" && tag != "-" {
			fields[tag] = i
			names = append(names, tag)
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		f, ok := fields[k.Value]
		if !ok {
			return fmt.Errorf("line %d: unknown field %q (known: %s)", k.Line, k.Value, strings.Join(names, ", "))
		}
		if err := val.Decode(v.Field(f).Addr().Interface()); err != nil {
			return fmt.Errorf("%s: %w", k.Value, err)
		}
	}
	return nil
}

// Preset returns a named detector preset.
func Preset(name string) (pipeline.Config, error) {
	c := pipeline.DefaultConfig()
	switch name {
	case "thorough":
		return c, nil
	case "", "live":
		// Plates: a whole-frame pass plus the search inside each vehicle
		// (Yolo's boxes shared with counting). Measured with veil eval on
		// every 3rd plates image and every plates-small one: 0.989 and
		// 0.957, against 0.882 and less for the whole-frame pass alone;
		// every 2nd plates-small one: 0.971, against 0.892 for
		// native-resolution tiles alone.
		c.UltraFace = false
		c.PlatePasses = []detect.Pass{{Zoom: 0}}
		return c, nil
	}
	return c, fmt.Errorf("unknown preset %q (want live or thorough)", name)
}

// UnmarshalYAML applies the preset, then the fields that are set.
func (d *Detect) UnmarshalYAML(n *yaml.Node) error {
	var y detectYAML
	if err := decodeStrict(n, &y); err != nil {
		return fmt.Errorf("detect: %w", err)
	}
	c, err := Preset(y.Preset)
	if err != nil {
		return fmt.Errorf("line %d: detect.preset: %w", n.Line, err)
	}
	set := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	set(&c.Faces, y.Faces)
	set(&c.Plates, y.Plates)
	set(&c.UltraFace, y.UltraFace)
	set(&c.PlateVehicles, y.PlateVehicles)
	if y.FaceThreshold != nil {
		c.FaceThreshold = *y.FaceThreshold
	}
	if y.PlateThreshold != nil {
		c.PlateThreshold = *y.PlateThreshold
	}
	if y.PlateVehicleTiles != nil {
		c.PlateVehicleTiles = *y.PlateVehicleTiles
	}
	if y.PlateVehicleSmall != nil {
		c.PlateVehicleSmall = *y.PlateVehicleSmall
	}
	for _, p := range []struct {
		field string
		s     *string
		dst   *[]detect.Pass
	}{{"face_passes", y.FacePasses, &c.FacePasses}, {"plate_passes", y.PlatePasses, &c.PlatePasses}} {
		if p.s == nil {
			continue
		}
		ps, err := pipeline.ParsePasses(*p.s)
		if err != nil {
			return fmt.Errorf("line %d: detect.%s: %w", n.Line, p.field, err)
		}
		*p.dst = ps
	}
	if y.Reuse != nil {
		r, err := pipeline.ParseReuse(*y.Reuse)
		if err != nil {
			return fmt.Errorf("line %d: detect.reuse: %w", n.Line, err)
		}
		c.Reuse = r
	}
	if y.Style != nil {
		s, err := redact.ParseStyle(*y.Style)
		if err != nil {
			return fmt.Errorf("line %d: detect.style: %w", n.Line, err)
		}
		c.Style = s
	}
	d.Preset, d.Config = y.Preset, c
	if d.Preset == "" {
		d.Preset = "live"
	}
	return nil
}

// Default is the configuration with no file: one demo camera, the embedded
// NATS server, the viewer on localhost.
func Default() Config {
	return Config{
		LogLevel: "info",
		DNN:      pipeline.DNNAuto,
		HTTP:     HTTP{Listen: "127.0.0.1:8080", MaxViewers: 16},
		NATS:     NATS{Listen: "127.0.0.1:4222"},
		Cameras:  Cameras{DemoCamera()},
	}
}

// DemoCamera plays Debian's vtest.avi and counts people crossing the
// line of plaza hand-counted in testdata/counting (27 crossings a loop).
func DemoCamera() Camera {
	c := DefaultCamera()
	c.Name, c.Source = "demo", "demo"
	c.Count.Lines = []CountLine{{Name: "plaza", A: [2]float64{350.0 / 768, 390.0 / 576}, B: [2]float64{350.0 / 768, 180.0 / 576}}}
	return c
}

// DefaultCamera is what every camera starts from.
func DefaultCamera() Camera {
	d, _ := Preset("live")
	// Guard mode detects every 5 s and counts alone 3 times a second
	// between: on a busy 720p30 scene 1.8-1.9x the CPU of decoding and
	// encoding alone, against 4.3x detecting as often as the cores allow,
	// for 28-30 % of the frame masked against 21.5-24 %, and counting finds
	// as many crossings (bench/README.md).
	return Camera{Detect: Detect{Preset: "live", Config: d}, BitrateKbps: 1500, MaxLatency: 2 * time.Second, Hold: 5, Mode: ModeGuard, DetectFPS: 0.2,
		Count: Count{Enabled: true, Every: 1, Threshold: 0.3, Passes: "0,1:15", FPS: 3, PublishEvery: 10 * time.Second}}
}

// Load reads path (may be ""), applies env (VEIL_* variables, as os.Environ
// gives them) and validates.
func Load(path string, env []string) (Config, error) {
	c := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		if err := Parse(b, &c); err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(&c, env); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// maxFile bounds a config file; anything larger is a mistake.
const maxFile = 1 << 20

// Parse decodes YAML over c, rejecting unknown fields.
func Parse(b []byte, c *Config) error {
	if len(b) > maxFile {
		return fmt.Errorf("file is %d bytes, more than %d", len(b), maxFile)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// Env variables: VEIL_LOG_LEVEL, VEIL_MODELS, VEIL_DNN, VEIL_HTTP_LISTEN,
// VEIL_NATS_URL, VEIL_NATS_CREDS, VEIL_NATS_LISTEN, VEIL_NATS_DISABLED,
// VEIL_CAMERAS_<NAME>_SOURCE (<NAME> upper-cased, '-' as '_'), and
// VEIL_CAMERA_SOURCE, which replaces the demo camera's source when no
// file lists cameras.
func applyEnv(c *Config, env []string) error {
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "VEIL_") {
			continue
		}
		var err error
		switch k {
		case "VEIL_LOG_LEVEL":
			c.LogLevel = v
		case "VEIL_MODELS":
			c.Models = v
		case "VEIL_DNN":
			c.DNN = v
		case "VEIL_HTTP_LISTEN":
			c.HTTP.Listen = v
		case "VEIL_NATS_URL":
			c.NATS.URL = v
		case "VEIL_NATS_CREDS":
			c.NATS.Creds = v
		case "VEIL_NATS_LISTEN":
			c.NATS.Listen = v
		case "VEIL_NATS_DISABLED":
			err = yaml.Unmarshal([]byte(v), &c.NATS.Disabled)
		case "VEIL_CAMERA_SOURCE":
			if len(c.Cameras) != 1 {
				return fmt.Errorf("VEIL_CAMERA_SOURCE: %d cameras configured; use VEIL_CAMERAS_<NAME>_SOURCE", len(c.Cameras))
			}
			c.Cameras[0].Source = v
		default:
			rest, ok := strings.CutPrefix(k, "VEIL_CAMERAS_")
			if !ok {
				continue // other VEIL_ variables (VEIL_DATA for tests) are not ours
			}
			name, field, ok := cutLast(rest, "_")
			if !ok {
				return fmt.Errorf("%s: want VEIL_CAMERAS_<NAME>_<FIELD>", k)
			}
			i := findCamera(c.Cameras, name)
			if i < 0 {
				return fmt.Errorf("%s: no camera named %s", k, strings.ToLower(name))
			}
			switch field {
			case "SOURCE":
				c.Cameras[i].Source = v
			case "FPS":
				err = yaml.Unmarshal([]byte(v), &c.Cameras[i].FPS)
			default:
				return fmt.Errorf("%s: unknown field %s (SOURCE, FPS)", k, field)
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

func cutLast(s, sep string) (string, string, bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return "", "", false
	}
	return s[:i], s[i+len(sep):], true
}

func findCamera(cs []Camera, envName string) int {
	for i, c := range cs {
		if strings.ToUpper(strings.ReplaceAll(c.Name, "-", "_")) == envName {
			return i
		}
	}
	return -1
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// CVThreads is the OpenCV thread count the gateway sets (process-wide):
// opencv_threads when set (-1: OpenCV's default); else the count every
// camera would choose alone (pipeline.CVThreadsFor: one for guard cameras
// with detect_fps), or OpenCV's default when they differ or there is none.
func (c Config) CVThreads() int {
	if c.OpenCVThreads != 0 {
		return c.OpenCVThreads
	}
	threads := cvthreads.Default
	for i, cam := range c.Cameras {
		n := pipeline.CVThreadsFor(cam.Mode == ModeGuard, cam.DetectFPS)
		if i > 0 && n != threads {
			return cvthreads.Default
		}
		threads = n
	}
	return threads
}

// Validate names the first bad field.
func (c Config) Validate() error {
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.OpenCVThreads < cvthreads.Default || c.OpenCVThreads > 64 {
		return fmt.Errorf("opencv_threads %d: want 1-64, 0 (chosen by the cameras) or -1 (OpenCV's default)", c.OpenCVThreads)
	}
	if err := pipeline.CheckDNN("dnn", c.DNN); err != nil {
		return err
	}
	if err := validHostPort("http.listen", c.HTTP.Listen, 0); err != nil {
		return err
	}
	if c.HTTP.MaxViewers < 1 || c.HTTP.MaxViewers > 256 {
		return fmt.Errorf("http.max_viewers %d: want 1-256", c.HTTP.MaxViewers)
	}
	if c.NATS.URL != "" {
		for _, u := range strings.Split(c.NATS.URL, ",") {
			p, err := url.Parse(strings.TrimSpace(u))
			if err != nil || p.Host == "" || (p.Scheme != "nats" && p.Scheme != "tls" && p.Scheme != "ws" && p.Scheme != "wss") {
				return fmt.Errorf("nats.url %q: want nats://host:port[,...]", u)
			}
		}
	} else if !c.NATS.Disabled {
		if err := validHostPort("nats.listen", c.NATS.Listen, -1); err != nil {
			return err
		}
	}
	if len(c.Cameras) == 0 {
		return errors.New("cameras: none configured")
	}
	seen := map[string]bool{}
	for i, cam := range c.Cameras {
		if err := cam.Validate(); err != nil {
			return fmt.Errorf("cameras[%d] (%s): %w", i, cam.Name, err)
		}
		if seen[cam.Name] {
			return fmt.Errorf("cameras[%d]: name %q used twice", i, cam.Name)
		}
		seen[cam.Name] = true
	}
	return nil
}

func validHostPort(field, s string, minPort int) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%s %q: want host:port", field, s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < minPort || p > 65535 {
		return fmt.Errorf("%s %q: port must be %d-65535 (0: any free port)", field, s, max(minPort, 0))
	}
	return nil
}

// Validate checks one camera.
func (c Camera) Validate() error {
	if !nameRE.MatchString(c.Name) {
		return fmt.Errorf("name %q: want 1-63 of a-z, 0-9, '-', '_' (it is part of URLs and NATS subjects)", c.Name)
	}
	if err := ValidSource(c.Source); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	if err := c.Detect.Config.Validate(); err != nil {
		return fmt.Errorf("detect: %w", err)
	}
	switch {
	case c.Width < 0 || c.Width > 4096 || c.Height < 0 || c.Height > 4096 || c.Width%2 != 0 || c.Height%2 != 0:
		return fmt.Errorf("width %d, height %d: want even sizes up to 4096 (0: the source's)", c.Width, c.Height)
	case (c.Width == 0) != (c.Height == 0):
		return fmt.Errorf("width %d, height %d: set both or neither", c.Width, c.Height)
	case !(c.FPS >= 0 && c.FPS <= 120): // NaN too
		return fmt.Errorf("fps %v: want 0-120", c.FPS)
	case c.BitrateKbps < 50 || c.BitrateKbps > 50000:
		return fmt.Errorf("bitrate_kbps %d: want 50-50000", c.BitrateKbps)
	case c.MaxLatency < 50*time.Millisecond || c.MaxLatency > time.Minute:
		return fmt.Errorf("max_latency %v: want 50ms-1m", c.MaxLatency)
	case c.Hold < 0 || c.Hold > 300:
		return fmt.Errorf("hold %d: want 0-300 frames", c.Hold)
	case c.Mode != ModeSync && c.Mode != ModeGuard:
		return fmt.Errorf("mode %q: want %s or %s", c.Mode, ModeSync, ModeGuard)
	case c.GuardRecheck != 0 && (c.GuardRecheck < 100*time.Millisecond || c.GuardRecheck > 10*time.Minute):
		return fmt.Errorf("guard_recheck %v: want 100ms-10m (0: the default, 10s)", c.GuardRecheck)
	}
	if err := pipeline.CheckDetectFPS("detect_fps", c.DetectFPS); err != nil {
		return err
	}
	for i, z := range c.Zones {
		if err := validPolygon(z); err != nil {
			return fmt.Errorf("zones[%d]: %w", i, err)
		}
	}
	return c.Count.Validate()
}

// ValidSource checks a source string without opening it.
func ValidSource(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case s == "demo":
		return nil
	case strings.Contains(s, "://"):
		u, err := url.Parse(s)
		if err != nil {
			return err
		}
		switch u.Scheme {
		case "rtsp", "rtsps", "http", "https":
		default:
			return fmt.Errorf("%q: scheme %q not supported (rtsp, rtsps, http, https)", s, u.Scheme)
		}
		if u.Host == "" {
			return fmt.Errorf("%q: no host", s)
		}
		return nil
	case strings.HasPrefix(s, "/dev/video"):
		return nil
	}
	fi, err := os.Stat(s)
	if err != nil {
		return fmt.Errorf("%q: not demo, a URL, /dev/videoN or a readable file: %w", s, err)
	}
	if fi.IsDir() {
		return fmt.Errorf("%q is a directory", s)
	}
	return nil
}

// Strict decoding for the structs inside a camera: an unknown key is an
// error there too.
func (c *Count) UnmarshalYAML(n *yaml.Node) error {
	type plain Count
	return decodeStrict(n, (*plain)(c))
}

// UnmarshalYAML decodes strictly.
func (l *CountLine) UnmarshalYAML(n *yaml.Node) error {
	type plain CountLine
	return decodeStrict(n, (*plain)(l))
}

// UnmarshalYAML decodes strictly.
func (z *CountZone) UnmarshalYAML(n *yaml.Node) error {
	type plain CountZone
	return decodeStrict(n, (*plain)(z))
}

// Pipeline turns a camera's count settings into counting's, with the
// camera's tile reuse.
func (c Count) Pipeline(reuse detect.Reuse) (*pipeline.CountConfig, error) {
	passes, err := pipeline.ParsePasses(c.Passes)
	if err != nil {
		return nil, err
	}
	pt := func(p [2]float64) count.Point { return count.Point{X: p[0], Y: p[1]} }
	out := &pipeline.CountConfig{Every: c.Every, Threshold: c.Threshold, Passes: passes, Reuse: reuse, FPS: c.FPS}
	for _, l := range c.Lines {
		out.Lines = append(out.Lines, count.Line{Name: l.Name, A: pt(l.A), B: pt(l.B)})
	}
	for _, z := range c.Zones {
		poly := make([]count.Point, len(z.Polygon))
		for i, p := range z.Polygon {
			poly[i] = pt(p)
		}
		out.Zones = append(out.Zones, count.Zone{Name: z.Name, Polygon: poly})
	}
	return out, nil
}
