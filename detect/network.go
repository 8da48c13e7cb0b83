package detect

import (
	"fmt"
	"slices"

	"gocv.io/x/gocv"
)

// DNN is the inference engine a detector's network runs on. The same files
// give the same boxes on either (TestDNNsAgree); ONNX Runtime takes about
// half OpenCV's CPU, a third on YuNet (bench/README.md). Yolo-Fastest's
// Darknet files run on it as an ONNX model made in memory (darknetONNX).
type DNN uint8

const (
	// OpenCV runs the model with OpenCV's DNN module (cv::dnn::Net).
	OpenCV DNN = iota
	// ONNXRuntime runs it with ONNX Runtime, loaded by LoadONNXRuntime.
	ONNXRuntime
)

func (d DNN) String() string {
	switch d {
	case OpenCV:
		return "opencv"
	case ONNXRuntime:
		return "onnxruntime"
	}
	return fmt.Sprintf("dnn(%d)", uint8(d))
}

// network runs one model on one input blob at a time.
type network interface {
	// forward runs img (8-bit BGR, sized to the model's input), made into
	// the input s describes, and returns the outputs named when the network
	// was loaded, in that order. Their values are valid until the next
	// forward or close.
	forward(img gocv.Mat, s blobSpec) ([]tensor, error)
	close() error
}

// tensor is one network output: its values and its dimensions.
type tensor struct {
	v    []float32
	dims []int
}

// borrowed is a network its owner closes, lent to another tiler.
type borrowed struct{ network }

func (borrowed) close() error { return nil }

// loadNet checks path, then loads it on dnn. outs names the outputs forward
// returns; none means the model's only output.
func loadNet(kind, path string, outs []string, dnn DNN) (network, error) {
	if err := checkModelFile(path); err != nil {
		return nil, err
	}
	switch dnn {
	case OpenCV:
		net := gocv.ReadNetFromONNX(path)
		if net.Empty() {
			net.Close()
			return nil, fmt.Errorf("%s: OpenCV could not load %s", kind, path)
		}
		return newCVNet(net, outs), nil
	case ONNXRuntime:
		n, err := newORTNet(path, outs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kind, err)
		}
		return n, nil
	}
	return nil, fmt.Errorf("%s: unknown inference engine %v", kind, dnn)
}

// cvNet is a network on OpenCV's DNN module.
type cvNet struct {
	net  gocv.Net
	outs []string   // output layer names; none: Forward("")
	last []gocv.Mat // the last forward's outputs, closed at the next
	data []tensor
}

func newCVNet(net gocv.Net, outs []string) *cvNet {
	return &cvNet{net: net, outs: slices.Clone(outs)}
}

func (n *cvNet) forward(img gocv.Mat, s blobSpec) ([]tensor, error) {
	n.release()
	blob := s.cvBlob(img)
	defer blob.Close()
	n.net.SetInput(blob, "")
	if len(n.outs) == 0 {
		n.last = append(n.last, n.net.Forward(""))
	} else {
		n.last = n.net.ForwardLayers(n.outs)
	}
	if want := max(len(n.outs), 1); len(n.last) != want {
		return nil, fmt.Errorf("detect: network gave %d outputs, want %d", len(n.last), want)
	}
	n.data = n.data[:0]
	for _, m := range n.last {
		d, err := floatData(m, 0)
		if err != nil {
			return nil, err
		}
		n.data = append(n.data, tensor{d, m.Size()})
	}
	return n.data, nil
}

func (n *cvNet) release() {
	for _, m := range n.last {
		m.Close()
	}
	n.last = n.last[:0]
}

func (n *cvNet) close() error {
	n.release()
	return n.net.Close()
}
