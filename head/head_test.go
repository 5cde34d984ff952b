package head

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// synthetic makes n pairs of d features whose preference follows a hidden
// Bradley-Terry teacher r*(x) = w* . x (plus, when nonlinear, a ReLU term), with
// labels drawn from sigmoid(r*(a) - r*(b)).
func synthetic(n, d int, seed uint64, nonlinear bool) (Data, []bool) {
	rng := rand.New(rand.NewPCG(seed, 9))
	w := make([]float64, d)
	for i := range w {
		w[i] = rng.NormFloat64()
	}
	teacher := func(x []float64) float64 {
		r := 0.0
		for i, v := range x {
			r += w[i] * v
		}
		if nonlinear {
			r = 3*math.Max(0, x[0]+x[1]) - 1.5*math.Abs(x[2])
		}
		return r
	}
	a, b := mat.NewDense(n, d, nil), mat.NewDense(n, d, nil)
	truth := make([]bool, n)
	for i := 0; i < n; i++ {
		ra, rb := a.RawRowView(i), b.RawRowView(i)
		for k := 0; k < d; k++ {
			ra[k], rb[k] = rng.NormFloat64(), rng.NormFloat64()
		}
		if rng.Float64() > 1/(1+math.Exp(-(teacher(ra)-teacher(rb)))) { // label noise from the teacher's own odds
			for k := 0; k < d; k++ {
				ra[k], rb[k] = rb[k], ra[k]
			}
		}
		truth[i] = teacher(ra) > teacher(rb)
	}
	return Data{X: &Pairs{A: a, B: b}}, truth
}

func split(d Data, at int) (Data, Data) {
	n, c := d.X.A.Dims()
	sl := func(m *mat.Dense, i, j int) *mat.Dense { return mat.DenseCopyOf(m.Slice(i, j, 0, c)) }
	return Data{X: &Pairs{A: sl(d.X.A, 0, at), B: sl(d.X.B, 0, at)}}, Data{X: &Pairs{A: sl(d.X.A, at, n), B: sl(d.X.B, at, n)}}
}

// TestGradients compares backpropagation with central differences on a small
// MLP. The step 1e-5 leaves a truncation error of order 1e-10 and a rounding
// error of order 1e-11 on a loss of order 1, so 1e-6 relative is a safe bound.
func TestGradients(t *testing.T) {
	data, _ := synthetic(16, 5, 1, true)
	h := &Head{Kind: MLP}
	h.Mean, h.Scale = standardisation(data.X)
	h.Layers = initLayers(5, TrainOptions{Kind: MLP, Hidden: []int{4, 3}}, rand.New(rand.NewPCG(2, 3)))
	for _, l := range h.Layers { // biases off zero, so every ReLU path is exercised
		for k := range l.B {
			l.B[k] = 0.1 * float64(k+1)
		}
	}
	p := prepare(h, data, 1)
	p.margin[3] = 0.5
	_, gw, gb := gradients(h.Layers, p.z, p.margin)
	loss := func() float64 { return pairLoss(h, p) }
	const eps = 1e-5
	check := func(name string, v *float64, analytic float64) {
		old := *v
		*v = old + eps
		up := loss()
		*v = old - eps
		down := loss()
		*v = old
		num := (up - down) / (2 * eps)
		if math.Abs(num-analytic) > 1e-6*math.Max(1, math.Abs(num)) {
			t.Errorf("%s: backprop %g, numeric %g", name, analytic, num)
		}
	}
	for li, l := range h.Layers {
		w := l.W.RawMatrix().Data
		for k := range w {
			check("w", &w[k], gw[li].RawMatrix().Data[k])
		}
		for k := range l.B {
			check("b", &l.B[k], gb[li][k])
		}
	}
}

func TestTrainLinearAndMLP(t *testing.T) {
	all, truth := synthetic(3000, 20, 4, false)
	train, val := split(all, 2500)
	bb := Backbone{Name: "synthetic", Fingerprint: "f", Dim: 10}
	h, err := Train(context.Background(), Problem{Train: train, Val: &val, Backbone: bb, Form: Separate}, TrainOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	// the teacher's labels are noisy; what a head can reach is the share of
	// pairs where the teacher itself prefers the first response (truth)
	agree := 0
	ra, rb := h.Raw(val.X.A), h.Raw(val.X.B)
	for i := range ra {
		if (ra[i] > rb[i]) == truth[2500+i] {
			agree++
		}
	}
	if frac := float64(agree) / 500; frac < 0.95 {
		t.Errorf("linear head agrees with the linear teacher on %.3f of validation pairs, want >= 0.95", frac)
	}

	nl, _ := synthetic(4000, 6, 5, true)
	ntrain, nval := split(nl, 3500)
	lin, _ := Train(context.Background(), Problem{Train: ntrain, Val: &nval, Backbone: bb, Form: Separate}, TrainOptions{Seed: 1})
	mlp, err := Train(context.Background(), Problem{Train: ntrain, Val: &nval, Backbone: bb, Form: Separate}, TrainOptions{Kind: MLP, Hidden: []int{32}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	la, ma := Accuracy(lin, nval.X), Accuracy(mlp, nval.X)
	t.Logf("nonlinear teacher: linear %.3f, mlp %.3f", la, ma)
	if ma < la+0.05 {
		t.Errorf("MLP (%.3f) is not clearly better than linear (%.3f) on a nonlinear teacher", ma, la)
	}
	again, _ := Train(context.Background(), Problem{Train: ntrain, Val: &nval, Backbone: bb, Form: Separate}, TrainOptions{Kind: MLP, Hidden: []int{32}, Seed: 1})
	if !mat.Equal(mlp.Layers[0].W, again.Layers[0].W) {
		t.Error("two trainings with one seed differ")
	}
}

// TestCalibration: with labels drawn from a known Bradley-Terry model, the
// calibrated pair probabilities must match the frequencies closely (ECE under
// 0.05 on 4,000 pairs, where sampling noise alone is about 0.02).
func TestCalibration(t *testing.T) {
	all, _ := synthetic(5000, 8, 6, false)
	train, val := split(all, 1000)
	h, _ := Train(context.Background(), Problem{Train: train, Val: &val, Backbone: Backbone{}, Form: Separate}, TrainOptions{Seed: 1, Calibration: "temperature"})
	ra, rb := h.Rewards(val.X.A), h.Rewards(val.X.B)
	var prob, y []float64
	for i := range ra {
		q := 1 / (1 + math.Exp(rb[i]-ra[i]))
		prob, y = append(prob, q, 1-q), append(y, 1, 0)
	}
	if e := ECE(prob, y, 10); e > 0.05 {
		t.Errorf("pair ECE %.3f after temperature calibration", e)
	}
	p, _ := Train(context.Background(), Problem{Train: train, Val: &val, Backbone: Backbone{}, Form: Separate}, TrainOptions{Seed: 1})
	if p.Calib.ECE > 0.05 || p.Calib.Method != "platt" {
		t.Errorf("platt: %+v", p.Calib)
	}
}

func TestSaveLoad(t *testing.T) {
	all, _ := synthetic(500, 6, 7, true)
	bb := Backbone{Name: "default", Fingerprint: "abc", Dim: 3}
	h, err := Train(context.Background(), Problem{Train: all, Backbone: bb, Form: Separate}, TrainOptions{Kind: MLP, Hidden: []int{8, 4}, Seed: 3, Epochs: 3})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "h.json")
	if err := h.Save(path); err != nil {
		t.Fatal(err)
	}
	g, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	r1, r2 := h.Rewards(all.X.A), g.Rewards(all.X.A)
	for i := range r1 {
		if r1[i] != r2[i] {
			t.Fatalf("reward %d: %v before saving, %v after", i, r1[i], r2[i])
		}
	}
	if g.Calib != h.Calib || g.Backbone != h.Backbone || g.Kind != MLP {
		t.Errorf("metadata changed: %+v vs %+v", g, h)
	}
	if err := g.Check(Backbone{Name: "other", Fingerprint: "0123456789abcdef", Dim: 4}); err == nil {
		t.Error("a head of another backbone passed Check")
	}
}

// TestLBFGSObjective checks the linear head's objective: its gradient
// against central differences of its value (D is float32, so values carry
// about 7 significant digits; a step of 1e-3 keeps truncation near 1e-7 and
// rounding near 1e-4/1e-3 = 1e-4 relative, hence the 1e-3 bound), and that the
// value and gradient kept from one pass are those of the point asked for.
func TestLBFGSObjective(t *testing.T) {
	data, _ := synthetic(700, 12, 7, false)
	h := &Head{Kind: Linear}
	h.Mean, h.Scale = standardisation(data.X)
	q := newLBFGSProblem(h, data, 0)
	q.l2 = 0.01
	w := make([]float64, q.d)
	rng := rand.New(rand.NewPCG(4, 5))
	for k := range w {
		w[k] = rng.NormFloat64() * 0.3
	}
	f := q.eval(w, nil)
	grad := make([]float64, len(w))
	if f2 := q.eval(w, grad); f2 != f {
		t.Fatalf("value %v then %v at one point", f, f2)
	}
	const eps = 1e-3
	for k := range w {
		old := w[k]
		w[k] = old + eps
		up := q.eval(w, nil)
		w[k] = old - eps
		down := q.eval(w, nil)
		w[k] = old
		if num := (up - down) / (2 * eps); math.Abs(num-grad[k]) > 1e-3*math.Max(1, math.Abs(num)) {
			t.Errorf("d f/d w[%d]: %g, numeric %g", k, grad[k], num)
		}
	}
	// a point evaluated after another: its own value and gradient, not the kept ones
	fresh := newLBFGSProblem(h, data, 0)
	fresh.l2 = 0.01
	g1, g2 := make([]float64, len(w)), make([]float64, len(w))
	w[3] += 0.5
	if a, b := q.eval(w, g1), fresh.eval(w, g2); a != b || !slices.Equal(g1, g2) {
		t.Errorf("after moving: value %v, gradient %v; a fresh problem gives %v, %v", a, g1[:3], b, g2[:3])
	}
}
