package head

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// rmData is n pairs of d features and a last feature that is a reward
// model's reward rm (scale 2, so it orders pairs well): labels drawn from
// Bradley-Terry on rm + correction . features, with the correction planted
// (or none).
func rmData(n, d int, seed uint64, planted float64) Data {
	rng := rand.New(rand.NewPCG(seed, 77))
	w := make([]float64, d)
	for i := range w {
		w[i] = planted * rng.NormFloat64()
	}
	a, b := mat.NewDense(n, d+1, nil), mat.NewDense(n, d+1, nil)
	for i := 0; i < n; i++ {
		ra, rb := a.RawRowView(i), b.RawRowView(i)
		var ta, tb float64
		for k := 0; k < d; k++ {
			ra[k], rb[k] = rng.NormFloat64(), rng.NormFloat64()
			ta += w[k] * ra[k]
			tb += w[k] * rb[k]
		}
		ra[d], rb[d] = 2*rng.NormFloat64(), 2*rng.NormFloat64()
		ta += ra[d]
		tb += rb[d]
		if rng.Float64() > 1/(1+math.Exp(-(ta-tb))) {
			for k := range ra {
				ra[k], rb[k] = rb[k], ra[k]
			}
		}
	}
	return Data{X: &Pairs{A: a, B: b}}
}

// rmAccuracy is the share of pairs the reward model alone (the last
// feature) orders right.
func rmAccuracy(x *Pairs) float64 {
	n, d := x.A.Dims()
	ok := 0
	for i := 0; i < n; i++ {
		if x.A.At(i, d-1) > x.B.At(i, d-1) {
			ok++
		}
	}
	return float64(ok) / float64(n)
}

// TestResidual: a residual head (Base: the reward model's reward plus a
// learned linear correction, its weight decay chosen on validation) learns
// a planted correction, and where there is none to learn it is never worse
// than the reward model alone on held-out pairs beyond noise: over 10
// seeds, 400 training pairs, 100 validation, 2,000 test.
func TestResidual(t *testing.T) {
	const d = 16
	base := d
	var worst, sumNone, sumPlanted float64
	worst = math.Inf(1)
	for seed := uint64(1); seed <= 10; seed++ {
		for _, planted := range []float64{0, 0.5} {
			all := rmData(2500, d, seed, planted)
			tr, rest := split(all, 400)
			val, test := split(rest, 100)
			h, err := Train(context.Background(), Problem{Train: tr, Val: &val, Form: Joint}, TrainOptions{Base: &base, Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			gain := Accuracy(h, test.X) - rmAccuracy(test.X)
			if planted == 0 {
				sumNone += gain
				worst = math.Min(worst, gain)
			} else {
				sumPlanted += gain
			}
		}
	}
	t.Logf("residual minus the reward model alone, test accuracy: mean %+.4f (worst %+.4f) with nothing to learn, %+.4f with a planted correction", sumNone/10, worst, sumPlanted/10)
	if sumNone/10 < -0.005 || worst < -0.02 {
		t.Errorf("with nothing to learn the residual head costs %.4f on average (worst %.4f)", sumNone/10, worst)
	}
	if sumPlanted/10 < 0.03 {
		t.Errorf("with a planted correction the residual head gains only %.4f", sumPlanted/10)
	}
	// the reward is the base plus the correction: with a zero correction
	// (a huge weight decay), it is the reward model's own
	all := rmData(300, d, 99, 0)
	h, err := Train(context.Background(), Problem{Train: all, Form: Joint}, TrainOptions{Base: &base, L2: 1e9, Calibration: "none"})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range h.Raw(all.X.A)[:20] {
		if want := all.X.A.At(i, d); math.Abs(r-want) > 1e-6 {
			t.Fatalf("pair %d: reward %v, the base's %v", i, r, want)
		}
	}
	if _, err := Train(context.Background(), Problem{Train: all, Form: Joint}, TrainOptions{Base: &base, Kind: MLP}); err == nil {
		t.Error("an MLP residual head was trained")
	}
}
