package eval

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Paired is two reward models compared on the same pairs: each one's
// accuracy, the difference B - A with its bootstrap 95% interval (both
// models see the same resampled pairs, so what they have in common cancels),
// and McNemar's exact test on the pairs only one of them orders right.
type Paired struct {
	N         int        `json:"n"`
	AccuracyA float64    `json:"accuracy_a"`
	AccuracyB float64    `json:"accuracy_b"`
	Diff      float64    `json:"diff"` // AccuracyB - AccuracyA
	CI        [2]float64 `json:"diff_ci"`
	// OnlyA and OnlyB count the discordant pairs: ordered right by A only,
	// by B only. McNemarP is the exact two-sided p-value of McNemar's test
	// (a binomial test of OnlyB against OnlyA + OnlyB at one half): the
	// chance of a split at least this uneven if neither model were better.
	OnlyA    int     `json:"only_a_right"`
	OnlyB    int     `json:"only_b_right"`
	McNemarP float64 `json:"mcnemar_p"`
	// ToldApart is McNemar's verdict at 5%: the two are told apart on these
	// pairs (exact where the bootstrap interval of a few pairs is not).
	ToldApart bool `json:"told_apart"`
}

// Comparison is Paired overall and per subset.
type Comparison struct {
	A        string            `json:"a"`
	B        string            `json:"b"`
	Overall  Paired            `json:"overall"`
	BySubset map[string]Paired `json:"by_subset"`
}

// Compare compares two evaluations of the same pairs (Evaluate with each
// model's rewards), resampling pairs within subsets.
func Compare(nameA, nameB string, a, b Metrics) (Comparison, error) {
	if len(a.Scores) != len(b.Scores) {
		return Comparison{}, fmt.Errorf("eval: the two evaluations counted %d and %d pairs: not the same pairs", len(a.Scores), len(b.Scores))
	}
	type hit struct{ a, b bool }
	bySubset := map[string][]hit{}
	var all []hit
	for i, sa := range a.Scores {
		sb := b.Scores[i]
		if sa.Index != sb.Index {
			return Comparison{}, fmt.Errorf("eval: pair %d of one evaluation is pair %d of the other: not the same pairs", sa.Index, sb.Index)
		}
		h := hit{sa.Correct(), sb.Correct()}
		bySubset[sa.Subset] = append(bySubset[sa.Subset], h)
		all = append(all, h)
	}
	c := Comparison{A: nameA, B: nameB, BySubset: map[string]Paired{}}
	summary := func(hs []hit) Paired {
		p := Paired{N: len(hs)}
		okA, okB := 0, 0
		for _, h := range hs {
			switch {
			case h.a && !h.b:
				p.OnlyA++
			case h.b && !h.a:
				p.OnlyB++
			}
			if h.a {
				okA++
			}
			if h.b {
				okB++
			}
		}
		if p.N > 0 {
			p.AccuracyA, p.AccuracyB = float64(okA)/float64(p.N), float64(okB)/float64(p.N)
		}
		p.Diff = p.AccuracyB - p.AccuracyA
		p.McNemarP = McNemarExact(p.OnlyA, p.OnlyB)
		p.ToldApart = p.McNemarP < 0.05
		return p
	}
	c.Overall = summary(all)
	names := a.Subsets()
	for _, s := range names {
		c.BySubset[s] = summary(bySubset[s])
	}
	// the bootstrap: each subset's pairs drawn within it, all the pairs
	// together for the overall difference
	rng := rand.New(rand.NewPCG(0x5e, 0xc0de))
	draw := func(hs []hit) float64 {
		d := 0
		for range hs {
			h := hs[rng.IntN(len(hs))]
			d += b2i(h.b) - b2i(h.a)
		}
		return float64(d) / float64(len(hs))
	}
	overall := make([]float64, resamples)
	per := map[string][]float64{}
	for r := range resamples {
		for _, s := range names {
			per[s] = append(per[s], draw(bySubset[s]))
		}
		if len(all) > 0 {
			overall[r] = draw(all)
		}
	}
	if len(all) > 0 {
		c.Overall.CI = interval(overall)
	}
	for _, s := range names {
		p := c.BySubset[s]
		p.CI = interval(per[s])
		c.BySubset[s] = p
	}
	return c, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// McNemarExact is the exact two-sided p-value of McNemar's test for b and c
// discordant pairs: twice the binomial(b+c, 1/2) probability of a count at
// most min(b, c), at most 1 (1 when there are no discordant pairs).
func McNemarExact(b, c int) float64 {
	n := b + c
	if n == 0 {
		return 1
	}
	k := min(b, c)
	// sum of C(n, i) / 2^n for i <= k, in logs (n may be in the thousands)
	lg := func(x int) float64 { v, _ := math.Lgamma(float64(x) + 1); return v }
	p := 0.0
	for i := 0; i <= k; i++ {
		p += math.Exp(lg(n) - lg(i) - lg(n-i) - float64(n)*math.Ln2)
	}
	return math.Min(1, 2*p)
}

// Diff is a paired difference of accuracies on the same pairs, b - a, with
// its bootstrap 95% interval (1,000 resamples of the pairs, seeded).
type Diff struct {
	Mean float64    `json:"mean"`
	CI   [2]float64 `json:"ci"`
	N    int        `json:"pairs"`
}

// PairedDiff is the difference b - a of two models' accuracies on the same
// n pairs, from their per-pair correctness, with an interval from
// resampling pairs: both see the same resampled pairs, so what the two have
// in common cancels (a paired test, far tighter than two intervals).
func PairedDiff(a, b []bool) Diff {
	n := len(a)
	if n == 0 || len(b) != n {
		return Diff{Mean: math.NaN(), CI: [2]float64{math.NaN(), math.NaN()}}
	}
	d := make([]int, n) // -1, 0 or 1 per pair
	sum := 0
	for i := range a {
		d[i] = b2i(b[i]) - b2i(a[i])
		sum += d[i]
	}
	rng := rand.New(rand.NewPCG(0x5e, 0xd1ff))
	means := make([]float64, resamples)
	for r := range means {
		s := 0
		for range n {
			s += d[rng.IntN(n)]
		}
		means[r] = float64(s) / float64(n)
	}
	return Diff{Mean: float64(sum) / float64(n), CI: interval(means), N: n}
}

// Proportion is the share of true values in hits with its bootstrap 95%
// interval (1,000 resamples, seeded).
func Proportion(hits []bool) (share float64, ci [2]float64) {
	n := len(hits)
	if n == 0 {
		return math.NaN(), [2]float64{math.NaN(), math.NaN()}
	}
	k := 0
	for _, h := range hits {
		k += b2i(h)
	}
	rng := rand.New(rand.NewPCG(0x5e, 0x5eed))
	shares := make([]float64, resamples)
	for r := range shares {
		s := 0
		for range n {
			s += b2i(hits[rng.IntN(n)])
		}
		shares[r] = float64(s) / float64(n)
	}
	return float64(k) / float64(n), interval(shares)
}

// MeanCI is the mean of xs with its 95% interval by Student's t (for a
// handful of per-seed differences, each already paired within its seed).
func MeanCI(xs []float64) (mean float64, ci [2]float64) {
	n := float64(len(xs))
	if n == 0 {
		return math.NaN(), [2]float64{math.NaN(), math.NaN()}
	}
	for _, x := range xs {
		mean += x
	}
	mean /= n
	if n < 2 {
		return mean, [2]float64{math.NaN(), math.NaN()}
	}
	v := 0.0
	for _, x := range xs {
		v += (x - mean) * (x - mean)
	}
	half := tQuantile975(len(xs)-1) * math.Sqrt(v/(n-1)/n)
	return mean, [2]float64{mean - half, mean + half}
}

// tQuantile975 is the 97.5th percentile of Student's t with df degrees of
// freedom (tabulated to 30, then the normal's 1.96 with a 1/df correction
// good to 3 decimals).
func tQuantile975(df int) float64 {
	table := []float64{12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
		2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
		2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042}
	if df >= 1 && df <= len(table) {
		return table[df-1]
	}
	return 1.96 + 2.4/float64(df)
}
