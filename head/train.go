package head

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"gonum.org/v1/gonum/mat"
)

// Optimizer names a training method.
type Optimizer string

// Optimizers.
const (
	LBFGS Optimizer = "lbfgs" // full-batch L-BFGS (gonum), linear heads
	AdamW Optimizer = "adamw" // mini-batch AdamW with early stopping
)

// TrainResult records how a head was trained and what training measured;
// head files keep it under "training".
type TrainResult struct {
	Kind        string    `json:"kind"`
	Optimizer   Optimizer `json:"optimizer"`
	Seed        uint64    `json:"seed"`
	Margin      float64   `json:"margin"`
	Calibration string    `json:"calibration"`
	TrainPairs  int       `json:"train_pairs"`
	ValPairs    int       `json:"val_pairs,omitempty"`
	L2          float64   `json:"l2"`               // the weight decay used (chosen on validation for a linear head)
	Hidden      []int     `json:"hidden,omitempty"` // MLP hidden sizes
	// L-BFGS: iterations over the whole L2 grid, and how the run for the
	// chosen L2 ended (gonum's optimize.Status; a failed line search keeps
	// the last point, and says so in Warning).
	Iterations int    `json:"iterations,omitempty"`
	Status     string `json:"status,omitempty"`
	Warning    string `json:"warning,omitempty"`
	// AdamW: epochs run, steps taken, batch size, learning rate, and whose
	// matrix products ran ("gonum", or the OpenBLAS library loaded: results
	// differ between the two by rounding).
	Epochs int     `json:"epochs,omitempty"`
	Steps  int     `json:"steps,omitempty"`
	Batch  int     `json:"batch,omitempty"`
	LR     float64 `json:"lr,omitempty"`
	BLAS   string  `json:"blas,omitempty"`

	// Base is the feature a residual head adds its correction to (a reward
	// model's own reward).
	Base *int `json:"base_feature,omitempty"`

	TrainAccuracy float64  `json:"train_accuracy"`
	ValAccuracy   *float64 `json:"val_accuracy,omitempty"`
	Seconds       float64  `json:"seconds"`
}

// TrainOptions configure Train. The zero value trains a linear head by
// full-batch L-BFGS, choosing the weight decay on the validation pairs, and
// calibrates it by Platt scaling.
type TrainOptions struct {
	Kind   string // Linear (default) or MLP
	Hidden []int  // MLP: sizes of its one or two hidden layers (default [64])
	// L2 is the weight decay. 0 picks it for a linear head from L2Grid by
	// validation log-loss (or uses 1e-3 without validation pairs), and uses
	// 1e-2 (decoupled, AdamW) for an MLP.
	L2     float64
	L2Grid []float64
	// Margin scales the margin from score differences (UltraFeedback ratings):
	// the loss becomes -log sigmoid(r_c - r_r - Margin*(s_c - s_r)). 0: none.
	Margin float64
	Seed   uint64
	// Optimizer: LBFGS (full batch) or AdamW (mini-batch with early
	// stopping on the validation pairs); "" is LBFGS for linear, AdamW for MLP.
	Optimizer Optimizer
	Epochs    int     // adamw: at most (default 60)
	Batch     int     // adamw: pairs per step (default 128)
	LR        float64 // adamw: learning rate (default 1e-3)
	Patience  int     // adamw: epochs without a better validation loss before stopping (default 6)
	// Calibration: "platt" (default), "temperature" or "none"; see Calibrate.
	Calibration string
	// Init warm-starts from an earlier head of the same kind and shape (its
	// weights, not its standardisation, which is recomputed from the data).
	Init *Head
	// Base, when set, is the index of a feature that is a reward already
	// (a reward model's own, head.FromRewardModel): the head is residual,
	// its reward that feature plus a linear correction on all the
	// features, fitted (with the same weight decay choice and calibration)
	// with the base's reward differences as fixed offsets. Linear heads
	// only.
	Base *int
}

// MaxHidden bounds an MLP layer's width.
const MaxHidden = 1 << 16

// Check reports the first setting outside its range: everything is checked
// before any data is read or trained on.
func (o *TrainOptions) Check() error {
	switch o.Kind {
	case "", Linear, MLP:
	default:
		return fmt.Errorf("head: kind %q: want linear or mlp", o.Kind)
	}
	if len(o.Hidden) > 2 {
		return fmt.Errorf("head: %d hidden layers: an MLP head has one or two", len(o.Hidden))
	}
	for _, h := range o.Hidden {
		if h < 1 || h > MaxHidden {
			return fmt.Errorf("head: hidden size %d: want 1 to %d", h, MaxHidden)
		}
	}
	finite := func(name string, v float64) error {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("head: %s %v: want a finite number, 0 or more", name, v)
		}
		return nil
	}
	for _, c := range []struct {
		name string
		v    float64
	}{{"l2", o.L2}, {"margin", o.Margin}, {"learning rate", o.LR}} {
		if err := finite(c.name, c.v); err != nil {
			return err
		}
	}
	for _, l2 := range o.L2Grid {
		if err := finite("l2 grid value", l2); err != nil || l2 == 0 {
			return fmt.Errorf("head: l2 grid value %v: want a positive finite number", l2)
		}
	}
	if o.Epochs < 0 || o.Batch < 0 || o.Patience < 0 {
		return fmt.Errorf("head: epochs, batch and patience must be 0 (default) or more")
	}
	switch o.Optimizer {
	case "", LBFGS, AdamW:
	default:
		return fmt.Errorf("head: optimizer %q: want lbfgs or adamw", o.Optimizer)
	}
	if o.Optimizer == LBFGS && o.Kind == MLP {
		return fmt.Errorf("head: lbfgs trains linear heads; use adamw for an MLP")
	}
	if o.Base != nil && o.Kind == MLP {
		return fmt.Errorf("head: a residual head (on a reward model's own reward) is linear")
	}
	if o.Base != nil && *o.Base < 0 {
		return fmt.Errorf("head: base feature %d: want an index", *o.Base)
	}
	switch o.Calibration {
	case "", "platt", "temperature", "none":
	default:
		return fmt.Errorf("head: calibration %q: want platt, temperature or none", o.Calibration)
	}
	return nil
}

// Data is a training set: pairs with the preferred response first (row i of
// A preferred to row i of B), and the margins' score differences (or nil).
// Offsets, when set, are fixed amounts in each pair's reward difference
// that the head does not make (a residual head's base reward: Train sets
// them from TrainOptions.Base).
type Data struct {
	X       *Pairs
	Margins []float64
	Offsets []float64
}

// pairMargins is each pair's margin in the loss softplus(margin - (r_a -
// r_b)): marginScale times the score difference, less the pair's offset.
func pairMargins(data Data, n int, marginScale float64) []float64 {
	m := scaledMargins(data.Margins, n, marginScale)
	for i := range data.Offsets {
		m[i] -= data.Offsets[i]
	}
	return m
}

// baseOffsets are the differences of feature k between each pair's
// responses.
func baseOffsets(x *Pairs, k int) []float64 {
	n, _ := x.A.Dims()
	out := make([]float64, n)
	for i := range out {
		out[i] = x.A.At(i, k) - x.B.At(i, k)
	}
	return out
}

// Problem is what Train fits a head to: the training pairs, the validation
// pairs (optional: they choose the linear head's weight decay, stop the
// MLP's epochs early and calibrate), and what the head records of its
// features: the backbone and the feature form.
type Problem struct {
	Train    Data
	Val      *Data
	Backbone Backbone
	Form     string
}

// Train fits a head to p. The result is deterministic for a seed. Ending
// ctx stops it between L-BFGS iterations or AdamW steps, with ctx's error.
func Train(ctx context.Context, p Problem, opt TrainOptions) (*Head, error) {
	train, val, bb, form := p.Train, p.Val, p.Backbone, p.Form
	start := time.Now()
	n := train.X.Len()
	if n == 0 {
		return nil, errors.New("head: no training pairs")
	}
	if err := opt.Check(); err != nil {
		return nil, err
	}
	if opt.Kind == "" {
		opt.Kind = Linear
	}
	if opt.Optimizer == "" {
		opt.Optimizer = LBFGS
		if opt.Kind == MLP {
			opt.Optimizer = AdamW
		}
	}
	if opt.Calibration == "" {
		opt.Calibration = "platt"
	}
	_, d := train.X.A.Dims()
	if opt.Base != nil {
		if *opt.Base >= d {
			return nil, fmt.Errorf("head: base feature %d: the features have %d values", *opt.Base, d)
		}
		train.Offsets = baseOffsets(train.X, *opt.Base)
		if val != nil && val.X.Len() > 0 {
			v := *val
			v.Offsets = baseOffsets(v.X, *opt.Base)
			val = &v
		}
	}
	h := &Head{Kind: opt.Kind, Features: form, Backbone: bb}
	h.Mean, h.Scale = standardisation(train.X)
	if opt.Base != nil && h.Scale[*opt.Base] == 0 {
		// the base reward is constant on these pairs: it still counts in
		// every reward (standardisation would drop it), unscaled
		h.Scale[*opt.Base] = 1
	}
	if opt.Init != nil {
		if opt.Init.FeatureDim() != d || opt.Init.Kind != opt.Kind {
			return nil, fmt.Errorf("head: the head to start from is %s on %d features; this training is %s on %d", opt.Init.Kind, opt.Init.FeatureDim(), opt.Kind, d)
		}
		h.Layers = cloneLayers(opt.Init.Layers)
		if opt.Kind == MLP && !sameHidden(opt.Init.Layers, opt.Hidden) {
			opt.Hidden = hiddenOf(opt.Init.Layers)
		}
	} else {
		h.Layers = initLayers(d, opt, rand.New(rand.NewPCG(opt.Seed, 0x5e5)))
	}
	var tr *prepared
	if opt.Optimizer != LBFGS { // L-BFGS on a linear head needs only the differences
		tr = prepare(h, train, opt.Margin)
	}
	var vl *prepared
	if val != nil && val.X.Len() > 0 {
		vl = prepare(h, *val, opt.Margin)
	}
	res := &TrainResult{Kind: opt.Kind, Optimizer: opt.Optimizer, Seed: opt.Seed, Margin: opt.Margin,
		TrainPairs: n, Calibration: opt.Calibration}
	if vl != nil {
		res.ValPairs = vl.n
	}
	var err error
	switch opt.Optimizer {
	case LBFGS:
		err = trainLBFGS(ctx, h, newLBFGSProblem(h, train, opt.Margin), vl, &opt, res)
	case AdamW:
		err = trainAdamW(ctx, h, tr, vl, &opt, res)
	default:
		err = fmt.Errorf("head: optimizer %q: want lbfgs or adamw", opt.Optimizer)
	}
	if err != nil {
		return nil, err
	}
	if opt.Kind == MLP {
		res.Hidden = opt.Hidden
	}
	if opt.Base != nil { // the base reward joins the correction: r = x[base] + w.z + b
		k := *opt.Base
		h.Layers[0].W.Set(0, k, h.Layers[0].W.At(0, k)+1/h.Scale[k]) // Scale[k] > 0, see above
		h.Layers[0].B[0] += h.Mean[k]
		res.Base = opt.Base
	}
	calib := train.X
	if val != nil && val.X.Len() > 0 {
		calib = val.X
	}
	h.Calib = Calibrate(h, calib, opt.Calibration)
	res.TrainAccuracy = Accuracy(h, train.X)
	if val != nil && val.X.Len() > 0 {
		v := Accuracy(h, val.X)
		res.ValAccuracy = &v
	}
	res.Seconds = time.Since(start).Seconds()
	h.Training = res
	return h, nil
}

// standardisation returns the mean and 1/sd of every feature over both
// responses of every pair, in one pass (sums of values and squares, in
// float64; backbone features are of order 1, so nothing cancels badly).
func standardisation(x *Pairs) (mean, scale []float64) {
	n, d := x.A.Dims()
	mean, scale = make([]float64, d), make([]float64, d)
	for _, m := range []*mat.Dense{x.A, x.B} {
		for i := 0; i < n; i++ {
			for k, v := range m.RawRowView(i) {
				mean[k] += v
				scale[k] += v * v
			}
		}
	}
	for k := range mean {
		mean[k] /= float64(2 * n)
	}
	for k := range scale {
		sd := math.Sqrt(math.Max(scale[k]/float64(2*n)-mean[k]*mean[k], 0))
		if sd < 1e-8 {
			scale[k] = 0 // a constant feature carries nothing
		} else {
			scale[k] = 1 / sd
		}
	}
	return mean, scale
}

// prepared holds standardised features: Z is [A; B] stacked, 2n x d.
type prepared struct {
	n      int
	z      *mat.Dense
	margin []float64
}

// scaledMargins is scale times the score differences (zeros when there are none).
func scaledMargins(diffs []float64, n int, scale float64) []float64 {
	m := make([]float64, n)
	if scale != 0 {
		for i := range diffs {
			m[i] = scale * diffs[i]
		}
	}
	return m
}

func prepare(h *Head, data Data, scale float64) *prepared {
	n, d := data.X.A.Dims()
	z := mat.NewDense(2*n, d, nil)
	for half, m := range []*mat.Dense{data.X.A, data.X.B} {
		for i := 0; i < n; i++ {
			src, dst := m.RawRowView(i), z.RawRowView(half*n+i)
			for k := range dst {
				dst[k] = (src[k] - h.Mean[k]) * h.Scale[k]
			}
		}
	}
	p := &prepared{n: n, z: z, margin: pairMargins(data, n, scale)}
	return p
}

func initLayers(d int, opt TrainOptions, rng *rand.Rand) []Layer {
	if opt.Kind == Linear {
		return []Layer{{W: mat.NewDense(1, d, nil), B: []float64{0}}}
	}
	sizes := opt.Hidden
	if len(sizes) == 0 {
		sizes = []int{64}
	}
	var layers []Layer
	in := d
	for _, out := range append(append([]int(nil), sizes...), 1) {
		w := make([]float64, out*in)
		std := math.Sqrt(2 / float64(in)) // He initialisation for ReLU
		for i := range w {
			w[i] = rng.NormFloat64() * std
		}
		layers = append(layers, Layer{W: mat.NewDense(out, in, w), B: make([]float64, out)})
		in = out
	}
	return layers
}

func cloneLayers(ls []Layer) []Layer {
	out := make([]Layer, len(ls))
	for i, l := range ls {
		out[i] = Layer{W: mat.DenseCopyOf(l.W), B: append([]float64(nil), l.B...)}
	}
	return out
}

func hiddenOf(ls []Layer) []int {
	var h []int
	for _, l := range ls[:len(ls)-1] {
		r, _ := l.W.Dims()
		h = append(h, r)
	}
	return h
}

func sameHidden(ls []Layer, hidden []int) bool {
	if len(hidden) == 0 {
		return true
	}
	got := hiddenOf(ls)
	if len(got) != len(hidden) {
		return false
	}
	for i := range got {
		if got[i] != hidden[i] {
			return false
		}
	}
	return true
}
