// Package whep serves cameras' encoded, redacted samples to browsers and
// any other WHEP player (draft-ietf-wish-whep): POST an SDP offer to
// /whep/<camera>, get 201 with the answer and a Location; DELETE that
// Location to leave. It imports no image library: only media.Sample bytes
// reach it.
package whep

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/veil-gateway/veil/transport/media"
)

// Errors the handler maps to HTTP statuses.
var (
	ErrTooManyViewers = errors.New("whep: too many viewers for this camera")
	ErrBadOffer       = errors.New("whep: bad SDP offer")
)

// Limits on what a client may send.
const (
	MaxOfferBytes = 64 << 10 // an SDP offer from a browser is ~5 KB
	maxPending    = 8        // offers being answered at once
	gatherTimeout = 3 * time.Second
	viewerQueue   = 32 // samples a viewer may fall behind before it drops
	keyframeGap   = 300 * time.Millisecond
	// endedTTL is how long a session whose peer connection closed or
	// failed still answers its DELETE with 200: clients such as
	// whip-whep's WHEPClient close the peer connection before they DELETE.
	endedTTL = 30 * time.Second
)

// Options configure the server.
type Options struct {
	// ICEHosts restricts the local addresses offered in answers (empty: all
	// interfaces, loopback included, so a browser on the same box connects).
	ICEHosts []string
	// MaxViewers per camera.
	MaxViewers int
}

// Server is the WHEP endpoint for a fixed set of cameras.
type Server struct {
	api     *webrtc.API
	log     *slog.Logger
	opts    Options
	streams map[string]*Stream
	pending chan struct{}
}

// NewServer builds the WebRTC stack: VP8 only, NACK/PLI/FIR/REMB, loopback
// candidates on, ICE timeouts short enough to notice a closed tab quickly.
func NewServer(opts Options, log *slog.Logger) (*Server, error) {
	if opts.MaxViewers <= 0 {
		opts.MaxViewers = 16
	}
	m := &webrtc.MediaEngine{}
	err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000,
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}},
		},
		PayloadType: 96,
	}, webrtc.RTPCodecTypeVideo)
	if err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICETimeouts(5*time.Second, 10*time.Second, 2*time.Second)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	if len(opts.ICEHosts) > 0 {
		allowed := map[string]bool{}
		for _, h := range opts.ICEHosts {
			ip := net.ParseIP(h)
			if ip == nil {
				return nil, fmt.Errorf("whep: ice host %q is not an IP address", h)
			}
			allowed[ip.String()] = true
		}
		se.SetIPFilter(func(ip net.IP) bool { return allowed[ip.String()] })
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	return &Server{api: api, log: log, opts: opts, streams: map[string]*Stream{}, pending: make(chan struct{}, maxPending)}, nil
}

// AddStream registers a camera. onKeyframe is called (rate-limited) when a
// viewer joins or reports loss; it must not block.
func (s *Server) AddStream(name string, onKeyframe func()) *Stream {
	st := &Stream{name: name, onKeyframe: onKeyframe, viewers: map[string]*viewer{}, ended: map[string]time.Time{}, log: s.log.With("camera", name)}
	s.streams[name] = st
	return st
}

// Stream returns a registered camera's stream, or nil.
func (s *Server) Stream(name string) *Stream { return s.streams[name] }

// Close ends every viewer.
func (s *Server) Close() {
	for _, st := range s.streams {
		st.closeAll()
	}
}

// Stream fans one camera's samples out to its viewers. WriteSample never
// blocks: each viewer has its own queue; a full queue drops the sample for
// that viewer only, and the viewer waits for the next keyframe.
type Stream struct {
	name       string
	log        *slog.Logger
	onKeyframe func()
	lastKey    atomic.Int64 // unix nanos of the last keyframe request

	mu       sync.Mutex
	viewers  map[string]*viewer
	reserved int                  // slots taken by offers being answered
	ended    map[string]time.Time // sessions their peer connection ended, not yet DELETEd
	dropped  uint64
}

// ViewerStats is what the API shows per camera.
type ViewerStats struct {
	Viewers int    `json:"viewers"`
	Dropped uint64 `json:"samples_dropped"` // samples viewers fell too far behind to get
}

// Stats counts viewers and their drops.
func (st *Stream) Stats() ViewerStats {
	st.mu.Lock()
	defer st.mu.Unlock()
	return ViewerStats{Viewers: len(st.viewers), Dropped: st.dropped}
}

// WriteSample hands s to every viewer without waiting for any.
func (st *Stream) WriteSample(s media.Sample) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, v := range st.viewers {
		if !v.ready.Load() {
			continue // not connected yet: it starts at the keyframe asked for on connection
		}
		select {
		case v.queue <- queued{s, v.gap}:
			v.gap = false
		default:
			v.gap = true // the next queued sample follows a hole
			st.dropped++
			if st.dropped%100 == 1 {
				st.log.Warn("viewer is too slow: dropping samples", "viewer", v.id, "dropped", st.dropped)
			}
			st.requestKeyframe()
		}
	}
}

func (st *Stream) requestKeyframe() {
	now := time.Now().UnixNano()
	last := st.lastKey.Load()
	if now-last < int64(keyframeGap) || !st.lastKey.CompareAndSwap(last, now) {
		return
	}
	if st.onKeyframe != nil {
		st.onKeyframe()
	}
}

// forceKeyframe asks for a keyframe now, whatever was asked recently: a
// viewer just connected and must not wait for the next periodic one.
func (st *Stream) forceKeyframe() {
	st.lastKey.Store(time.Now().UnixNano())
	if st.onKeyframe != nil {
		st.onKeyframe()
	}
}

// reserve takes a viewer slot before the offer is answered, so that
// concurrent offers cannot exceed the limit together.
func (st *Stream) reserve(limit int) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.viewers)+st.reserved >= limit {
		return false
	}
	st.reserved++
	return true
}

// add turns a reservation into a viewer (v nil: the offer failed).
func (st *Stream) add(v *viewer) {
	st.mu.Lock()
	st.reserved--
	if v != nil {
		st.viewers[v.id] = v
	}
	st.mu.Unlock()
}

// remove ends a viewer; it reports whether it was there.
func (st *Stream) remove(id string) bool {
	st.mu.Lock()
	v, ok := st.viewers[id]
	delete(st.viewers, id)
	st.mu.Unlock()
	if ok {
		v.close()
	}
	return ok
}

// endByPeer removes a viewer whose peer connection closed or failed, and
// remembers its session for endedTTL so that the client's DELETE still
// succeeds; it reports whether the viewer was there.
func (st *Stream) endByPeer(id string) bool {
	now := time.Now()
	st.mu.Lock()
	v, ok := st.viewers[id]
	if ok {
		delete(st.viewers, id)
		for s, at := range st.ended {
			if now.Sub(at) > endedTTL {
				delete(st.ended, s)
			}
		}
		st.ended[id] = now
	}
	st.mu.Unlock()
	if ok {
		v.close()
	}
	return ok
}

// forgetEnded reports whether id is a session its peer connection ended
// less than endedTTL ago, and forgets it.
func (st *Stream) forgetEnded(id string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	at, ok := st.ended[id]
	delete(st.ended, id)
	return ok && time.Since(at) <= endedTTL
}

func (st *Stream) closeAll() {
	st.mu.Lock()
	vs := st.viewers
	st.viewers = map[string]*viewer{}
	st.mu.Unlock()
	for _, v := range vs {
		v.close()
	}
}

type queued struct {
	s   media.Sample
	gap bool // samples were dropped just before this one
}

// viewer is one peer connection with its own track, packetizer and queue.
type viewer struct {
	id    string
	pc    *webrtc.PeerConnection
	track *webrtc.TrackLocalStaticRTP
	queue chan queued
	gap   bool        // guarded by Stream.mu
	ready atomic.Bool // connected: samples flow
	once  sync.Once
	done  chan struct{}
}

func (v *viewer) close() {
	v.once.Do(func() {
		close(v.done)
		v.pc.Close()
	})
}

// rtpTime is the sample's capture time on the 90 kHz RTP clock. Using the
// capture wall clock lets a page on the same host read capture-to-display
// latency from requestVideoFrameCallback's rtpTimestamp.
func rtpTime(t time.Time) uint32 { return uint32(t.UnixMicro() * 9 / 100) }

// send packetizes samples for this viewer, starting at a keyframe and again
// after any gap.
func (v *viewer) send(st *Stream) {
	defer st.remove(v.id) // a viewer whose writes fail must not keep its slot
	pk := rtp.NewPacketizer(1200, 96, 0, &codecs.VP8Payloader{EnablePictureID: true}, rtp.NewRandomSequencer(), 90000)
	needKey := true
	for {
		select {
		case <-v.done:
			return
		case q := <-v.queue:
			if q.gap {
				needKey = true
			}
			if needKey && !q.s.Key {
				continue
			}
			needKey = false
			ts := rtpTime(q.s.Capture)
			for _, p := range pk.Packetize(q.s.Data, uint32(q.s.Duration.Seconds()*90000)) {
				p.Timestamp = ts
				if err := v.track.WriteRTP(p); err != nil && !errors.Is(err, io.ErrClosedPipe) {
					st.log.Debug("viewer write failed", "viewer", v.id, "err", err)
					return
				}
			}
		}
	}
}

// readRTCP turns PLI and FIR from the player into keyframe requests.
func (v *viewer) readRTCP(sender *webrtc.RTPSender, st *Stream) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				st.requestKeyframe()
			}
		}
	}
}

// httpError is an error with the status it maps to.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, format string, a ...any) error {
	return &httpError{code, fmt.Sprintf(format, a...)}
}

// ServeHTTP handles /whep/<camera> and /whep/<camera>/<session>.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Expose-Headers", "Location, Accept-Patch")
	err := s.serve(w, r)
	if err == nil {
		return
	}
	var he *httpError
	if !errors.As(err, &he) {
		he = &httpError{http.StatusInternalServerError, err.Error()}
	}
	if he.code >= 500 {
		s.log.Warn("whep request failed", "method", r.Method, "path", r.URL.Path, "err", he.msg)
	}
	http.Error(w, he.msg, he.code)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) error {
	rest, ok := strings.CutPrefix(r.URL.Path, "/whep/")
	if !ok || rest == "" {
		return errorf(http.StatusNotFound, "want /whep/<camera>")
	}
	cam, session, hasSession := strings.Cut(rest, "/")
	st := s.streams[cam]
	if st == nil {
		return errorf(http.StatusNotFound, "no camera named %q", cam)
	}
	if r.Method == http.MethodOptions {
		w.Header().Set("Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type, Authorization, If-Match")
		w.Header().Set("Accept-Post", "application/sdp")
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if !hasSession {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST, OPTIONS")
			return errorf(http.StatusMethodNotAllowed, "%s not allowed on %s: POST an SDP offer", r.Method, r.URL.Path)
		}
		return s.offer(w, r, cam, st)
	}
	switch r.Method {
	case http.MethodDelete:
		if !st.remove(session) && !st.forgetEnded(session) {
			return errorf(http.StatusNotFound, "no session %q on camera %q", session, cam)
		}
		w.WriteHeader(http.StatusOK)
		return nil
	case http.MethodPatch:
		return s.patch(w, r, st, session)
	}
	w.Header().Set("Allow", "PATCH, DELETE, OPTIONS")
	return errorf(http.StatusMethodNotAllowed, "%s not allowed on a session: PATCH (trickle ICE) or DELETE", r.Method)
}

func readBody(r *http.Request, want string) (string, error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != want {
		return "", errorf(http.StatusUnsupportedMediaType, "Content-Type %q: want %s", r.Header.Get("Content-Type"), want)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxOfferBytes+1))
	if err != nil {
		return "", errorf(http.StatusBadRequest, "reading body: %v", err)
	}
	if len(b) > MaxOfferBytes {
		return "", errorf(http.StatusRequestEntityTooLarge, "body larger than %d bytes", MaxOfferBytes)
	}
	return string(b), nil
}

// checkOffer rejects what is plainly not a browser's offer before pion
// parses it.
func checkOffer(sdp string) error {
	if !strings.HasPrefix(sdp, "v=0") {
		return fmt.Errorf("%w: it must start with v=0", ErrBadOffer)
	}
	if !strings.Contains(sdp, "\nm=video ") {
		return fmt.Errorf("%w: no video section (m=video)", ErrBadOffer)
	}
	if !strings.Contains(strings.ToUpper(sdp), " VP8/90000") {
		return errNoVP8
	}
	return nil
}

var errNoVP8 = fmt.Errorf("%w: the offer does not accept VP8 video, the only codec served", ErrBadOffer)

func (s *Server) offer(w http.ResponseWriter, r *http.Request, cam string, st *Stream) error {
	sdp, err := readBody(r, "application/sdp")
	if err != nil {
		return err
	}
	if err := checkOffer(sdp); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, errNoVP8) {
			code = http.StatusNotAcceptable
		}
		return errorf(code, "%v", err)
	}
	if !st.reserve(s.opts.MaxViewers) {
		return errorf(http.StatusServiceUnavailable, "%v (%d)", ErrTooManyViewers, s.opts.MaxViewers)
	}
	added := false
	defer func() {
		if !added {
			st.add(nil) // give the slot back
		}
	}()
	select {
	case s.pending <- struct{}{}:
		defer func() { <-s.pending }()
	default:
		return errorf(http.StatusServiceUnavailable, "too many offers being answered; retry")
	}
	v, answer, err := s.newViewer(r.Context(), sdp, st)
	if err != nil {
		return err
	}
	st.add(v)
	added = true
	s.log.Info("viewer joined", "camera", cam, "viewer", v.id, "remote", r.RemoteAddr)
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/whep/"+cam+"/"+v.id)
	w.Header().Set("Accept-Patch", "application/trickle-ice-sdpfrag")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
	return nil
}

func (s *Server) newViewer(ctx context.Context, offer string, st *Stream) (*viewer, string, error) {
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, "", fmt.Errorf("peer connection: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			pc.Close()
		}
	}()
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "veil-"+st.name)
	if err != nil {
		return nil, "", err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return nil, "", errorf(http.StatusBadRequest, "%v: %v", ErrBadOffer, err)
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		return nil, "", errorf(http.StatusBadRequest, "%v: cannot send video: %v", ErrBadOffer, err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return nil, "", errorf(http.StatusBadRequest, "%v: %v", ErrBadOffer, err)
	}
	if !strings.Contains(answer.SDP, "VP8/90000") {
		return nil, "", errorf(http.StatusNotAcceptable, "%v", errNoVP8)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return nil, "", fmt.Errorf("local description: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(gatherTimeout):
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
	id := newID()
	v := &viewer{id: id, pc: pc, track: track, queue: make(chan queued, viewerQueue), done: make(chan struct{})}
	pc.OnConnectionStateChange(func(cs webrtc.PeerConnectionState) {
		s.log.Debug("viewer state", "camera", st.name, "viewer", id, "state", cs.String())
		switch cs {
		case webrtc.PeerConnectionStateConnected:
			v.ready.Store(true)
			st.forceKeyframe()
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			if st.endByPeer(id) {
				s.log.Info("viewer left", "camera", st.name, "viewer", id, "state", cs.String())
			}
		}
	})
	go v.send(st)
	go v.readRTCP(sender, st)
	ok = true
	return v, pc.LocalDescription().SDP, nil
}

// patch adds trickled ICE candidates (application/trickle-ice-sdpfrag).
func (s *Server) patch(w http.ResponseWriter, r *http.Request, st *Stream, session string) error {
	if r.Header.Get("If-Match") == "*" {
		return errorf(http.StatusUnprocessableEntity, "ICE restart is not supported: DELETE this session and POST a new offer")
	}
	frag, err := readBody(r, "application/trickle-ice-sdpfrag")
	if err != nil {
		return err
	}
	st.mu.Lock()
	v := st.viewers[session]
	st.mu.Unlock()
	if v == nil {
		return errorf(http.StatusNotFound, "no session %q", session)
	}
	for line := range strings.Lines(frag) {
		c, ok := strings.CutPrefix(strings.TrimSpace(line), "a=candidate:")
		if !ok {
			continue
		}
		if err := v.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: "candidate:" + c}); err != nil {
			return errorf(http.StatusBadRequest, "bad candidate: %v", err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
