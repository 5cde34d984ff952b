package head

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"

	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/optimize"
)

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
//
// D is stored in float32: evaluating is bound by memory, and half the bytes
// make it twice as fast; sums over d = 1,024 terms keep about 6 significant
// digits, far finer than the 1e-4 gradient tolerance. Each evaluation reads D
// once: row i's product with w gives its term of f, and its share of the
// gradient is added while the row is still in cache. The rows are split in
// blocks run in parallel; the blocks' partial sums are added in block order,
// so results do not depend on scheduling. The optimizer asks for f and then
// the gradient at the same point: both come from one pass, kept for the second
// request.
type lbfgsProblem struct {
	n, d   int
	dm     []float32 // n x d, row-major
	margin []float64
	l2     float64
	blocks [][2]int
	parts  [][]float32 // per block: its share of D^T g (d)
	fs     []float64   // per block: its share of the sum of losses
	w32    []float32

	// the last point evaluated, its loss and gradient (without the l2 terms)
	at    []float64
	f     float64
	grad  []float64
	valid bool
}

// newLBFGSProblem builds D from the raw features: standardising a and b
// subtracts the same mean from both, so D's rows are (a - b) * scale.
func newLBFGSProblem(h *Head, data Data, marginScale float64) *lbfgsProblem {
	n, d := data.X.A.Dims()
	dm := make([]float32, n*d)
	for i := 0; i < n; i++ {
		a, b, row := data.X.A.RawRowView(i), data.X.B.RawRowView(i), dm[i*d:(i+1)*d]
		for k := range row {
			row[k] = float32((a[k] - b[k]) * h.Scale[k])
		}
	}
	margin := pairMargins(data, n, marginScale)
	q := &lbfgsProblem{n: n, d: d, dm: dm, margin: margin, w32: make([]float32, d),
		at: make([]float64, d), grad: make([]float64, d)}
	workers := max(1, min(runtime.GOMAXPROCS(0), n/256))
	for b := 0; b < workers; b++ {
		q.blocks = append(q.blocks, [2]int{b * n / workers, (b + 1) * n / workers})
		q.parts = append(q.parts, make([]float32, d))
	}
	q.fs = make([]float64, workers)
	return q
}

// pass evaluates the data term of f and of its gradient at w in one read of D.
func (q *lbfgsProblem) pass(w []float64) {
	n, d := q.n, q.d
	for k, v := range w {
		q.w32[k] = float32(v)
	}
	wv := blas32.Vector{N: d, Inc: 1, Data: q.w32}
	var wg sync.WaitGroup
	for bi, blk := range q.blocks {
		wg.Add(1)
		go func(bi, lo, hi int) {
			defer wg.Done()
			part := blas32.Vector{N: d, Inc: 1, Data: q.parts[bi]}
			clear(part.Data)
			f := 0.0
			for i := lo; i < hi; i++ {
				row := blas32.Vector{N: d, Inc: 1, Data: q.dm[i*d : (i+1)*d]}
				t := q.margin[i] - float64(blas32.Dot(row, wv))
				f += softplus(t)
				blas32.Axpy(float32(-sigmoid(t)/float64(n)), row, part)
			}
			q.fs[bi] = f
		}(bi, blk[0], blk[1])
	}
	wg.Wait()
	q.f = 0
	for _, v := range q.fs {
		q.f += v
	}
	q.f /= float64(n)
	clear(q.grad)
	for _, part := range q.parts {
		for k, v := range part {
			q.grad[k] += float64(v)
		}
	}
	copy(q.at, w)
	q.valid = true
}

// eval returns f(w) and, when grad is not nil, writes its gradient there.
func (q *lbfgsProblem) eval(w []float64, grad []float64) float64 {
	if !q.valid || !slices.Equal(w, q.at) {
		q.pass(w)
	}
	reg := 0.0
	for _, v := range w {
		reg += v * v
	}
	for k := range grad { // nil when only the value is asked for
		grad[k] = q.grad[k] + q.l2*w[k]
	}
	return q.f + q.l2/2*reg
}

// trainLBFGS fits a linear head by L-BFGS (an MLP is refused); without
// a given L2 it tries each of L2Grid, warm-starting along it, and keeps the
// one with the lowest validation log-loss.
func trainLBFGS(ctx context.Context, h *Head, q *lbfgsProblem, vl *prepared, opt *TrainOptions, out *TrainResult) error {
	if h.Kind != Linear {
		return errors.New("head: lbfgs trains linear heads; use adamw for an MLP")
	}
	grid := []float64{opt.L2}
	few := "" // why a residual head's decay was not chosen
	if opt.L2 == 0 {
		grid = opt.L2Grid
		if len(grid) == 0 {
			grid = []float64{3, 1, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 0.0003}
		}
		switch {
		case opt.Base != nil && (vl == nil || vl.n < minResidualVal):
			// a residual head with too few validation pairs to choose its
			// decay: the strongest keeps the correction small, so that a
			// handful of labels cannot overturn the reward model
			grid = []float64{residualDecay}
			n := 0
			if vl != nil {
				n = vl.n
			}
			few = fmt.Sprintf("%d validation pairs, fewer than the %d that choose a residual correction's weight decay: it was held at %g (strong), so the head stays near the reward model; give more labelled pairs to let it learn", n, minResidualVal, residualDecay)
		case vl == nil:
			grid = []float64{1e-3}
		}
	}
	w := append([]float64(nil), h.Layers[0].W.RawRowView(0)...)
	bestLoss, bestL2 := math.Inf(1), grid[0]
	var best []float64
	var bestStatus, bestWarning string
	if opt.Base != nil && len(grid) > 1 {
		// a residual head: no correction at all (the base reward alone) is
		// a candidate, and stronger decays lead towards it
		grid = append([]float64{residualDecay, 30, 10}, grid...)
		zero := make([]float64, len(w))
		copy(h.Layers[0].W.RawRowView(0), zero)
		bestLoss, bestL2, best, bestStatus = pairLoss(h, vl), 0, zero, "no correction: the base reward alone was best on validation"
	}
	iters := 0
	for _, l2 := range grid {
		q.l2 = l2
		res, err := optimize.Minimize(optimize.Problem{Func: func(x []float64) float64 { return q.eval(x, nil) },
			Grad: func(grad, x []float64) { q.eval(x, grad) }},
			// scikit-learn's tolerance on the gradient of the mean loss
			w, &optimize.Settings{GradientThreshold: 1e-4, MajorIterations: 1000, Recorder: cancelled{ctx}}, &optimize.LBFGS{})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if res == nil {
			return fmt.Errorf("head: L-BFGS (l2 %g): %w", l2, err)
		}
		status, warning := res.Status.String(), ""
		if err != nil { // a failed line search: res holds the best point found
			warning = fmt.Sprintf("L-BFGS (l2 %g): %v", l2, err)
		}
		iters += res.Stats.MajorIterations
		w = res.X
		if len(grid) == 1 {
			best, bestL2, bestStatus, bestWarning = w, l2, status, warning
			break
		}
		copy(h.Layers[0].W.RawRowView(0), w)
		if loss := pairLoss(h, vl); loss < bestLoss {
			bestLoss, bestL2, best = loss, l2, append([]float64(nil), w...)
			bestStatus, bestWarning = status, warning
		}
	}
	copy(h.Layers[0].W.RawRowView(0), best)
	out.L2, out.Iterations, out.Status, out.Warning = bestL2, iters, bestStatus, strings.TrimPrefix(bestWarning+"; "+few, "; ")
	out.Warning = strings.TrimSuffix(out.Warning, "; ")
	return nil
}

// A residual head chooses its correction's weight decay on at least
// minResidualVal validation pairs; with fewer it uses residualDecay.
const (
	minResidualVal = 20
	residualDecay  = 100.0
)

// cancelled is an optimize.Recorder that stops the optimizer, between
// iterations, once ctx has ended.
type cancelled struct{ ctx context.Context }

func (cancelled) Init() error { return nil }

func (c cancelled) Record(*optimize.Location, optimize.Operation, *optimize.Stats) error {
	return c.ctx.Err()
}
