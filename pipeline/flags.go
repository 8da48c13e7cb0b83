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
