package onnxpb

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Pooling names what AppendPooling adds to a graph.
type Pooling struct {
	Hidden  string // the graph's output to pool: [batch, tokens, dim], any float type
	Weights string // the new input: [batch, tokens, 1] float32, each token's weight
	Pooled  string // the new output: [batch, dim] float32
}

// AppendPooling returns a copy of the model (an ONNX ModelProto's bytes)
// whose graph also pools: Pooled = sum over tokens of float32(Hidden) *
// Weights, accumulated in float32 by ReduceSum. The weights are the caller's
// (1/n on a text's n kept tokens for a mean, 1 on one token for CLS or the
// last token, 0 on padding), so one graph serves every pooling and no
// pooling decision is made on the device; only [batch, dim] floats leave it
// rather than [batch, tokens, dim]. The rest of the model is kept byte for
// byte; the names must not be in the graph already (ONNX Runtime refuses a
// graph that defines a name twice).
func AppendPooling(model []byte, p Pooling) ([]byte, error) {
	if p.Hidden == "" || p.Weights == "" || p.Pooled == "" {
		return nil, errors.New("onnxpb: pooling needs the hidden output's, the weights' and the pooled output's names")
	}
	opset, tagAt, graphAt, graphLen, err := scanModel(model)
	if err != nil {
		return nil, err
	}
	if graphAt < 0 {
		return nil, errors.New("onnxpb: the model has no graph")
	}
	if opset < 6 {
		return nil, fmt.Errorf("onnxpb: the model's opset %d is older than 6 (Cast's, Mul's and ReduceSum's forms here)", opset)
	}
	graph := append([]byte(nil), model[graphAt:graphAt+graphLen]...)
	cast, prod := p.Pooled+"/cast", p.Pooled+"/weighted"
	nodes := []Node{
		{Op: "Cast", Name: cast, Inputs: []string{p.Hidden}, Outputs: []string{cast}, Attrs: []Attr{Int("to", int64(Float))}},
		{Op: "Mul", Name: prod, Inputs: []string{cast, p.Weights}, Outputs: []string{prod}},
	}
	sum := Node{Op: "ReduceSum", Name: p.Pooled, Inputs: []string{prod}, Outputs: []string{p.Pooled}, Attrs: []Attr{Int("keepdims", 0)}}
	var inits []*Tensor
	if opset >= 13 { // axes became an input
		axes := Int64Tensor(p.Pooled+"/axes", []int64{1}, []int64{1})
		inits = append(inits, axes)
		sum.Inputs = append(sum.Inputs, axes.Name)
	} else {
		sum.Attrs = append(sum.Attrs, Ints("axes", 1))
	}
	nodes = append(nodes, sum)
	for i := range nodes {
		graph = appendMsg(graph, 1, nodes[i].marshal())
	}
	for _, t := range inits {
		graph = appendMsg(graph, 5, t.marshal(nil, ""))
	}
	in := ValueInfo{Name: p.Weights, Type: Float, Shape: []Dim{{Param: "batch"}, {Param: "tokens"}, {Size: 1}}}
	graph = appendMsg(graph, 11, in.marshal())
	out := ValueInfo{Name: p.Pooled, Type: Float, Shape: []Dim{{Param: "batch"}, {Param: "dim"}}}
	graph = appendMsg(graph, 12, out.marshal())

	// the model with its graph field replaced where it was
	b := make([]byte, 0, len(model)+len(graph)-graphLen+8)
	b = append(b, model[:tagAt]...)
	b = appendMsg(b, 7, graph)
	return append(b, model[graphAt+graphLen:]...), nil
}

// scanModel reads a ModelProto's top level: the default domain's opset, and
// where the graph's field begins (tagAt) and its bytes are (graphAt -1: none). A model with two graph
// fields (protobuf merges them) is refused rather than guessed at.
func scanModel(b []byte) (opset int64, tagAt, graphAt, graphLen int, err error) {
	graphAt = -1
	opset = -1
	for off := 0; off < len(b); {
		at := off
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return 0, 0, 0, 0, fmt.Errorf("onnxpb: the model is not a protobuf message (at byte %d)", off)
		}
		off += n
		if typ == protowire.BytesType && (num == 7 || num == 8) {
			v, m := protowire.ConsumeBytes(b[off:])
			if m < 0 {
				return 0, 0, 0, 0, fmt.Errorf("onnxpb: the model's field %d is cut short (at byte %d)", num, off)
			}
			if num == 7 {
				if graphAt >= 0 {
					return 0, 0, 0, 0, errors.New("onnxpb: the model has two graph fields")
				}
				tagAt, graphAt, graphLen = at, off+m-len(v), len(v)
			} else if dom, ver, ok := opsetOf(v); ok && (dom == "" || dom == "ai.onnx") {
				opset = ver
			}
			off += m
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b[off:])
		if m < 0 {
			return 0, 0, 0, 0, fmt.Errorf("onnxpb: the model's field %d is cut short (at byte %d)", num, off)
		}
		off += m
	}
	if opset < 0 {
		return 0, 0, 0, 0, errors.New("onnxpb: the model imports no opset of the default domain")
	}
	return opset, tagAt, graphAt, graphLen, nil
}

// opsetOf reads an OperatorSetIdProto: domain (1) and version (2).
func opsetOf(b []byte) (domain string, version int64, ok bool) {
	for off := 0; off < len(b); {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return "", 0, false
		}
		off += n
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(b[off:])
			if m < 0 {
				return "", 0, false
			}
			domain, off = string(v), off+m
		case num == 2 && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b[off:])
			if m < 0 {
				return "", 0, false
			}
			version, off = int64(v), off+m
		default:
			m := protowire.ConsumeFieldValue(num, typ, b[off:])
			if m < 0 {
				return "", 0, false
			}
			off += m
		}
	}
	return domain, version, true
}
