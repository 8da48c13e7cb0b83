package detect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// foldONNX rewrites an ONNX model so that ONNX Runtime runs fewer passes
// over its activations, with the same outputs up to float rounding. ONNX
// Runtime fuses a Conv with the Mul and Add that follow it only when their
// constant is their second input; Paddle's exporter writes it first, and
// writes hard-swish as four element-wise ops. On PP-OCRv4's detector (330
// ops besides its constants, 223 of them element-wise) the four rewrites below take about 30 %
// of its CPU away at every input size (bench/README.md, session 20); on a
// model without these patterns (YuNet, UltraFace, darknetONNX's Yolo) the
// model is returned as it came. The rewrites:
//
//   - conv:  Conv → Mul(c) → Add(d), c and d scalars: one Conv with its
//     weights times c and its bias times c plus d.
//   - hswish: Add(x, 3) → Clip(0, 6) → Mul(x, ·) → Div(6): HardSigmoid(x;
//     1/6, 1/2) → Mul(x, ·).
//   - affine: Mul(h, c) → Add(d) read only by unpadded 1x1 Convs: those
//     Convs read h, their weights times c and their bias plus d times the
//     sum of each filter's weights (with padding the border would differ,
//     so a padded Conv keeps the Mul and Add).
//   - gate: Add(x, Mul(x, g)): Mul(x, Add(g, 1)), g being a squeeze-and-
//     excite gate, one value a channel: one pass over x instead of two.
//
// A node's output that is also the graph's is never folded away, nor is a
// tensor anything but the folded nodes read. Constants left unread are
// dropped (ONNX Runtime would warn once for each). Counts says how many of
// each were made.
func foldONNX(model []byte) ([]byte, foldCounts, error) {
	m, err := parseModel(model)
	if err != nil {
		return nil, foldCounts{}, err
	}
	for _, n := range m.nodes {
		if n.subgraph() {
			// A subgraph (If, Loop, Scan, contrib ops) may read any tensor
			// of the graph: readers cannot tell what is unread. Such a
			// model is loaded as it is.
			return model, foldCounts{}, nil
		}
	}
	var f folder
	f.init(m)
	f.foldConv()
	f.foldHSwish()
	f.foldAffine()
	f.foldGate()
	if f.counts == (foldCounts{}) {
		return model, f.counts, nil
	}
	return m.write(f.nodes, f.consts), f.counts, nil
}

// foldCounts counts foldONNX's rewrites by kind.
type foldCounts struct{ Conv, HSwish, Affine, Gate int }

func (c foldCounts) String() string {
	return fmt.Sprintf("conv %d, hswish %d, affine %d, gate %d", c.Conv, c.HSwish, c.Affine, c.Gate)
}

// ONNX field numbers (onnx.proto) of the messages foldONNX reads.
const (
	modelGraph = 7

	graphNode        = 1
	graphInitializer = 5
	graphInput       = 11
	graphOutput      = 12
	graphValueInfo   = 13

	nodeInput     = 1
	nodeOutput    = 2
	nodeOpType    = 4
	nodeAttribute = 5
	nodeDomain    = 7

	attrName    = 1
	attrI       = 3
	attrS       = 4
	attrT       = 5
	attrG       = 6
	attrGraphs  = 11
	attrGraph   = 5  // AttributeProto.GRAPH
	attrGraphsT = 10 // AttributeProto.GRAPHS
	attrIntsF   = 8
	attrTyp     = 20

	tensorDims     = 1
	tensorDataType = 2
	tensorFloat    = 4
	tensorName     = 8
	tensorRaw      = 9
	tensorFloat32  = 1 // TensorProto.FLOAT

	valueName = 1
)

// pbField is one field of a protobuf message, as read.
type pbField struct {
	num, wire int
	v         uint64 // varint and fixed values
	b         []byte // length-delimited values
}

var errPB = errors.New("onnx: malformed protobuf")

// parsePB splits a message into its fields (groups, wire types 3 and 4, are
// refused: ONNX has none).
func parsePB(b []byte) ([]pbField, error) {
	var fs []pbField
	for len(b) > 0 {
		k, n := binary.Uvarint(b)
		if n <= 0 || k>>3 == 0 || k>>3 > math.MaxInt32 {
			return nil, errPB
		}
		b = b[n:]
		f := pbField{num: int(k >> 3), wire: int(k & 7)}
		switch f.wire {
		case 0:
			if f.v, n = binary.Uvarint(b); n <= 0 {
				return nil, errPB
			}
			b = b[n:]
		case 1:
			if len(b) < 8 {
				return nil, errPB
			}
			f.v, b = binary.LittleEndian.Uint64(b), b[8:]
		case 5:
			if len(b) < 4 {
				return nil, errPB
			}
			f.v, b = uint64(binary.LittleEndian.Uint32(b)), b[4:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return nil, errPB
			}
			f.b, b = b[n:n+int(l)], b[n+int(l):]
		default:
			return nil, errPB
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// put writes f back as it was read.
func (b *pbuf) put(f pbField) {
	b.tag(f.num, f.wire)
	switch f.wire {
	case 0:
		b.varint(f.v)
	case 1:
		*b = binary.LittleEndian.AppendUint64(*b, f.v)
	case 5:
		*b = binary.LittleEndian.AppendUint32(*b, uint32(f.v))
	case 2:
		b.varint(uint64(len(f.b)))
		*b = append(*b, f.b...)
	}
}

// onnxModel is a model split into what foldONNX changes (the graph's nodes
// and initializers) and what it writes back as it was.
type onnxModel struct {
	model, graph []pbField // without the graph, and without nodes and initializers
	nodes        []*onnxNode
	inits        []*onnxConst
	outputs      map[string]bool // the graph's outputs
	inputs       map[string]bool // the graph's inputs (an initializer may be one: kept)
}

// onnxNode is a NodeProto: its inputs, outputs and type, the rest kept as
// read (name, attributes, doc string) except the attributes it adds.
type onnxNode struct {
	in, out []string
	op      string
	domain  string
	rest    []pbField
	attrs   []pbField // read, by name in attr
	added   []pbuf    // attributes made by a rewrite
	value   *onnxConst
}

// onnxConst is a float32 tensor: an initializer, or a Constant node's value.
type onnxConst struct {
	name string
	dims []int64
	v    []float32
	raw  []byte // an initializer's TensorProto, as read
	made bool   // made by a rewrite: written as a new initializer
}

func parseModel(b []byte) (*onnxModel, error) {
	fs, err := parsePB(b)
	if err != nil {
		return nil, err
	}
	m := &onnxModel{outputs: map[string]bool{}, inputs: map[string]bool{}}
	var graph []byte
	for _, f := range fs {
		if f.num == modelGraph && f.wire == 2 {
			if graph != nil {
				return nil, errors.New("onnx: two graphs")
			}
			graph = f.b
			continue
		}
		m.model = append(m.model, f)
	}
	if graph == nil {
		return nil, errors.New("onnx: no graph")
	}
	gs, err := parsePB(graph)
	if err != nil {
		return nil, err
	}
	for _, f := range gs {
		switch {
		case f.num == graphNode && f.wire == 2:
			n, err := parseNode(f.b)
			if err != nil {
				return nil, err
			}
			m.nodes = append(m.nodes, n)
			continue
		case f.num == graphInitializer && f.wire == 2:
			// Only float tensors are read; any other initializer is kept as
			// it was, unread (a rewrite never touches it).
			if c, err := parseTensor(f.b); err == nil {
				c.raw = f.b
				m.inits = append(m.inits, c)
				continue
			}
		case f.num == graphOutput && f.wire == 2:
			if name, err := pbString(f.b, valueName); err == nil {
				m.outputs[name] = true
			}
		case f.num == graphInput && f.wire == 2:
			if name, err := pbString(f.b, valueName); err == nil {
				m.inputs[name] = true
			}
		}
		m.graph = append(m.graph, f)
	}
	return m, nil
}

func parseNode(b []byte) (*onnxNode, error) {
	fs, err := parsePB(b)
	if err != nil {
		return nil, err
	}
	n := &onnxNode{}
	for _, f := range fs {
		switch {
		case f.num == nodeInput && f.wire == 2:
			n.in = append(n.in, string(f.b))
		case f.num == nodeOutput && f.wire == 2:
			n.out = append(n.out, string(f.b))
		case f.num == nodeOpType && f.wire == 2:
			n.op = string(f.b)
		case f.num == nodeDomain && f.wire == 2:
			n.domain = string(f.b)
		case f.num == nodeAttribute && f.wire == 2:
			n.attrs = append(n.attrs, f)
		default:
			n.rest = append(n.rest, f)
		}
	}
	if n.op == "Constant" && n.domain == "" && len(n.out) == 1 {
		if t, ok := n.attr("value"); ok {
			if v, err := pbBytes(t, attrT); err == nil {
				if c, err := parseTensor(v); err == nil {
					c.name = n.out[0]
					n.value = c
				}
			}
		}
	}
	return n, nil
}

// attr is the named attribute's AttributeProto.
func (n *onnxNode) attr(name string) ([]byte, bool) {
	for _, f := range n.attrs {
		if s, err := pbString(f.b, attrName); err == nil && s == name {
			return f.b, true
		}
	}
	return nil, false
}

// attrFields is the named attribute's fields, nil if there is none.
func (n *onnxNode) attrFields(name string) []pbField {
	a, ok := n.attr(name)
	if !ok {
		return nil
	}
	fs, _ := parsePB(a)
	return fs
}

// ints is an INTS attribute's values, nil if there is none.
func (n *onnxNode) ints(name string) []int64 {
	var v []int64
	for _, f := range n.attrFields(name) {
		if f.num == attrIntsF {
			x, ok := varints(f)
			if !ok {
				return nil
			}
			v = append(v, x...)
		}
	}
	return v
}

// varints is a repeated integer field's values: one, or packed.
func varints(f pbField) ([]int64, bool) {
	switch f.wire {
	case 0:
		return []int64{int64(f.v)}, true
	case 2:
		var v []int64
		for b := f.b; len(b) > 0; {
			x, n := binary.Uvarint(b)
			if n <= 0 {
				return nil, false
			}
			v, b = append(v, int64(x)), b[n:]
		}
		return v, true
	}
	return nil, false
}

// int is an INT attribute's value, def if there is none.
func (n *onnxNode) int(name string, def int64) int64 {
	for _, f := range n.attrFields(name) {
		if f.num == attrI && f.wire == 0 {
			return int64(f.v)
		}
	}
	return def
}

// subgraph says whether one of n's attributes holds a graph (AttributeProto
// g or graphs, or of type GRAPH or GRAPHS).
func (n *onnxNode) subgraph() bool {
	for _, a := range n.attrs {
		fs, err := parsePB(a.b)
		if err != nil {
			return true // unreadable: assume the worst
		}
		for _, f := range fs {
			if f.num == attrG || f.num == attrGraphs || (f.num == attrTyp && f.wire == 0 && (f.v == attrGraph || f.v == attrGraphsT)) {
				return true
			}
		}
	}
	return false
}

func pbString(b []byte, num int) (string, error) {
	v, err := pbBytes(b, num)
	return string(v), err
}

func pbBytes(b []byte, num int) ([]byte, error) {
	fs, err := parsePB(b)
	if err != nil {
		return nil, err
	}
	for _, f := range fs {
		if f.num == num && f.wire == 2 {
			return f.b, nil
		}
	}
	return nil, fmt.Errorf("onnx: no field %d", num)
}

// parseTensor reads a float32 TensorProto held in the message itself.
func parseTensor(b []byte) (*onnxConst, error) {
	fs, err := parsePB(b)
	if err != nil {
		return nil, err
	}
	c := &onnxConst{}
	typ := uint64(0)
	var raw []byte
	for _, f := range fs {
		switch {
		case f.num == tensorDims:
			d, ok := varints(f)
			if !ok {
				return nil, errPB
			}
			c.dims = append(c.dims, d...)
		case f.num == tensorDataType && f.wire == 0:
			typ = f.v
		case f.num == tensorFloat && f.wire == 5:
			c.v = append(c.v, math.Float32frombits(uint32(f.v)))
		case f.num == tensorFloat && f.wire == 2:
			if len(f.b)%4 != 0 {
				return nil, errPB
			}
			for i := 0; i < len(f.b); i += 4 {
				c.v = append(c.v, math.Float32frombits(binary.LittleEndian.Uint32(f.b[i:])))
			}
		case f.num == tensorName && f.wire == 2:
			c.name = string(f.b)
		case f.num == tensorRaw && f.wire == 2:
			raw = f.b
		case f.num == 13 || f.num == 14: // external data: not read
			return nil, errors.New("onnx: tensor data held outside the model")
		}
	}
	if typ != tensorFloat32 {
		return nil, fmt.Errorf("onnx: tensor %q is of type %d, not float", c.name, typ)
	}
	if raw != nil {
		if len(raw)%4 != 0 || c.v != nil {
			return nil, errPB
		}
		c.v = make([]float32, len(raw)/4)
		for i := range c.v {
			c.v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	}
	n := int64(1)
	for _, d := range c.dims {
		if d < 0 || d > math.MaxInt32 {
			return nil, errPB
		}
		n *= d
		if n > math.MaxInt32 {
			return nil, errPB
		}
	}
	if int64(len(c.v)) != n {
		return nil, fmt.Errorf("onnx: tensor %q holds %d values, not %d", c.name, len(c.v), n)
	}
	return c, nil
}

// write is the model with nodes for its graph's nodes, and of consts those
// read by a node or the graph's output as initializers (Constant nodes
// among nodes are kept only if read, too).
func (m *onnxModel) write(nodes []*onnxNode, consts map[string]*onnxConst) []byte {
	read := map[string]bool{}
	for _, n := range nodes {
		for _, in := range n.in {
			read[in] = true
		}
	}
	for o := range m.outputs {
		read[o] = true
	}
	for in := range m.inputs {
		read[in] = true
	}
	var g pbuf
	for _, n := range nodes {
		if n.value != nil && !read[n.out[0]] {
			continue
		}
		var b pbuf
		for _, in := range n.in {
			b.str(nodeInput, in)
		}
		for _, out := range n.out {
			b.str(nodeOutput, out)
		}
		for _, f := range n.rest {
			b.put(f)
		}
		b.str(nodeOpType, n.op)
		if n.domain != "" {
			b.str(nodeDomain, n.domain)
		}
		for _, f := range n.attrs {
			b.put(f)
		}
		for _, a := range n.added {
			b.bytes(nodeAttribute, a)
		}
		g.bytes(graphNode, b)
	}
	for _, c := range m.inits {
		if read[c.name] && consts[c.name] == c {
			g.bytes(graphInitializer, c.raw)
		}
	}
	names := make([]string, 0, len(consts))
	for name, c := range consts {
		if c.made && read[name] {
			names = append(names, name)
		}
	}
	slices.Sort(names) // the same model every time
	for _, name := range names {
		c := consts[name]
		g.bytes(graphInitializer, floatTensor(c.name, c.dims, c.v))
	}
	for _, f := range m.graph {
		if f.num == graphValueInfo && f.wire == 2 {
			if name, err := pbString(f.b, valueName); err == nil && !read[name] {
				continue // describes a tensor folded away
			}
		}
		g.put(f)
	}
	var out pbuf
	for _, f := range m.model {
		out.put(f)
	}
	out.bytes(modelGraph, g)
	return out
}

// folder holds a graph being rewritten.
type folder struct {
	m      *onnxModel
	nodes  []*onnxNode
	consts map[string]*onnxConst
	names  map[string]bool // every tensor name in the graph: new ones avoid them
	counts foldCounts
}

func (f *folder) init(m *onnxModel) {
	f.m, f.nodes, f.consts, f.names = m, m.nodes, map[string]*onnxConst{}, map[string]bool{}
	for _, c := range m.inits {
		f.consts[c.name] = c
	}
	for _, n := range m.nodes {
		if n.value != nil {
			f.consts[n.value.name] = n.value
		}
		for _, v := range slices.Concat(n.in, n.out) {
			f.names[v] = true
		}
	}
	for _, set := range []map[string]bool{m.inputs, m.outputs} {
		for v := range set {
			f.names[v] = true
		}
	}
	for _, fl := range m.graph { // initializers of other types, kept as read
		if fl.num == graphInitializer && fl.wire == 2 {
			if name, err := pbString(fl.b, tensorName); err == nil {
				f.names[name] = true
			}
		}
	}
}

// newName is a name not yet in the graph, made from base.
func (f *folder) newName(base string) string {
	name := base
	for i := 1; f.names[name] || f.consts[name] != nil; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	f.names[name] = true
	return name
}

// readers are the nodes reading name (a graph output counts as one more).
func (f *folder) readers(name string) (ns []*onnxNode, output bool) {
	for _, n := range f.nodes {
		if slices.Contains(n.in, name) {
			ns = append(ns, n)
		}
	}
	return ns, f.m.outputs[name]
}

// only is the one node reading name, if exactly one does and it is not a
// graph output either.
func (f *folder) only(name string) *onnxNode {
	ns, out := f.readers(name)
	if len(ns) != 1 || out {
		return nil
	}
	return ns[0]
}

// scalar says whether n is op (in the default domain) with one input a
// one-value constant, and returns it and the other input.
func (f *folder) scalar(n *onnxNode, op string) (c float32, other string, ok bool) {
	if n == nil || n.op != op || n.domain != "" || len(n.in) != 2 || len(n.out) != 1 {
		return 0, "", false
	}
	for i, in := range n.in {
		// One value, of rank 0 or 1: broadcasting it changes no shape.
		if k := f.consts[in]; k != nil && len(k.v) == 1 && len(k.dims) <= 1 {
			if _, isConst := f.consts[n.in[1-i]]; isConst {
				return 0, "", false
			}
			return k.v[0], n.in[1-i], true
		}
	}
	return 0, "", false
}

// conv returns n's weights and bias (zeros if it has none) if n is a Conv
// whose weights are a constant [out, in/group, kh, kw].
func (f *folder) conv(n *onnxNode) (w, b *onnxConst, ok bool) {
	if n == nil || n.op != "Conv" || n.domain != "" || len(n.in) < 2 || len(n.in) > 3 || len(n.out) != 1 {
		return nil, nil, false
	}
	w = f.consts[n.in[1]]
	if w == nil || len(w.dims) != 4 || slices.ContainsFunc(w.dims, func(d int64) bool { return d <= 0 }) {
		return nil, nil, false // no empty dimension: w.dims[0] is at most len(w.v)
	}
	if len(n.in) == 3 {
		b = f.consts[n.in[2]]
		if b == nil || len(b.v) != int(w.dims[0]) {
			return nil, nil, false
		}
	} else {
		b = &onnxConst{dims: []int64{w.dims[0]}, v: make([]float32, w.dims[0])}
	}
	return w, b, true
}

// newConst adds a constant named after base.
func (f *folder) newConst(base string, dims []int64, v []float32) string {
	name := f.newName(base)
	f.consts[name] = &onnxConst{name: name, dims: dims, v: v, made: true}
	return name
}

// drop removes the nodes in dead.
func (f *folder) drop(dead map[*onnxNode]bool) {
	f.nodes = slices.DeleteFunc(f.nodes, func(n *onnxNode) bool { return dead[n] })
}

// setConv gives conv n the weights w and bias b (new constants).
func (f *folder) setConv(n *onnxNode, input string, w, b []float32, wdims []int64) {
	wn := f.newConst(n.out[0]+"_w", wdims, w)
	bn := f.newConst(n.out[0]+"_b", []int64{wdims[0]}, b)
	n.in = []string{input, wn, bn}
}

// mulAdd says whether mul is Mul(h, c) read only by an Add(·, d), c and d
// one-value constants, and returns them, h and the Add.
func (f *folder) mulAdd(mul *onnxNode) (c, d float32, h string, add *onnxNode, ok bool) {
	if c, h, ok = f.scalar(mul, "Mul"); !ok {
		return 0, 0, "", nil, false
	}
	add = f.only(mul.out[0])
	if d, _, ok = f.scalar(add, "Add"); !ok {
		return 0, 0, "", nil, false
	}
	return c, d, h, add, true
}

// foldConv: Conv → Mul(c) → Add(d) into one Conv.
func (f *folder) foldConv() {
	dead := map[*onnxNode]bool{}
	for _, n := range f.nodes {
		w, b, ok := f.conv(n)
		if !ok || dead[n] {
			continue
		}
		mul := f.only(n.out[0])
		c, d, _, add, ok := f.mulAdd(mul)
		if !ok {
			continue
		}
		nw := make([]float32, len(w.v))
		for i, x := range w.v {
			nw[i] = x * c
		}
		nb := make([]float32, len(b.v))
		for i, x := range b.v {
			nb[i] = x*c + d
		}
		f.setConv(n, n.in[0], nw, nb, w.dims)
		n.out = []string{add.out[0]} // the Conv writes what the Add did
		dead[mul], dead[add] = true, true
		f.counts.Conv++
	}
	f.drop(dead)
}

// foldHSwish: x * clip(x+3, 0, 6) / 6 into x * HardSigmoid(x).
func (f *folder) foldHSwish() {
	dead := map[*onnxNode]bool{}
	for _, add := range f.nodes {
		three, x, ok := f.scalar(add, "Add")
		if !ok || three != 3 || dead[add] || !f.fromConv(x) {
			continue
		}
		clip := f.only(add.out[0])
		if clip == nil || clip.op != "Clip" || clip.domain != "" || len(clip.out) != 1 || !f.clips(clip, 0, 6) {
			continue
		}
		mul := f.only(clip.out[0])
		if mul == nil || mul.op != "Mul" || mul.domain != "" || len(mul.in) != 2 || len(mul.out) != 1 ||
			!(mul.in[0] == x && mul.in[1] == clip.out[0] || mul.in[1] == x && mul.in[0] == clip.out[0]) {
			continue
		}
		div := f.only(mul.out[0])
		if six, _, ok := f.scalar(div, "Div"); !ok || six != 6 || f.consts[div.in[1]] == nil { // x/6, not 6/x
			continue
		}
		add.op, add.in, add.attrs = "HardSigmoid", []string{x}, nil
		add.added = append(add.added, floatAttr("alpha", 1.0/6), floatAttr("beta", 0.5))
		mul.in = []string{x, add.out[0]}
		mul.out = []string{div.out[0]}
		dead[clip], dead[div] = true, true
		f.counts.HSwish++
	}
	f.drop(dead)
}

// clips says whether Clip node n bounds to [lo, hi] by constant inputs
// (opset 11 on); a Clip with min and max attributes (before) is left alone.
func (f *folder) clips(n *onnxNode, lo, hi float32) bool {
	if len(n.in) == 3 {
		a, b := f.consts[n.in[1]], f.consts[n.in[2]]
		return a != nil && b != nil && len(a.v) == 1 && len(b.v) == 1 && a.v[0] == lo && b.v[0] == hi
	}
	return false
}

// foldAffine: Mul(h, c) → Add(d) read only by unpadded 1x1 Convs, into them.
func (f *folder) foldAffine() {
	dead := map[*onnxNode]bool{}
	for _, mul := range f.nodes {
		if dead[mul] {
			continue
		}
		c, d, h, add, ok := f.mulAdd(mul)
		if !ok {
			continue
		}
		convs, out := f.readers(add.out[0])
		if out || len(convs) == 0 {
			continue
		}
		if slices.ContainsFunc(convs, func(n *onnxNode) bool { return !f.pointwise(n, add.out[0]) }) {
			continue
		}
		for _, n := range convs {
			w, b, _ := f.conv(n)
			per := len(w.v) / int(w.dims[0])
			nw := make([]float32, len(w.v))
			nb := make([]float32, len(b.v))
			for o := range nb {
				sum := float32(0)
				for i := o * per; i < (o+1)*per; i++ {
					nw[i] = w.v[i] * c
					sum += w.v[i]
				}
				nb[o] = b.v[o] + d*sum
			}
			f.setConv(n, h, nw, nb, w.dims)
		}
		dead[mul], dead[add] = true, true
		f.counts.Affine++
	}
	f.drop(dead)
}

// pointwise says whether n is a Conv reading in through a 1x1 kernel, in
// one group, with no border added: each output pixel reads one input pixel
// (whatever the stride and dilation).
func (f *folder) pointwise(n *onnxNode, in string) bool {
	w, _, ok := f.conv(n)
	return ok && n.in[0] == in && w.dims[2] == 1 && w.dims[3] == 1 && unpadded(n)
}

// unpadded says whether Conv n adds no border (pads all zeros, auto_pad
// unset) and has one group.
func unpadded(n *onnxNode) bool {
	if a, ok := n.attr("auto_pad"); ok {
		if s, err := pbBytes(a, attrS); err == nil && string(s) != "NOTSET" {
			return false
		}
	}
	for _, p := range n.ints("pads") {
		if p != 0 {
			return false
		}
	}
	return n.int("group", 1) == 1
}

// foldGate: Add(x, Mul(x, g)) into Mul(x, Add(g, 1)).
func (f *folder) foldGate() {
	for _, add := range f.nodes {
		if add.op != "Add" || add.domain != "" || len(add.in) != 2 || len(add.out) != 1 {
			continue
		}
		for i, x := range add.in {
			mul := f.producer(add.in[1-i])
			if mul == nil || mul.op != "Mul" || mul.domain != "" || len(mul.in) != 2 || f.only(mul.out[0]) != add {
				continue
			}
			var g string
			switch x {
			case mul.in[0]:
				g = mul.in[1]
			case mul.in[1]:
				g = mul.in[0]
			default:
				continue
			}
			if _, isConst := f.consts[g]; isConst || g == x || !f.fromConv(x) {
				continue
			}
			// g+1 gets a name of its own: it is not of x*g's shape.
			one := f.newConst(mul.out[0]+"_one", []int64{1}, []float32{1})
			mul.op, mul.in, mul.out = "Add", []string{g, one}, []string{f.newName(mul.out[0] + "_plus1")}
			add.op, add.in = "Mul", []string{x, mul.out[0]}
			f.counts.Gate++
			break
		}
	}
}

// fromConv says whether name is written by a Conv with constant weights: a
// float32 tensor of rank 4, which the constants a rewrite adds (float32, of
// rank 0 or 1) keep of its type and shape.
func (f *folder) fromConv(name string) bool {
	_, _, ok := f.conv(f.producer(name))
	return ok
}

// producer is the node writing name, nil if none does (an input or a
// constant).
func (f *folder) producer(name string) *onnxNode {
	for _, n := range f.nodes {
		if slices.Contains(n.out, name) {
			return n
		}
	}
	return nil
}
