package head

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"
)

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
	// Optimizer: "lbfgs" (full batch) or "adamw" (mini-batch with early
	// stopping on the validation pairs); "" is lbfgs for linear, adamw for MLP.
	Optimizer string
	Epochs    int     // adamw: at most (default 60)
	Batch     int     // adamw: pairs per step (default 128)
	LR        float64 // adamw: learning rate (default 1e-3)
	Patience  int     // adamw: epochs without a better validation loss before stopping (default 6)
	// Calibration: "platt" (default), "temperature" or "none"; see Calibrate.
	Calibration string
	// Init warm-starts from an earlier head of the same kind and shape (its
	// weights, not its standardisation, which is recomputed from the data).
	Init *Head
}

// Data is a training set: pairs with the preferred response first (row i of
// A preferred to row i of B), and the margins' score differences (or nil).
type Data struct {
	X       *Pairs
	Margins []float64
}

// Train fits a head on train; val (optional, may be nil) drives the choice of
// weight decay, early stopping and calibration. The result is deterministic
// for a seed.
func Train(train Data, val *Data, bb Backbone, form string, opt TrainOptions) (*Head, error) {
	start := time.Now()
	n := train.X.Len()
	if n == 0 {
		return nil, errors.New("head: no training pairs")
	}
	if opt.Kind == "" {
		opt.Kind = Linear
	}
	if opt.Kind != Linear && opt.Kind != MLP {
		return nil, fmt.Errorf("head: kind %q: want linear or mlp", opt.Kind)
	}
	if opt.Optimizer == "" {
		opt.Optimizer = "lbfgs"
		if opt.Kind == MLP {
			opt.Optimizer = "adamw"
		}
	}
	if opt.Calibration == "" {
		opt.Calibration = "platt"
	}
	_, d := train.X.A.Dims()
	h := &Head{Kind: opt.Kind, Features: form, Backbone: bb}
	h.Mean, h.Scale = standardisation(train.X)
	if opt.Init != nil {
		if opt.Init.FeatureDim() != d || opt.Init.Kind != opt.Kind {
			return nil, fmt.Errorf("head: --init head is %s on %d features; this training is %s on %d", opt.Init.Kind, opt.Init.FeatureDim(), opt.Kind, d)
		}
		h.Layers = cloneLayers(opt.Init.Layers)
		if opt.Kind == MLP && !sameHidden(opt.Init.Layers, opt.Hidden) {
			opt.Hidden = hiddenOf(opt.Init.Layers)
		}
	} else {
		h.Layers = initLayers(d, opt, rand.New(rand.NewPCG(opt.Seed, 0x5e5)))
	}
	var tr *prepared
	if opt.Optimizer != "lbfgs" { // L-BFGS on a linear head needs only the differences
		tr = prepare(h, train)
	}
	var vl *prepared
	if val != nil && val.X.Len() > 0 {
		vl = prepare(h, *val)
	}
	record := map[string]any{"kind": opt.Kind, "optimizer": opt.Optimizer, "seed": opt.Seed, "margin": opt.Margin,
		"train_pairs": n, "calibration": opt.Calibration}
	if vl != nil {
		record["val_pairs"] = vl.n
	}
	var err error
	switch opt.Optimizer {
	case "lbfgs":
		err = trainLBFGS(h, newLBFGSProblem(h, train), vl, &opt, record)
	case "adamw":
		err = trainAdamW(h, tr, vl, &opt, record)
	default:
		err = fmt.Errorf("head: optimizer %q: want lbfgs or adamw", opt.Optimizer)
	}
	if err != nil {
		return nil, err
	}
	if opt.Kind == MLP {
		record["hidden"] = opt.Hidden
	}
	calib := train.X
	if val != nil && val.X.Len() > 0 {
		calib = val.X
	}
	h.Calib = Calibrate(h, calib, opt.Calibration)
	record["train_accuracy"] = Accuracy(h, train.X)
	if val != nil && val.X.Len() > 0 {
		record["val_accuracy"] = Accuracy(h, val.X)
	}
	record["seconds"] = time.Since(start).Seconds()
	h.Training = record
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

func prepare(h *Head, data Data) *prepared {
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
	p := &prepared{n: n, z: z, margin: make([]float64, n)}
	if data.Margins != nil {
		copy(p.margin, data.Margins)
	}
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

func softplus(x float64) float64 {
	if x > 30 {
		return x
	}
	if x < -30 {
		return math.Exp(x)
	}
	return math.Log1p(math.Exp(x))
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// lbfgsProblem is the linear head's objective on difference features D = Za - Zb (n x d):
// f(w) = mean softplus(m - D w) + l2/2 |w|^2, its gradient -D^T sigmoid(m - D w)/n + l2 w.
// D is stored in float32: the two products with it per step are bound by
// memory, and half the bytes make them twice as fast; sums over d = 1,024
// terms keep about 6 significant digits, far finer than the 1e-4 gradient
// tolerance. The products run on row blocks in parallel; the gradient's block
// sums are added in block order, so results do not depend on scheduling.
type lbfgsProblem struct {
	n, d   int
	dm     []float32 // n x d, row-major
	margin []float64
	l2     float64
	blocks [][2]int
	parts  [][]float32 // per block: its share of D^T g (d)
	w32    []float32
	g      []float32 // n
}

// newLBFGSProblem builds D from the raw features: standardising a and b
// subtracts the same mean from both, so D's rows are (a - b) * scale.
func newLBFGSProblem(h *Head, data Data) *lbfgsProblem {
	n, d := data.X.A.Dims()
	dm := make([]float32, n*d)
	for i := 0; i < n; i++ {
		a, b, row := data.X.A.RawRowView(i), data.X.B.RawRowView(i), dm[i*d:(i+1)*d]
		for k := range row {
			row[k] = float32((a[k] - b[k]) * h.Scale[k])
		}
	}
	margin := make([]float64, n)
	if data.Margins != nil {
		copy(margin, data.Margins)
	}
	q := &lbfgsProblem{n: n, d: d, dm: dm, margin: margin, g: make([]float32, n), w32: make([]float32, d)}
	workers := max(1, min(runtime.GOMAXPROCS(0), n/256))
	for b := 0; b < workers; b++ {
		q.blocks = append(q.blocks, [2]int{b * n / workers, (b + 1) * n / workers})
		q.parts = append(q.parts, make([]float32, d))
	}
	return q
}

func (q *lbfgsProblem) eval(w []float64, grad []float64) float64 {
	n, d := q.n, q.d
	for k, v := range w {
		q.w32[k] = float32(v)
	}
	fs := make([]float64, len(q.blocks))
	var wg sync.WaitGroup
	for bi, blk := range q.blocks {
		wg.Add(1)
		go func(bi, lo, hi int) {
			defer wg.Done()
			rows := blas32.General{Rows: hi - lo, Cols: d, Stride: d, Data: q.dm[lo*d : hi*d]}
			dw := make([]float32, hi-lo)
			blas32.Gemv(blas.NoTrans, 1, rows, blas32.Vector{N: d, Inc: 1, Data: q.w32}, 0, blas32.Vector{N: hi - lo, Inc: 1, Data: dw})
			for i := lo; i < hi; i++ {
				t := q.margin[i] - float64(dw[i-lo])
				fs[bi] += softplus(t)
				q.g[i] = float32(-sigmoid(t) / float64(n))
			}
			if grad != nil {
				blas32.Gemv(blas.Trans, 1, rows, blas32.Vector{N: hi - lo, Inc: 1, Data: q.g[lo:hi]}, 0, blas32.Vector{N: d, Inc: 1, Data: q.parts[bi]})
			}
		}(bi, blk[0], blk[1])
	}
	wg.Wait()
	f := 0.0
	for _, v := range fs {
		f += v
	}
	f /= float64(n)
	reg := 0.0
	for _, v := range w {
		reg += v * v
	}
	f += q.l2 / 2 * reg
	if grad != nil {
		for k := range grad {
			grad[k] = q.l2 * w[k]
		}
		for _, part := range q.parts {
			for k, v := range part {
				grad[k] += float64(v)
			}
		}
	}
	return f
}

// trainLBFGS fits the linear head (or an MLP, full batch) by L-BFGS; without
// a given L2 it tries each of L2Grid, warm-starting along it, and keeps the
// one with the lowest validation log-loss.
func trainLBFGS(h *Head, q *lbfgsProblem, vl *prepared, opt *TrainOptions, record map[string]any) error {
	if h.Kind != Linear {
		return errors.New("head: lbfgs trains linear heads; use adamw for an MLP")
	}
	grid := []float64{opt.L2}
	if opt.L2 == 0 {
		grid = opt.L2Grid
		if len(grid) == 0 {
			grid = []float64{3, 1, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 0.0003}
		}
		if vl == nil {
			grid = []float64{1e-3}
		}
	}
	w := append([]float64(nil), h.Layers[0].W.RawRowView(0)...)
	bestLoss, bestL2 := math.Inf(1), grid[0]
	var best []float64
	iters := 0
	for _, l2 := range grid {
		q.l2 = l2
		res, err := optimize.Minimize(optimize.Problem{Func: func(x []float64) float64 { return q.eval(x, nil) },
			Grad: func(grad, x []float64) { q.eval(x, grad) }},
			// scikit-learn's tolerance on the gradient of the mean loss
			w, &optimize.Settings{GradientThreshold: 1e-4, MajorIterations: 1000}, &optimize.LBFGS{})
		if err != nil && res == nil {
			return fmt.Errorf("head: L-BFGS: %w", err)
		}
		iters += res.Stats.MajorIterations
		w = res.X
		if len(grid) == 1 {
			best, bestL2 = w, l2
			break
		}
		copy(h.Layers[0].W.RawRowView(0), w)
		if loss := pairLoss(h, vl); loss < bestLoss {
			bestLoss, bestL2, best = loss, l2, append([]float64(nil), w...)
		}
	}
	copy(h.Layers[0].W.RawRowView(0), best)
	record["l2"] = bestL2
	record["iterations"] = iters
	return nil
}

// Loss is the mean Bradley-Terry loss of the head's calibrated rewards on d.
func Loss(h *Head, d Data) float64 {
	ra, rb := h.Rewards(d.X.A), h.Rewards(d.X.B)
	l := 0.0
	for i := range ra {
		m := 0.0
		if d.Margins != nil {
			m = d.Margins[i]
		}
		l += softplus(m - (ra[i] - rb[i]))
	}
	return l / float64(len(ra))
}

// pairLoss is the mean Bradley-Terry loss of the head's raw rewards on prepared pairs.
func pairLoss(h *Head, p *prepared) float64 {
	r := forwardRaw(h.Layers, p.z, nil)
	loss := 0.0
	for i := 0; i < p.n; i++ {
		loss += softplus(p.margin[i] - (r[i] - r[p.n+i]))
	}
	return loss / float64(p.n)
}

// forwardRaw runs standardised rows through the layers; acts (when not nil)
// receives each layer's output, for backpropagation.
func forwardRaw(layers []Layer, z *mat.Dense, acts *[]*mat.Dense) []float64 {
	n, _ := z.Dims()
	a := z
	for li, l := range layers {
		out, _ := l.W.Dims()
		next := mat.NewDense(n, out, nil)
		next.Mul(a, l.W.T())
		last := li == len(layers)-1
		for i := 0; i < n; i++ {
			row := next.RawRowView(i)
			for k := range row {
				row[k] += l.B[k]
				if !last && row[k] < 0 {
					row[k] = 0
				}
			}
		}
		if acts != nil {
			*acts = append(*acts, next)
		}
		a = next
	}
	return mat.Col(nil, 0, a)
}

// gradients of the mean Bradley-Terry loss over a batch, z = [A; B] (2b x d).
func gradients(layers []Layer, z *mat.Dense, margin []float64) (loss float64, gw []*mat.Dense, gb [][]float64) {
	rows, _ := z.Dims()
	b := rows / 2
	var acts []*mat.Dense
	r := forwardRaw(layers, z, &acts)
	dr := mat.NewDense(rows, 1, nil)
	for i := 0; i < b; i++ {
		t := margin[i] - (r[i] - r[b+i])
		loss += softplus(t)
		g := -sigmoid(t) / float64(b)
		dr.Set(i, 0, g)
		dr.Set(b+i, 0, -g)
	}
	loss /= float64(b)
	gw = make([]*mat.Dense, len(layers))
	gb = make([][]float64, len(layers))
	delta := dr
	for li := len(layers) - 1; li >= 0; li-- {
		in := z
		if li > 0 {
			in = acts[li-1]
		}
		out, inDim := layers[li].W.Dims()
		gw[li] = mat.NewDense(out, inDim, nil)
		gw[li].Mul(delta.T(), in)
		gb[li] = make([]float64, out)
		for i := 0; i < rows; i++ {
			for k, v := range delta.RawRowView(i) {
				gb[li][k] += v
			}
		}
		if li == 0 {
			break
		}
		prev := mat.NewDense(rows, inDim, nil)
		prev.Mul(delta, layers[li].W)
		for i := 0; i < rows; i++ {
			act, row := acts[li-1].RawRowView(i), prev.RawRowView(i)
			for k := range row {
				if act[k] <= 0 {
					row[k] = 0
				}
			}
		}
		delta = prev
	}
	return loss, gw, gb
}

// trainAdamW fits by mini-batch AdamW with decoupled weight decay, keeping
// the weights of the epoch with the lowest validation loss and stopping after
// Patience epochs without improvement.
func trainAdamW(h *Head, tr, vl *prepared, opt *TrainOptions, record map[string]any) error {
	if opt.Epochs <= 0 {
		opt.Epochs = 60
	}
	if opt.Batch <= 0 {
		opt.Batch = 128
	}
	if opt.LR <= 0 {
		opt.LR = 1e-3
	}
	if opt.Patience <= 0 {
		opt.Patience = 6
	}
	l2 := opt.L2
	if l2 == 0 {
		l2 = 1e-2
	}
	const beta1, beta2, eps = 0.9, 0.999, 1e-8
	rng := rand.New(rand.NewPCG(opt.Seed, 0xada))
	type moments struct {
		mw, vw *mat.Dense
		mb, vb []float64
	}
	ms := make([]moments, len(h.Layers))
	for i, l := range h.Layers {
		r, c := l.W.Dims()
		ms[i] = moments{mat.NewDense(r, c, nil), mat.NewDense(r, c, nil), make([]float64, r), make([]float64, r)}
	}
	_, d := tr.z.Dims()
	order := make([]int, tr.n)
	for i := range order {
		order[i] = i
	}
	best := cloneLayers(h.Layers)
	bestLoss, since, step, epochs := math.Inf(1), 0, 0, 0
	batchZ := mat.NewDense(2*opt.Batch, d, nil)
	margin := make([]float64, opt.Batch)
	for epoch := 0; epoch < opt.Epochs; epoch++ {
		epochs++
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for s := 0; s < tr.n; s += opt.Batch {
			idx := order[s:min(s+opt.Batch, tr.n)]
			b := len(idx)
			z := batchZ.Slice(0, 2*b, 0, d).(*mat.Dense)
			for j, i := range idx {
				copy(z.RawRowView(j), tr.z.RawRowView(i))
				copy(z.RawRowView(b+j), tr.z.RawRowView(tr.n+i))
				margin[j] = tr.margin[i]
			}
			_, gw, gb := gradients(h.Layers, z, margin[:b])
			step++
			c1, c2 := 1-math.Pow(beta1, float64(step)), 1-math.Pow(beta2, float64(step))
			for li := range h.Layers {
				w, m, v, g := h.Layers[li].W.RawMatrix().Data, ms[li].mw.RawMatrix().Data, ms[li].vw.RawMatrix().Data, gw[li].RawMatrix().Data
				for k := range w {
					m[k] = beta1*m[k] + (1-beta1)*g[k]
					v[k] = beta2*v[k] + (1-beta2)*g[k]*g[k]
					w[k] -= opt.LR * (m[k]/c1/(math.Sqrt(v[k]/c2)+eps) + l2*w[k])
				}
				bias := h.Layers[li].B
				for k := range bias {
					ms[li].mb[k] = beta1*ms[li].mb[k] + (1-beta1)*gb[li][k]
					ms[li].vb[k] = beta2*ms[li].vb[k] + (1-beta2)*gb[li][k]*gb[li][k]
					bias[k] -= opt.LR * ms[li].mb[k] / c1 / (math.Sqrt(ms[li].vb[k]/c2) + eps)
				}
			}
		}
		if vl == nil {
			best = cloneLayers(h.Layers)
			continue
		}
		if loss := pairLoss(h, vl); loss < bestLoss-1e-6 {
			bestLoss, since, best = loss, 0, cloneLayers(h.Layers)
		} else if since++; since >= opt.Patience {
			break
		}
	}
	h.Layers = best
	record["l2"] = l2
	record["epochs"] = epochs
	record["steps"] = step
	record["batch"] = opt.Batch
	record["lr"] = opt.LR
	return nil
}

// Accuracy is the share of pairs whose first response gets the higher
// reward (a tie counts as wrong); NaN for no pairs.
func Accuracy(h *Head, x *Pairs) float64 {
	if x.Len() == 0 {
		return math.NaN()
	}
	ra, rb := h.Raw(x.A), h.Raw(x.B)
	ok := 0
	for i := range ra {
		if ra[i] > rb[i] {
			ok++
		}
	}
	return float64(ok) / float64(len(ra))
}
