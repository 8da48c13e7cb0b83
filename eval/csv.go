// Package eval measures redaction against annotated images: for each
// annotated face or plate it judges, from the output pixels, whether the box
// was destroyed, and how much of the rest of the picture was destroyed too.
package eval

import (
	"encoding/csv"
	"errors"
	"fmt"
	"image"
	"io"
	"path"
	"strconv"
	"strings"
)

// Kind is what a set annotates.
type Kind string

// Set kinds.
const (
	Faces  Kind = "faces"
	Plates Kind = "plates"
)

// Box is one annotated region.
type Box struct {
	File   string
	Rect   image.Rectangle
	Label  string // faces: with_mask, ...
	Text   string // plates: the characters
	Region string // plates: us, eu, ...
}

// MaxRows bounds a ground-truth file.
const MaxRows = 1_000_000

// ErrCSV wraps every parse error.
var ErrCSV = errors.New("ground truth CSV")

// ParseCSV reads a ground-truth file with a header naming at least
// file,x,y,w,h (the formats of shared/data: faces, faces-dlib, plates). The kind
// is plates when the header has a text or region column, faces otherwise.
func ParseCSV(r io.Reader) ([]Box, Kind, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = 0
	head, err := cr.Read()
	if err != nil {
		return nil, "", fmt.Errorf("%w: header: %v", ErrCSV, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	for _, need := range []string{"file", "x", "y", "w", "h"} {
		if _, ok := col[need]; !ok {
			return nil, "", fmt.Errorf("%w: header %q lacks column %q", ErrCSV, strings.Join(head, ","), need)
		}
	}
	kind := Faces
	_, hasText := col["text"]
	_, hasRegion := col["region"]
	if hasText || hasRegion {
		kind = Plates
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var boxes []Box
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "", fmt.Errorf("%w: line %d: %v", ErrCSV, line, err)
		}
		if len(boxes) >= MaxRows {
			return nil, "", fmt.Errorf("%w: more than %d rows", ErrCSV, MaxRows)
		}
		file := get(rec, "file")
		if file == "" || path.IsAbs(file) || strings.HasPrefix(path.Clean(file), "..") || strings.Contains(file, "\\") {
			return nil, "", fmt.Errorf("%w: line %d: bad file name %q", ErrCSV, line, file)
		}
		var v [4]int
		for i, name := range []string{"x", "y", "w", "h"} {
			n, err := strconv.Atoi(get(rec, name))
			if err != nil || n < 0 || n > 1<<16 {
				return nil, "", fmt.Errorf("%w: line %d: column %s: want an integer in [0,65536], got %q", ErrCSV, line, name, get(rec, name))
			}
			v[i] = n
		}
		boxes = append(boxes, Box{
			File:   file,
			Rect:   image.Rect(v[0], v[1], v[0]+v[2], v[1]+v[3]),
			Label:  get(rec, "label"),
			Text:   get(rec, "text"),
			Region: get(rec, "region"),
		})
	}
	if len(boxes) == 0 {
		return nil, "", fmt.Errorf("%w: no rows", ErrCSV)
	}
	return boxes, kind, nil
}
