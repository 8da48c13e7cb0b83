// Package pipeline moves frames from a source through detection, tracking and
// redaction to a sink:
//
//	Source.Read(&raw) -> Engine.Detect(raw) -> Hold.Update (video) ->
//	Engine.Redact(raw) -> redact.Frame -> Sink.Write
//
// Only a redact.Frame reaches a Sink, so an unredacted frame cannot be written
// or sent by construction. Detection errors fail closed: the frame is masked.
package pipeline

import (
	"errors"
	"fmt"
	"image"
	"math"
	"runtime"
	"slices"
	"time"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/detect"
	"github.com/veil-gateway/veil/models"
	"github.com/veil-gateway/veil/redact"
)

// Detector finds regions in a frame. Implementations borrow the frame.
type Detector interface {
	Detect(img gocv.Mat) ([]detect.Detection, error)
	Close() error
}

// Config chooses detectors, thresholds and redaction. Defaults favour recall.
type Config struct {
	Faces  bool `json:"faces"`
	Plates bool `json:"plates"`

	// Face score thresholds rise with the box's width: boxes narrower than
	// FaceSmallWidth px pass with FaceSmallThreshold, narrower than
	// FaceMidWidth with FaceMidThreshold, larger ones with FaceThreshold
	// (UltraThreshold for UltraFace). Small faces score low and cost little
	// area when wrong; a large false positive costs a lot.
	FaceThreshold      float32 `json:"face_threshold"`
	FaceMidThreshold   float32 `json:"face_mid_threshold"`
	FaceMidWidth       int     `json:"face_mid_width"`
	FaceSmallThreshold float32 `json:"face_small_threshold"`
	FaceSmallWidth     int     `json:"face_small_width"`
	// FaceModel: "yunet" (2021; "" too) or the 2023 "yunet-s" or "yunet-n",
	// measured against it in models/README.md: not cheaper at equal recall.
	FaceModel      string        `json:"face_model"`
	FacePasses     []detect.Pass `json:"face_passes"`     // YuNet magnifications
	FacePad        float64       `json:"face_pad"`        // grow face boxes sideways by this share of their width (ears)
	FacePadTop     float64       `json:"face_pad_top"`    // up, as a share of their height (hair)
	FacePadBottom  float64       `json:"face_pad_bottom"` // down (chin, masks)
	UltraFace      bool          `json:"ultra_face"`      // also run UltraFace RFB-640 (masked, turned faces)
	UltraThreshold float32       `json:"ultra_threshold"`
	UltraPasses    []detect.Pass `json:"ultra_passes"`

	PlateThreshold float32       `json:"plate_threshold"` // PP-OCR box score threshold
	PlatePasses    []detect.Pass `json:"plate_passes"`
	PlatePad       float64       `json:"plate_pad"`
	// PlateVehicles also searches for plates inside each vehicle Yolo-Fastest
	// finds, magnified up to PlateVehicleZoom: distant plates.
	PlateVehicles    bool    `json:"plate_vehicles"`
	PlateVehicleZoom float64 `json:"plate_vehicle_zoom"`
	// PlateVehicleTiles bounds the text detector's runs per vehicle: a
	// vehicle too large for that many tiles at its zoom is magnified less.
	PlateVehicleTiles int `json:"plate_vehicle_tiles"`
	// PlateVehicleSmall, when set, is the side of a second text-detector
	// input for vehicles small enough to fit it once magnified, and sets a
	// third between it and 640, when one fits, for those a little larger
	// (448 for 320: detect.PPOCRConfig.SmallInput). 0: every vehicle region
	// is padded to the 640x640 input.
	PlateVehicleSmall int `json:"plate_vehicle_small"`
	MaxVehicles       int `json:"max_vehicles"` // largest vehicles searched per frame
	// VehiclePasses: Yolo-Fastest's input is 320x320, so a distant car needs
	// a native-resolution (zoom 1) tiled pass to be seen at all.
	VehiclePasses []detect.Pass `json:"vehicle_passes"`

	// Reuse answers a tile whose pixels have not changed since it was last
	// run with what was found then (every detector, whole-frame passes).
	Reuse detect.Reuse `json:"reuse"`

	Style redact.Style `json:"style"`

	// DNN is the inference engine of the detectors' networks (on ONNX
	// Runtime, Yolo-Fastest's Darknet files are made into an ONNX model in
	// memory: detect.YoloConfig.DNN): "onnxruntime",
	// "opencv", or "auto" ("" too): ONNX Runtime when the models directory
	// holds its library for this machine (hack/setup-models.sh) and it
	// loads, else OpenCV. Both give the same boxes; ONNX Runtime costs less
	// than half the CPU (bench/README.md).
	DNN string `json:"dnn,omitempty"`
}

// DNN names Config.DNN's choices.
const (
	DNNAuto        = "auto"
	DNNOpenCV      = "opencv"
	DNNONNXRuntime = "onnxruntime"
)

// CheckDNN names a Config.DNN (or veil.yml's dnn) that is none of the
// choices (Config.Validate also takes "", for auto).
func CheckDNN(name, v string) error {
	switch v {
	case DNNAuto, DNNOpenCV, DNNONNXRuntime:
		return nil
	}
	return fmt.Errorf("%s %q: want auto, onnxruntime or opencv", name, v)
}

// DefaultConfig is what `veil redact` uses without flags.
func DefaultConfig() Config {
	return Config{
		Faces:              true,
		Plates:             true,
		FaceModel:          "yunet",
		FaceThreshold:      0.9,
		FaceMidThreshold:   0.35,
		FaceMidWidth:       96,
		FaceSmallThreshold: 0.3,
		FaceSmallWidth:     24,
		FacePasses:         []detect.Pass{{Zoom: 0}, {Zoom: 2, MaxTiles: 12}},
		FacePad:            0,
		FacePadTop:         0,
		FacePadBottom:      0.16,
		UltraFace:          true,
		UltraThreshold:     0.9,
		UltraPasses:        []detect.Pass{{Zoom: 0}, {Zoom: 2, MaxTiles: 12}},
		PlateThreshold:     0.5,
		PlatePasses:        []detect.Pass{{Zoom: 1, MaxTiles: 6}},
		PlatePad:           0.25,
		PlateVehicles:      true,
		PlateVehicleZoom:   4,
		PlateVehicleTiles:  2,   // measured: bench/README.md
		PlateVehicleSmall:  320, // measured: bench/README.md
		MaxVehicles:        6,
		VehiclePasses:      []detect.Pass{{Zoom: 0}, {Zoom: 1, MaxTiles: 15}},
		Reuse:              detect.Reuse{Threshold: 10, MaxAge: 15}, // measured: bench/README.md
		Style:              redact.Pixelate,
	}
}

// Validate names the first bad field.
func (c Config) Validate() error {
	switch {
	case !c.Faces && !c.Plates:
		return errors.New("config: faces and plates are both off: nothing would be redacted")
	case c.DNN != "" && CheckDNN("dnn", c.DNN) != nil:
		return fmt.Errorf("config: %w", CheckDNN("dnn", c.DNN))
	case c.FaceModel != "" && c.FaceModel != "yunet" && c.FaceModel != "yunet-s" && c.FaceModel != "yunet-n":
		return fmt.Errorf("config: face model %q: want yunet, yunet-s or yunet-n", c.FaceModel)
	case !(c.FaceThreshold > 0 && c.FaceThreshold < 1): // NaN too
		return fmt.Errorf("config: face threshold %v must be in (0,1)", c.FaceThreshold)
	case !(c.FaceSmallThreshold > 0 && c.FaceSmallThreshold < 1) || c.FaceSmallWidth < 0 || c.FaceSmallWidth > 4096:
		return fmt.Errorf("config: face small threshold %v must be in (0,1) and face small width %d in [0,4096]", c.FaceSmallThreshold, c.FaceSmallWidth)
	case !(c.FaceMidThreshold > 0 && c.FaceMidThreshold < 1) || c.FaceMidWidth < 0 || c.FaceMidWidth > 4096:
		return fmt.Errorf("config: face mid threshold %v must be in (0,1) and face mid width %d in [0,4096]", c.FaceMidThreshold, c.FaceMidWidth)
	case c.UltraFace && !(c.UltraThreshold > 0 && c.UltraThreshold < 1):
		return fmt.Errorf("config: ultraface threshold %v must be in (0,1)", c.UltraThreshold)
	case !(c.PlateThreshold > 0 && c.PlateThreshold < 1):
		return fmt.Errorf("config: plate threshold %v must be in (0,1)", c.PlateThreshold)
	case !(c.FacePad >= 0 && c.FacePad <= 2 && c.FacePadTop >= 0 && c.FacePadTop <= 2 && c.FacePadBottom >= 0 && c.FacePadBottom <= 2):
		return fmt.Errorf("config: face padding %v (sides), %v (top), %v (bottom) must be in [0,2]", c.FacePad, c.FacePadTop, c.FacePadBottom)
	case c.PlateVehicles && !(c.PlateVehicleZoom >= 1 && c.PlateVehicleZoom <= 8):
		return fmt.Errorf("config: plate vehicle zoom %v must be in [1,8]", c.PlateVehicleZoom)
	case c.PlateVehicles && (c.PlateVehicleTiles < 1 || c.PlateVehicleTiles > 16):
		return fmt.Errorf("config: plate vehicle tiles %d must be in [1,16]", c.PlateVehicleTiles)
	case c.PlateVehicleSmall != 0 && (c.PlateVehicleSmall%32 != 0 || c.PlateVehicleSmall < 64 || c.PlateVehicleSmall >= 640):
		return fmt.Errorf("config: plate vehicle small input %d must be 0 or a multiple of 32 in [64,640)", c.PlateVehicleSmall)
	case c.PlateVehicles && (c.MaxVehicles < 1 || c.MaxVehicles > 64):
		return fmt.Errorf("config: max vehicles %d must be in [1,64]", c.MaxVehicles)
	case !(c.PlatePad >= 0 && c.PlatePad <= 2):
		return fmt.Errorf("config: plate padding %v must be in [0,2]", c.PlatePad)
	case !(c.Reuse.Threshold >= 0 && c.Reuse.Threshold <= 255) || c.Reuse.MaxAge < 0 || c.Reuse.MaxAge > 1000:
		return fmt.Errorf("config: reuse threshold %v must be in [0,255] and max age %d in [0,1000]", c.Reuse.Threshold, c.Reuse.MaxAge)
	}
	for _, p := range slices.Concat(c.FacePasses, c.UltraPasses, c.PlatePasses, c.VehiclePasses) {
		if !(p.Zoom >= 0 && p.Zoom <= 8) || p.MaxTiles < 0 || p.MaxTiles > 256 {
			return fmt.Errorf("config: pass %+v: zoom must be in [0,8] and max tiles in [0,256]", p)
		}
	}
	return nil
}

// Timings is the time one frame spent in each stage.
type Timings struct {
	Faces    time.Duration
	Vehicles time.Duration
	Plates   time.Duration
	Redact   time.Duration
}

// Engine runs the detectors and the redactor on single frames. It is not safe
// for concurrent use; make one per goroutine.
type Engine struct {
	cfg      Config
	faces    Detector
	plates   *detect.PPOCR
	vehicles *detect.Yolo
	red      *redact.Redactor
	oneByOne bool // detectors one after another (OneByOne)
	dnn      detect.DNN
	dnnWhy   error // why "auto" chose OpenCV
}

// DNN is the inference engine the detectors run on and, when Config.DNN
// was "auto" and that is OpenCV, why ONNX Runtime is not used.
func (e *Engine) DNN() (detect.DNN, error) { return e.dnn, e.dnnWhy }

// ChooseDNN resolves Config.DNN (and loads ONNX Runtime when it is the
// choice): ONNX Runtime's library comes from the models store, checked by
// sha256 like the weights, as must the files named in needs (those only
// ONNX Runtime reads). why is set when "auto" fell back to OpenCV; err when
// "onnxruntime" was asked for and cannot be had.
func ChooseDNN(want string, store *models.Store, needs ...string) (dnn detect.DNN, why error, err error) {
	if want == DNNOpenCV {
		return detect.OpenCV, nil, nil
	}
	load := func() error {
		name := models.ONNXRuntimeLib(runtime.GOARCH)
		if name == "" {
			return fmt.Errorf("onnxruntime: set-up provides no library for %s", runtime.GOARCH)
		}
		for _, n := range needs {
			if _, err := store.Path(n); err != nil {
				return err
			}
		}
		p, err := store.Path(name)
		if err != nil {
			return err
		}
		return detect.LoadONNXRuntime(p)
	}
	if err := load(); err != nil {
		if want == DNNONNXRuntime {
			return 0, nil, err
		}
		return detect.OpenCV, err, nil
	}
	return detect.ONNXRuntime, nil, nil
}

// OneByOne makes DetectAlong run the detectors one after another, not side
// by side: slower, but it leaves a core's share to other work (a guard-mode
// camera's frame path).
func (e *Engine) OneByOne(on bool) { e.oneByOne = on }

// NewEngine loads the configured detectors from the models store.
func NewEngine(cfg Config, store *models.Store) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, red: redact.New(cfg.Style)}
	if err := e.load(cfg, store); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *Engine) load(cfg Config, store *models.Store) error {
	var needs []string // what only ONNX Runtime reads
	if cfg.Plates {
		needs = append(needs, models.PPOCRDetORT) // the edit OpenCV needs is invalid ONNX
	}
	if cfg.Faces || cfg.Plates {
		var err error
		if e.dnn, e.dnnWhy, err = ChooseDNN(cfg.DNN, store, needs...); err != nil {
			return err
		}
	}
	ppocr := models.PPOCRDet
	if e.dnn == detect.ONNXRuntime {
		ppocr = models.PPOCRDetORT
	}
	paths := map[string]string{}
	face, faceIn, v2023 := models.YuNet640, image.Pt(640, 480), false
	switch cfg.FaceModel {
	case "yunet-s":
		face, faceIn, v2023 = models.YuNetS640, image.Pt(640, 640), true
	case "yunet-n":
		face, faceIn, v2023 = models.YuNetN640, image.Pt(640, 640), true
	}
	for _, name := range []string{face, models.UltraFace640, ppocr, models.YoloCfg, models.YoloWeights} {
		need := (name == face && cfg.Faces) || (name == models.UltraFace640 && cfg.Faces && cfg.UltraFace) || (name == ppocr && cfg.Plates) ||
			((name == models.YoloCfg || name == models.YoloWeights) && cfg.Plates && cfg.PlateVehicles)
		if !need {
			continue
		}
		p, err := store.Path(name)
		if err != nil {
			return err
		}
		paths[name] = p
	}
	if cfg.Faces {
		high := cfg.FaceThreshold
		if v2023 {
			// The 2023 models score large faces lower: at 0.9 YuNet-s
			// finds 0.815 of 64-128 px faces, at 0.5 0.954 (models/README.md).
			high = min(high, yunet2023High)
		}
		y, err := detect.NewYuNet(detect.YuNetConfig{Model: paths[face], Input: faceIn, V2023: v2023, Threshold: faceThresholds(cfg, high), Passes: cfg.FacePasses, Reuse: cfg.Reuse, DNN: e.dnn})
		if err != nil {
			return err
		}
		e.faces = y
		if cfg.UltraFace {
			u, err := detect.NewUltraFace(detect.UltraFaceConfig{Model: paths[models.UltraFace640], Input: image.Pt(640, 480), Threshold: faceThresholds(cfg, cfg.UltraThreshold), Passes: cfg.UltraPasses, Reuse: cfg.Reuse, DNN: e.dnn})
			if err != nil {
				return err
			}
			e.faces = detect.Union{y, u}
		}
	}
	if cfg.Plates {
		pc := detect.PPOCRConfig{Model: paths[ppocr], Input: image.Pt(640, 640), Threshold: 0.3, BoxThresh: cfg.PlateThreshold, Passes: cfg.PlatePasses, Reuse: cfg.Reuse, DNN: e.dnn,
			Merge: e.dnn == detect.ONNXRuntime} // one input for a pass's tiles: same plates, less CPU (bench/README.md)
		if cfg.PlateVehicles && cfg.PlateVehicleSmall > 0 {
			pc.SmallInput = image.Pt(cfg.PlateVehicleSmall, cfg.PlateVehicleSmall)
		}
		d, err := detect.NewPPOCR(pc)
		if err != nil {
			return err
		}
		e.plates = d
		if cfg.PlateVehicles {
			y, err := detect.NewYolo(detect.YoloConfig{Cfg: paths[models.YoloCfg], Weights: paths[models.YoloWeights], Input: image.Pt(320, 320), Threshold: 0.25, Passes: cfg.VehiclePasses, Reuse: cfg.Reuse, DNN: e.dnn})
			if err != nil {
				return err
			}
			e.vehicles = y
		}
	}
	return nil
}

// yunet2023High is the most a 2023 YuNet's large-face threshold may be.
const yunet2023High = 0.5

func faceThresholds(cfg Config, high float32) detect.SizeThreshold {
	return detect.SizeThreshold{High: high, Mid: cfg.FaceMidThreshold, Low: cfg.FaceSmallThreshold, MidWidth: cfg.FaceMidWidth, SmallWidth: cfg.FaceSmallWidth}
}

// Config is the engine's configuration.
func (e *Engine) Config() Config { return e.cfg }

// Tiles counts the tiles the detectors ran and answered from memory.
func (e *Engine) Tiles() detect.TileStats {
	var s detect.TileStats
	if t, ok := e.faces.(interface{ Tiles() detect.TileStats }); ok {
		s = s.Add(t.Tiles())
	}
	if e.plates != nil {
		s = s.Add(e.plates.Tiles())
	}
	if e.vehicles != nil {
		s = s.Add(e.vehicles.Tiles())
	}
	return s
}

// Close frees the detectors.
func (e *Engine) Close() error {
	if e.faces != nil {
		e.faces.Close()
	}
	if e.plates != nil {
		e.plates.Close()
	}
	if e.vehicles != nil {
		e.vehicles.Close()
	}
	return e.red.Close()
}

// Detect finds faces and plates in img.
func (e *Engine) Detect(img gocv.Mat, t *Timings) ([]detect.Detection, error) {
	return e.DetectAlong(img, nil, t)
}

// DetectAlong is Detect that runs along (the caller's counting, which may
// find the vehicles) while faces and the whole-frame plate pass are being
// detected, then the search for plates inside vehicles with the vehicles
// along returned (ok false: Yolo runs here). along may be nil; it must only
// read img.
//
// Detectors run side by side (unless OneByOne): each owns its network and
// buffers, and together they keep both cores busier than one at a time
// (their pre- and post-processing is single-threaded, and one network's
// threads wait on each other): measured in veil bench, more frames a second
// for less CPU.
func (e *Engine) DetectAlong(img gocv.Mat, along func() (vehicles []detect.Detection, ok bool), t *Timings) ([]detect.Detection, error) {
	var faces, plates []detect.Detection
	var faceErr, plateErr error
	// start runs f (if on) beside the caller, or in line when OneByOne;
	// the channel is closed when f is done.
	start := func(on bool, f func()) <-chan struct{} {
		done := make(chan struct{})
		switch {
		case !on:
			close(done)
		case e.oneByOne:
			f()
			close(done)
		default:
			go func() {
				defer close(done)
				f()
			}()
		}
		return done
	}
	facesDone := start(e.faces != nil, func() {
		t0 := time.Now()
		faces, faceErr = e.faces.Detect(img)
		t.Faces += time.Since(t0)
	})
	platesDone := start(e.plates != nil, func() {
		t0 := time.Now()
		plates, plateErr = e.plates.Detect(img)
		t.Plates += time.Since(t0)
	})
	var vehicles []detect.Detection
	var given bool
	if along != nil {
		vehicles, given = along()
	}
	<-platesDone // the vehicle search uses the same network
	if plateErr == nil && e.vehicles != nil {
		var d []detect.Detection
		d, plateErr = e.platesInVehicles(img, vehicles, given, t)
		plates = append(plates, d...)
	} else if plateErr != nil {
		plateErr = fmt.Errorf("plate detection: %w", plateErr)
	}
	<-facesDone
	if faceErr != nil {
		return nil, fmt.Errorf("face detection: %w", faceErr)
	}
	if plateErr != nil {
		return nil, plateErr
	}
	return append(faces, plates...), nil
}

// platesInVehicles looks for plates inside the largest vehicles, each
// magnified to fill the text detector's input.
func (e *Engine) platesInVehicles(img gocv.Mat, given []detect.Detection, isGiven bool, t *Timings) ([]detect.Detection, error) {
	vs := slices.Clone(given)
	if !isGiven {
		start := time.Now()
		var err error
		vs, err = e.vehicles.Detect(img)
		t.Vehicles += time.Since(start)
		if err != nil {
			return nil, fmt.Errorf("vehicle detection: %w", err)
		}
	}
	vs = slices.DeleteFunc(vs, func(d detect.Detection) bool { return !d.Class.IsVehicle() })
	slices.SortFunc(vs, func(a, b detect.Detection) int { return b.Box.Dx()*b.Box.Dy() - a.Box.Dx()*a.Box.Dy() })
	if len(vs) > e.cfg.MaxVehicles {
		vs = vs[:e.cfg.MaxVehicles]
	}
	bounds := imageRect(img.Cols(), img.Rows())
	var out []detect.Detection
	start := time.Now()
	for _, v := range vs {
		// Plates sit in the lower part of a vehicle and are about a tenth of
		// its width: magnify so such a plate is ~75 px wide, enough for the
		// text detector to see its characters (if the region still fits in
		// PlateVehicleTiles tiles).
		b := v.Box
		roi := snapOut(detect.Pad(image.Rect(b.Min.X, b.Min.Y+b.Dy()/4, b.Max.X, b.Max.Y), 0.1, 0.1, bounds), 16).Intersect(bounds)
		// Rounded up to a quarter, so a still vehicle keeps its zoom.
		zoom := min(math.Ceil(4*max(vehiclePlateZoomWidth/float64(max(1, b.Dx())), 1))/4, e.cfg.PlateVehicleZoom)
		d, err := e.plates.DetectZoomed(img, roi, zoom, e.cfg.PlateVehicleTiles)
		if err != nil {
			return nil, fmt.Errorf("plate detection in vehicle: %w", err)
		}
		out = append(out, d...)
	}
	t.Plates += time.Since(start)
	return out, nil
}

// vehiclePlateZoomWidth is the width a vehicle is magnified to: a plate a
// tenth of it is then ~75 px wide. Measured with veil eval (bench/README.md):
// 75 px and at most 2 tiles per vehicle keep recall on plates and
// plates-small (0.989, 0.957) at 0.6 and 0.9 times the time of 112 px and
// 4 tiles; 1 tile loses one distant plate in 277.
const vehiclePlateZoomWidth = 750

// Boxes turns detections into the padded rectangles to destroy.
func (e *Engine) Boxes(dets []detect.Detection, bounds image.Rectangle) []image.Rectangle {
	out := make([]image.Rectangle, 0, len(dets))
	for _, d := range dets {
		b := d.Box
		var left, top, bottom float64
		if d.Class == detect.Plate {
			// Plates: the whole plate (state name, slogan) around the
			// characters, and room sideways for a first or last character.
			left, top, bottom = e.cfg.PlatePad*2, e.cfg.PlatePad, e.cfg.PlatePad
		} else {
			left, top, bottom = e.cfg.FacePad, e.cfg.FacePadTop, e.cfg.FacePadBottom
		}
		dx := int(math.Ceil(float64(b.Dx()) * left))
		out = append(out, image.Rect(b.Min.X-dx, b.Min.Y-int(math.Ceil(float64(b.Dy())*top)),
			b.Max.X+dx, b.Max.Y+int(math.Ceil(float64(b.Dy())*bottom))).Intersect(bounds))
	}
	return out
}

// Redact destroys the detections in raw and returns the Frame (raw's
// ownership passes to it). A detection error masks the whole frame.
func (e *Engine) Redact(raw gocv.Mat, dets []detect.Detection, detErr error, t *Timings) (redact.Frame, error) {
	if detErr != nil {
		return redact.Blackout(raw), detErr
	}
	return e.RedactWith(raw, dets, nil, t)
}

// RedactWith is Redact of a frame with extra regions (pixels) destroyed
// too: a frame between detections, with the areas changed since (Stride).
func (e *Engine) RedactWith(raw gocv.Mat, dets []detect.Detection, extra []image.Rectangle, t *Timings) (redact.Frame, error) {
	start := time.Now()
	f, err := e.red.Apply(raw, append(e.Boxes(dets, image.Rect(0, 0, raw.Cols(), raw.Rows())), extra...))
	t.Redact += time.Since(start)
	return f, err
}

func imageRect(w, h int) image.Rectangle { return image.Rect(0, 0, w, h) }

// snapOut grows r to the grid of g px, so that a still vehicle whose box
// jitters by a few pixels keeps the same search region (and tile reuse holds;
// larger jitter is settled by the region memo, detect.regionMemo.settle).
func snapOut(r image.Rectangle, g int) image.Rectangle {
	down := func(v int) int { return v - ((v%g)+g)%g }
	up := func(v int) int { return down(v + g - 1) }
	return image.Rect(down(r.Min.X), down(r.Min.Y), up(r.Max.X), up(r.Max.Y))
}

// orWhole is a pass list as a tiler runs it (empty: the whole frame once).
func orWhole(p []detect.Pass) []detect.Pass {
	if len(p) == 0 {
		return []detect.Pass{{}}
	}
	return p
}
