package head

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
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
func newLBFGSProblem(h *Head, data Data, marginScale float64) *lbfgsProblem {
	n, d := data.X.A.Dims()
	dm := make([]float32, n*d)
	for i := 0; i < n; i++ {
		a, b, row := data.X.A.RawRowView(i), data.X.B.RawRowView(i), dm[i*d:(i+1)*d]
		for k := range row {
			row[k] = float32((a[k] - b[k]) * h.Scale[k])
		}
	}
	margin := scaledMargins(data.Margins, n, marginScale)
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

// trainLBFGS fits a linear head by L-BFGS (an MLP is refused); without
// a given L2 it tries each of L2Grid, warm-starting along it, and keeps the
// one with the lowest validation log-loss.
func trainLBFGS(h *Head, q *lbfgsProblem, vl *prepared, opt *TrainOptions, out *TrainResult) error {
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
	var bestStatus, bestWarning string
	iters := 0
	for _, l2 := range grid {
		q.l2 = l2
		res, err := optimize.Minimize(optimize.Problem{Func: func(x []float64) float64 { return q.eval(x, nil) },
			Grad: func(grad, x []float64) { q.eval(x, grad) }},
			// scikit-learn's tolerance on the gradient of the mean loss
			w, &optimize.Settings{GradientThreshold: 1e-4, MajorIterations: 1000}, &optimize.LBFGS{})
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
	out.L2, out.Iterations, out.Status, out.Warning = bestL2, iters, bestStatus, bestWarning
	return nil
}
