package head

import (
	"math"
	"math/rand/v2"
	"sort"

	"github.com/ser-rl/ser/data"
)

// SubsetMetrics are one subset's (or source's) figures.
type SubsetMetrics struct {
	Accuracy float64    `json:"accuracy"`
	N        int        `json:"n"`
	CI       [2]float64 `json:"accuracy_ci"` // bootstrap 95% interval
}

// Metrics are the offline evaluation figures; the JSON keys are stable.
type Metrics struct {
	Accuracy float64 `json:"accuracy"` // share of pairs with r(chosen) > r(rejected); a tie counts as wrong
	N        int     `json:"n"`        // pairs counted
	Ties     int     `json:"ties"`     // pairs with r(chosen) == r(rejected)
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
	// of the pairs, percentile method, seeded: the same data gives the same
	// interval).
	AccuracyCI [2]float64 `json:"accuracy_ci"`
	// RewardBench is the section-weighted score, when the subsets are
	// RewardBench's.
	RewardBench *RewardBenchScore `json:"rewardbench,omitempty"`
	// Scores are the per-pair rewards, for --scores-out (not in the JSON).
	Scores []PairScore `json:"-"`
}

// PairScore is one pair's rewards.
type PairScore struct {
	Index          int     // the pair's index in the evaluated data
	Chosen, Reject float64 // calibrated rewards
}

// Evaluate scores pairs (features x, from Build) with the head. Unlabelled
// pairs, tied ratings and identical responses are skipped and counted.
func Evaluate(h *Head, x *Pairs, pairs []data.Pair) Metrics {
	m := Metrics{Skipped: map[string]int{}, BySubset: map[string]SubsetMetrics{}}
	if x.Len() == 0 {
		return m
	}
	ra, rb := h.Rewards(x.A), h.Rewards(x.B)
	var margins, p, y []float64
	n := 0
	correct := map[string]int{}
	count := map[string]int{}
	hits := map[string][]bool{} // per subset, whether each counted pair was ordered right
	ok := 0
	for i := range pairs {
		if !pairs[i].Labelled {
			m.Skipped["unlabelled"]++
			continue
		}
		if why := pairs[i].Problem(); why != "" {
			m.Skipped[why]++
			continue
		}
		d := ra[i] - rb[i]
		s := pairs[i].Subset
		if s == "" {
			s = "all"
		}
		n++
		count[s]++
		m.Scores = append(m.Scores, PairScore{Index: i, Chosen: ra[i], Reject: rb[i]})
		if math.IsNaN(ra[i]) || math.IsNaN(rb[i]) || math.IsInf(ra[i], 0) || math.IsInf(rb[i], 0) {
			m.NonFinite++
			hits[s] = append(hits[s], false)
			continue
		}
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
	m.N = n
	if m.N == 0 {
		return m
	}
	m.Accuracy = float64(ok) / float64(m.N)
	if len(margins) > 0 {
		for _, d := range margins {
			m.MeanMargin += d
		}
		m.MeanMargin /= float64(len(margins))
		for _, d := range margins {
			m.MarginStd += (d - m.MeanMargin) * (d - m.MeanMargin)
		}
		m.MarginStd = math.Sqrt(m.MarginStd / float64(len(margins)))
		m.ECE = ECE(p, y, 10)
	}
	for s, n := range count {
		m.BySubset[s] = SubsetMetrics{Accuracy: float64(correct[s]) / float64(n), N: n}
	}
	m.bootstrap(hits)
	return m
}

// bootstrap sets the 95% intervals: pairs are resampled within each subset
// (so each subset's interval, the overall one and RewardBench's score come
// from the same resamples).
func (m *Metrics) bootstrap(hits map[string][]bool) {
	const resamples = 1000
	names := m.Subsets()
	rng := rand.New(rand.NewPCG(0x5e, 0xb007))
	overall := make([]float64, resamples)
	per := map[string][]float64{}
	var rb []float64
	acc := map[string]float64{}
	for r := 0; r < resamples; r++ {
		total := 0
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
			total += ok
		}
		overall[r] = float64(total) / float64(m.N)
		if sc := rewardBench(acc, nil); sc != nil {
			rb = append(rb, sc.Score)
		}
	}
	m.AccuracyCI = interval(overall)
	for _, s := range names {
		sm := m.BySubset[s]
		sm.CI = interval(per[s])
		m.BySubset[s] = sm
	}
	point := map[string]float64{}
	for s, sm := range m.BySubset {
		point[s] = sm.Accuracy
	}
	if sc := rewardBench(point, m.BySubset); sc != nil {
		sc.ScoreCI = interval(rb)
		m.RewardBench = sc
	}
}

// interval is the 2.5th and 97.5th percentiles of xs.
func interval(xs []float64) [2]float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	at := func(q float64) float64 { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return [2]float64{at(0.025), at(0.975)}
}

// RewardBenchScore is RewardBench's (v1) summary: each section's accuracy is
// the mean of its subsets' accuracies weighted by RewardBench's example counts
// (math-prm counted as 984, to weigh as much as the code subsets), and the
// score is the mean of the sections present.
type RewardBenchScore struct {
	Sections map[string]float64 `json:"sections"`
	Score    float64            `json:"score"`
	ScoreCI  [2]float64         `json:"score_ci"`
	Missing  []string           `json:"missing_subsets,omitempty"` // RewardBench subsets the data lacks
}

// RewardBenchSections are RewardBench's sections, in its order.
var RewardBenchSections = []string{"chat", "chat_hard", "safety", "reasoning"}

// rewardBenchSections maps RewardBench's sections to their subsets, and
// rewardBenchCounts are its example counts (rewardbench/constants.py).
var (
	rewardBenchSections = map[string][]string{
		"chat":      {"alpacaeval-easy", "alpacaeval-length", "alpacaeval-hard", "mt-bench-easy", "mt-bench-med"},
		"chat_hard": {"mt-bench-hard", "llmbar-natural", "llmbar-adver-neighbor", "llmbar-adver-GPTInst", "llmbar-adver-GPTOut", "llmbar-adver-manual"},
		"safety":    {"refusals-dangerous", "refusals-offensive", "xstest-should-refuse", "xstest-should-respond", "donotanswer"},
		"reasoning": {"math-prm", "hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python", "hep-rust"},
	}
	rewardBenchCounts = map[string]float64{
		"alpacaeval-easy": 100, "alpacaeval-length": 95, "alpacaeval-hard": 95, "mt-bench-easy": 28, "mt-bench-med": 40,
		"mt-bench-hard": 37, "math-prm": 984, "refusals-dangerous": 100, "refusals-offensive": 100, "llmbar-natural": 100,
		"llmbar-adver-neighbor": 134, "llmbar-adver-GPTInst": 92, "llmbar-adver-GPTOut": 47, "llmbar-adver-manual": 46,
		"xstest-should-refuse": 250, "xstest-should-respond": 154, "donotanswer": 136,
		"hep-cpp": 164, "hep-go": 164, "hep-java": 164, "hep-js": 164, "hep-python": 164, "hep-rust": 164,
	}
)

// rewardBench computes the summary from subset accuracies, or nil when no
// subset is RewardBench's. present (when not nil) lists the subsets seen,
// to name the missing ones.
func rewardBench(acc map[string]float64, present map[string]SubsetMetrics) *RewardBenchScore {
	sc := &RewardBenchScore{Sections: map[string]float64{}}
	for _, section := range RewardBenchSections {
		subsets := rewardBenchSections[section]
		var sum, weight float64
		for _, s := range subsets {
			a, ok := acc[s]
			if !ok {
				if present != nil {
					sc.Missing = append(sc.Missing, s)
				}
				continue
			}
			sum += a * rewardBenchCounts[s]
			weight += rewardBenchCounts[s]
		}
		if weight > 0 {
			sc.Sections[section] = sum / weight
		}
	}
	if len(sc.Sections) == 0 {
		return nil
	}
	for _, name := range RewardBenchSections {
		sc.Score += sc.Sections[name] // absent sections add 0 and do not count below
	}
	sc.Score /= float64(len(sc.Sections))
	sort.Strings(sc.Missing)
	return sc
}

// Subsets lists the subset names of m in order.
func (m *Metrics) Subsets() []string {
	var out []string
	for s := range m.BySubset {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Loss is the mean Bradley-Terry loss of the head's calibrated rewards on d.
func Loss(h *Head, d Data) float64 {
	ra, rb := h.Rewards(d.X.A), h.Rewards(d.X.B)
	l := 0.0
	for i := range ra {
		m := 0.0
		if d.Margins != nil {
			m = d.Margins[i]
		}
		l += softplus(m - (ra[i] - rb[i]))
	}
	return l / float64(len(ra))
}

// pairLoss is the mean Bradley-Terry loss of the head's raw rewards on prepared pairs.
func pairLoss(h *Head, p *prepared) float64 {
	r := forwardRaw(h.Layers, p.z, nil)
	loss := 0.0
	for i := 0; i < p.n; i++ {
		loss += softplus(p.margin[i] - (r[i] - r[p.n+i]))
	}
	return loss / float64(p.n)
}

// Accuracy is the share of pairs whose first response gets the higher
// reward (a tie counts as wrong); NaN for no pairs.
func Accuracy(h *Head, x *Pairs) float64 {
	if x.Len() == 0 {
		return math.NaN()
	}
	ra, rb := h.Raw(x.A), h.Raw(x.B)
	ok := 0
	for i := range ra {
		if ra[i] > rb[i] {
			ok++
		}
	}
	return float64(ok) / float64(len(ra))
}

// Correct says, per pair of x, whether the head ranks the first response
// above the second (as Accuracy counts; a tie is wrong).
func Correct(h *Head, x *Pairs) []bool {
	ra, rb := h.Raw(x.A), h.Raw(x.B)
	out := make([]bool, len(ra))
	for i := range ra {
		out[i] = ra[i] > rb[i]
	}
	return out
}

// Diff is a paired difference of accuracies on the same pairs, b - a, with
// its bootstrap 95% interval (1,000 resamples of the pairs, seeded).
type Diff struct {
	Mean float64    `json:"mean"`
	CI   [2]float64 `json:"ci"`
	N    int        `json:"pairs"`
}

// PairedDiff is the difference b - a of two heads' accuracies on the same n
// pairs, from their per-pair correctness (Correct), with an interval from
// resampling pairs: both heads see the same resampled pairs, so what the two
// have in common cancels (a paired test, far tighter than two intervals).
func PairedDiff(a, b []bool) Diff {
	n := len(a)
	if n == 0 || len(b) != n {
		return Diff{Mean: math.NaN(), CI: [2]float64{math.NaN(), math.NaN()}}
	}
	d := make([]int, n) // -1, 0 or 1 per pair
	sum := 0
	for i := range a {
		if b[i] {
			d[i]++
		}
		if a[i] {
			d[i]--
		}
		sum += d[i]
	}
	rng := rand.New(rand.NewPCG(0x5e, 0xd1ff))
	const resamples = 1000
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
