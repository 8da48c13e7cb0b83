package eval

import (
	"image"
	"strings"
	"testing"
)

func TestParseCSV(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantKind Kind
		wantN    int
		wantErr  bool
	}{
		{"faces", "file,x,y,w,h,label,img_w,img_h,clipped\na.jpg,1,2,3,4,with_mask,10,10,0\n", Faces, 1, false},
		{"dlib", "file,x,y,w,h\na.jpg,1,2,3,4\nb.jpg,5,6,7,8\n", Faces, 2, false},
		{"plates", "file,x,y,w,h,text,region\na.jpg,1,2,30,10,AB123,us\n", Plates, 1, false},
		{"missing column", "file,x,y,w\na.jpg,1,2,3\n", "", 0, true},
		{"not a number", "file,x,y,w,h\na.jpg,1,2,three,4\n", "", 0, true},
		{"negative", "file,x,y,w,h\na.jpg,-1,2,3,4\n", "", 0, true},
		{"path escape", "file,x,y,w,h\n../etc/passwd,1,2,3,4\n", "", 0, true},
		{"absolute", "file,x,y,w,h\n/etc/passwd,1,2,3,4\n", "", 0, true},
		{"no rows", "file,x,y,w,h\n", "", 0, true},
		{"empty", "", "", 0, true},
		{"ragged", "file,x,y,w,h\na.jpg,1,2,3,4,5\n", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			boxes, kind, err := ParseCSV(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if kind != tt.wantKind || len(boxes) != tt.wantN {
				t.Errorf("got kind %q, %d boxes; want %q, %d", kind, len(boxes), tt.wantKind, tt.wantN)
			}
			if boxes[0].Rect != image.Rect(1, 2, 1+mustAtoi(strings.Split(strings.Split(tt.in, "\n")[1], ",")[3]), 2+mustAtoi(strings.Split(strings.Split(tt.in, "\n")[1], ",")[4])) {
				t.Errorf("first box %v does not match its row", boxes[0].Rect)
			}
		})
	}
}

func mustAtoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func FuzzParseCSV(f *testing.F) {
	f.Add("file,x,y,w,h\na.jpg,1,2,3,4\n")
	f.Add("file,x,y,w,h,text,region\na.jpg,1,2,30,10,AB123,us\n")
	f.Add("file,x,y,w,h,label,img_w,img_h,clipped\na.jpg,1,2,3,4,with_mask,10,10,0\n")
	f.Add("\"file\",x\n\"a,b\",1")
	f.Fuzz(func(t *testing.T, s string) {
		boxes, kind, err := ParseCSV(strings.NewReader(s))
		if err != nil {
			return
		}
		if kind != Faces && kind != Plates {
			t.Fatalf("kind %q", kind)
		}
		for _, b := range boxes {
			if b.File == "" || b.Rect.Min.X < 0 || b.Rect.Min.Y < 0 || b.Rect.Dx() < 0 || b.Rect.Dy() < 0 {
				t.Fatalf("bad box %+v", b)
			}
		}
	})
}

func TestDiffRules(t *testing.T) {
	w, h := 40, 20
	in := make([]byte, w*h*3)
	out := make([]byte, w*h*3)
	plate := image.Rect(0, 0, 40, 20)
	// Input with detail everywhere (character-like edges). The output is
	// flattened everywhere but a 3-px column in the middle of the plate: a
	// readable character survives between two text boxes.
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := (y*w + x) * 3
			v := byte((x*37 + y*11) % 256)
			in[i], in[i+1], in[i+2] = v, v, v
			if x >= 19 && x < 22 {
				out[i], out[i+1], out[i+2] = v, v, v
				continue
			}
			out[i], out[i+1], out[i+2] = 100, 100, 100
		}
	}
	d := NewDiff(in, out, w, h)
	if c := d.Cover(plate); c < 0.88 {
		t.Fatalf("cover %v, want >= 0.88", c)
	}
	if d.Destroyed(Plates, plate) {
		t.Error("a plate with an intact column must not count as destroyed")
	}
	if !d.Destroyed(Faces, plate) {
		t.Error("a face 92% destroyed counts as destroyed")
	}
	// Flatten the last column too: now every column is destroyed.
	for y := 0; y < h; y++ {
		for x := 19; x < 22; x++ {
			i := (y*w + x) * 3
			out[i], out[i+1], out[i+2] = 100, 100, 100
		}
	}
	d = NewDiff(in, out, w, h)
	if !d.Destroyed(Plates, plate) {
		t.Error("a fully flattened plate counts as destroyed")
	}
	// Identity: nothing destroyed.
	d = NewDiff(in, in, w, h)
	if d.Destroyed(Plates, plate) || d.Destroyed(Faces, plate) || d.DetailKept(plate) != 1 {
		t.Error("an untouched box must not count as destroyed")
	}
	if n, tot := d.Outside([]image.Rectangle{image.Rect(0, 0, 20, 20)}); tot != 400 || n != 0 {
		t.Errorf("Outside = %d/%d, want 0/400", n, tot)
	}
}

// TestFlatPixelsCountAsDestroyed: pixelation leaves a pixel that equals its
// cell's mean unchanged; it still counts as destroyed, because the cell is
// flat where the input had detail. A flat input left flat does not count.
func TestFlatPixelsCountAsDestroyed(t *testing.T) {
	w, h := 8, 8
	in := make([]byte, w*h*3)
	for i := range in {
		in[i] = byte(i * 7 % 251)
	}
	out := append([]byte(nil), in...)
	// Flatten the whole image to the value of pixel (0,0): (0,0) itself is
	// unchanged, every other pixel changed.
	for i := 0; i < w*h; i++ {
		copy(out[i*3:i*3+3], in[0:3])
	}
	d := NewDiff(in, out, w, h)
	if d.Cover(image.Rect(0, 0, 1, 1)) != 1 {
		t.Error("an unchanged pixel inside a flattened cell must count as destroyed")
	}
	flatIn := make([]byte, w*h*3)
	d = NewDiff(flatIn, flatIn, w, h)
	if d.Cover(image.Rect(0, 0, w, h)) != 0 {
		t.Error("a flat input left flat must not count as destroyed")
	}
}
