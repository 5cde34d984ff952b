package onnx_test

import (
	"encoding/binary"
	"math"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/ser-rl/ser/cache"
	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/onnx"
	"github.com/ser-rl/ser/onnx/onnxpb"
)

// TestAppendPoolingRuns: the pooling onnxpb adds runs in ONNX Runtime at
// an old opset (ReduceSum's axes an attribute) and a new one (an input),
// on float32 and float16 states, and gives sum_t w[b,t] * h[b,t,:] to
// float32's rounding.
func TestAppendPoolingRuns(t *testing.T) {
	home := testenv.Home(t)
	if err := onnx.Init(testenv.ORTLib(t, home)); err != nil {
		t.Fatal(err)
	}
	const b, tk, d = 2, 3, 4
	h := make([]float32, b*tk*d)
	for i := range h {
		h[i] = float32(i%7) - 2.5 + float32(i)/8
	}
	w := []float32{0.5, 0.5, 0, 0, 0, 1} // a mean over two tokens; the last of three
	want := make([]float64, b*d)
	for i := 0; i < b; i++ {
		for j := 0; j < tk; j++ {
			for k := 0; k < d; k++ {
				want[i*d+k] += float64(w[i*tk+j]) * float64(h[(i*tk+j)*d+k])
			}
		}
	}
	for _, c := range []struct {
		opset int64
		typ   onnxpb.DataType
	}{{11, onnxpb.Float}, {18, onnxpb.Float}, {13, onnxpb.Float16}} {
		m := &onnxpb.Model{Opset: c.opset, Graph: onnxpb.Graph{Name: "g",
			Nodes:   []onnxpb.Node{{Op: "Identity", Name: "id", Inputs: []string{"x"}, Outputs: []string{"h"}}},
			Inputs:  []onnxpb.ValueInfo{{Name: "x", Type: c.typ, Shape: []onnxpb.Dim{{Param: "b"}, {Param: "t"}, {Size: d}}}},
			Outputs: []onnxpb.ValueInfo{{Name: "h", Type: c.typ, Shape: []onnxpb.Dim{{Param: "b"}, {Param: "t"}, {Size: d}}}}}}
		raw, err := onnxpb.AppendPooling(m.Marshal(), onnxpb.Pooling{Hidden: "h", Weights: "w", Pooled: "p"})
		if err != nil {
			t.Fatal(err)
		}
		s, err := ort.NewDynamicAdvancedSessionWithONNXData(raw, []string{"x", "w"}, []string{"p"}, nil)
		if err != nil {
			t.Fatalf("opset %d %v: %v", c.opset, c.typ, err)
		}
		var x ort.Value
		tol := 1e-5
		if c.typ == onnxpb.Float16 {
			bs := make([]byte, 2*len(h))
			for i, v := range h {
				binary.LittleEndian.PutUint16(bs[2*i:], cache.FloatToHalf(v))
			}
			x, err = ort.NewCustomDataTensor(ort.NewShape(b, tk, d), bs, ort.TensorElementDataTypeFloat16)
			tol = 8 * 0x1p-11 // the states rounded to half first
		} else {
			x, err = ort.NewTensor(ort.NewShape(b, tk, d), h)
		}
		if err != nil {
			t.Fatal(err)
		}
		wt, _ := ort.NewTensor(ort.NewShape(b, tk, 1), w)
		out := make([]float32, b*d)
		p, _ := ort.NewTensor(ort.NewShape(b, d), out)
		err = s.Run([]ort.Value{x, wt}, []ort.Value{p})
		x.Destroy()
		wt.Destroy()
		p.Destroy()
		s.Destroy()
		if err != nil {
			t.Fatalf("opset %d %v: %v", c.opset, c.typ, err)
		}
		for i := range want {
			if math.Abs(float64(out[i])-want[i]) > tol {
				t.Fatalf("opset %d %v: pooled[%d] = %v, want %v", c.opset, c.typ, i, out[i], want[i])
			}
		}
	}
}
