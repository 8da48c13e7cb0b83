// Package vp8 is a small cgo binding to Debian's libvpx (BSD) VP8 encoder,
// tuned for live video: real-time deadline, speed control, a thread count and
// keyframes on request. It takes I420 bytes and returns encoded frames; it
// knows nothing of OpenCV (transport packages never touch gocv Mats).
package vp8

/*
#cgo pkg-config: vpx
#include <stdlib.h>
#include <string.h>
#include <vpx/vpx_encoder.h>
#include <vpx/vp8cx.h>

typedef struct {
	vpx_codec_ctx_t codec;
	vpx_image_t img;
	int w, h;
} veil_vp8;

static int veil_vp8_open(veil_vp8 *e, int w, int h, int fps, int kbps, int threads, int speed, int kfmax) {
	vpx_codec_enc_cfg_t cfg;
	if (vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &cfg, 0)) return -1;
	cfg.g_w = w;
	cfg.g_h = h;
	cfg.g_timebase.num = 1;
	cfg.g_timebase.den = 1000; // pts in ms: rate control sees the real frame timing
	cfg.rc_target_bitrate = kbps;
	cfg.g_threads = threads;
	cfg.g_lag_in_frames = 0;
	cfg.g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
	cfg.rc_end_usage = VPX_CBR;
	cfg.kf_mode = VPX_KF_AUTO;
	cfg.kf_max_dist = kfmax;
	cfg.rc_min_quantizer = 4;
	cfg.rc_max_quantizer = 56;
	if (vpx_codec_enc_init(&e->codec, vpx_codec_vp8_cx(), &cfg, 0)) return -2;
	vpx_codec_control(&e->codec, VP8E_SET_CPUUSED, speed);
	vpx_codec_control(&e->codec, VP8E_SET_STATIC_THRESHOLD, 1);
	vpx_codec_control(&e->codec, VP8E_SET_TOKEN_PARTITIONS, threads > 1 ? 1 : 0);
	if (!vpx_img_wrap(&e->img, VPX_IMG_FMT_I420, w, h, 1, NULL)) { vpx_codec_destroy(&e->codec); return -3; }
	e->w = w; e->h = h;
	return 0;
}

// veil_vp8_encode encodes one I420 frame and copies the packets into out
// (cap bytes). It returns the bytes written, or a negative error.
static int veil_vp8_encode(veil_vp8 *e, unsigned char *i420, long long pts, unsigned long dur, int force_key, unsigned char *out, int cap, int *key) {
	int ysz = e->w * e->h, csz = ((e->w + 1) / 2) * ((e->h + 1) / 2);
	e->img.planes[VPX_PLANE_Y] = i420;
	e->img.planes[VPX_PLANE_U] = i420 + ysz;
	e->img.planes[VPX_PLANE_V] = i420 + ysz + csz;
	e->img.stride[VPX_PLANE_Y] = e->w;
	e->img.stride[VPX_PLANE_U] = (e->w + 1) / 2;
	e->img.stride[VPX_PLANE_V] = (e->w + 1) / 2;
	if (vpx_codec_encode(&e->codec, &e->img, pts, dur, force_key ? VPX_EFLAG_FORCE_KF : 0, VPX_DL_REALTIME)) {
		e->img.planes[VPX_PLANE_Y] = e->img.planes[VPX_PLANE_U] = e->img.planes[VPX_PLANE_V] = NULL;
		return -1;
	}
	vpx_codec_iter_t iter = NULL;
	const vpx_codec_cx_pkt_t *pkt;
	int n = 0;
	*key = 0;
	while ((pkt = vpx_codec_get_cx_data(&e->codec, &iter)) != NULL) {
		if (pkt->kind != VPX_CODEC_CX_FRAME_PKT) continue;
		if ((int)pkt->data.frame.sz > cap - n) return -2;
		memcpy(out + n, pkt->data.frame.buf, pkt->data.frame.sz);
		n += (int)pkt->data.frame.sz;
		if (pkt->data.frame.flags & VPX_FRAME_IS_KEY) *key = 1;
	}
	// The planes point into Go memory: never keep them past the call.
	e->img.planes[VPX_PLANE_Y] = e->img.planes[VPX_PLANE_U] = e->img.planes[VPX_PLANE_V] = NULL;
	return n;
}

static void veil_vp8_close(veil_vp8 *e) { vpx_codec_destroy(&e->codec); }
*/
import "C"

import (
	"errors"
	"fmt"
	"time"
	"unsafe"
)

// Config sets up an encoder.
type Config struct {
	Width, Height int
	FPS           int
	KbitRate      int // target bitrate, kbit/s
	Threads       int // 1 or 2 on a Pi-class box
	Speed         int // libvpx cpu-used, 0 (best) to 16 (fastest)
	KeyframeMax   int // most frames between keyframes
}

// Errors.
var (
	ErrConfig = errors.New("vp8: bad encoder config")
	ErrFrame  = errors.New("vp8: frame has the wrong size")
	ErrEncode = errors.New("vp8: encode failed")
)

// Encoder encodes I420 frames. Not safe for concurrent use.
type Encoder struct {
	c      *C.veil_vp8
	cfg    Config
	pts    int64 // of the last frame, ms
	frames int
	out    []byte
	closed bool
}

// I420Size is the byte size of a w x h I420 frame.
func I420Size(w, h int) int { return w*h + 2*((w+1)/2)*((h+1)/2) }

// NewEncoder opens a VP8 encoder.
func NewEncoder(cfg Config) (*Encoder, error) {
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > 8192 || cfg.Height > 8192 || cfg.Width%2 != 0 || cfg.Height%2 != 0 {
		return nil, fmt.Errorf("%w: size %dx%d must be even and at most 8192", ErrConfig, cfg.Width, cfg.Height)
	}
	if cfg.FPS <= 0 || cfg.FPS > 240 || cfg.KbitRate <= 0 || cfg.Threads < 1 || cfg.Threads > 16 || cfg.Speed < 0 || cfg.Speed > 16 || cfg.KeyframeMax < 1 {
		return nil, fmt.Errorf("%w: %+v", ErrConfig, cfg)
	}
	c := (*C.veil_vp8)(C.calloc(1, C.sizeof_veil_vp8))
	if rc := C.veil_vp8_open(c, C.int(cfg.Width), C.int(cfg.Height), C.int(cfg.FPS), C.int(cfg.KbitRate), C.int(cfg.Threads), C.int(cfg.Speed), C.int(cfg.KeyframeMax)); rc != 0 {
		C.free(unsafe.Pointer(c))
		return nil, fmt.Errorf("%w: libvpx init returned %d", ErrConfig, int(rc))
	}
	return &Encoder{c: c, cfg: cfg, out: make([]byte, I420Size(cfg.Width, cfg.Height)+64<<10)}, nil
}

// Encode encodes one I420 frame, as if frames came at the configured rate.
// forceKey asks for a keyframe (a viewer joined, or sent a PLI). The
// returned slice is valid until the next call.
func (e *Encoder) Encode(i420 []byte, forceKey bool) (data []byte, key bool, err error) {
	return e.EncodeAt(i420, time.Duration(e.pts+int64(1000/e.cfg.FPS))*time.Millisecond, forceKey)
}

// EncodeAt encodes a frame shown at time at (from any fixed origin). Rate
// control spends the bitrate over the real timing: a camera whose frames
// come slower than configured gets more bits per frame, not fewer in all.
func (e *Encoder) EncodeAt(i420 []byte, at time.Duration, forceKey bool) (data []byte, key bool, err error) {
	if e.closed {
		return nil, false, errors.New("vp8: encoder closed")
	}
	if len(i420) != I420Size(e.cfg.Width, e.cfg.Height) {
		return nil, false, fmt.Errorf("%w: %d bytes, want %d", ErrFrame, len(i420), I420Size(e.cfg.Width, e.cfg.Height))
	}
	pts := max(at.Milliseconds(), e.pts+1) // strictly increasing
	dur := pts - e.pts
	if e.frames == 0 {
		dur = int64(1000 / e.cfg.FPS)
	}
	fk := C.int(0)
	if forceKey {
		fk = 1
	}
	var k C.int
	n := C.veil_vp8_encode(e.c, (*C.uchar)(unsafe.Pointer(&i420[0])), C.longlong(pts), C.ulong(max(1, dur)), fk,
		(*C.uchar)(unsafe.Pointer(&e.out[0])), C.int(len(e.out)), &k)
	e.pts = pts
	e.frames++
	if n < 0 {
		return nil, false, fmt.Errorf("%w: code %d", ErrEncode, int(n))
	}
	return e.out[:n], k != 0, nil
}

// Close frees the encoder.
func (e *Encoder) Close() error {
	if !e.closed {
		e.closed = true
		C.veil_vp8_close(e.c)
		C.free(unsafe.Pointer(e.c))
	}
	return nil
}
