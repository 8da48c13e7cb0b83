package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"
)

// progress draws a one-line bar on a terminal and nothing in a pipe.
type progress struct {
	w     io.Writer
	on    bool
	files int
	index int
	name  string
	last  time.Time
	start time.Time
	drawn bool
}

func newProgress(w io.Writer, mode string, files int) *progress {
	on := mode == "always"
	if mode == "auto" {
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			on = true
		}
	}
	return &progress{w: w, on: on, files: files}
}

func (p *progress) file(i int, name string) {
	p.index, p.name, p.start = i, filepath.Base(name), time.Now()
	p.draw(0, 0, true)
}

func (p *progress) frames(done, total int) { p.draw(done, total, false) }

func (p *progress) draw(done, total int, force bool) {
	if !p.on || (!force && time.Since(p.last) < 100*time.Millisecond && done != total) {
		return
	}
	p.last = time.Now()
	const width = 30
	frac := 0.0
	if total > 0 {
		frac = min(1, float64(done)/float64(total))
	}
	// The bar is the whole run: finished files plus this one's share.
	overall := (float64(p.index) + frac) / float64(max(1, p.files))
	n := int(overall * width)
	line := fmt.Sprintf("\r[%s%s] %3.0f%% file %d/%d %s", strings.Repeat("=", n), strings.Repeat(" ", width-n), overall*100, p.index+1, p.files, p.name)
	if total > 0 {
		fps := 0.0
		if el := time.Since(p.start).Seconds(); el > 0 {
			fps = float64(done) / el
		}
		line += fmt.Sprintf(" frame %d/%d %.1f fps", done, total, fps)
	}
	fmt.Fprint(p.w, line+"\033[K")
	p.drawn = true
}

func (p *progress) clear() {
	if p.on && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

func (p *progress) done() { p.clear() }
