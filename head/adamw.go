package head

import (
	"context"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/ser-rl/ser/internal/openblas"
)

// forwardRaw runs standardised rows through the layers; acts (when not nil)
// receives each layer's output, for backpropagation.
func forwardRaw(layers []Layer, z *mat.Dense, acts *[]*mat.Dense) []float64 {
	openblas.Use() // the products below run on OpenBLAS where it is installed
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
func trainAdamW(ctx context.Context, h *Head, tr, vl *prepared, opt *TrainOptions, out *TrainResult) error {
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
			if err := ctx.Err(); err != nil {
				return err
			}
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
			// m/c1 / (sqrt(v/c2) + eps) as (m * a) / (sqrt(v) + e): one root and one division a weight
			c1, c2 := 1-math.Pow(beta1, float64(step)), 1-math.Pow(beta2, float64(step))
			a, e := opt.LR*math.Sqrt(c2)/c1, eps*math.Sqrt(c2)
			decay := 1 - opt.LR*l2
			for li := range h.Layers {
				w, m, v, g := h.Layers[li].W.RawMatrix().Data, ms[li].mw.RawMatrix().Data, ms[li].vw.RawMatrix().Data, gw[li].RawMatrix().Data
				m, v, g = m[:len(w)], v[:len(w)], g[:len(w)]
				for k := range w {
					mk := beta1*m[k] + (1-beta1)*g[k]
					vk := beta2*v[k] + (1-beta2)*g[k]*g[k]
					m[k], v[k] = mk, vk
					w[k] = w[k]*decay - a*mk/(math.Sqrt(vk)+e)
				}
				bias := h.Layers[li].B
				for k := range bias {
					ms[li].mb[k] = beta1*ms[li].mb[k] + (1-beta1)*gb[li][k]
					ms[li].vb[k] = beta2*ms[li].vb[k] + (1-beta2)*gb[li][k]*gb[li][k]
					bias[k] -= a * ms[li].mb[k] / (math.Sqrt(ms[li].vb[k]) + e)
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
	out.L2, out.Epochs, out.Steps, out.Batch, out.LR = l2, epochs, step, opt.Batch, opt.LR
	out.BLAS = "gonum"
	if lib := openblas.Use(); lib != "" {
		out.BLAS = lib
	}
	return nil
}
