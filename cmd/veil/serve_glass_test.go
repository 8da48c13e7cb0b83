package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/internal/browsertest"
	"github.com/veil-gateway/veil/internal/testclip"
	"github.com/veil-gateway/veil/internal/testenv"
)

// TestServeGlassToGlass measures glass-to-glass latency in headless
// Chromium: an HTTP MJPEG camera stamps each frame's sequence number (mod
// 256) into its pixels and notes when the frame left it; the page reads the
// stamp back from every frame its <video> presents and notes when it was
// shown. Both run on this host, so their wall clocks agree. Only robust
// facts are asserted (the suite runs on a busy two-core machine); the
// figures are logged and written to glass.json.
func TestServeGlassToGlass(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	browsertest.Path(t) // skip (or fail in CI) before any work
	const (
		cam      = "glass"
		fps      = 10
		perStill = 10 // 1 s per still
		play     = 20 * time.Second
	)
	dataDir := testenv.Data(t, "faces-dlib")
	clip, err := testclip.Faces(filepath.Join(dataDir, "gt.csv"), filepath.Join(t.TempDir(), "faces.avi"), 640, 480, fps, 1)
	if err != nil {
		t.Fatal(err)
	}
	mc := &stampCamera{t: t, clip: clip, dir: filepath.Join(dataDir, "images"), fps: fps, perStill: perStill}
	srv := httptest.NewServer(mc)
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })

	c := camera(cam, srv.URL+"/video.mjpg")
	c.Detect.Config.Plates = false // the stills have no plates; spare the two cores
	g, base := startGateway(t, testConfig(t, c))
	waitRunning(t, g, 60*time.Second)

	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(glassJS, cam)))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Since(start) > 15*time.Second {
			t.Fatal("no video element for the camera in the viewer after 15 s")
		}
	}
	var page glassPage
	for start := time.Now(); len(page.Records) == 0; time.Sleep(250 * time.Millisecond) {
		if page, err = chromedp.Run(ctx, chromedp.Evaluate[glassPage](`window.glass`)); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("no stamped frame read back in the page after 30 s: %+v", page)
		}
	}
	time.Sleep(play)
	if page, err = chromedp.Run(ctx, chromedp.Evaluate[glassPage](`window.glass`)); err != nil {
		t.Fatal(err)
	}
	sent := mc.sentFrames()
	logCamera(t, g.cams[0])

	// Each frame shown is matched to the last frame with its stamp that
	// left the camera before it was shown (the stamp wraps every 25.6 s).
	var lat, c2d []float64
	for i, r := range page.Records {
		if i > 0 {
			if d := (r.N - page.Records[i-1].N + 256) % 256; d == 0 || d >= 128 {
				t.Errorf("frame %d shown after frame %d: out of order", r.N, page.Records[i-1].N)
			}
		}
		j := len(sent) - 1
		for j >= 0 && (sent[j].seq%256 != r.N || sent[j].at > r.T) {
			j--
		}
		if j < 0 {
			t.Errorf("frame %d shown at %.0f before any frame with that stamp was sent", r.N, r.T)
			continue
		}
		l := r.T - sent[j].at
		if l <= 0 || l >= 10000 {
			t.Errorf("frame %d (sent as %d): glass-to-glass latency %.0f ms, want 0-10 s", r.N, sent[j].seq, l)
		}
		lat = append(lat, l)
		if r.C2D >= 0 {
			c2d = append(c2d, r.C2D)
		}
	}
	res := glassResult{Sent: len(sent), Presented: page.Frames, Read: len(page.Records), Unreadable: page.Unreadable, Latencies: lat}
	if len(lat) > 0 {
		l := slices.Sorted(slices.Values(lat))
		res.P50, res.P95 = l[len(l)/2], l[len(l)*95/100]
	}
	if len(c2d) > 0 {
		res.CaptureToDisplayP50 = slices.Sorted(slices.Values(c2d))[len(c2d)/2]
	}
	t.Logf("glass to glass: p50 %.0f ms, p95 %.0f ms over %d frames (capture to display p50 %.0f ms); camera sent %d frames, page presented %d, read %d distinct stamps, %d unreadable",
		res.P50, res.P95, len(lat), res.CaptureToDisplayP50, res.Sent, res.Presented, res.Read, res.Unreadable)
	if len(lat) < 20 {
		t.Errorf("%d stamped frames read back in the page, want at least 20", len(lat))
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(artifactDir(t), "glass.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("figures: %s", p)
}

// glassResult is glass.json.
type glassResult struct {
	P50                 float64   `json:"p50_ms"`
	P95                 float64   `json:"p95_ms"`
	CaptureToDisplayP50 float64   `json:"capture_to_display_p50_ms"` // the viewer's own measure, from the RTP timestamps
	Sent                int       `json:"frames_sent"`
	Presented           int       `json:"frames_presented"`
	Read                int       `json:"stamps_read"` // distinct stamps, in display order
	Unreadable          int       `json:"stamps_unreadable"`
	Latencies           []float64 `json:"latencies_ms"`
}

// glassPage is what glassJS gathers in the page (window.glass).
type glassPage struct {
	Frames     int `json:"frames"`
	Unreadable int `json:"unreadable"`
	Records    []struct {
		N   int     `json:"n"`   // the stamp
		T   float64 `json:"t"`   // when the frame was shown, wall clock ms
		C2D float64 `json:"c2d"` // capture to display from the RTP timestamp, ms; -1 without one
	} `json:"records"`
}

// glassJS watches a camera's <video> (once): for every frame presented it
// reads the stamp as testclip.ReadStamp does (16 blocks of 16 px in the top
// band: 8 bits then their complement; centre 8x8 mean luma > 170 is 1, < 85
// is 0) from the video's own pixels, whatever its size on the page, and
// records each newly seen stamp with the frame's display time. It returns
// false while the viewer has no video element for the camera yet.
const glassJS = `(() => {
  const v = document.querySelector('.card[data-camera="%s"] video');
  if (!v) return false;
  if (window.glass) return true;
  const g = window.glass = {frames: 0, unreadable: 0, records: []};
  const B = 16, W = 2 * 8 * B;
  const c = document.createElement('canvas');
  c.width = W; c.height = B;
  const ctx = c.getContext('2d', {willReadFrequently: true});
  const read = () => {
    ctx.drawImage(v, 0, 0, W, B, 0, 0, W, B); // source rectangle in the video's own pixels
    const px = ctx.getImageData(0, 0, W, B).data;
    const bits = [];
    for (let b = 0; b < 16; b++) {
      let s = 0;
      for (let y = 4; y < B - 4; y++) for (let x = b * B + 4; x < (b + 1) * B - 4; x++) {
        const i = 4 * (y * W + x);
        s += 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
      }
      const m = s / 64;
      if (m > 170) bits.push(1); else if (m < 85) bits.push(0); else return -1;
    }
    let n = 0;
    for (let b = 0; b < 8; b++) {
      if (bits[b] === bits[b + 8]) return -1;
      n |= bits[b] << b;
    }
    return n;
  };
  let last = -1;
  const onFrame = (now, md) => {
    const shown = performance.timeOrigin + (md.expectedDisplayTime || now);
    g.frames++;
    const n = v.videoWidth >= W && v.videoHeight >= B ? read() : -1;
    if (n < 0) g.unreadable++;
    else if (n !== last) {
      const U32 = 4294967296;
      const c2d = md.rtpTimestamp === undefined ? -1 : (((shown * 90 - md.rtpTimestamp) %% U32) + U32) %% U32 / 90;
      g.records.push({n, t: shown, c2d});
      last = n;
    }
    v.requestVideoFrameCallback(onFrame);
  };
  v.requestVideoFrameCallback(onFrame);
  return true;
})()`

// stampCamera is an HTTP MJPEG camera (multipart/x-mixed-replace, as IP
// cameras serve it) showing the stills of clip, perStill frames each, at
// fps. Each frame carries its sequence number mod 256 (testclip.Stamp), and
// the camera notes when each frame was flushed to the client: the glass the
// latency is measured from.
type stampCamera struct {
	t        *testing.T
	clip     *testclip.Clip
	dir      string // the stills' images
	fps      float64
	perStill int

	mu   sync.Mutex
	seq  int // next sequence number, across connections
	sent []sentFrame
}

type sentFrame struct {
	seq int
	at  float64 // wall clock ms
}

func (c *stampCamera) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const boundary = "veilframe"
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+boundary)
	img := gocv.NewMat() // this connection's frame
	defer img.Close()
	still := -1
	tick := time.NewTicker(time.Duration(float64(time.Second) / c.fps))
	defer tick.Stop()
	for {
		c.mu.Lock()
		seq := c.seq
		c.seq++
		c.mu.Unlock()
		if i := seq / c.perStill % len(c.clip.Stills); i != still {
			if err := c.clip.Source(c.dir, i, &img); err != nil {
				c.t.Errorf("camera: %v", err)
				return
			}
			still = i
		}
		testclip.Stamp(&img, seq%256) // overwrites the whole stamp
		buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, img, []int{gocv.IMWriteJpegQuality, 90})
		if err != nil {
			c.t.Errorf("camera: %v", err)
			return
		}
		jpg := bytes.Clone(buf.GetBytes())
		buf.Close()
		if _, err := fmt.Fprintf(w, "--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", boundary, len(jpg)); err != nil {
			return
		}
		if _, err := w.Write(append(jpg, '\r', '\n')); err != nil {
			return
		}
		w.(http.Flusher).Flush()
		at := float64(time.Now().UnixMicro()) / 1000
		c.mu.Lock()
		c.sent = append(c.sent, sentFrame{seq, at})
		c.mu.Unlock()
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

// sentFrames returns the frames sent so far, oldest first.
func (c *stampCamera) sentFrames() []sentFrame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sent)
}
