package ask

import (
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/ser-rl/ser/head"
)

// linear is a linear head with weights w on d standardised features.
func linear(w []float64) *head.Head {
	d := len(w)
	scale := make([]float64, d)
	for i := range scale {
		scale[i] = 1
	}
	return &head.Head{Kind: head.Linear, Features: head.Separate, Mean: make([]float64, d), Scale: scale,
		Layers: []head.Layer{{W: mat.NewDense(1, d, append([]float64(nil), w...)), B: []float64{0}}}, Calib: head.Calibration{A: 1}}
}

// pool is n random pairs of d Gaussian features.
func pool(n, d int, seed uint64) *head.Pairs {
	rng := rand.New(rand.NewPCG(seed, 1))
	a, b := mat.NewDense(n, d, nil), mat.NewDense(n, d, nil)
	for i := 0; i < n; i++ {
		for k := 0; k < d; k++ {
			a.Set(i, k, rng.NormFloat64())
			b.Set(i, k, rng.NormFloat64())
		}
	}
	return &head.Pairs{A: a, B: b}
}

// TestDeterministic: every rule picks the same pairs for a seed, in the same
// order, distinct, within the pool.
func TestDeterministic(t *testing.T) {
	h := linear([]float64{1, -0.5, 0.2, 0, 0.7})
	x := pool(300, 5, 1)
	for _, rule := range Rules {
		a, err := Select(context.Background(), h, x, Options{Rule: rule, N: 40, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Select(context.Background(), h, x, Options{Rule: rule, N: 40, Seed: 7})
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: two selections with one seed differ", rule)
		}
		seen := map[int]bool{}
		for r, p := range a {
			if p.Index < 0 || p.Index >= 300 || seen[p.Index] || p.Rank != r {
				t.Fatalf("%s: pick %d %+v: out of the pool, repeated, or out of order", rule, r, p)
			}
			seen[p.Index] = true
		}
		if len(a) != 40 {
			t.Errorf("%s: %d picks, want 40", rule, len(a))
		}
	}
	all, _ := Select(context.Background(), h, x, Options{Rule: DOptimal, N: 1000})
	if len(all) != 300 {
		t.Errorf("asking for more than the pool: %d picks of 300", len(all))
	}
}

// TestRandomIsRandom: the random rule ignores the head (the same picks under
// two different heads) and picks every pair equally often over seeds (a
// chi-square test at the 0.1% level).
func TestRandomIsRandom(t *testing.T) {
	x := pool(20, 3, 2)
	h1, h2 := linear([]float64{1, 0, 0}), linear([]float64{0, -3, 1})
	a, _ := Select(context.Background(), h1, x, Options{Rule: Random, N: 5, Seed: 3})
	b, _ := Select(context.Background(), h2, x, Options{Rule: Random, N: 5, Seed: 3})
	if !reflect.DeepEqual(a, b) {
		t.Error("the random rule's picks depend on the head")
	}
	const seeds = 4000
	count := make([]float64, 20)
	for s := uint64(0); s < seeds; s++ {
		p, _ := Select(context.Background(), h1, x, Options{Rule: Random, N: 5, Seed: s})
		for _, q := range p {
			count[q.Index]++
		}
	}
	want := seeds * 5.0 / 20
	chi := 0.0
	for _, c := range count {
		chi += (c - want) * (c - want) / want
	}
	// 19 degrees of freedom: P(chi2 > 43.8) = 0.001
	if chi > 43.8 {
		t.Errorf("pick counts %v: chi-square %.1f over 19 degrees of freedom, far from uniform", count, chi)
	}
	// and not the head's order: the uncertainty rule's first picks are not random's
	u, _ := Select(context.Background(), h1, x, Options{Rule: Uncertainty, N: 5, Seed: 3})
	if reflect.DeepEqual(u, a) {
		t.Error("random picked what uncertainty picks")
	}
}

// TestUncertainty: the picks are the pairs with the smallest score gaps.
func TestUncertainty(t *testing.T) {
	h := linear([]float64{1, 2, -1})
	x := pool(200, 3, 3)
	picks, _ := Select(context.Background(), h, x, Options{Rule: Uncertainty, N: 30})
	ra, rb := h.Rewards(x.A), h.Rewards(x.B)
	gap := func(i int) float64 { return math.Abs(sigmoid(ra[i]) - sigmoid(rb[i])) }
	in := map[int]bool{}
	worst := 0.0
	for r, p := range picks {
		in[p.Index] = true
		worst = math.Max(worst, gap(p.Index))
		if r > 0 && p.Score < picks[r-1].Score {
			t.Errorf("pick %d's gap %.4f is smaller than pick %d's", r, p.Score, r-1)
		}
	}
	for i := 0; i < 200; i++ {
		if !in[i] && gap(i) < worst {
			t.Errorf("pair %d (gap %.4f) was left for a pick with gap %.4f", i, gap(i), worst)
		}
	}
}

// TestDOptimalGains: each pick's score is the log det gain computed directly,
// log det(A + w z z^T) - log det A, with A the prior, the labelled pairs'
// information and the earlier picks; and it is the largest gain on offer.
func TestDOptimalGains(t *testing.T) {
	h := linear([]float64{0.5, -1, 0.3, 0.8})
	x := pool(40, 4, 4)
	lab := pool(10, 4, 5)
	picks, err := Select(context.Background(), h, x, Options{Rule: DOptimal, N: 8, Ridge: 2, Labelled: lab})
	if err != nil {
		t.Fatal(err)
	}
	z, w := information(h, x)
	zl, wl := information(h, lab)
	a := mat.NewSymDense(4, nil)
	for j := 0; j < 4; j++ {
		a.SetSym(j, j, 2)
	}
	for i := 0; i < 10; i++ {
		a.SymRankOne(a, wl[i], mat.NewVecDense(4, zl.RawRowView(i)))
	}
	logdet := func(m *mat.SymDense) float64 {
		var c mat.Cholesky
		if !c.Factorize(m) {
			t.Fatal("not positive definite")
		}
		return c.LogDet()
	}
	picked := map[int]bool{}
	for r, p := range picks {
		gain := func(i int) float64 {
			b := mat.NewSymDense(4, nil)
			b.CopySym(a)
			b.SymRankOne(b, w[i], mat.NewVecDense(4, z.RawRowView(i)))
			return logdet(b) - logdet(a)
		}
		// a tolerance for the incremental updates' rounding against direct
		// Cholesky factorizations of 4 x 4 matrices: far below any real difference
		if g := gain(p.Index); math.Abs(g-p.Score) > 1e-9 {
			t.Errorf("pick %d: score %.12f, direct log det gain %.12f", r, p.Score, g)
		}
		for i := 0; i < 40; i++ {
			if !picked[i] && gain(i) > p.Score+1e-9 {
				t.Errorf("pick %d: pair %d gains %.6f, more than the pick's %.6f", r, i, gain(i), p.Score)
			}
		}
		picked[p.Index] = true
		a.SymRankOne(a, w[p.Index], mat.NewVecDense(4, z.RawRowView(p.Index)))
	}
}

// TestDOptimalDiverse: a pool of ten copies of one informative pair and ten
// different, less informative ones; D-optimal takes one copy and then the
// others (a copy teaches little once one is known); uncertainty-free greed
// on the information alone would take the copies.
func TestDOptimalDiverse(t *testing.T) {
	d := 10
	a, b := mat.NewDense(20, d, nil), mat.NewDense(20, d, nil)
	for i := 0; i < 10; i++ {
		a.Set(i, 0, 3) // the copies: z = 3 e_0
	}
	for i := 10; i < 20; i++ {
		a.Set(i, i-10, 1.5) // the others: z = 1.5 e_j, j = 0..9
	}
	h := linear(make([]float64, d)) // p = 1/2 for all: w = 1/4
	picks, err := Select(context.Background(), h, &head.Pairs{A: a, B: b}, Options{Rule: DOptimal, N: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	copies := 0
	for _, p := range picks {
		if p.Index < 10 {
			copies++
		}
	}
	if picks[0].Index >= 10 || copies > 2 {
		t.Errorf("picks %v: want one copy first and then the different pairs (%d copies taken)", picks, copies)
	}
}

func TestOptionsChecked(t *testing.T) {
	h := linear([]float64{1})
	x := pool(5, 1, 6)
	for _, o := range []Options{{Rule: "best", N: 1}, {Rule: Random, N: -1}, {Rule: DOptimal, N: 1, Ridge: math.NaN()}} {
		if _, err := Select(context.Background(), h, x, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
