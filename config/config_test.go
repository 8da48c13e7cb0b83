package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Listen != "127.0.0.1:8080" || c.NATS.Listen != "127.0.0.1:4222" || c.NATS.URL != "" {
		t.Errorf("defaults must bind to localhost with embedded NATS: %+v %+v", c.HTTP, c.NATS)
	}
	if len(c.Cameras) != 1 || c.Cameras[0].Source != "demo" || c.Cameras[0].Detect.Preset != "live" {
		t.Errorf("default cameras: %+v", c.Cameras)
	}
}

func TestExampleFileLoads(t *testing.T) {
	c, err := Load(filepath.Join("..", "veil.example.yml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Cameras) < 2 {
		t.Fatalf("example lists %d cameras", len(c.Cameras))
	}
	if b, err := os.ReadFile(filepath.Join("..", "veil.example.yml")); err != nil || !strings.Contains(string(b), "\nopencv_threads: 0 ") || c.OpenCVThreads != Default().OpenCVThreads {
		t.Errorf("example's opencv_threads %d (read: %v), want it spelled out with the default %d", c.OpenCVThreads, err, Default().OpenCVThreads)
	}
	// The example's demo camera spells out counting's defaults and the
	// demo's own line.
	got, want := c.Cameras[0].Count, DemoCamera().Count
	if got.Every != want.Every || got.Threshold != want.Threshold || got.Passes != want.Passes || got.PublishEvery != want.PublishEvery ||
		len(got.Lines) != 1 || got.Lines[0].Name != want.Lines[0].Name {
		t.Errorf("example's count %+v, want the demo camera's %+v", got, want)
	}
	for i := range 2 {
		if d := got.Lines[0].A[i] - want.Lines[0].A[i]; d > 1e-3 || d < -1e-3 {
			t.Errorf("example's line a %v, want %v", got.Lines[0].A, want.Lines[0].A)
		}
	}
}

func TestLoad(t *testing.T) {
	file := `
log_level: debug
http:
  listen: 127.0.0.1:9000
cameras:
  - name: door
    source: demo
    fps: 5
    max_latency: 800ms
    detect:
      preset: thorough
      plates: false
      face_passes: "0,2:4"
      style: blur
    zones:
      - [[0, 0], [0.5, 0], [0.5, 0.2]]
  - name: street
    source: rtsp://user:secret@10.0.0.7/stream1
    detect_fps: 0.25
    count: {enabled: true, fps: 2.5, passes: "0"}
`
	dir := t.TempDir()
	p := filepath.Join(dir, "veil.yml")
	if err := os.WriteFile(p, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p, []string{"VEIL_HTTP_LISTEN=127.0.0.1:9100", "VEIL_CAMERAS_STREET_SOURCE=rtsp://10.0.0.8/s", "PATH=/bin", "VEIL_DATA=/x"})
	if err != nil {
		t.Fatal(err)
	}
	if c.LogLevel != "debug" || c.HTTP.Listen != "127.0.0.1:9100" {
		t.Errorf("file then env: got %q %q", c.LogLevel, c.HTTP.Listen)
	}
	door, street := c.Cameras[0], c.Cameras[1]
	if door.FPS != 5 || door.MaxLatency != 800*time.Millisecond || door.BitrateKbps != 1500 {
		t.Errorf("door: fields or defaults wrong: %+v", door)
	}
	d := door.Detect.Config
	if d.Plates || !d.Faces || !d.UltraFace || len(d.FacePasses) != 2 || d.FacePasses[1].MaxTiles != 4 || d.Style.String() != "blur" {
		t.Errorf("door detect: preset thorough with overrides, got %+v", d)
	}
	if len(door.Zones) != 1 || door.Zones[0][1] != [2]float64{0.5, 0} {
		t.Errorf("zones: %v", door.Zones)
	}
	if street.Source != "rtsp://10.0.0.8/s" || street.Detect.Preset != "live" || street.Detect.Config.UltraFace {
		t.Errorf("street: env source and live preset expected: %+v", street)
	}
	if cc, err := street.Count.Pipeline(street.Detect.Config.Reuse); err != nil || street.DetectFPS != 0.25 || cc.FPS != 2.5 || len(cc.Passes) != 1 || cc.Passes[0].Zoom != 0 {
		t.Errorf("street: detect_fps %v, count %+v (%v): want 0.25, counting alone at 2.5 a second over the whole frame", street.DetectFPS, cc, err)
	}
}

// Every bad config names the field at fault.
func TestValidationNamesField(t *testing.T) {
	cases := []struct {
		name, yaml string
		env        []string
		want       string
	}{
		{"unknown field", "cameras:\n  - name: a\n    source: demo\n    colour: red\n", nil, "colour"},
		{"bad yaml", "cameras: [", nil, "yaml"},
		{"opencv threads", "opencv_threads: -2\n", nil, "opencv_threads"},
		{"dnn", "dnn: tensorflow\n", nil, "dnn"},
		{"dnn env", "", []string{"VEIL_DNN=onnx"}, "dnn"},
		{"no cameras", "cameras: []\n", nil, "cameras: none"},
		{"cameras not a list", "cameras: 3\n", nil, "must be a list"},
		{"bad name", "cameras:\n  - name: A B\n    source: demo\n", nil, "name"},
		{"duplicate", "cameras:\n  - {name: a, source: demo}\n  - {name: a, source: demo}\n", nil, "used twice"},
		{"missing file", "cameras:\n  - {name: a, source: /nope.avi}\n", nil, "source"},
		{"scheme", "cameras:\n  - {name: a, source: 'ftp://x/y'}\n", nil, "scheme"},
		{"odd size", "cameras:\n  - {name: a, source: demo, width: 641, height: 480}\n", nil, "width"},
		{"one size", "cameras:\n  - {name: a, source: demo, width: 640}\n", nil, "both"},
		{"fps", "cameras:\n  - {name: a, source: demo, fps: -1}\n", nil, "fps"},
		{"bitrate", "cameras:\n  - {name: a, source: demo, bitrate_kbps: 1}\n", nil, "bitrate_kbps"},
		{"latency", "cameras:\n  - {name: a, source: demo, max_latency: 1ms}\n", nil, "max_latency"},
		{"latency type", "cameras:\n  - {name: a, source: demo, max_latency: soon}\n", nil, "max_latency"},
		{"recheck", "cameras:\n  - {name: a, source: demo, guard_recheck: 1ms}\n", nil, "guard_recheck"},
		{"zone points", "cameras:\n  - {name: a, source: demo, zones: [[[0,0],[1,1]]]}\n", nil, "zones[0]"},
		{"zone range", "cameras:\n  - {name: a, source: demo, zones: [[[0,0],[2,1],[0,1]]]}\n", nil, "outside"},
		{"preset", "cameras:\n  - {name: a, source: demo, detect: {preset: fast}}\n", nil, "preset"},
		{"passes", "cameras:\n  - {name: a, source: demo, detect: {face_passes: 'x'}}\n", nil, "face_passes"},
		{"threshold", "cameras:\n  - {name: a, source: demo, detect: {face_threshold: 2}}\n", nil, "threshold"},
		{"nothing redacted", "cameras:\n  - {name: a, source: demo, detect: {faces: false, plates: false}}\n", nil, "nothing would be redacted"},
		{"style", "cameras:\n  - {name: a, source: demo, detect: {style: swirl}}\n", nil, "style"},
		{"vehicle tiles", "cameras:\n  - {name: a, source: demo, detect: {plate_vehicle_tiles: 0}}\n", nil, "plate vehicle tiles"},
		{"count key", "cameras:\n  - {name: a, source: demo, count: {lines: [{name: l, a: [0,0], b: [1,1], colour: red}]}}\n", nil, "colour"},
		{"count every", "cameras:\n  - {name: a, source: demo, count: {every: 0}}\n", nil, "count.every"},
		{"count line", "cameras:\n  - {name: a, source: demo, count: {lines: [{name: l, a: [0,0], b: [0,0]}]}}\n", nil, "same point"},
		{"count line range", "cameras:\n  - {name: a, source: demo, count: {lines: [{name: l, a: [0,0], b: [2,0]}]}}\n", nil, "outside"},
		{"count names", "cameras:\n  - {name: a, source: demo, count: {lines: [{name: l, a: [0,0], b: [1,0]}], zones: [{name: l, polygon: [[0,0],[1,0],[0,1]]}]}}\n", nil, "unique"},
		{"count passes", "cameras:\n  - {name: a, source: demo, count: {passes: 'x'}}\n", nil, "count.passes"},
		{"count fps", "cameras:\n  - {name: a, source: demo, count: {fps: 31}}\n", nil, "count.fps"},
		{"count fps nan", "cameras:\n  - {name: a, source: demo, count: {fps: .nan}}\n", nil, "count.fps"},
		{"count fps tiny", "cameras:\n  - {name: a, source: demo, count: {fps: 1e-300}}\n", nil, "count.fps"},
		{"detect fps tiny", "cameras:\n  - {name: a, source: demo, detect_fps: 1e-300}\n", nil, "detect_fps"},
		{"listen", "http:\n  listen: localhost\n", nil, "http.listen"},
		{"listen port", "http:\n  listen: 127.0.0.1:-1\n", nil, "http.listen"},
		{"nan fps", "cameras:\n  - {name: a, source: demo, fps: .nan}\n", nil, "fps"},
		{"nan threshold", "cameras:\n  - {name: a, source: demo, detect: {face_threshold: .nan}}\n", nil, "threshold"},
		{"log level", "log_level: loud\n", nil, "log_level"},
		{"nats url", "nats:\n  url: http://x\n", nil, "nats.url"},
		{"env listen", "", []string{"VEIL_HTTP_LISTEN=nope"}, "http.listen"},
		{"env camera", "", []string{"VEIL_CAMERAS_GHOST_SOURCE=demo"}, "no camera named ghost"},
		{"env field", "", []string{"VEIL_CAMERAS_DEMO_COLOUR=red"}, "unknown field"},
		{"env bool", "", []string{"VEIL_NATS_DISABLED=perhaps"}, "VEIL_NATS_DISABLED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := ""
			if tc.yaml != "" {
				p = filepath.Join(t.TempDir(), "veil.yml")
				if err := os.WriteFile(p, []byte(tc.yaml), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(p, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func TestEnvCameraSource(t *testing.T) {
	c, err := Load("", []string{"VEIL_CAMERA_SOURCE=rtsp://cam.local/1", "VEIL_NATS_DISABLED=true"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Cameras[0].Source != "rtsp://cam.local/1" || !c.NATS.Disabled {
		t.Errorf("got %+v %+v", c.Cameras[0], c.NATS)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("cameras:\n  - {name: a, source: demo, zones: [[[0,0],[1,0],[0,1]]]}\n"))
	f.Add([]byte("http: {listen: '127.0.0.1:1'}\nnats: {url: 'nats://x:1'}\n"))
	f.Add([]byte("cameras:\n  - name: a\n    detect: {preset: thorough, face_passes: '0,2:12'}\n"))
	f.Add([]byte("&a [*a, *a]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := Default()
		if err := Parse(b, &c); err != nil {
			return
		}
		_ = c.Validate() // must not panic, whatever the file says
	})
}

// opencv_threads 0 leaves the count to the cameras: one when every camera
// is in guard mode with detect_fps set, OpenCV's default (-1) when any is
// sync or uncapped, or there is none; a value set is used as it is.
func TestCVThreads(t *testing.T) {
	guard, sync, uncapped := DefaultCamera(), DefaultCamera(), DefaultCamera()
	sync.Mode, uncapped.DetectFPS = ModeSync, 0
	for _, tc := range []struct {
		name string
		set  int
		cams Cameras
		want int
	}{
		{"defaults", 0, Default().Cameras, 1},
		{"guard cameras", 0, Cameras{guard, guard}, 1},
		{"one sync camera", 0, Cameras{guard, sync}, -1},
		{"one guard camera detecting uncapped", 0, Cameras{guard, uncapped}, -1},
		{"no camera", 0, nil, -1},
		{"set", 3, Cameras{guard}, 3},
		{"set with sync", 1, Cameras{sync}, 1},
		{"OpenCV's default", -1, Cameras{guard}, -1},
	} {
		c := Default()
		c.OpenCVThreads, c.Cameras = tc.set, tc.cams
		if got := c.CVThreads(); got != tc.want {
			t.Errorf("%s: %d threads, want %d", tc.name, got, tc.want)
		}
	}
}
