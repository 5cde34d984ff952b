// Package onnxpb writes ONNX model files: the few protobuf messages of onnx.proto
// (ModelProto, GraphProto, NodeProto, TensorProto, ...) that a converter or a test
// needs to build a graph, encoded with protowire. It reads nothing: ONNX Runtime
// is the reader.
//
// Field numbers follow onnx/onnx.proto (IR version 8, opset 18).
package onnxpb

import (
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"

	"github.com/ser-rl/ser/internal/safefile"
	"google.golang.org/protobuf/encoding/protowire"
)

// DataType is TensorProto.DataType.
type DataType int32

// The element types used here.
const (
	Float    DataType = 1
	Uint8    DataType = 2
	Int8     DataType = 3
	Int32    DataType = 6
	Int64    DataType = 7
	Bool     DataType = 9
	Float16  DataType = 10
	Double   DataType = 11
	BFloat16 DataType = 16
)

// Size is the width of one element in bytes.
func (t DataType) Size() int {
	switch t {
	case Uint8, Int8, Bool:
		return 1
	case Float16, BFloat16:
		return 2
	case Float, Int32:
		return 4
	case Int64, Double:
		return 8
	}
	return 0
}

// Tensor is a TensorProto holding its data raw, little-endian.
// External marks a tensor whose bytes go to the model's external-data file
// (see Model.WriteFile), as exports of models over 2 GB do.
type Tensor struct {
	Name     string
	Type     DataType
	Dims     []int64
	Raw      []byte
	External bool
}

// FloatTensor makes a float32 tensor; len(data) must equal the product of dims.
func FloatTensor(name string, dims []int64, data []float32) *Tensor {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &Tensor{Name: name, Type: Float, Dims: dims, Raw: raw}
}

// Int64Tensor makes an int64 tensor; len(data) must equal the product of dims.
func Int64Tensor(name string, dims []int64, data []int64) *Tensor {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return &Tensor{Name: name, Type: Int64, Dims: dims, Raw: raw}
}

// AttrKind is AttributeProto.AttributeType.
type AttrKind int32

// Attribute kinds.
const (
	AttrFloat   AttrKind = 1
	AttrInt     AttrKind = 2
	AttrString  AttrKind = 3
	AttrTensor  AttrKind = 4
	AttrFloats  AttrKind = 6
	AttrInts    AttrKind = 7
	AttrStrings AttrKind = 8
)

// Attr is one node attribute; only the field that Kind names is used.
type Attr struct {
	Name   string
	Kind   AttrKind
	F      float32
	I      int64
	S      string
	T      *Tensor
	Floats []float32
	Ints   []int64
}

// Int is an integer attribute.
func Int(name string, v int64) Attr { return Attr{Name: name, Kind: AttrInt, I: v} }

// Ints is an integer-list attribute.
func Ints(name string, v ...int64) Attr { return Attr{Name: name, Kind: AttrInts, Ints: v} }

// FloatAttr is a float attribute.
func FloatAttr(name string, v float32) Attr { return Attr{Name: name, Kind: AttrFloat, F: v} }

// String is a string attribute.
func String(name, v string) Attr { return Attr{Name: name, Kind: AttrString, S: v} }

// TensorAttr is a tensor attribute (Constant's value, ConstantOfShape's value).
func TensorAttr(name string, t *Tensor) Attr { return Attr{Name: name, Kind: AttrTensor, T: t} }

// Node is a NodeProto.
type Node struct {
	Op      string
	Name    string
	Domain  string
	Inputs  []string
	Outputs []string
	Attrs   []Attr
}

// Dim is one dimension of a value's shape: a fixed size, or a named symbolic one.
type Dim struct {
	Size  int64
	Param string
}

// ValueInfo is a graph input or output: a tensor's name, element type and shape.
type ValueInfo struct {
	Name  string
	Type  DataType
	Shape []Dim
}

// Graph is a GraphProto.
type Graph struct {
	Name         string
	Nodes        []Node
	Initializers []*Tensor
	Inputs       []ValueInfo
	Outputs      []ValueInfo
}

// Model is a ModelProto with one opset import of the default domain.
// The zero IRVersion and Opset mean 8 and 18.
type Model struct {
	IRVersion int64
	Opset     int64
	Producer  string
	Doc       string
	Metadata  [][2]string
	Graph     Graph
	// ExternalData names the external-data file, in the model's folder
	// (default: the model file's name + ".data").
	ExternalData string

	extName string // the external-data file of the write in progress
}

// Marshal encodes the model; external tensors must have been resolved by WriteFile.
func (m *Model) Marshal() []byte {
	return m.marshal(nil)
}

// WriteFile writes the model to path atomically (a temporary file, then rename).
// Tensors marked External go to path+".data", referenced by offset, as ONNX's
// external-data convention has it; ONNX Runtime resolves the file relative to
// the model's folder.
func (m *Model) WriteFile(path string) error {
	var ext map[*Tensor][2]int64
	if m.hasExternal() {
		dataName := m.ExternalData
		if dataName == "" {
			dataName = filepath.Base(path) + ".data"
		}
		var blob []byte
		ext = map[*Tensor][2]int64{}
		for _, t := range m.Graph.Initializers {
			if !t.External {
				continue
			}
			for len(blob)%64 != 0 { // keep each tensor aligned, as onnx's own writer does
				blob = append(blob, 0)
			}
			ext[t] = [2]int64{int64(len(blob)), int64(len(t.Raw))}
			blob = append(blob, t.Raw...)
		}
		if err := safefile.WriteFile(filepath.Join(filepath.Dir(path), dataName), blob); err != nil {
			return err
		}
		m.extName = dataName
	}
	return safefile.WriteFile(path, m.marshal(ext))
}

func (m *Model) hasExternal() bool {
	for _, t := range m.Graph.Initializers {
		if t.External {
			return true
		}
	}
	return false
}

func (m *Model) marshal(ext map[*Tensor][2]int64) []byte {
	ir, opset := m.IRVersion, m.Opset
	if ir == 0 {
		ir = 8
	}
	if opset == 0 {
		opset = 18
	}
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(ir))
	b = appendString(b, 2, m.Producer)
	b = appendString(b, 6, m.Doc)
	b = protowire.AppendTag(b, 7, protowire.BytesType)
	b = protowire.AppendBytes(b, m.Graph.marshal(ext, m.extName))
	var op []byte
	op = protowire.AppendTag(op, 2, protowire.VarintType)
	op = protowire.AppendVarint(op, uint64(opset))
	b = appendMsg(b, 8, op)
	for _, kv := range m.Metadata {
		b = appendMsg(b, 14, stringPair(kv[0], kv[1]))
	}
	return b
}

func (g *Graph) marshal(ext map[*Tensor][2]int64, extName string) []byte {
	var b []byte
	for i := range g.Nodes {
		b = appendMsg(b, 1, g.Nodes[i].marshal())
	}
	b = appendString(b, 2, g.Name)
	for _, t := range g.Initializers {
		b = appendMsg(b, 5, t.marshal(ext, extName))
	}
	for _, v := range g.Inputs {
		b = appendMsg(b, 11, v.marshal())
	}
	for _, v := range g.Outputs {
		b = appendMsg(b, 12, v.marshal())
	}
	return b
}

func (n *Node) marshal() []byte {
	var b []byte
	for _, in := range n.Inputs {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, in)
	}
	for _, out := range n.Outputs {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, out)
	}
	b = appendString(b, 3, n.Name)
	b = appendString(b, 4, n.Op)
	for i := range n.Attrs {
		b = appendMsg(b, 5, n.Attrs[i].marshal())
	}
	b = appendString(b, 7, n.Domain)
	return b
}

func (a *Attr) marshal() []byte {
	var b []byte
	b = appendString(b, 1, a.Name)
	switch a.Kind {
	case AttrFloat:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.F))
	case AttrInt:
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(a.I))
	case AttrString:
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendString(b, a.S)
	case AttrTensor:
		b = appendMsg(b, 5, a.T.marshal(nil, ""))
	case AttrFloats:
		for _, f := range a.Floats {
			b = protowire.AppendTag(b, 7, protowire.Fixed32Type)
			b = protowire.AppendFixed32(b, math.Float32bits(f))
		}
	case AttrInts:
		for _, v := range a.Ints {
			b = protowire.AppendTag(b, 8, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(v))
		}
	}
	b = protowire.AppendTag(b, 20, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(a.Kind))
	return b
}

func (t *Tensor) marshal(ext map[*Tensor][2]int64, extName string) []byte {
	var b []byte
	for _, d := range t.Dims {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(d))
	}
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(t.Type))
	b = appendString(b, 8, t.Name)
	if where, ok := ext[t]; ok {
		b = appendMsg(b, 13, stringPair("location", extName))
		b = appendMsg(b, 13, stringPair("offset", fmt.Sprint(where[0])))
		b = appendMsg(b, 13, stringPair("length", fmt.Sprint(where[1])))
		b = protowire.AppendTag(b, 14, protowire.VarintType)
		b = protowire.AppendVarint(b, 1) // DataLocation EXTERNAL
		return b
	}
	b = protowire.AppendTag(b, 9, protowire.BytesType)
	b = protowire.AppendBytes(b, t.Raw)
	return b
}

func (v *ValueInfo) marshal() []byte {
	var shape []byte
	for _, d := range v.Shape {
		var dim []byte
		if d.Param != "" {
			dim = appendString(dim, 2, d.Param)
		} else {
			dim = protowire.AppendTag(dim, 1, protowire.VarintType)
			dim = protowire.AppendVarint(dim, uint64(d.Size))
		}
		shape = appendMsg(shape, 1, dim)
	}
	var tensor []byte
	tensor = protowire.AppendTag(tensor, 1, protowire.VarintType)
	tensor = protowire.AppendVarint(tensor, uint64(v.Type))
	tensor = appendMsg(tensor, 2, shape)
	var typ []byte
	typ = appendMsg(typ, 1, tensor)
	var b []byte
	b = appendString(b, 1, v.Name)
	b = appendMsg(b, 2, typ)
	return b
}

func stringPair(k, v string) []byte {
	var b []byte
	b = appendString(b, 1, k)
	b = appendString(b, 2, v)
	return b
}

func appendString(b []byte, field protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendMsg appends an embedded message, empty or not (an empty shape is a scalar).
func appendMsg(b []byte, field protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}
