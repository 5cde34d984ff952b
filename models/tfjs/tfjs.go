// Package tfjs reads a TensorFlow.js graph model (model.json and its weight
// shards) and converts it to an ONNX graph, one TensorFlow op at a time.
//
// It converts the ops that frozen TF1 sentence encoders use (the Universal
// Sentence Encoder lite graph has 42 op types, all covered); an op outside the
// table is an error that names the op and the node, never a silent guess.
// int32 tensors are widened to int64, ONNX's index type, so the graph's inputs
// become int64.
package tfjs

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strconv"

	"github.com/ser-rl/ser/internal/safefile"
)

// TF DataType enum values (tensorflow/core/framework/types.proto).
const (
	dtFloat = 1
	dtInt32 = 3
	dtInt64 = 9
	dtBool  = 10
)

// NodeDef is one node of the graph, as model.json stores it.
type NodeDef struct {
	Name  string                     `json:"name"`
	Op    string                     `json:"op"`
	Input []string                   `json:"input"`
	Attr  map[string]json.RawMessage `json:"attr"`
}

// Weight is one weight tensor, decoded from the shards.
type Weight struct {
	Name  string
	DType string // "float32" or "int32"
	Shape []int64
	F32   []float32
	I32   []int32
}

// GraphModel is a loaded TF.js graph model.
type GraphModel struct {
	Nodes   []NodeDef
	Weights map[string]*Weight
}

type manifestFile struct {
	Format        string `json:"format"`
	ModelTopology struct {
		Node []NodeDef `json:"node"`
	} `json:"modelTopology"`
	WeightsManifest []struct {
		Paths   []string `json:"paths"`
		Weights []struct {
			Name         string          `json:"name"`
			Shape        []int64         `json:"shape"`
			DType        string          `json:"dtype"`
			Quantization json.RawMessage `json:"quantization"`
		} `json:"weights"`
	} `json:"weightsManifest"`
}

// Load reads dir/model.json and the weight shards it names.
func Load(dir string) (*GraphModel, error) {
	path := filepath.Join(dir, "model.json")
	raw, err := safefile.ReadRegular(path, 64<<20)
	if err != nil {
		return nil, err
	}
	var mf manifestFile
	if err := json.Unmarshal(raw, &mf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(mf.ModelTopology.Node) == 0 {
		return nil, fmt.Errorf("%s: modelTopology has no nodes (not a TF.js graph model)", path)
	}
	g := &GraphModel{Nodes: mf.ModelTopology.Node, Weights: map[string]*Weight{}}
	for gi, group := range mf.WeightsManifest {
		var buf []byte
		for _, p := range group.Paths {
			if !filepath.IsLocal(p) {
				return nil, fmt.Errorf("%s: weightsManifest[%d]: %q is not a file inside the model folder", path, gi, p)
			}
			b, err := safefile.ReadRegular(filepath.Join(dir, p), 1<<30)
			if err != nil {
				return nil, fmt.Errorf("%s: weightsManifest[%d]: %w", path, gi, err)
			}
			buf = append(buf, b...)
		}
		off := 0
		for _, w := range group.Weights {
			if len(w.Quantization) > 0 && string(w.Quantization) != "null" {
				return nil, fmt.Errorf("%s: weight %q is quantized; only plain float32/int32 weights are supported", path, w.Name)
			}
			n := 1
			for _, d := range w.Shape {
				n *= int(d)
			}
			if off+4*n > len(buf) {
				return nil, fmt.Errorf("%s: weight %q runs past the end of its shards (%d bytes)", path, w.Name, len(buf))
			}
			wt := &Weight{Name: w.Name, DType: w.DType, Shape: w.Shape}
			switch w.DType {
			case "float32":
				wt.F32 = make([]float32, n)
				for i := range wt.F32 {
					wt.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[off+4*i:]))
				}
			case "int32":
				wt.I32 = make([]int32, n)
				for i := range wt.I32 {
					wt.I32[i] = int32(binary.LittleEndian.Uint32(buf[off+4*i:]))
				}
			default:
				return nil, fmt.Errorf("%s: weight %q has dtype %q; only float32 and int32 are supported", path, w.Name, w.DType)
			}
			off += 4 * n
			g.Weights[w.Name] = wt
		}
		if off != len(buf) {
			return nil, fmt.Errorf("%s: weightsManifest[%d] describes %d bytes but its shards hold %d", path, gi, off, len(buf))
		}
	}
	return g, nil
}

// attrValue is the JSON form of a TF AttrValue as TF.js stores it.
type attrValue struct {
	I     *string `json:"i"`
	B     *bool   `json:"b"`
	Type  *string `json:"type"`
	S     *string `json:"s"`
	Shape *struct {
		Dim []struct {
			Size string `json:"size"`
		} `json:"dim"`
	} `json:"shape"`
	List *struct {
		I []string `json:"i"`
	} `json:"list"`
}

func (n *NodeDef) attr(name string) (attrValue, bool) {
	var a attrValue
	raw, ok := n.Attr[name]
	if !ok {
		return a, false
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return a, false
	}
	return a, true
}

func (n *NodeDef) attrInt(name string, def int64) int64 {
	a, ok := n.attr(name)
	if !ok || a.I == nil {
		return def
	}
	v, err := strconv.ParseInt(*a.I, 10, 64)
	if err != nil {
		return def
	}
	return v
}

func (n *NodeDef) attrBool(name string) bool {
	a, ok := n.attr(name)
	return ok && a.B != nil && *a.B
}

// attrType returns a DataType attribute; JSON stores the enum as a number or its name.
func (n *NodeDef) attrType(name string) int {
	raw, ok := n.Attr[name]
	if !ok {
		return 0
	}
	var a struct {
		Type json.RawMessage `json:"type"`
	}
	if json.Unmarshal(raw, &a) != nil {
		return 0
	}
	var num int
	if json.Unmarshal(a.Type, &num) == nil {
		return num
	}
	var s string
	if json.Unmarshal(a.Type, &s) == nil {
		switch s {
		case "DT_FLOAT":
			return dtFloat
		case "DT_INT32":
			return dtInt32
		case "DT_INT64":
			return dtInt64
		case "DT_BOOL":
			return dtBool
		}
	}
	return 0
}

// attrString returns a string attribute; TF.js stores bytes as a list of numbers or as base64.
func (n *NodeDef) attrString(name string) string {
	raw, ok := n.Attr[name]
	if !ok {
		return ""
	}
	var a struct {
		S json.RawMessage `json:"s"`
	}
	if json.Unmarshal(raw, &a) != nil {
		return ""
	}
	var bs []byte
	if json.Unmarshal(a.S, &bs) == nil { // base64 string
		return string(bs)
	}
	var nums []int
	if json.Unmarshal(a.S, &nums) == nil {
		b := make([]byte, len(nums))
		for i, v := range nums {
			b[i] = byte(v)
		}
		return string(b)
	}
	return ""
}

func (n *NodeDef) attrInts(name string) []int64 {
	a, ok := n.attr(name)
	if !ok || a.List == nil {
		return nil
	}
	out := make([]int64, 0, len(a.List.I))
	for _, s := range a.List.I {
		v, _ := strconv.ParseInt(s, 10, 64)
		out = append(out, v)
	}
	return out
}

// placeholderShape returns a Placeholder's dims, -1 for unknown.
func (n *NodeDef) placeholderShape() []int64 {
	a, ok := n.attr("shape")
	if !ok || a.Shape == nil {
		return nil
	}
	dims := make([]int64, len(a.Shape.Dim))
	for i, d := range a.Shape.Dim {
		dims[i], _ = strconv.ParseInt(d.Size, 10, 64)
	}
	return dims
}
