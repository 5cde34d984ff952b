package evolve

import (
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/mat"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/head"
)

// rows copies rows idx of x.
func rows(x *head.Pairs, idx []int) *head.Pairs {
	_, d := x.A.Dims()
	a, b := mat.NewDense(max(1, len(idx)), d, nil), mat.NewDense(max(1, len(idx)), d, nil)
	for k, i := range idx {
		copy(a.RawRowView(k), x.A.RawRowView(i))
		copy(b.RawRowView(k), x.B.RawRowView(i))
	}
	if len(idx) == 0 {
		return &head.Pairs{}
	}
	return &head.Pairs{A: a, B: b}
}

func pick(pairs []data.Pair, idx []int) []data.Pair {
	out := make([]data.Pair, len(idx))
	for k, i := range idx {
		out[k] = pairs[i]
	}
	return out
}

func margins(pairs []data.Pair, idx []int) []float64 {
	m := make([]float64, len(idx))
	for k, i := range idx {
		if pairs[i].HasScores {
			m[k] = pairs[i].ScoreChosen - pairs[i].ScoreRejected
		}
	}
	return m
}

// stratified draws frac of idx from each subset (rounded, at least one from
// a subset of two or more) and returns the drawn and the rest, both in a
// seeded random order.
func stratified(pairs []data.Pair, idx []int, frac float64, rng *rand.Rand) (drawn, rest []int) {
	by := map[string][]int{}
	var names []string
	for _, i := range idx {
		s := pairs[i].Subset
		if _, ok := by[s]; !ok {
			names = append(names, s)
		}
		by[s] = append(by[s], i)
	}
	sort.Strings(names)
	for _, s := range names {
		g := by[s]
		rng.Shuffle(len(g), func(i, j int) { g[i], g[j] = g[j], g[i] })
		k := int(math.Round(frac * float64(len(g))))
		if k == 0 && len(g) >= 2 {
			k = 1
		}
		drawn = append(drawn, g[:k]...)
		rest = append(rest, g[k:]...)
	}
	rng.Shuffle(len(drawn), func(i, j int) { drawn[i], drawn[j] = drawn[j], drawn[i] })
	rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	return drawn, rest
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
