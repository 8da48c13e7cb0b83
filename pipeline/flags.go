package pipeline

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/veil-gateway/veil/detect"
)

// ParsePasses reads a pass list such as "0,2:12": comma-separated zooms, each
// optionally followed by ":" and the most tiles that pass may cut. Zoom 0 fits
// the whole frame into the detector.
func ParsePasses(s string) ([]detect.Pass, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("passes: empty list")
	}
	parts := strings.Split(s, ",")
	if len(parts) > 8 {
		return nil, fmt.Errorf("passes: %d passes, at most 8", len(parts))
	}
	out := make([]detect.Pass, 0, len(parts))
	for _, p := range parts {
		z, t, hasT := strings.Cut(strings.TrimSpace(p), ":")
		zoom, err := strconv.ParseFloat(z, 64)
		if err != nil || zoom < 0 || zoom > 8 || zoom != zoom {
			return nil, fmt.Errorf("passes: zoom %q must be a number in [0,8]", z)
		}
		pass := detect.Pass{Zoom: zoom}
		if hasT {
			n, err := strconv.Atoi(t)
			if err != nil || n < 1 || n > 256 {
				return nil, fmt.Errorf("passes: max tiles %q must be an integer in [1,256]", t)
			}
			pass.MaxTiles = n
		}
		out = append(out, pass)
	}
	return out, nil
}

// FormatPasses is the inverse of ParsePasses.
func FormatPasses(ps []detect.Pass) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatFloat(p.Zoom, 'g', -1, 64))
		if p.MaxTiles > 0 {
			fmt.Fprintf(&b, ":%d", p.MaxTiles)
		}
	}
	return b.String()
}

// ParseReuse reads a tile-reuse setting: "threshold/max-age" (as "10/15"),
// or "off".
func ParseReuse(s string) (detect.Reuse, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0/0" {
		return detect.Reuse{}, nil
	}
	a, b, ok := strings.Cut(s, "/")
	t, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || !(t > 0 && t <= 255) || n < 1 || n > 1000 {
		return detect.Reuse{}, fmt.Errorf("reuse %q: want off, or threshold/max-age with threshold in (0,255] and max age in [1,1000]", s)
	}
	return detect.Reuse{Threshold: t, MaxAge: n}, nil
}

// FormatReuse is the inverse of ParseReuse.
func FormatReuse(r detect.Reuse) string {
	if !r.Enabled() {
		return "off"
	}
	return strconv.FormatFloat(r.Threshold, 'g', -1, 64) + "/" + strconv.Itoa(r.MaxAge)
}
