package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gocv.io/x/gocv"
)

// Errors a source returns; callers branch on them with errors.Is.
var (
	ErrNotImage  = errors.New("not a JPEG or PNG image")
	ErrNotVideo  = errors.New("not a video OpenCV can decode")
	ErrEmptyFile = errors.New("file is empty")
	ErrTruncated = errors.New("video is truncated or corrupt")
)

// MaxImagePixels bounds what an image may decode to (a decompression bomb
// would otherwise take the process down): 100 megapixels.
const MaxImagePixels = 100_000_000

// Kind is what a file holds, judged from its name and first bytes.
type Kind uint8

// Kinds of input.
const (
	KindUnknown Kind = iota
	KindImage
	KindVideo
)

var videoExts = map[string]bool{
	".avi": true, ".mp4": true, ".mkv": true, ".mov": true, ".webm": true,
	".m4v": true, ".mpg": true, ".mpeg": true, ".ts": true, ".wmv": true, ".flv": true,
}

// KindOf says whether path is an image or a video by its extension.
func KindOf(path string) Kind {
	ext := strings.ToLower(filepath.Ext(path))
	switch {
	case ext == ".jpg" || ext == ".jpeg" || ext == ".png":
		return KindImage
	case videoExts[ext]:
		return KindVideo
	}
	return KindUnknown
}

// sniffImage checks that b starts like a JPEG or PNG and, where the header
// says, that its size is sane. OpenCV is never handed anything else.
func sniffImage(b []byte) error {
	switch {
	case len(b) >= 3 && bytes.Equal(b[:3], []byte{0xFF, 0xD8, 0xFF}):
		return nil
	case len(b) >= 24 && bytes.Equal(b[:8], []byte("\x89PNG\r\n\x1a\n")):
		w := uint64(b[16])<<24 | uint64(b[17])<<16 | uint64(b[18])<<8 | uint64(b[19])
		h := uint64(b[20])<<24 | uint64(b[21])<<16 | uint64(b[22])<<8 | uint64(b[23])
		if w == 0 || h == 0 || w*h > MaxImagePixels {
			return fmt.Errorf("%w: PNG header says %dx%d", ErrNotImage, w, h)
		}
		return nil
	}
	return ErrNotImage
}

// ReadImage decodes a JPEG or PNG file into dst (which the caller owns) as
// 8-bit BGR, after checking the file so OpenCV sees only what it can decode.
func ReadImage(path string, dst *gocv.Mat) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s: is a directory", path)
	}
	if st.Size() == 0 {
		return fmt.Errorf("%s: %w", path, ErrEmptyFile)
	}
	data, err := io.ReadAll(io.LimitReader(f, 512<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := sniffImage(data); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	m, err := gocv.IMDecode(data, gocv.IMReadColor)
	if err != nil {
		return fmt.Errorf("%s: %w: %v", path, ErrNotImage, err)
	}
	defer m.Close()
	if m.Empty() || m.Type() != gocv.MatTypeCV8UC3 {
		return fmt.Errorf("%s: %w (decoder could not read it)", path, ErrNotImage)
	}
	m.CopyTo(dst)
	return nil
}

// VideoInfo describes a video source.
type VideoInfo struct {
	Width, Height int
	FPS           float64
	Frames        int // as the container declares; 0 when unknown
	FourCC        string
}

// VideoFile reads frames from a video file through OpenCV's FFmpeg backend.
type VideoFile struct {
	path string
	cap  *gocv.VideoCapture
	info VideoInfo
	read int
}

// OpenVideo opens path after checking it exists, is a regular non-empty file
// and opens with a sane size and frame rate.
func OpenVideo(path string) (*VideoFile, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if st.Size() == 0 {
		return nil, fmt.Errorf("%s: %w", path, ErrEmptyFile)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	f.Close()
	c, err := gocv.OpenVideoCaptureWithAPI(path, gocv.VideoCaptureFFmpeg)
	if err != nil || !c.IsOpened() {
		if c != nil {
			c.Close()
		}
		return nil, fmt.Errorf("%s: %w", path, ErrNotVideo)
	}
	info := VideoInfo{
		Width:  int(c.Get(gocv.VideoCaptureFrameWidth)),
		Height: int(c.Get(gocv.VideoCaptureFrameHeight)),
		FPS:    c.Get(gocv.VideoCaptureFPS),
		Frames: int(c.Get(gocv.VideoCaptureFrameCount)),
		FourCC: c.CodecString(),
	}
	if info.Width <= 0 || info.Height <= 0 || info.Width > 16384 || info.Height > 16384 {
		c.Close()
		return nil, fmt.Errorf("%s: %w: frame size %dx%d", path, ErrNotVideo, info.Width, info.Height)
	}
	if info.FPS <= 0 || info.FPS > 1000 {
		info.FPS = 25 // some containers do not say; a sane default keeps the writer valid
	}
	if info.Frames < 0 {
		info.Frames = 0
	}
	return &VideoFile{path: path, cap: c, info: info}, nil
}

// Info returns what the container declares.
func (v *VideoFile) Info() VideoInfo { return v.info }

// Read decodes the next frame into dst. It returns io.EOF at the end, and
// ErrTruncated if the stream ends well before the declared frame count.
func (v *VideoFile) Read(dst *gocv.Mat) error {
	if v.cap.Read(dst) && !dst.Empty() {
		if dst.Cols() != v.info.Width || dst.Rows() != v.info.Height || dst.Type() != gocv.MatTypeCV8UC3 {
			return fmt.Errorf("%s: frame %d is %dx%d, want %dx%d: %w", v.path, v.read, dst.Cols(), dst.Rows(), v.info.Width, v.info.Height, ErrTruncated)
		}
		v.read++
		return nil
	}
	// Containers round their counts; a frame or two short is not truncation.
	if v.info.Frames > 0 && v.read < v.info.Frames-2 {
		return fmt.Errorf("%s: %w: decoded %d of %d frames", v.path, ErrTruncated, v.read, v.info.Frames)
	}
	if v.read == 0 {
		return fmt.Errorf("%s: %w: no frame could be decoded", v.path, ErrNotVideo)
	}
	return io.EOF
}

// Close releases the capture.
func (v *VideoFile) Close() error { return v.cap.Close() }

// CountFrames decodes a whole video and returns how many frames it holds and
// what its container declares (a check that output matches input).
func CountFrames(path string) (int, VideoInfo, error) {
	v, err := OpenVideo(path)
	if err != nil {
		return 0, VideoInfo{}, err
	}
	defer v.Close()
	m := gocv.NewMat()
	defer m.Close()
	n := 0
	for {
		err := v.Read(&m)
		if errors.Is(err, io.EOF) {
			return n, v.Info(), nil
		}
		if err != nil {
			return n, v.Info(), err
		}
		n++
	}
}
