package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/veil-gateway/veil/models"
	"github.com/veil-gateway/veil/pipeline"
	"github.com/veil-gateway/veil/redact"
)

const usage = `veil: a privacy-by-design camera gateway

Usage:
  veil redact [flags] IN... -o OUT   redact faces and plates in images, directories and videos
  veil eval [flags] GT.csv...        measure redaction recall on annotated sets
  veil serve [-config veil.yml]      run the live gateway: cameras in, redacted WebRTC out
  veil counts [-nats URL]            print people and vehicle counts published on NATS
  veil bench [flags]                 measure every stage against naive and pass-through baselines
  veil version

Run "veil COMMAND -h" for a command's flags.
`

// exit codes
const (
	exitOK    = 0
	exitFail  = 1 // some input failed; the others were processed
	exitUsage = 2
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "redact":
		return cmdRedact(ctx, rest, stdout, stderr, log)
	case "eval":
		return cmdEval(ctx, rest, stdout, stderr, log)
	case "serve":
		return cmdServe(ctx, rest, stderr)
	case "bench":
		return cmdBench(ctx, rest, stdout, stderr, log)
	case "counts":
		return cmdCounts(ctx, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "veil", version)
		return exitOK
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "veil: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}

var version = "dev"

// engineFlags registers the detector and redaction flags shared by commands
// and returns a function that builds the validated config after parsing.
func engineFlags(fs *flag.FlagSet) func() (pipeline.Config, string, error) {
	def := pipeline.DefaultConfig()
	faces := fs.Bool("faces", def.Faces, "redact faces")
	plates := fs.Bool("plates", def.Plates, "redact number plates")
	style := fs.String("style", def.Style.String(), "how regions are destroyed: pixelate, blur or fill")
	faceThr := fs.Float64("face-threshold", float64(def.FaceThreshold), "face score threshold for large boxes (lower finds more)")
	faceSmallThr := fs.Float64("face-small-threshold", float64(def.FaceSmallThreshold), "score threshold for face boxes narrower than -face-small-width")
	faceSmallW := fs.Int("face-small-width", def.FaceSmallWidth, "face boxes narrower than this (px) use -face-small-threshold (0: off)")
	plateThr := fs.Float64("plate-threshold", float64(def.PlateThreshold), "plate (text) score threshold (lower finds more)")
	faceModel := fs.String("face-model", def.FaceModel, "face detector: yunet (2021), yunet-s or yunet-n (2023; their large-face threshold is at most 0.5, as they score large faces lower)")
	facePasses := fs.String("face-passes", pipeline.FormatPasses(def.FacePasses), "face detection passes: zoom[:maxtiles],... (0 = whole frame)")
	platePasses := fs.String("plate-passes", pipeline.FormatPasses(def.PlatePasses), "plate detection passes: zoom[:maxtiles],...")
	ultra := fs.Bool("ultraface", def.UltraFace, "also run UltraFace for faces (better on masked and turned faces)")
	ultraThr := fs.Float64("ultraface-threshold", float64(def.UltraThreshold), "UltraFace score threshold")
	ultraPasses := fs.String("ultraface-passes", pipeline.FormatPasses(def.UltraPasses), "UltraFace passes")
	plateVehicles := fs.Bool("plate-vehicles", def.PlateVehicles, "also search for plates inside each vehicle found (distant plates)")
	plateVehicleZoom := fs.Float64("plate-vehicle-zoom", def.PlateVehicleZoom, "most a vehicle is magnified for the plate search")
	plateVehicleTiles := fs.Int("plate-vehicle-tiles", def.PlateVehicleTiles, "most text-detector tiles per vehicle in the plate search (a larger vehicle is magnified less)")
	plateVehicleSmall := fs.Int("plate-vehicle-small", def.PlateVehicleSmall, "side of a second, smaller text-detector input for vehicles that fit it once magnified; a third sits between it and 640 when one fits (448 for 320; 0: off)")
	vehiclePasses := fs.String("vehicle-passes", pipeline.FormatPasses(def.VehiclePasses), "vehicle detection passes (Yolo-Fastest 320x320) for the plate search")
	facePad := fs.Float64("face-pad", def.FacePad, "grow face boxes by this share of their size on each side")
	facePadTop := fs.Float64("face-pad-top", def.FacePadTop, "grow face boxes up by this share of their height")
	facePadBottom := fs.Float64("face-pad-bottom", def.FacePadBottom, "grow face boxes down by this share of their height")
	faceMidThr := fs.Float64("face-mid-threshold", float64(def.FaceMidThreshold), "score threshold for face boxes narrower than -face-mid-width")
	faceMidW := fs.Int("face-mid-width", def.FaceMidWidth, "face boxes narrower than this (px) use -face-mid-threshold (0: off)")
	platePad := fs.Float64("plate-pad", def.PlatePad, "grow plate boxes by this share of their height up and down, and twice this share of their width sideways")
	modelsDir := fs.String("models", "", "models directory (default $VEIL_MODELS or ./models)")
	dnn := fs.String("dnn", pipeline.DNNAuto, "inference engine of the detectors: onnxruntime, opencv, or auto (ONNX Runtime when set-up installed it in the models directory)")
	return func() (pipeline.Config, string, error) {
		c := def
		var err error
		c.Faces, c.Plates, c.FaceModel, c.DNN = *faces, *plates, *faceModel, *dnn
		if c.Style, err = redact.ParseStyle(*style); err != nil {
			return c, "", err
		}
		c.FaceThreshold, c.PlateThreshold = float32(*faceThr), float32(*plateThr)
		c.FaceSmallThreshold, c.FaceSmallWidth = float32(*faceSmallThr), *faceSmallW
		c.FacePad, c.FacePadTop, c.FacePadBottom, c.PlatePad = *facePad, *facePadTop, *facePadBottom, *platePad
		c.FaceMidThreshold, c.FaceMidWidth = float32(*faceMidThr), *faceMidW
		c.UltraFace, c.UltraThreshold = *ultra, float32(*ultraThr)
		c.PlateVehicles, c.PlateVehicleZoom, c.PlateVehicleTiles, c.PlateVehicleSmall = *plateVehicles, *plateVehicleZoom, *plateVehicleTiles, *plateVehicleSmall
		if c.VehiclePasses, err = pipeline.ParsePasses(*vehiclePasses); err != nil {
			return c, "", fmt.Errorf("-vehicle-passes: %w", err)
		}
		if c.UltraPasses, err = pipeline.ParsePasses(*ultraPasses); err != nil {
			return c, "", fmt.Errorf("-ultraface-passes: %w", err)
		}
		if c.FacePasses, err = pipeline.ParsePasses(*facePasses); err != nil {
			return c, "", fmt.Errorf("-face-passes: %w", err)
		}
		if c.PlatePasses, err = pipeline.ParsePasses(*platePasses); err != nil {
			return c, "", fmt.Errorf("-plate-passes: %w", err)
		}
		return c, models.Dir(*modelsDir), c.Validate()
	}
}

// parseFlags parses and reports errors the same way for every command.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (ok bool, code int) {
	fs.SetOutput(stderr)
	if err := fs.Parse(interleave(fs, args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return false, exitOK
		}
		return false, exitUsage
	}
	return true, 0
}

// interleave moves flags that follow positional arguments in front of them,
// so "veil redact in.mp4 -o out.mp4" works as people type it.
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil {
			if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
				continue
			}
			if i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		}
	}
	return append(flags, pos...)
}
