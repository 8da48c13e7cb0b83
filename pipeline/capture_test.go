package pipeline_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veil-gateway/veil/internal/testenv"
	"github.com/veil-gateway/veil/pipeline"
)

// mjpegServer serves JPEG files as an HTTP MJPEG stream
// (multipart/x-mixed-replace), as IP cameras do, at fps.
type mjpegServer struct {
	frames [][]byte
	fps    float64
	served atomic.Int64
}

func (m *mjpegServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const boundary = "veilframe"
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+boundary)
	tick := time.NewTicker(time.Duration(float64(time.Second) / m.fps))
	defer tick.Stop()
	for i := 0; ; i++ {
		f := m.frames[i%len(m.frames)]
		if _, err := fmt.Fprintf(w, "--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", boundary, len(f)); err != nil {
			return
		}
		if _, err := w.Write(append(f, '\r', '\n')); err != nil {
			return
		}
		w.(http.Flusher).Flush()
		m.served.Add(1)
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

// serveOn serves h on addr until stop is called; stop also cuts open
// streams, as a camera that reboots does.
func serveOn(t *testing.T, addr string, h http.Handler) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	stop := func() { srv.Close() }
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

// An HTTP MJPEG camera is read, and when it goes away and comes back on the
// same address, the camera reconnects by itself.
func TestCameraHTTPMJPEGReconnects(t *testing.T) {
	dir := testenv.Data(t, "faces-dlib/images")
	names, _ := filepath.Glob(filepath.Join(dir, "*.jpg"))
	m := &mjpegServer{fps: 10}
	for _, n := range names[:1] { // one still, so every frame has one size
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		m.frames = append(m.frames, b)
	}
	addr, stop := serveOn(t, "127.0.0.1:0", m)
	cam, out := startCamera(t, cameraConfig("http://"+addr+"/video.mjpg"))
	waitFor(t, "frames from the MJPEG camera", 30*time.Second, func() bool { return len(out.get()) >= 5 })
	if st := cam.Status(); st.State != pipeline.StateRunning {
		t.Fatalf("state %s", st.State)
	}

	stop()
	lost := time.Now()
	waitFor(t, "the camera to notice the loss", 20*time.Second, func() bool { return cam.Status().State == pipeline.StateReconnecting })
	t.Logf("loss noticed after %v", time.Since(lost).Round(time.Millisecond))
	time.Sleep(time.Second)
	n := len(out.get())
	serveOn(t, addr, m)
	back := time.Now()
	waitFor(t, "frames after the camera came back", 20*time.Second, func() bool { return len(out.get()) >= n+5 })
	t.Logf("frames again %v after the camera came back", time.Since(back).Round(time.Millisecond))
	if st := cam.Status(); st.State != pipeline.StateRunning || st.Reconnects == 0 {
		t.Errorf("after recovery: %+v", st)
	}
}

// Sources are checked before OpenCV sees them.
func TestOpenCaptureErrors(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.avi")
	os.WriteFile(empty, nil, 0o644)
	text := filepath.Join(t.TempDir(), "text.avi")
	os.WriteFile(text, []byte("not a video at all"), 0o644)
	for _, src := range []string{"/nonexistent.avi", empty, text, t.TempDir(), "/dev/video99", "rtsp://127.0.0.1:1/x"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		c, err := pipeline.OpenCapture(ctx, src)
		cancel()
		if err == nil {
			c.Close()
			t.Errorf("%s: opened", src)
			continue
		}
		t.Logf("%s: %v", src, err)
	}
}

// OfferNewest never waits: into an empty slot it puts the value; over one
// the receiver has not taken, it returns the old value and puts the new.
func TestOfferNewest(t *testing.T) {
	ch := make(chan int, 1)
	if _, replaced := pipeline.OfferNewest(ch, 1); replaced || len(ch) != 1 {
		t.Fatalf("empty slot: replaced %v, %d queued", replaced, len(ch))
	}
	if old, replaced := pipeline.OfferNewest(ch, 2); !replaced || old != 1 {
		t.Fatalf("full slot: got %d, %v; want 1 replaced", old, replaced)
	}
	if v := <-ch; v != 2 || len(ch) != 0 {
		t.Fatalf("queued %d (and %d more), want 2 alone", v, len(ch))
	}
}
