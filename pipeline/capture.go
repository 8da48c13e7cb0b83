package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"gocv.io/x/gocv"
)

// DemoClip is Debian's sample pedestrian clip (package opencv-doc), the
// source of the "demo" camera.
const DemoClip = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"

// ErrSourceLost is returned by Capture.Read when a live source stops
// delivering frames (the camera unplugged, the RTSP server went away).
var ErrSourceLost = errors.New("source lost")

// Capture reads frames from a live source into Mats the caller owns. A
// file plays in a loop at its own frame rate, as a camera would.
type Capture struct {
	spec  string // as configured, for logs (credentials removed)
	cap   *gocv.VideoCapture
	info  VideoInfo
	file  string // a looping file; "" for live sources
	frame time.Duration
	next  time.Time // when the next file frame is due
	read  int
	last  time.Duration // how long the last Read decoded (pacing excluded)
}

// LastRead is how long the last Read spent reading and decoding.
func (c *Capture) LastRead() time.Duration { return c.last }

// CaptureEnv is the environment OpenCV's FFmpeg backend must see before the
// first network source opens: TCP for RTSP (no UDP loss), and a 5 s socket
// timeout so a dead server ends a Read instead of hanging it.
const CaptureEnv = "rtsp_transport;tcp|timeout;5000000"

// Redacted returns source with any password removed, for logs and the API:
// the password in the URL, and every query value (MJPEG cameras often take
// ?user=admin&pwd=secret).
func Redacted(source string) string {
	u, err := url.Parse(source)
	if err != nil || !strings.Contains(source, "://") {
		return source
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q.Set(k, "xxxxx")
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// OpenCapture opens source: "demo", a file path, /dev/videoN, or an rtsp://,
// http:// or https:// URL. It checks what it can before OpenCV sees it.
func OpenCapture(ctx context.Context, source string) (*Capture, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := &Capture{spec: Redacted(source)}
	var err error
	switch {
	case source == "demo" || !strings.Contains(source, "://") && !strings.HasPrefix(source, "/dev/video"):
		path := source
		if path == "demo" {
			path = DemoClip
		}
		var v *VideoFile
		if v, err = OpenVideo(path); err != nil {
			if source == "demo" && errors.Is(err, os.ErrNotExist) {
				err = fmt.Errorf("demo clip %s is missing (install Debian's opencv-doc: hack/install-deps.sh): %w", DemoClip, err)
			}
			return nil, err
		}
		c.cap, c.info, c.file = v.cap, v.info, path
		c.frame = time.Duration(float64(time.Second) / c.info.FPS)
		return c, nil
	case strings.HasPrefix(source, "/dev/video"):
		if _, err = os.Stat(source); err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		c.cap, err = gocv.OpenVideoCaptureWithAPI(source, gocv.VideoCaptureV4L2)
	default:
		c.cap, err = gocv.OpenVideoCaptureWithAPI(source, gocv.VideoCaptureFFmpeg)
	}
	if err != nil || c.cap == nil || !c.cap.IsOpened() {
		if c.cap != nil {
			c.cap.Close()
		}
		return nil, fmt.Errorf("%s: could not open: %w", c.spec, ErrSourceLost)
	}
	c.info = VideoInfo{
		Width:  int(c.cap.Get(gocv.VideoCaptureFrameWidth)),
		Height: int(c.cap.Get(gocv.VideoCaptureFrameHeight)),
		FPS:    c.cap.Get(gocv.VideoCaptureFPS),
		FourCC: c.cap.CodecString(),
	}
	if c.info.FPS <= 0 || c.info.FPS > 240 {
		c.info.FPS = 25
	}
	return c, nil
}

// Info is the source's size and frame rate as it declares them (a live
// source's first frame has the final word: see Read).
func (c *Capture) Info() VideoInfo { return c.info }

// Read fills dst with the next frame. A file waits until its frame is due
// and starts again at its end. A live source that fails to deliver returns
// ErrSourceLost; a frame whose size changes mid-stream is an error too (the
// encoder's size is fixed).
func (c *Capture) Read(ctx context.Context, dst *gocv.Mat) error {
	if c.file != "" {
		if err := c.pace(ctx); err != nil {
			return err
		}
	}
	start := time.Now()
	defer func() { c.last = time.Since(start) }()
	if !c.cap.Read(dst) || dst.Empty() {
		if c.file == "" {
			return fmt.Errorf("%s: %w", c.spec, ErrSourceLost)
		}
		if c.read == 0 {
			return fmt.Errorf("%s: %w: no frame could be decoded", c.file, ErrNotVideo)
		}
		// Loop: reopen rather than seek (seeking is unreliable in some containers).
		c.cap.Close()
		v, err := OpenVideo(c.file)
		if err != nil {
			return err
		}
		c.cap, c.read = v.cap, 0
		if !c.cap.Read(dst) || dst.Empty() {
			return fmt.Errorf("%s: %w: no frame after rewinding", c.file, io.ErrUnexpectedEOF)
		}
	}
	if dst.Type() != gocv.MatTypeCV8UC3 {
		return fmt.Errorf("%s: frame type %v, want 8-bit BGR", c.spec, dst.Type())
	}
	if c.read == 0 && c.file == "" && (c.info.Width != dst.Cols() || c.info.Height != dst.Rows()) {
		c.info.Width, c.info.Height = dst.Cols(), dst.Rows() // a live source's first frame decides
	}
	if dst.Cols() != c.info.Width || dst.Rows() != c.info.Height {
		return fmt.Errorf("%s: frame is %dx%d, was %dx%d: %w", c.spec, dst.Cols(), dst.Rows(), c.info.Width, c.info.Height, ErrSourceLost)
	}
	c.read++
	return nil
}

// pace sleeps until the next file frame is due, without drifting.
func (c *Capture) pace(ctx context.Context) error {
	now := time.Now()
	if c.next.IsZero() || now.Sub(c.next) > time.Second { // first frame, or far behind: resync
		c.next = now
	}
	if d := c.next.Sub(now); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	c.next = c.next.Add(c.frame)
	return nil
}

// Close releases the source.
func (c *Capture) Close() error { return c.cap.Close() }
