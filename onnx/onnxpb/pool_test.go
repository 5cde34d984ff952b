package onnxpb

import (
	"bytes"
	"strings"
	"testing"
)

// TestAppendPoolingRefuses: what is not a model with a graph and a default
// opset is refused with a reason, never half-rewritten.
func TestAppendPoolingRefuses(t *testing.T) {
	p := Pooling{Hidden: "h", Weights: "w", Pooled: "p"}
	good := (&Model{Opset: 18, Graph: Graph{Name: "g", Nodes: []Node{{Op: "Identity", Name: "h", Inputs: []string{"x"}, Outputs: []string{"h"}}}}}).Marshal()
	for _, c := range []struct {
		name  string
		model []byte
		p     Pooling
		want  string
	}{
		{"empty names", good, Pooling{Hidden: "h"}, "names"},
		{"not protobuf", []byte{0xff, 0xff, 0xff}, p, "not a protobuf"},
		{"cut short", good[:len(good)-3], p, "cut short"},
		{"no opset", []byte{0x3a, 0x00}, p, "no opset"},
		{"two graphs", append(append([]byte(nil), good...), 0x3a, 0x00), p, "two graph"},
		{"old opset", (&Model{Opset: 5, Graph: Graph{Name: "g"}}).Marshal(), p, "older than 6"},
	} {
		_, err := AppendPooling(c.model, c.p)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
	out, err := AppendPooling(good, p)
	if err != nil {
		t.Fatal(err)
	}
	// the rest of the model byte for byte: the new graph ends with what was added
	if !bytes.Contains(out, []byte("Identity")) || !bytes.Contains(out, []byte("ReduceSum")) || len(out) <= len(good) {
		t.Fatalf("rewritten model lacks the graph's own node or the pooling: %q", out)
	}
}

// FuzzAppendPooling: any bytes are refused with an error or rewritten into
// a model that still scans, with the graph grown; never a panic.
func FuzzAppendPooling(f *testing.F) {
	good := (&Model{Opset: 18, Graph: Graph{Name: "g", Nodes: []Node{{Op: "Identity", Name: "h", Inputs: []string{"x"}, Outputs: []string{"h"}}}}}).Marshal()
	f.Add(good)
	f.Add((&Model{Opset: 11, Graph: Graph{Name: "g"}}).Marshal())
	f.Add([]byte{0x3a, 0x00, 0x42, 0x02, 0x10, 0x0d})
	f.Fuzz(func(t *testing.T, model []byte) {
		out, err := AppendPooling(model, Pooling{Hidden: "h", Weights: "w", Pooled: "p"})
		if err != nil {
			return
		}
		_, _, _, n, err := scanModel(out)
		if err != nil {
			t.Fatalf("the rewritten model does not scan: %v", err)
		}
		_, _, _, n0, _ := scanModel(model)
		if n <= n0 {
			t.Fatalf("the graph did not grow: %d -> %d bytes", n0, n)
		}
	})
}
