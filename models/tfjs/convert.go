package tfjs

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/ser-rl/ser/onnx/onnxpb"
)

// Options name the converted graph's output.
type Options struct {
	Output     string       // the TF node whose first output is the model's output
	OutputName string       // its name in the ONNX graph
	OutputDims []onnxpb.Dim // its shape, for the graph's signature
	Producer   string
	Metadata   [][2]string
}

// converter holds the state of one conversion.
type converter struct {
	g      *GraphModel
	byName map[string]*NodeDef
	b      *onnxpb.Builder
	dtype  map[string]int // TF dtype of each converted tensor (after widening, int32 reads as int64)
	rank   map[string]int // rank of a tensor where it is known
	done   map[string]bool
}

// ToONNX converts the subgraph that computes opts.Output.
func (g *GraphModel) ToONNX(opts Options) (*onnxpb.Model, error) {
	c := &converter{
		g:      g,
		byName: map[string]*NodeDef{},
		b:      onnxpb.NewBuilder("tfjs", "cv/"),
		dtype:  map[string]int{},
		rank:   map[string]int{},
		done:   map[string]bool{},
	}
	for i := range g.Nodes {
		c.byName[g.Nodes[i].Name] = &g.Nodes[i]
	}
	if _, ok := c.byName[opts.Output]; !ok {
		return nil, fmt.Errorf("tfjs: output node %q is not in the graph", opts.Output)
	}
	order, err := c.topo(opts.Output)
	if err != nil {
		return nil, err
	}
	for _, n := range order {
		if err := c.node(n); err != nil {
			return nil, fmt.Errorf("tfjs: node %q (%s): %w", n.Name, n.Op, err)
		}
	}
	c.b.OpTo("Identity", []string{opts.Output}, []string{opts.OutputName})
	c.pruneInitializers()
	c.b.Graph.Outputs = []onnxpb.ValueInfo{{Name: opts.OutputName, Type: onnxpb.Float, Shape: opts.OutputDims}}
	return &onnxpb.Model{Producer: opts.Producer, Metadata: opts.Metadata, Graph: c.b.Graph}, nil
}

// topo returns the nodes that out depends on, each after its inputs.
func (c *converter) topo(out string) ([]*NodeDef, error) {
	var order []*NodeDef
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("tfjs: cycle through node %q", name)
		case 2:
			return nil
		}
		n, ok := c.byName[name]
		if !ok {
			return fmt.Errorf("tfjs: input %q names no node", name)
		}
		state[name] = 1
		for _, in := range n.Input {
			if strings.HasPrefix(in, "^") {
				continue // control dependency: no data flows
			}
			if err := visit(nodeOf(in)); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, n)
		return nil
	}
	return order, visit(out)
}

// nodeOf strips the output index from a tensor reference ("node:1" -> "node").
func nodeOf(ref string) string {
	if i := strings.LastIndexByte(ref, ':'); i > 0 {
		if _, err := strconv.Atoi(ref[i+1:]); err == nil {
			return ref[:i]
		}
	}
	return ref
}

// outName is the ONNX name of a node's i-th output, as TF refers to it.
func outName(node string, i int) string {
	if i == 0 {
		return node
	}
	return node + ":" + strconv.Itoa(i)
}

func (c *converter) inputs(n *NodeDef) []string {
	var ins []string
	for _, in := range n.Input {
		if !strings.HasPrefix(in, "^") {
			ins = append(ins, strings.TrimSuffix(in, ":0"))
		}
	}
	return ins
}

// constInts returns the value of a constant integer input, or an error if it is not constant.
func (c *converter) constInts(ref string) ([]int64, error) {
	w, ok := c.g.Weights[nodeOf(ref)]
	if !ok || w.I32 == nil {
		if n := c.byName[nodeOf(ref)]; n != nil && n.Op == "Const" {
			return nil, fmt.Errorf("constant %q is not an int32 weight", ref)
		}
		return nil, fmt.Errorf("input %q must be a constant", ref)
	}
	out := make([]int64, len(w.I32))
	for i, v := range w.I32 {
		out[i] = int64(v)
	}
	return out, nil
}

func (c *converter) constInt(ref string) (int64, error) {
	v, err := c.constInts(ref)
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("input %q must hold one integer, holds %d", ref, len(v))
	}
	return v[0], nil
}

// onnxType maps a TF dtype to the ONNX element type it becomes (int32 widens to int64).
func onnxType(dt int) (onnxpb.DataType, error) {
	switch dt {
	case dtFloat:
		return onnxpb.Float, nil
	case dtInt32, dtInt64:
		return onnxpb.Int64, nil
	case dtBool:
		return onnxpb.Bool, nil
	}
	return 0, fmt.Errorf("unsupported dtype %d", dt)
}

func (c *converter) set(name string, dt, rank int) {
	c.dtype[name] = dt
	c.rank[name] = rank
}

// maxRank is the rank of an elementwise op's broadcast result, or -1 when unknown.
func (c *converter) maxRank(ins ...string) int {
	r := 0
	for _, in := range ins {
		ri, ok := c.rank[in]
		if !ok || ri < 0 {
			return -1
		}
		if ri > r {
			r = ri
		}
	}
	return r
}

var unaryOps = map[string]string{
	"Relu": "Relu", "Tanh": "Tanh", "Sin": "Sin", "Cos": "Cos", "Sqrt": "Sqrt",
	"Exp": "Exp", "Log": "Log", "Neg": "Neg", "Abs": "Abs", "Sigmoid": "Sigmoid",
	"LogicalNot": "Not", "Identity": "Identity", "Floor": "Floor",
}

var binaryOps = map[string]string{
	"Add": "Add", "AddV2": "Add", "Sub": "Sub", "Mul": "Mul", "RealDiv": "Div",
	"Maximum": "Max", "Minimum": "Min", "Less": "Less", "Greater": "Greater",
	"Equal": "Equal", "LogicalAnd": "And", "LogicalOr": "Or", "Pow": "Pow",
	"BiasAdd": "Add",
}

var reduceOps = map[string]string{"Sum": "ReduceSum", "Mean": "ReduceMean", "Max": "ReduceMax", "Min": "ReduceMin", "Prod": "ReduceProd"}

// node converts one TF node.
func (c *converter) node(n *NodeDef) error {
	b := c.b
	ins := c.inputs(n)
	out := n.Name
	switch {
	case n.Op == "Const":
		w, ok := c.g.Weights[n.Name]
		if !ok {
			return fmt.Errorf("constant has no weight in the manifest")
		}
		switch {
		case w.F32 != nil:
			b.Init(onnxpb.FloatTensor(out, w.Shape, w.F32))
			c.set(out, dtFloat, len(w.Shape))
		default:
			v := make([]int64, len(w.I32))
			for i, x := range w.I32 {
				v[i] = int64(x)
			}
			b.Init(onnxpb.Int64Tensor(out, w.Shape, v))
			c.set(out, dtInt64, len(w.Shape))
		}
		return nil

	case n.Op == "Placeholder":
		dt := n.attrType("dtype")
		t, err := onnxType(dt)
		if err != nil {
			return err
		}
		shape := n.placeholderShape()
		dims := make([]onnxpb.Dim, len(shape))
		for i, d := range shape {
			if d < 0 {
				dims[i] = onnxpb.Dim{Param: fmt.Sprintf("%s_dim%d", n.Name, i)}
			} else {
				dims[i] = onnxpb.Dim{Size: d}
			}
		}
		b.Graph.Inputs = append(b.Graph.Inputs, onnxpb.ValueInfo{Name: out, Type: t, Shape: dims})
		c.set(out, dt, len(shape))
		return nil

	case unaryOps[n.Op] != "":
		b.OpTo(unaryOps[n.Op], ins[:1], []string{out})
		c.set(out, c.dtype[ins[0]], c.maxRank(ins[0]))
		return nil

	case binaryOps[n.Op] != "":
		if n.Op == "BiasAdd" {
			if f := n.attrString("data_format"); f != "" && f != "NHWC" {
				return fmt.Errorf("BiasAdd data_format %q: only NHWC is supported", f)
			}
		}
		b.OpTo(binaryOps[n.Op], ins[:2], []string{out})
		rdt := c.dtype[ins[0]]
		switch n.Op {
		case "Less", "Greater", "Equal", "LogicalAnd", "LogicalOr":
			rdt = dtBool
		}
		c.set(out, rdt, c.maxRank(ins[0], ins[1]))
		return nil

	case reduceOps[n.Op] != "":
		axes, err := c.constInts(ins[1])
		if err != nil {
			return err
		}
		keep := n.attrBool("keep_dims")
		k := int64(0)
		if keep {
			k = 1
		}
		b.OpTo(reduceOps[n.Op], []string{ins[0], b.Ints64(axes...)}, []string{out}, onnxpb.Int("keepdims", k))
		r := c.maxRank(ins[0])
		if r >= 0 && !keep {
			r -= len(axes)
		}
		c.set(out, c.dtype[ins[0]], r)
		return nil
	}

	switch n.Op {
	case "Square":
		b.OpTo("Mul", []string{ins[0], ins[0]}, []string{out})
		c.set(out, c.dtype[ins[0]], c.maxRank(ins[0]))
	case "Rsqrt":
		b.OpTo("Reciprocal", []string{b.Op("Sqrt", ins[:1])}, []string{out})
		c.set(out, c.dtype[ins[0]], c.maxRank(ins[0]))
	case "Softmax":
		b.OpTo("Softmax", ins[:1], []string{out}, onnxpb.Int("axis", -1))
		c.set(out, c.dtype[ins[0]], c.maxRank(ins[0]))
	case "Cast":
		to := n.attrType("DstT")
		t, err := onnxType(to)
		if err != nil {
			return err
		}
		b.OpTo("Cast", ins[:1], []string{out}, onnxpb.Int("to", int64(t)))
		c.set(out, to, c.maxRank(ins[0]))
	case "Shape":
		b.OpTo("Shape", ins[:1], []string{out})
		c.set(out, dtInt64, 1)
	case "Where":
		if len(ins) != 1 {
			return fmt.Errorf("only the one-input form of Where is supported")
		}
		nz := b.Op("NonZero", ins[:1])
		b.OpTo("Transpose", []string{nz}, []string{out}, onnxpb.Ints("perm", 1, 0))
		c.set(out, dtInt64, 2)
	case "Reshape":
		b.OpTo("Reshape", ins[:2], []string{out}, onnxpb.Int("allowzero", 1))
		c.set(out, c.dtype[ins[0]], -1)
	case "Transpose":
		perm, err := c.constInts(ins[1])
		if err != nil {
			return err
		}
		b.OpTo("Transpose", ins[:1], []string{out}, onnxpb.Ints("perm", perm...))
		c.set(out, c.dtype[ins[0]], len(perm))
	case "ExpandDims":
		axis, err := c.constInt(ins[1])
		if err != nil {
			return err
		}
		b.OpTo("Unsqueeze", []string{ins[0], b.Ints64(axis)}, []string{out})
		r := c.maxRank(ins[0])
		if r >= 0 {
			r++
		}
		c.set(out, c.dtype[ins[0]], r)
	case "Squeeze":
		axes := n.attrInts("squeeze_dims")
		in := []string{ins[0]}
		if len(axes) > 0 {
			in = append(in, b.Ints64(axes...))
		}
		b.OpTo("Squeeze", in, []string{out})
		r := c.maxRank(ins[0])
		if r >= 0 && len(axes) > 0 {
			r -= len(axes)
		} else {
			r = -1
		}
		c.set(out, c.dtype[ins[0]], r)
	case "ConcatV2":
		axis, err := c.constInt(ins[len(ins)-1])
		if err != nil {
			return err
		}
		parts := ins[:len(ins)-1]
		b.OpTo("Concat", parts, []string{out}, onnxpb.Int("axis", axis))
		c.set(out, c.dtype[parts[0]], c.maxRank(parts...))
	case "Pack":
		axis := n.attrInt("axis", 0)
		parts := make([]string, len(ins))
		ax := b.Ints64(axis)
		for i, in := range ins {
			parts[i] = b.Op("Unsqueeze", []string{in, ax})
		}
		b.OpTo("Concat", parts, []string{out}, onnxpb.Int("axis", axis))
		r := c.maxRank(ins...)
		if r >= 0 {
			r++
		}
		c.set(out, c.dtype[ins[0]], r)
	case "GatherV2":
		axis, err := c.constInt(ins[2])
		if err != nil {
			return err
		}
		if bd := n.attrInt("batch_dims", 0); bd != 0 {
			return fmt.Errorf("GatherV2 batch_dims %d: only 0 is supported", bd)
		}
		b.OpTo("Gather", ins[:2], []string{out}, onnxpb.Int("axis", axis))
		r := -1
		if rp, ri := c.maxRank(ins[0]), c.maxRank(ins[1]); rp >= 0 && ri >= 0 {
			r = rp - 1 + ri
		}
		c.set(out, n.attrType("Tparams"), r)
	case "GatherNd":
		b.OpTo("GatherND", ins[:2], []string{out})
		c.set(out, c.dtype[ins[0]], -1)
	case "ScatterNd":
		zero, err := c.zero(c.dtype[ins[1]])
		if err != nil {
			return err
		}
		data := b.Op("ConstantOfShape", []string{ins[2]}, onnxpb.TensorAttr("value", zero))
		b.OpTo("ScatterND", []string{data, ins[0], ins[1]}, []string{out})
		c.set(out, c.dtype[ins[1]], -1)
	case "SparseToDense":
		idx := ins[0]
		if c.rank[idx] == 1 {
			idx = b.Op("Unsqueeze", []string{idx, b.Ints64(-1)})
		}
		data := b.Op("Expand", []string{ins[3], ins[1]})
		b.OpTo("ScatterND", []string{data, idx, ins[2]}, []string{out})
		c.set(out, c.dtype[ins[2]], -1)
	case "StridedSlice":
		return c.stridedSlice(n, ins)
	case "Slice":
		begin, err := c.constInts(ins[1])
		if err != nil {
			return err
		}
		size, err := c.constInts(ins[2])
		if err != nil {
			return err
		}
		ends := make([]int64, len(begin))
		axes := make([]int64, len(begin))
		for i := range begin {
			axes[i] = int64(i)
			if size[i] < 0 {
				ends[i] = math.MaxInt64
			} else {
				ends[i] = begin[i] + size[i]
			}
		}
		b.OpTo("Slice", []string{ins[0], b.Ints64(begin...), b.Ints64(ends...), b.Ints64(axes...)}, []string{out})
		c.set(out, c.dtype[ins[0]], c.maxRank(ins[0]))
	case "SplitV":
		sizes, err := c.constInts(ins[1])
		if err != nil {
			return err
		}
		axis, err := c.constInt(ins[2])
		if err != nil {
			return err
		}
		outs := make([]string, len(sizes))
		for i := range outs {
			outs[i] = outName(out, i)
			c.set(outs[i], c.dtype[ins[0]], c.maxRank(ins[0]))
		}
		b.OpTo("Split", []string{ins[0], b.Ints64(sizes...)}, outs, onnxpb.Int("axis", axis))
	case "Range":
		b.OpTo("Range", ins[:3], []string{out})
		c.set(out, c.dtype[ins[0]], 1)
	case "MatMul", "BatchMatMul", "BatchMatMulV2":
		ta, tb := n.attrBool("transpose_a"), n.attrBool("transpose_b")
		if n.Op != "MatMul" {
			ta, tb = n.attrBool("adj_x"), n.attrBool("adj_y")
		}
		x, y := ins[0], ins[1]
		var err error
		if ta {
			if x, err = c.swapLast(x); err != nil {
				return err
			}
		}
		if tb {
			if y, err = c.swapLast(y); err != nil {
				return err
			}
		}
		b.OpTo("MatMul", []string{x, y}, []string{out})
		c.set(out, dtFloat, c.maxRank(ins[0], ins[1]))
	case "Conv2D":
		return c.conv1x1(n, ins)
	default:
		return fmt.Errorf("op %s is not supported by the converter", n.Op)
	}
	return nil
}

// pruneInitializers drops initializers no node reads (a Conv2D kernel replaced by its matrix form).
func (c *converter) pruneInitializers() {
	used := map[string]bool{}
	for _, n := range c.b.Graph.Nodes {
		for _, in := range n.Inputs {
			used[in] = true
		}
	}
	kept := c.b.Graph.Initializers[:0]
	for _, t := range c.b.Graph.Initializers {
		if used[t.Name] {
			kept = append(kept, t)
		}
	}
	c.b.Graph.Initializers = kept
}

// swapLast transposes the last two axes of x, whose rank must be known.
func (c *converter) swapLast(x string) (string, error) {
	r := c.maxRank(x)
	if r < 2 {
		return "", fmt.Errorf("cannot transpose %q: its rank is unknown", x)
	}
	perm := make([]int64, r)
	for i := range perm {
		perm[i] = int64(i)
	}
	perm[r-1], perm[r-2] = perm[r-2], perm[r-1]
	t := c.b.Op("Transpose", []string{x}, onnxpb.Ints("perm", perm...))
	c.set(t, c.dtype[x], r)
	return t, nil
}

func (c *converter) zero(dt int) (*onnxpb.Tensor, error) {
	switch dt {
	case dtFloat:
		return onnxpb.FloatTensor("", []int64{1}, []float32{0}), nil
	case dtInt32, dtInt64:
		return onnxpb.Int64Tensor("", []int64{1}, []int64{0}), nil
	}
	return nil, fmt.Errorf("no zero for dtype %d", dt)
}

// stridedSlice converts StridedSlice with constant begin, end and strides.
func (c *converter) stridedSlice(n *NodeDef, ins []string) error {
	if n.attrInt("ellipsis_mask", 0) != 0 || n.attrInt("new_axis_mask", 0) != 0 {
		return fmt.Errorf("StridedSlice with ellipsis_mask or new_axis_mask is not supported")
	}
	begin, err := c.constInts(ins[1])
	if err != nil {
		return err
	}
	end, err := c.constInts(ins[2])
	if err != nil {
		return err
	}
	strides, err := c.constInts(ins[3])
	if err != nil {
		return err
	}
	bm, em, sm := n.attrInt("begin_mask", 0), n.attrInt("end_mask", 0), n.attrInt("shrink_axis_mask", 0)
	k := len(begin)
	starts, ends, axes := make([]int64, k), make([]int64, k), make([]int64, k)
	var squeeze []int64
	for i := 0; i < k; i++ {
		axes[i] = int64(i)
		s, e, st := begin[i], end[i], strides[i]
		if bm&(1<<i) != 0 {
			if st > 0 {
				s = 0
			} else {
				s = math.MaxInt64
			}
		}
		if em&(1<<i) != 0 {
			if st > 0 {
				e = math.MaxInt64
			} else {
				e = math.MinInt64
			}
		}
		if sm&(1<<i) != 0 {
			if st != 1 {
				return fmt.Errorf("StridedSlice shrinks axis %d with stride %d", i, st)
			}
			s = begin[i]
			e = s + 1
			if s == -1 {
				e = math.MaxInt64
			}
			squeeze = append(squeeze, int64(i))
		}
		starts[i], ends[i] = s, e
	}
	b := c.b
	x := b.Op("Slice", []string{ins[0], b.Ints64(starts...), b.Ints64(ends...), b.Ints64(axes...), b.Ints64(strides...)})
	r := c.maxRank(ins[0])
	if r >= 0 {
		r -= len(squeeze)
	}
	if len(squeeze) == 0 {
		b.OpTo("Identity", []string{x}, []string{n.Name})
	} else {
		b.OpTo("Squeeze", []string{x, b.Ints64(squeeze...)}, []string{n.Name})
	}
	c.set(n.Name, c.dtype[ins[0]], r)
	return nil
}

// conv1x1 converts a 1x1, stride-1 NHWC Conv2D, which is a MatMul over the channel axis.
func (c *converter) conv1x1(n *NodeDef, ins []string) error {
	if f := n.attrString("data_format"); f != "" && f != "NHWC" {
		return fmt.Errorf("Conv2D data_format %q: only NHWC is supported", f)
	}
	for _, attr := range []string{"strides", "dilations"} {
		for _, v := range n.attrInts(attr) {
			if v != 1 {
				return fmt.Errorf("Conv2D %s %v: only 1 is supported", attr, n.attrInts(attr))
			}
		}
	}
	w, ok := c.g.Weights[nodeOf(ins[1])]
	if !ok || w.F32 == nil || len(w.Shape) != 4 || w.Shape[0] != 1 || w.Shape[1] != 1 {
		return fmt.Errorf("Conv2D: only constant 1x1 float kernels are supported")
	}
	kernel := c.b.Init(onnxpb.FloatTensor(nodeOf(ins[1])+"/as_matrix", []int64{w.Shape[2], w.Shape[3]}, w.F32))
	c.b.OpTo("MatMul", []string{ins[0], kernel}, []string{n.Name})
	c.set(n.Name, dtFloat, c.maxRank(ins[0]))
	return nil
}

// OpTypes counts the graph's nodes by op, for reports.
func (g *GraphModel) OpTypes() []string {
	count := map[string]int{}
	for _, n := range g.Nodes {
		count[n.Op]++
	}
	var out []string
	for op, k := range count {
		out = append(out, fmt.Sprintf("%s %d", op, k))
	}
	sort.Strings(out)
	return out
}
