// Package head holds reward heads: small models on cached backbone features
// that give each (prompt, response) a scalar reward r, trained on preference
// pairs with the Bradley-Terry loss -log sigmoid(r(chosen) - r(rejected)).
//
// A Head is a linear map or an MLP (one or two ReLU layers) on standardised
// features, plus a calibration (a, b) so that sigmoid(a*r + b) estimates the
// probability that a response is the preferred one of its pair: SER's
// thresholds (0.45, 0.55) read it. Shapes: a response's features are a row of
// FeatureDim values; a batch is an n x FeatureDim mat.Dense.
package head

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"

	"gonum.org/v1/gonum/mat"

	"github.com/ser-rl/ser/internal/atomic"
)

// Kinds of head.
const (
	Linear = "linear"
	MLP    = "mlp"
)

// Layer is y = W x + b, W rows x cols (out x in).
type Layer struct {
	W *mat.Dense
	B []float64
}

// Calibration maps a raw reward r to a*r + b.
type Calibration struct {
	Method string  `json:"method"` // "platt", "temperature" or "none"
	A      float64 `json:"a"`
	B      float64 `json:"b"`
	ECE    float64 `json:"ece"` // on the pairs it was fitted on, of sigmoid(reward) per response
}

// Backbone names the features a head was trained on.
type Backbone struct {
	Name        string `json:"name"`
	Fingerprint string `json:"fingerprint"`
	Dim         int    `json:"dim"`
}

// Head is a trained reward head.
type Head struct {
	Kind     string
	Features string // feature form: Separate, Joint or Both
	Backbone Backbone
	Mean     []float64 // standardisation of the inputs
	Scale    []float64 // 1/std
	Layers   []Layer   // the last has one output
	Calib    Calibration
	Training *TrainResult // how it was trained, and what training measured
}

// FeatureDim is the width of the head's input.
func (h *Head) FeatureDim() int { return len(h.Mean) }

// Raw returns the uncalibrated rewards of the rows of x (n x FeatureDim).
// The standardisation is folded into the first layer (W' = W diag(scale),
// b' = b - W' mean), so the input is never copied.
func (h *Head) Raw(x *mat.Dense) []float64 {
	if _, d := x.Dims(); d != h.FeatureDim() {
		panic(fmt.Sprintf("head: %d features, the head takes %d", d, h.FeatureDim()))
	}
	layers := append([]Layer(nil), h.Layers...)
	first := h.Layers[0]
	out, in := first.W.Dims()
	w := mat.NewDense(out, in, nil)
	b := append([]float64(nil), first.B...)
	for o := 0; o < out; o++ {
		src, dst := first.W.RawRowView(o), w.RawRowView(o)
		for k := range dst {
			dst[k] = src[k] * h.Scale[k]
			b[o] -= dst[k] * h.Mean[k]
		}
	}
	layers[0] = Layer{W: w, B: b}
	return forwardRaw(layers, x, nil)
}

// Rewards returns the calibrated rewards a*r + b of the rows of x; sigmoid of
// one estimates the probability that the response is the preferred one.
func (h *Head) Rewards(x *mat.Dense) []float64 {
	r := h.Raw(x)
	for i := range r {
		r[i] = h.Calib.A*r[i] + h.Calib.B
	}
	return r
}

// Check reports an error when the head was trained on another backbone's features.
func (h *Head) Check(bb Backbone) error {
	if h.Backbone.Fingerprint != bb.Fingerprint || h.Backbone.Name != bb.Name {
		return fmt.Errorf("head was trained on backbone %s (fingerprint %s), not on %s (fingerprint %s): its rewards would mean nothing here",
			h.Backbone.Name, h.Backbone.Fingerprint, bb.Name, bb.Fingerprint)
	}
	return nil
}

// file is a head's JSON form; float arrays are base64 of little-endian
// float64, so a head round-trips bit for bit.
type file struct {
	Format   string       `json:"format"`
	Kind     string       `json:"kind"`
	Features string       `json:"features"`
	Backbone Backbone     `json:"backbone"`
	InDim    int          `json:"feature_dim"`
	Mean     string       `json:"mean"`
	Scale    string       `json:"scale"`
	Layers   []fileLayer  `json:"layers"`
	Calib    Calibration  `json:"calibration"`
	Training *TrainResult `json:"training"`
}

type fileLayer struct {
	Rows int    `json:"rows"`
	Cols int    `json:"cols"`
	W    string `json:"w"`
	B    string `json:"b"`
}

const formatName = "ser-head/1"

func enc(v []float64) string {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return base64.StdEncoding.EncodeToString(b)
}

func dec(s string, n int, what string) ([]float64, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("field %s: %w", what, err)
	}
	if len(b) != 8*n {
		return nil, fmt.Errorf("field %s: %d bytes, want %d floats", what, len(b), n)
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return v, nil
}

// Save writes the head atomically.
func (h *Head) Save(path string) error {
	f := file{Format: formatName, Kind: h.Kind, Features: h.Features, Backbone: h.Backbone, InDim: h.FeatureDim(),
		Mean: enc(h.Mean), Scale: enc(h.Scale), Calib: h.Calib, Training: h.Training}
	for _, l := range h.Layers {
		r, c := l.W.Dims()
		f.Layers = append(f.Layers, fileLayer{Rows: r, Cols: c, W: enc(l.W.RawMatrix().Data), B: enc(l.B)})
	}
	raw, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return err
	}
	return atomic.WriteFile(path, append(raw, '\n'))
}

// Load reads a head file.
func Load(path string) (*Head, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f file
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	bad := func(e error) error { return fmt.Errorf("%s: %w", path, e) }
	if f.Format != formatName {
		return nil, bad(fmt.Errorf("field format: %q, want %q", f.Format, formatName))
	}
	h := &Head{Kind: f.Kind, Features: f.Features, Backbone: f.Backbone, Calib: f.Calib, Training: f.Training}
	if h.Mean, err = dec(f.Mean, f.InDim, "mean"); err != nil {
		return nil, bad(err)
	}
	if h.Scale, err = dec(f.Scale, f.InDim, "scale"); err != nil {
		return nil, bad(err)
	}
	in := f.InDim
	for i, l := range f.Layers {
		if l.Cols != in {
			return nil, bad(fmt.Errorf("field layers[%d]: %d inputs, want %d", i, l.Cols, in))
		}
		w, err := dec(l.W, l.Rows*l.Cols, fmt.Sprintf("layers[%d].w", i))
		if err != nil {
			return nil, bad(err)
		}
		b, err := dec(l.B, l.Rows, fmt.Sprintf("layers[%d].b", i))
		if err != nil {
			return nil, bad(err)
		}
		h.Layers = append(h.Layers, Layer{W: mat.NewDense(l.Rows, l.Cols, w), B: b})
		in = l.Rows
	}
	if len(h.Layers) == 0 || in != 1 {
		return nil, bad(fmt.Errorf("field layers: the last layer must have one output"))
	}
	if err := CheckForm(h.Features); err != nil {
		return nil, bad(err)
	}
	return h, nil
}
