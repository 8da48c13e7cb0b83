package whep

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/veil-gateway/veil/transport/media"
)

func newTestServer(t testing.TB, maxViewers int) (*Server, *Stream, *atomic.Int32, *httptest.Server) {
	t.Helper()
	s, err := NewServer(Options{MaxViewers: maxViewers}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var keys atomic.Int32
	st := s.AddStream("cam", func() { keys.Add(1) })
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	return s, st, &keys, hs
}

// clientOffer is a real pion peer asking to receive video, as a WHEP
// player does; the offer carries its candidates (no trickle).
func clientOffer(t testing.TB, codec string) (*webrtc.PeerConnection, string) {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: codec, ClockRate: 90000}, PayloadType: 102}, webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-done
	return pc, pc.LocalDescription().SDP
}

var client = &http.Client{Timeout: 10 * time.Second} // a hung handler fails the test

func do(t testing.TB, method, url, ctype, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// TestPlay: a real WebRTC peer gets the samples as RTP, timestamped with
// their capture time, starting at a keyframe; DELETE ends the session.
func TestPlay(t *testing.T) {
	_, st, keys, hs := newTestServer(t, 4)
	pc, offer := clientOffer(t, webrtc.MimeTypeVP8)
	type pkt struct {
		ts     uint32
		marker bool
	}
	got := make(chan pkt, 1000)
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			select {
			case got <- pkt{p.Timestamp, p.Marker}:
			default:
			}
		}
	})
	res, answer := do(t, http.MethodPost, hs.URL+"/whep/cam", "application/sdp", offer)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", res.StatusCode, answer)
	}
	loc := res.Header.Get("Location")
	if !strings.HasPrefix(loc, "/whep/cam/") || res.Header.Get("Content-Type") != "application/sdp" {
		t.Fatalf("Location %q, Content-Type %q", loc, res.Header.Get("Content-Type"))
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); keys.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if keys.Load() == 0 {
		t.Error("a viewer that connects must get a keyframe requested")
	}
	if st.Stats().Viewers != 1 {
		t.Fatalf("viewers = %d, want 1", st.Stats().Viewers)
	}

	// Feed samples: delta frames first (the viewer must skip them), then a
	// keyframe and deltas, ~30 fps.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var keyAt atomic.Int64
	go func() {
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			now := time.Now()
			key := i%30 == 10
			if key && keyAt.Load() == 0 {
				keyAt.Store(now.UnixMicro())
			}
			st.WriteSample(media.Sample{Data: make([]byte, 3000), Key: key, Duration: 33 * time.Millisecond, Capture: now})
		}
	}()
	var first *pkt
	n := 0
	for n < 100 {
		select {
		case p := <-got:
			if first == nil {
				first = &p
			}
			n++
		case <-ctx.Done():
			t.Fatalf("received %d RTP packets in 10 s", n)
		}
	}
	// The first packet is the first keyframe's: its timestamp is that
	// sample's capture time on the 90 kHz clock.
	if want := uint32(keyAt.Load() * 9 / 100); first.ts != want {
		t.Errorf("first RTP timestamp %d, want the first keyframe's capture time %d", first.ts, want)
	}

	res, body := do(t, http.MethodDelete, hs.URL+loc, "", "")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %d %s", res.StatusCode, body)
	}
	if st.Stats().Viewers != 0 {
		t.Error("viewer still counted after DELETE")
	}
	if res, _ := do(t, http.MethodDelete, hs.URL+loc, "", ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("second DELETE: %d, want 404", res.StatusCode)
	}
}

// Bad input gets a 4xx and a message that says what is wrong.
func TestBadRequests(t *testing.T) {
	_, _, _, hs := newTestServer(t, 1)
	_, vp8 := clientOffer(t, webrtc.MimeTypeVP8)
	_, h264 := clientOffer(t, webrtc.MimeTypeH264)
	cases := []struct {
		name, method, path, ctype, body string
		code                            int
		want                            string
	}{
		{"get", http.MethodGet, "/whep/cam", "", "", 405, "POST an SDP offer"},
		{"unknown camera", http.MethodPost, "/whep/nope", "application/sdp", vp8, 404, "no camera"},
		{"no camera", http.MethodPost, "/whep/", "application/sdp", vp8, 404, "want /whep/<camera>"},
		{"content type", http.MethodPost, "/whep/cam", "text/plain", vp8, 415, "application/sdp"},
		{"no content type", http.MethodPost, "/whep/cam", "", vp8, 415, "application/sdp"},
		{"huge", http.MethodPost, "/whep/cam", "application/sdp", "v=0\r\n" + strings.Repeat("a=x\r\n", MaxOfferBytes/4), 413, "larger than"},
		{"garbage", http.MethodPost, "/whep/cam", "application/sdp", "hello", 400, "v=0"},
		{"no video", http.MethodPost, "/whep/cam", "application/sdp", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", 400, "no video"},
		{"broken sdp", http.MethodPost, "/whep/cam", "application/sdp", "v=0\r\nm=video x\r\na=rtpmap:96 VP8/90000\r\n\x00\xff", 400, "bad SDP offer"},
		{"h264 only", http.MethodPost, "/whep/cam", "application/sdp", h264, 406, "VP8"},
		{"session get", http.MethodGet, "/whep/cam/abc", "", "", 405, "PATCH"},
		{"session unknown", http.MethodDelete, "/whep/cam/abc", "", "", 404, "no session"},
		{"patch type", http.MethodPatch, "/whep/cam/abc", "application/sdp", "", 415, "trickle-ice-sdpfrag"},
		{"patch unknown", http.MethodPatch, "/whep/cam/abc", "application/trickle-ice-sdpfrag", "a=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n", 404, "no session"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, body := do(t, tc.method, hs.URL+tc.path, tc.ctype, tc.body)
			if res.StatusCode != tc.code || !strings.Contains(body, tc.want) {
				t.Errorf("got %d %q, want %d and a message containing %q", res.StatusCode, strings.TrimSpace(body), tc.code, tc.want)
			}
		})
	}
	t.Run("too many viewers", func(t *testing.T) {
		res, body := do(t, http.MethodPost, hs.URL+"/whep/cam", "application/sdp", vp8)
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("first viewer: %d %s", res.StatusCode, body)
		}
		_, again := clientOffer(t, webrtc.MimeTypeVP8)
		res, body = do(t, http.MethodPost, hs.URL+"/whep/cam", "application/sdp", again)
		if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "too many viewers") {
			t.Errorf("second viewer over the limit: %d %q", res.StatusCode, body)
		}
	})
	t.Run("ice restart", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPatch, hs.URL+"/whep/cam/abc", strings.NewReader("a=ice-ufrag:x\r\n"))
		req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
		req.Header.Set("If-Match", "*")
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("ICE restart: %d, want 422 (RFC 9725: restarts not supported)", res.StatusCode)
		}
	})
	t.Run("options", func(t *testing.T) {
		res, _ := do(t, http.MethodOptions, hs.URL+"/whep/cam", "", "")
		if res.StatusCode != http.StatusNoContent || res.Header.Get("Accept-Post") != "application/sdp" || res.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("OPTIONS: %d %v", res.StatusCode, res.Header)
		}
	})
}

// A viewer that does not keep up loses samples, not the others; it then
// waits for a keyframe, and one is requested.
func TestSlowViewerDrops(t *testing.T) {
	var keys atomic.Int32
	st := &Stream{name: "cam", log: slog.New(slog.DiscardHandler), onKeyframe: func() { keys.Add(1) }, viewers: map[string]*viewer{}}
	slow := &viewer{id: "slow", queue: make(chan queued, viewerQueue), done: make(chan struct{})}
	fast := &viewer{id: "fast", queue: make(chan queued, 1000), done: make(chan struct{})}
	slow.ready.Store(true)
	fast.ready.Store(true)
	st.viewers["slow"], st.viewers["fast"] = slow, fast
	// A viewer not connected yet gets nothing and loses nothing.
	waiting := &viewer{id: "waiting", queue: make(chan queued, viewerQueue), done: make(chan struct{})}
	st.viewers["waiting"] = waiting
	const n = viewerQueue + 10
	for i := range n {
		st.WriteSample(media.Sample{Data: []byte{byte(i)}, Key: i == 0})
	}
	if got := st.Stats().Dropped; got != 10 {
		t.Errorf("dropped %d, want 10 (all for the slow viewer)", got)
	}
	if len(fast.queue) != n || len(slow.queue) != viewerQueue {
		t.Errorf("queues: fast %d (want %d), slow %d (want %d)", len(fast.queue), n, len(slow.queue), viewerQueue)
	}
	if len(waiting.queue) != 0 {
		t.Errorf("a viewer not yet connected was sent %d samples", len(waiting.queue))
	}
	if keys.Load() != 1 {
		t.Errorf("keyframe requests %d, want 1 (rate-limited)", keys.Load())
	}
	for range viewerQueue {
		<-slow.queue
	}
	st.WriteSample(media.Sample{Data: []byte{1}})
	if q := <-slow.queue; !q.gap {
		t.Error("the first sample after a drop must be marked as following a gap")
	}
}

// FuzzOffer: whatever the body, the handler answers 201 or a 4xx, never
// panics and never a 5xx.
func FuzzOffer(f *testing.F) {
	_, _, _, hs := newTestServer(f, 256)
	_, vp8 := clientOffer(f, webrtc.MimeTypeVP8)
	f.Add(vp8)
	f.Add("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n")
	f.Add("v=0\r\n\nm=video ")
	f.Add("")
	f.Fuzz(func(t *testing.T, body string) {
		res, msg := do(t, http.MethodPost, hs.URL+"/whep/cam", "application/sdp", body)
		if res.StatusCode >= 500 {
			t.Fatalf("%d %s", res.StatusCode, msg)
		}
		if loc := res.Header.Get("Location"); res.StatusCode == http.StatusCreated {
			do(t, http.MethodDelete, hs.URL+loc, "", "")
		}
	})
}
