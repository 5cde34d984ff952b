// Package ask chooses which unlabelled pairs humans should label next: the
// ones whose labels would teach a reward head most, by one of three rules.
//
//   - Random: a uniform sample without replacement (the baseline).
//   - Uncertainty: the pairs whose two responses the head scores closest,
//     smallest |s_a - s_b| with s = sigmoid of the calibrated reward.
//   - DOptimal: greedy D-optimal design on the head's last layer. The head's
//     reward is linear in its last layer's input phi(x), so under the
//     Bradley-Terry model a label on pair i adds Fisher information
//     w_i z_i z_i^T, with z_i = phi(a_i) - phi(b_i) and w_i = p_i (1 - p_i),
//     p_i = sigmoid(r_a - r_b) (raw rewards). Starting from A = Ridge * I
//     plus the information of the pairs already labelled (Options.Labelled),
//     each step picks the pair that most increases log det A, the one with
//     the largest w_i z_i^T A^-1 z_i, and adds its information; a pair like
//     one already picked then gains little, which keeps the batch diverse.
//     A^-1 and every pair's z_i^T A^-1 z_i are updated by Sherman-Morrison
//     after each pick: k^2 + n k work per step, k the last layer's width
//     (1,024 for a linear head on separate 512-d features, 64 for an MLP's
//     hidden layer), after one k x k inversion and an n x k x k product.
//
// Every rule is deterministic for a seed (ties and the random rule use it).
package ask

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/mat"

	"github.com/ser-rl/ser/head"
)

// The rules.
const (
	Random      = "random"
	Uncertainty = "uncertainty"
	DOptimal    = "dopt"
)

// Rules lists the rules, baseline first.
var Rules = []string{Random, Uncertainty, DOptimal}

// Options configure Select.
type Options struct {
	Rule  string  // Random, Uncertainty or DOptimal
	N     int     // pairs to pick (at most the pool's size)
	Seed  uint64  // breaks ties; draws the random rule's sample
	Ridge float64 // DOptimal's prior precision (0: 1)
	// Labelled are pairs already labelled (for DOptimal: their information
	// is already in A, so the picks add what they lack); may be nil.
	Labelled *head.Pairs
	// Skip marks pool pairs never to pick (see Eligible); nil skips none.
	Skip []bool
}

// Pick is one chosen pair.
type Pick struct {
	Index int     // into the pool
	Rank  int     // the order to show it in, from 0
	Score float64 // the rule's score when picked: |s_a - s_b| (uncertainty), the log det gain (dopt), 0 (random)
}

// Check reports an option outside its range.
func (o Options) Check() error {
	switch o.Rule {
	case Random, Uncertainty, DOptimal:
	default:
		return fmt.Errorf("ask: rule %q: want random, uncertainty or dopt", o.Rule)
	}
	if o.N < 0 {
		return fmt.Errorf("ask: %d pairs: want 0 or more", o.N)
	}
	if o.Ridge < 0 || math.IsNaN(o.Ridge) || math.IsInf(o.Ridge, 0) {
		return fmt.Errorf("ask: ridge %g: want a finite number, 0 or more", o.Ridge)
	}
	return nil
}

// NonFiniteError is a pair whose reward under the head is NaN or infinite
// (its backbone vector holds NaN or Inf): no rule can rank it.
type NonFiniteError struct {
	Index    int  // into the pool, or into Options.Labelled when Labelled
	Labelled bool // the pair is one of Options.Labelled
}

func (e *NonFiniteError) Error() string {
	which := "pool"
	if e.Labelled {
		which = "labelled"
	}
	return fmt.Sprintf("ask: %s pair %d: the head's reward is not a finite number (the backbone's vector holds NaN or Inf)", which, e.Index)
}

// Select picks opt.N pairs of the pool x (row i of x.A and x.B are pair i's
// two responses) for humans to label under head h, in the order to show
// them. Pairs are never picked twice, nor those opt.Skip marks. A pair
// whose reward is not finite is an error (a *NonFiniteError), for every
// rule: it would break the ranking. Ending ctx stops DOptimal between picks,
// with ctx's error (the other rules take a sort).
func Select(ctx context.Context, h *head.Head, x *head.Pairs, opt Options) ([]Pick, error) {
	if err := opt.Check(); err != nil {
		return nil, err
	}
	n := x.Len()
	if opt.Skip != nil && len(opt.Skip) != n {
		return nil, fmt.Errorf("ask: %d skip marks for %d pool pairs", len(opt.Skip), n)
	}
	skip := func(i int) bool { return opt.Skip != nil && opt.Skip[i] }
	ra, rb := h.Rewards(x.A), h.Rewards(x.B)
	var cand []int // the pairs that may be picked, in pool order
	for i := 0; i < n; i++ {
		if skip(i) {
			continue
		}
		if !finite(ra[i]) || !finite(rb[i]) {
			return nil, &NonFiniteError{Index: i}
		}
		cand = append(cand, i)
	}
	if opt.Labelled != nil {
		la, lb := h.Rewards(opt.Labelled.A), h.Rewards(opt.Labelled.B)
		for i := range la {
			if !finite(la[i]) || !finite(lb[i]) {
				return nil, &NonFiniteError{Index: i, Labelled: true}
			}
		}
	}
	k := min(opt.N, len(cand))
	if k == 0 {
		return nil, nil
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0xa5c))
	switch opt.Rule {
	case Random:
		perm := rng.Perm(len(cand))[:k]
		out := make([]Pick, k)
		for r, j := range perm {
			out[r] = Pick{Index: cand[j], Rank: r}
		}
		return out, nil
	case Uncertainty:
		gap := make([]float64, n)
		for _, i := range cand {
			gap[i] = math.Abs(sigmoid(ra[i]) - sigmoid(rb[i]))
		}
		order := make([]int, len(cand)) // ties fall in a seeded order
		for r, j := range rng.Perm(len(cand)) {
			order[r] = cand[j]
		}
		sort.SliceStable(order, func(a, b int) bool { return gap[order[a]] < gap[order[b]] })
		out := make([]Pick, k)
		for r, i := range order[:k] {
			out[r] = Pick{Index: i, Rank: r, Score: gap[i]}
		}
		return out, nil
	}
	return dOptimal(ctx, h, x, k, opt, rng, skip)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// dOptimal is the greedy D-optimal rule (see the package comment).
func dOptimal(ctx context.Context, h *head.Head, x *head.Pairs, k int, opt Options, rng *rand.Rand, skip func(int) bool) ([]Pick, error) {
	ridge := opt.Ridge
	if ridge == 0 {
		ridge = 1
	}
	z, w := information(h, x)
	n, d := z.Dims()
	// A = ridge I + the labelled pairs' information; Ainv its inverse
	a := mat.NewSymDense(d, nil)
	if opt.Labelled != nil && opt.Labelled.Len() > 0 {
		zl, wl := information(h, opt.Labelled)
		m, _ := zl.Dims()
		for i := 0; i < m; i++ { // rows scaled by sqrt(w): Z^T Z is the information
			row, sw := zl.RawRowView(i), math.Sqrt(wl[i])
			for j := range row {
				row[j] *= sw
			}
		}
		a.SymOuterK(1, zl.T())
	}
	for j := 0; j < d; j++ {
		a.SetSym(j, j, a.At(j, j)+ridge)
	}
	var chol mat.Cholesky
	if !chol.Factorize(a) {
		return nil, errors.New("ask: the information matrix is not positive definite (features with NaN or Inf?)")
	}
	ainv := mat.NewSymDense(d, nil)
	if err := chol.InverseTo(ainv); err != nil {
		return nil, fmt.Errorf("ask: %w", err)
	}
	q := make([]float64, n) // z_i^T A^-1 z_i, from Z A^-1 in blocks of rows (ctx is checked between)
	const block = 512
	za := mat.NewDense(min(block, n), d, nil)
	for lo := 0; lo < n; lo += block {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+block, n)
		zb := z.Slice(lo, hi, 0, d).(*mat.Dense)
		zab := za.Slice(0, hi-lo, 0, d).(*mat.Dense)
		zab.Mul(zb, ainv)
		for i := lo; i < hi; i++ {
			q[i] = dot(zab.RawRowView(i-lo), z.RawRowView(i))
		}
	}
	picked := make([]bool, n) // picked, or never to be
	for i := range picked {
		picked[i] = skip(i)
	}
	tie := rng.Perm(n) // a seeded order among equal gains
	out := make([]Pick, 0, k)
	u := mat.NewVecDense(d, nil)
	for len(out) < k {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		best, bestGain := -1, math.Inf(-1)
		for _, i := range tie {
			if !picked[i] {
				if g := math.Log1p(w[i] * q[i]); g > bestGain {
					best, bestGain = i, g
				}
			}
		}
		if best < 0 {
			break
		}
		picked[best] = true
		out = append(out, Pick{Index: best, Rank: len(out), Score: bestGain})
		// A' = A + w z z^T: A'^-1 = A^-1 - c u u^T, u = A^-1 z, c = w / (1 + w q)
		u.MulVec(ainv, mat.NewVecDense(d, z.RawRowView(best)))
		c := w[best] / (1 + w[best]*q[best])
		if math.IsNaN(c) || math.IsInf(c, 0) {
			return nil, errors.New("ask: the information matrix became singular (features with NaN or Inf?)")
		}
		ainv.SymRankOne(ainv, -c, u)
		ur := u.RawVector().Data
		for i := 0; i < n; i++ {
			if !picked[i] {
				p := dot(z.RawRowView(i), ur)
				q[i] = math.Max(0, q[i]-c*p*p)
			}
		}
	}
	return out, nil
}

// information is each pair's z_i = phi(a_i) - phi(b_i) on the head's last
// layer and its Bradley-Terry weight w_i = p_i (1 - p_i).
func information(h *head.Head, x *head.Pairs) (*mat.Dense, []float64) {
	pa, ra := h.LastInputs(x.A)
	pb, rb := h.LastInputs(x.B)
	n, d := pa.Dims()
	z := mat.NewDense(n, d, nil)
	z.Sub(pa, pb)
	w := make([]float64, n)
	for i := range w {
		p := sigmoid(ra[i] - rb[i])
		w[i] = p * (1 - p)
	}
	return z, w
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
