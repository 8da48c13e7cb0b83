package detect

import (
	"encoding/binary"
	"math"
)

// onnxGraph builds an ONNX model (onnx.proto, IR version 8, opset 13) in
// protobuf wire format: the few messages darknetONNX needs, written by hand
// rather than through a protobuf library.
type onnxGraph struct {
	nodes, inits []pbuf
	outputs      []string
}

// pbuf is protobuf wire format.
type pbuf []byte

func (b *pbuf) varint(v uint64)     { *b = binary.AppendUvarint(*b, v) }
func (b *pbuf) tag(field, wire int) { b.varint(uint64(field)<<3 | uint64(wire)) }
func (b *pbuf) int(field int, v int64) {
	b.tag(field, 0)
	b.varint(uint64(v))
}
func (b *pbuf) bytes(field int, v []byte) {
	b.tag(field, 2)
	b.varint(uint64(len(v)))
	*b = append(*b, v...)
}
func (b *pbuf) str(field int, s string) { b.bytes(field, []byte(s)) }

// AttributeProto types.
const (
	attrFloat  = 1
	attrInt    = 2
	attrString = 3
	attrInts   = 7
)

// attr is an AttributeProto named name, of type typ, whose value set writes.
func attr(name string, typ int64, set func(a *pbuf)) pbuf {
	var a pbuf
	a.str(1, name)
	set(&a)
	a.int(20, typ)
	return a
}

func intsAttr(name string, v ...int) pbuf {
	return attr(name, attrInts, func(a *pbuf) {
		for _, x := range v {
			a.int(8, int64(x))
		}
	})
}

func intAttr(name string, v int) pbuf {
	return attr(name, attrInt, func(a *pbuf) { a.int(3, int64(v)) })
}

func floatAttr(name string, v float32) pbuf {
	return attr(name, attrFloat, func(a *pbuf) {
		a.tag(2, 5)
		*a = binary.LittleEndian.AppendUint32(*a, math.Float32bits(v))
	})
}

func stringAttr(name, v string) pbuf {
	return attr(name, attrString, func(a *pbuf) { a.str(4, v) })
}

func (g *onnxGraph) node(op string, ins []string, out string, attrs ...pbuf) {
	var n pbuf
	for _, in := range ins {
		n.str(1, in)
	}
	n.str(2, out)
	n.str(3, op+"_"+out)
	n.str(4, op)
	for _, a := range attrs {
		n.bytes(5, a)
	}
	g.nodes = append(g.nodes, n)
}

func (g *onnxGraph) initializer(name string, dims []int64, v []float32) {
	g.inits = append(g.inits, floatTensor(name, dims, v))
}

// floatTensor is a float32 TensorProto with its values as raw data.
func floatTensor(name string, dims []int64, v []float32) pbuf {
	var t pbuf
	for _, d := range dims {
		t.int(1, d)
	}
	t.int(2, 1) // FLOAT
	t.str(8, name)
	raw := make([]byte, 0, 4*len(v))
	for _, x := range v {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(x))
	}
	t.bytes(9, raw)
	return t
}

// valueInfo is a float tensor named name; dims (a number or a name) when
// the shape is given.
func valueInfo(name string, dims ...any) pbuf {
	var shape pbuf
	for _, d := range dims {
		var dim pbuf
		switch d := d.(type) {
		case int:
			dim.int(1, int64(d))
		case string:
			dim.str(2, d)
		}
		shape.bytes(1, dim)
	}
	var tt pbuf
	tt.int(1, 1) // FLOAT
	if len(dims) > 0 {
		tt.bytes(2, shape)
	}
	var typ pbuf
	typ.bytes(1, tt)
	var vi pbuf
	vi.str(1, name)
	vi.bytes(2, typ)
	return vi
}

// model is the ModelProto: the graph with input "data" (1x3xHxW) and the
// outputs named in g.outputs.
func (g *onnxGraph) model() []byte {
	var gr pbuf
	for _, n := range g.nodes {
		gr.bytes(1, n)
	}
	gr.str(2, "darknet")
	for _, t := range g.inits {
		gr.bytes(5, t)
	}
	gr.bytes(11, valueInfo("data", 1, 3, "height", "width"))
	for _, o := range g.outputs {
		gr.bytes(12, valueInfo(o))
	}
	var opset pbuf
	opset.int(2, 13)
	var m pbuf
	m.int(1, 8) // IR version
	m.str(2, "veil")
	m.bytes(7, gr)
	m.bytes(8, opset)
	return m
}
