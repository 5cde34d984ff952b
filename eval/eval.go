// Package eval computes offline evaluation figures from the rewards a reward
// model gave labelled pairs: accuracy overall and per subset with bootstrap
// intervals and whether each is above chance, ties, the reward margin,
// calibration and its reliability diagram, RewardBench's scores as its own
// code computes them, paired comparisons of two reward models on the same
// pairs, UltraFeedback's rating-based measures, and charts of them. It knows
// nothing of features or heads: a reward model is the rewards it gave.
package eval

import (
	"math"
	"math/rand/v2"
	"sort"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/head"
)

// Definitions of the figures, one line each, for tables' footers and --help.
const (
	DefAccuracy = "accuracy: the share of pairs whose chosen response gets the higher reward; a tie (equal rewards, identical responses included) counts as wrong, as RewardBench counts it"
	DefInterval = "95% CI: bootstrap percentile interval, 1,000 resamples, seeded (of a subset's pairs for a subset, of all the pairs overall), Clopper-Pearson's exact interval under 30 pairs; \"not above chance\" where it reaches 0.5"
	DefMargin   = "margin: r(chosen) - r(rejected) in the head's reward units (log-odds for a calibrated head: a margin m gives the chosen response probability sigmoid(m) of being preferred)"
	DefECE      = "ECE: expected calibration error of sigmoid(margin) as the probability that the chosen response is preferred, over 10 equal-width bins (both orders of each pair), 0 for a perfectly calibrated head"
	DefTies     = "ties: pairs with equal rewards (identical responses always tie), counted as wrong"
)

// SubsetMetrics are one subset's (or source's) figures.
type SubsetMetrics struct {
	Accuracy float64    `json:"accuracy"`
	N        int        `json:"n"`
	CI       [2]float64 `json:"accuracy_ci"` // bootstrap 95% interval
	// Chance says where the interval lies against 0.5: "above", "below" or
	// "chance" (it holds 0.5: not told apart from guessing).
	Chance string `json:"chance"`
}

// Chance verdicts of an accuracy's interval against 0.5.
const (
	AboveChance = "above"
	AtChance    = "chance"
	BelowChance = "below"
)

// chance places an interval against 0.5.
func chance(ci [2]float64) string {
	switch {
	case ci[0] > 0.5:
		return AboveChance
	case ci[1] < 0.5:
		return BelowChance
	}
	return AtChance
}

// Metrics are the offline evaluation figures; the JSON keys are stable.
type Metrics struct {
	Accuracy float64 `json:"accuracy"` // share of pairs with r(chosen) > r(rejected); a tie counts as wrong
	N        int     `json:"n"`        // pairs counted
	// Ties counts pairs with r(chosen) == r(rejected), Identical of which
	// the two responses are the same text (always a tie: RewardBench scores
	// such pairs, and counts them wrong).
	Ties      int `json:"ties"`
	Identical int `json:"identical_responses"`
	// NonFinite counts pairs whose reward is NaN or infinite (the backbone's
	// vector held NaN or Inf): counted as wrong, left out of the margin and
	// ECE.
	NonFinite  int                      `json:"non_finite"`
	MeanMargin float64                  `json:"mean_margin"` // mean of r(chosen) - r(rejected)
	MarginStd  float64                  `json:"margin_std"`  // its standard deviation
	ECE        float64                  `json:"ece"`         // of sigmoid(r_c - r_r), both orders, 10 bins
	Skipped    map[string]int           `json:"skipped"`     // pairs not counted, by reason
	BySubset   map[string]SubsetMetrics `json:"by_subset"`   // by HH-RLHF subset or UltraFeedback source
	// AccuracyCI is the bootstrap 95% interval of Accuracy (1,000 resamples
	// of the pairs within each subset, percentile method, seeded: the same
	// data gives the same interval); Chance places it against 0.5.
	AccuracyCI [2]float64 `json:"accuracy_ci"`
	Chance     string     `json:"chance"`
	// Reliability is the calibration's reliability diagram (the bins ECE
	// is computed over).
	Reliability []Bin `json:"reliability"`
	// RewardBench is RewardBench's scores, when some subsets are its.
	RewardBench *RewardBenchScore `json:"rewardbench,omitempty"`
	// UltraFeedback is the rating-based measures, when the pairs come from
	// rated records (set by the caller: UltraFeedbackMeasures needs every
	// completion's reward).
	UltraFeedback *UltraFeedback `json:"ultrafeedback,omitempty"`
	// Scores are the per-pair rewards, for --scores-out and charts (not in
	// the JSON).
	Scores []PairScore `json:"-"`
}

// Bin is one bin of a reliability diagram: predictions in [Lo, Hi), their
// mean, the share of them that came true, and how many there are.
type Bin struct {
	Lo        float64 `json:"lo"`
	Hi        float64 `json:"hi"`
	Predicted float64 `json:"predicted"`
	Observed  float64 `json:"observed"`
	N         int     `json:"n"`
}

// PairScore is one counted pair's rewards.
type PairScore struct {
	Index          int     // the pair's index in the evaluated data
	Chosen, Reject float64 // calibrated rewards
	Subset         string  // its subset ("all" when the data has none)
}

// Correct reports whether the pair counts as ordered right: the chosen
// response's reward is the higher (a tie, NaN or identical responses are
// wrong).
func (s PairScore) Correct() bool { return s.Chosen > s.Reject }

// Evaluate computes the figures from the rewards of each pair's chosen
// (ra) and rejected (rb) response. Unlabelled pairs and tied ratings are
// skipped and counted; identical responses are counted, as ties.
func Evaluate(ra, rb []float64, pairs []data.Pair) Metrics {
	m := Metrics{Skipped: map[string]int{}, BySubset: map[string]SubsetMetrics{}}
	var margins, p, y []float64
	correct := map[string]int{}
	hits := map[string][]bool{} // per subset, whether each counted pair was ordered right
	ok := 0
	for i := range pairs {
		if !pairs[i].Labelled {
			m.Skipped["unlabelled"]++
			continue
		}
		c, r := ra[i], rb[i]
		switch why := pairs[i].Problem(); why {
		case "":
		case data.ProblemIdentical:
			// one text has one reward: make it so whatever the rounding of
			// the batch it was embedded in
			m.Identical++
			r = c
		default:
			m.Skipped[why]++
			continue
		}
		s := pairs[i].Subset
		if s == "" {
			s = "all"
		}
		m.N++
		m.Scores = append(m.Scores, PairScore{Index: i, Chosen: c, Reject: r, Subset: s})
		if !finite(c) || !finite(r) {
			m.NonFinite++
			hits[s] = append(hits[s], false)
			continue
		}
		d := c - r
		margins = append(margins, d)
		hits[s] = append(hits[s], d > 0)
		switch {
		case d > 0:
			ok++
			correct[s]++
		case d == 0:
			m.Ties++
		}
		q := sigmoid(d)
		p = append(p, q, 1-q)
		y = append(y, 1, 0)
	}
	if m.N == 0 {
		return m
	}
	m.Accuracy = float64(ok) / float64(m.N)
	if len(margins) > 0 {
		m.MeanMargin, m.MarginStd = meanStd(margins)
		m.ECE = head.ECE(p, y, 10)
		m.Reliability = reliability(p, y, 10)
	}
	for s, h := range hits {
		m.BySubset[s] = SubsetMetrics{Accuracy: float64(correct[s]) / float64(len(h)), N: len(h)}
	}
	m.bootstrap(hits)
	return m
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// meanStd is the mean and the (population) standard deviation of xs.
func meanStd(xs []float64) (mean, std float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(xs)))
}

// reliability bins predictions p of outcomes y as head.ECE does: equal-width
// bins over [0, 1], the last closed.
func reliability(p, y []float64, bins int) []Bin {
	out := make([]Bin, bins)
	for k := range out {
		out[k].Lo, out[k].Hi = float64(k)/float64(bins), float64(k+1)/float64(bins)
	}
	for i, v := range p {
		k := min(max(int(v*float64(bins)), 0), bins-1)
		out[k].Predicted += v
		out[k].Observed += y[i]
		out[k].N++
	}
	for k := range out {
		if out[k].N > 0 {
			out[k].Predicted /= float64(out[k].N)
			out[k].Observed /= float64(out[k].N)
		}
	}
	return out
}

// resamples is how many bootstrap resamples every interval takes.
const resamples = 1000

// smallN is the count of pairs under which a share's interval is
// Clopper-Pearson's exact one rather than the bootstrap's: a bootstrap of
// a handful of pairs underestimates the spread by (n-1)/n, and of one pair
// has none.
const smallN = 30

// bootstrap sets the 95% intervals: each subset's by resampling its pairs
// (exact for fewer than smallN), the overall one by resampling all the
// pairs together, and RewardBench's scores from the subsets' resamples.
func (m *Metrics) bootstrap(hits map[string][]bool) {
	names := m.Subsets()
	rng := rand.New(rand.NewPCG(0x5e, 0xb007))
	per := map[string][]float64{}
	var rbScore, rbBoard []float64
	acc := map[string]float64{}
	for range resamples {
		for _, s := range names {
			h := hits[s]
			ok := 0
			for range h {
				if h[rng.IntN(len(h))] {
					ok++
				}
			}
			acc[s] = float64(ok) / float64(len(h))
			per[s] = append(per[s], acc[s])
		}
		if sc := RewardBench(acc); sc != nil {
			rbScore = append(rbScore, sc.Score)
			if sc.Leaderboard != nil {
				rbBoard = append(rbBoard, *sc.Leaderboard)
			}
		}
	}
	var all []bool
	for _, s := range names {
		all = append(all, hits[s]...)
	}
	_, m.AccuracyCI = shareCI(all, rng)
	m.Chance = chance(m.AccuracyCI)
	point := map[string]float64{}
	for _, s := range names {
		sm := m.BySubset[s]
		if sm.N < smallN {
			sm.CI = clopperPearson(count(hits[s]), sm.N)
		} else {
			sm.CI = interval(per[s])
		}
		sm.Chance = chance(sm.CI)
		m.BySubset[s] = sm
		point[s] = sm.Accuracy
	}
	if sc := RewardBench(point); sc != nil {
		sc.ScoreCI = interval(rbScore)
		if sc.Leaderboard != nil && len(rbBoard) == resamples {
			ci := interval(rbBoard)
			sc.LeaderboardCI = &ci
		}
		m.RewardBench = sc
	}
}

func count(hits []bool) int {
	k := 0
	for _, h := range hits {
		if h {
			k++
		}
	}
	return k
}

// shareCI is the share of true values in hits and its 95% interval: the
// bootstrap's (resamples of all of them, from rng), or Clopper-Pearson's
// for fewer than smallN.
func shareCI(hits []bool, rng *rand.Rand) (float64, [2]float64) {
	n, k := len(hits), count(hits)
	if n == 0 {
		return math.NaN(), [2]float64{math.NaN(), math.NaN()}
	}
	if n < smallN {
		return float64(k) / float64(n), clopperPearson(k, n)
	}
	shares := make([]float64, resamples)
	for r := range shares {
		s := 0
		for range n {
			if hits[rng.IntN(n)] {
				s++
			}
		}
		shares[r] = float64(s) / float64(n)
	}
	return float64(k) / float64(n), interval(shares)
}

// clopperPearson is the exact 95% interval of a share of k in n: the
// shares at which k or more (k or fewer) successes have probability 2.5%.
func clopperPearson(k, n int) [2]float64 {
	// upperTail(p, k) = P(X >= k) for X ~ binomial(n, p), summed from logs
	lg := func(x int) float64 { v, _ := math.Lgamma(float64(x) + 1); return v }
	upperTail := func(p float64, k int) float64 {
		s := 0.0
		for i := k; i <= n; i++ {
			s += math.Exp(lg(n) - lg(i) - lg(n-i) + float64(i)*math.Log(p) + float64(n-i)*math.Log1p(-p))
		}
		return s
	}
	// solve finds where f, increasing in p, crosses target
	solve := func(f func(float64) float64, target float64) float64 {
		lo, hi := 0.0, 1.0
		for range 60 {
			mid := (lo + hi) / 2
			if f(mid) < target {
				lo = mid
			} else {
				hi = mid
			}
		}
		return (lo + hi) / 2
	}
	ci := [2]float64{0, 1}
	if k > 0 { // P(X >= k) = 2.5%
		ci[0] = solve(func(p float64) float64 { return upperTail(p, k) }, 0.025)
	}
	if k < n { // P(X <= k) = 2.5%: P(X >= k+1) = 97.5%
		ci[1] = solve(func(p float64) float64 { return upperTail(p, k+1) }, 0.975)
	}
	return ci
}

// interval is the 2.5th and 97.5th percentiles of xs.
func interval(xs []float64) [2]float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	at := func(q float64) float64 { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return [2]float64{at(0.025), at(0.975)}
}

// Subsets lists the subset names of m in order.
func (m *Metrics) Subsets() []string {
	out := make([]string, 0, len(m.BySubset))
	for s := range m.BySubset {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
