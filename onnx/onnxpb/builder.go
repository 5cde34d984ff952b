package onnxpb

import "fmt"

// Builder appends nodes to a graph under generated, unique output names.
type Builder struct {
	Graph  Graph
	prefix string
	n      int
}

// NewBuilder starts a graph whose generated names begin with prefix.
func NewBuilder(name, prefix string) *Builder {
	return &Builder{Graph: Graph{Name: name}, prefix: prefix}
}

// Name returns a fresh tensor name built from hint.
func (b *Builder) Name(hint string) string {
	b.n++
	return fmt.Sprintf("%s%s_%d", b.prefix, hint, b.n)
}

// Op adds a node with one output and returns the output's name.
func (b *Builder) Op(op string, inputs []string, attrs ...Attr) string {
	return b.OpN(op, inputs, 1, attrs...)[0]
}

// OpN adds a node with n outputs and returns their names.
func (b *Builder) OpN(op string, inputs []string, n int, attrs ...Attr) []string {
	outs := make([]string, n)
	for i := range outs {
		outs[i] = b.Name(op)
	}
	b.Graph.Nodes = append(b.Graph.Nodes, Node{Op: op, Name: outs[0], Inputs: inputs, Outputs: outs, Attrs: attrs})
	return outs
}

// OpTo adds a node writing the named outputs.
func (b *Builder) OpTo(op string, inputs, outputs []string, attrs ...Attr) {
	b.Graph.Nodes = append(b.Graph.Nodes, Node{Op: op, Name: outputs[0], Inputs: inputs, Outputs: outputs, Attrs: attrs})
}

// Init adds an initializer and returns its name.
func (b *Builder) Init(t *Tensor) string {
	if t.Name == "" {
		t.Name = b.Name("const")
	}
	b.Graph.Initializers = append(b.Graph.Initializers, t)
	return t.Name
}

// Ints64 adds a one-dimensional int64 initializer.
func (b *Builder) Ints64(v ...int64) string {
	return b.Init(Int64Tensor("", []int64{int64(len(v))}, v))
}

// Scalar64 adds a scalar int64 initializer.
func (b *Builder) Scalar64(v int64) string {
	return b.Init(Int64Tensor("", nil, []int64{v}))
}

// Floats adds a float32 initializer of the given shape.
func (b *Builder) Floats(dims []int64, v []float32) string {
	return b.Init(FloatTensor("", dims, v))
}
