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
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/ser-rl/ser/internal/safefile"
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
	// Clamped: the fit wanted a slope <= 0 and was held at a small positive
	// one (see Calibrate): on the calibration pairs the rewards carried no
	// preference.
	Clamped bool `json:"clamped,omitempty"`
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
	SHA256   string       // the checksum of the file it was loaded from (set by Load)
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
// float64, so a head round-trips bit for bit. SHA256 is the checksum of the
// file's content (its JSON with SHA256 empty), so that one changed
// character is refused.
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
	SHA256   string       `json:"sha256"`
}

type fileLayer struct {
	Rows int    `json:"rows"`
	Cols int    `json:"cols"`
	W    string `json:"w"`
	B    string `json:"b"`
}

const formatName = "ser-head/2"

// Limits on what a head file may ask for.
const (
	maxHeadFile    = 1 << 30 // bytes
	maxFeatureDim  = 3 << 16 // the widest form (both) of the widest backbone
	maxLayerFloats = 1 << 27 // rows x cols of one layer
)

func enc(v []float64) string {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// dec decodes n finite floats; the string's length is checked before
// anything is allocated.
func dec(s string, n int, what string) ([]float64, error) {
	if base64.StdEncoding.EncodedLen(8*n) != len(s) {
		return nil, fmt.Errorf("field %s: %d base64 characters, want %d floats", what, len(s), n)
	}
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
		if math.IsNaN(v[i]) || math.IsInf(v[i], 0) {
			return nil, fmt.Errorf("field %s: value %d is %v", what, i, v[i])
		}
	}
	return v, nil
}

// checksum is the sha256 of f's JSON with its SHA256 field empty.
func (f file) checksum() (string, error) {
	f.SHA256 = ""
	raw, err := json.Marshal(f)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:]), nil
}

// finiteAll reports the first non-finite number of a head.
func (h *Head) finiteAll() error {
	check := func(what string, v []float64) error {
		for i, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("%s[%d] is %v", what, i, x)
			}
		}
		return nil
	}
	if err := check("mean", h.Mean); err != nil {
		return err
	}
	if err := check("scale", h.Scale); err != nil {
		return err
	}
	for i, l := range h.Layers {
		if err := check(fmt.Sprintf("layers[%d].w", i), l.W.RawMatrix().Data); err != nil {
			return err
		}
		if err := check(fmt.Sprintf("layers[%d].b", i), l.B); err != nil {
			return err
		}
	}
	return check("calibration", []float64{h.Calib.A, h.Calib.B})
}

// Save writes the head atomically. A head holding a number that is not
// finite is refused: it could only give rewards that mean nothing.
func (h *Head) Save(path string) error {
	if err := h.finiteAll(); err != nil {
		return fmt.Errorf("head: not saving %s: %v", path, err)
	}
	f := file{Format: formatName, Kind: h.Kind, Features: h.Features, Backbone: h.Backbone, InDim: h.FeatureDim(),
		Mean: enc(h.Mean), Scale: enc(h.Scale), Calib: h.Calib, Training: h.Training}
	for _, l := range h.Layers {
		r, c := l.W.Dims()
		f.Layers = append(f.Layers, fileLayer{Rows: r, Cols: c, W: enc(l.W.RawMatrix().Data), B: enc(l.B)})
	}
	var err error
	if f.SHA256, err = f.checksum(); err != nil {
		return fmt.Errorf("head: %s: %w", path, err)
	}
	raw, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return err
	}
	return safefile.WriteFile(path, append(raw, '\n'))
}

// Load reads a head file, refusing one whose checksum, shapes or numbers
// are wrong before anything is allocated by its declared sizes.
func Load(path string) (*Head, error) {
	raw, err := safefile.ReadRegular(path, maxHeadFile)
	if err != nil {
		return nil, fmt.Errorf("not a head file: %w", err)
	}
	var f file
	bad := func(format string, a ...any) error { return fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...)) }
	if err := json.Unmarshal(raw, &f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, bad("field %s: a JSON %s where another type belongs", te.Field, te.Value)
		}
		return nil, bad("not a head file: %v", err)
	}
	if f.Format != formatName {
		if f.Format == "ser-head/1" {
			return nil, bad("written by an older ser, without a checksum: train it again (features are cached: it takes seconds)")
		}
		return nil, bad("field format: %q, want %q", f.Format, formatName)
	}
	if sum, err := f.checksum(); err != nil || sum != f.SHA256 {
		return nil, bad("field sha256: the content does not match its checksum (the file was changed or damaged)")
	}
	h := &Head{Kind: f.Kind, Features: f.Features, Backbone: f.Backbone, Calib: f.Calib, Training: f.Training, SHA256: f.SHA256}
	if err := CheckForm(h.Features); err != nil {
		return nil, bad("field features: %v", err)
	}
	if h.Kind != Linear && h.Kind != MLP {
		return nil, bad("field kind: %q is not linear or mlp", h.Kind)
	}
	if d := f.Backbone.Dim; d <= 0 || FeatureDim(h.Features, d) > maxFeatureDim {
		return nil, bad("field backbone.dim: %d", d)
	}
	if want := FeatureDim(h.Features, f.Backbone.Dim); f.InDim != want {
		return nil, bad("field feature_dim: %d, but %s features of a %d-wide backbone are %d", f.InDim, h.Features, f.Backbone.Dim, want)
	}
	if h.Mean, err = dec(f.Mean, f.InDim, "mean"); err != nil {
		return nil, bad("%v", err)
	}
	if h.Scale, err = dec(f.Scale, f.InDim, "scale"); err != nil {
		return nil, bad("%v", err)
	}
	if n := len(f.Layers); n == 0 || (h.Kind == Linear && n != 1) || n > 3 {
		return nil, bad("field layers: %d layers for a %s head", n, h.Kind)
	}
	in := f.InDim
	for i, l := range f.Layers {
		if l.Cols != in {
			return nil, bad("field layers[%d]: %d inputs, want %d", i, l.Cols, in)
		}
		if l.Rows < 1 || l.Rows > MaxHidden || l.Rows*l.Cols > maxLayerFloats {
			return nil, bad("field layers[%d]: %d rows", i, l.Rows)
		}
		w, err := dec(l.W, l.Rows*l.Cols, fmt.Sprintf("layers[%d].w", i))
		if err != nil {
			return nil, bad("%v", err)
		}
		b, err := dec(l.B, l.Rows, fmt.Sprintf("layers[%d].b", i))
		if err != nil {
			return nil, bad("%v", err)
		}
		h.Layers = append(h.Layers, Layer{W: mat.NewDense(l.Rows, l.Cols, w), B: b})
		in = l.Rows
	}
	if in != 1 {
		return nil, bad("field layers: the last layer must have one output")
	}
	if !(h.Calib.A > 0) || math.IsInf(h.Calib.A, 0) || math.IsNaN(h.Calib.B) || math.IsInf(h.Calib.B, 0) {
		return nil, bad("field calibration: a = %v, b = %v (a must be positive and both finite)", h.Calib.A, h.Calib.B)
	}
	return h, nil
}

// LastInputs returns, for the rows of x (n x FeatureDim), what the head's
// last layer reads (n x width: the standardised features for a linear head,
// the last hidden layer's activations for an MLP) and the raw rewards. The
// last layer is linear in it, so it is where a label's Fisher information
// is measured (see package ask).
func (h *Head) LastInputs(x *mat.Dense) (*mat.Dense, []float64) {
	n, d := x.Dims()
	if d != h.FeatureDim() {
		panic(fmt.Sprintf("head: %d features, the head takes %d", d, h.FeatureDim()))
	}
	z := mat.NewDense(n, d, nil)
	for i := 0; i < n; i++ {
		src, dst := x.RawRowView(i), z.RawRowView(i)
		for k := range dst {
			dst[k] = (src[k] - h.Mean[k]) * h.Scale[k]
		}
	}
	var acts []*mat.Dense
	r := forwardRaw(h.Layers, z, &acts)
	if len(acts) < 2 {
		return z, r
	}
	return acts[len(acts)-2], r
}

// ModelSHA256Prefix starts the SHA256 of a head that is a reward model's
// own reward (FromRewardModel): what scored is named by the backbone.
const ModelSHA256Prefix = "model:"

// FromRewardModel is the head whose reward is a reward model's own: the
// value at index of the backbone's vectors (its logit), uncalibrated, on
// joint features (the model reads the whole conversation). Everything that
// takes a head (scoring, evaluation, serving, asking) takes it; its SHA256
// names the backbone ("model:" and the fingerprint).
func FromRewardModel(bb Backbone, index int) (*Head, error) {
	if index < 0 || index >= bb.Dim {
		return nil, fmt.Errorf("head: the reward's index %d is not in the backbone's %d values", index, bb.Dim)
	}
	w := mat.NewDense(1, bb.Dim, nil)
	w.Set(0, index, 1)
	scale := make([]float64, bb.Dim)
	for i := range scale {
		scale[i] = 1
	}
	return &Head{Kind: Linear, Features: Joint, Backbone: bb, Mean: make([]float64, bb.Dim), Scale: scale,
		Layers: []Layer{{W: w, B: []float64{0}}}, Calib: Calibration{Method: "none", A: 1},
		SHA256: ModelSHA256Prefix + bb.Fingerprint}, nil
}
