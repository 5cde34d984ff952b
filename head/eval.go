package head

import (
	"math"
	"sort"

	"github.com/ser-rl/ser/data"
)

// SubsetMetrics are one subset's (or source's) figures.
type SubsetMetrics struct {
	Accuracy float64 `json:"accuracy"`
	N        int     `json:"n"`
}

// Metrics are the offline evaluation figures; the JSON keys are stable.
type Metrics struct {
	Accuracy   float64                  `json:"accuracy"`    // share of pairs with r(chosen) > r(rejected); a tie counts as wrong
	N          int                      `json:"n"`           // pairs counted
	Ties       int                      `json:"ties"`        // pairs with r(chosen) == r(rejected)
	MeanMargin float64                  `json:"mean_margin"` // mean of r(chosen) - r(rejected)
	MarginStd  float64                  `json:"margin_std"`  // its standard deviation
	ECE        float64                  `json:"ece"`         // of sigmoid(r_c - r_r), both orders, 10 bins
	Skipped    map[string]int           `json:"skipped"`     // pairs not counted, by reason
	BySubset   map[string]SubsetMetrics `json:"by_subset"`   // by HH-RLHF subset or UltraFeedback source
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
	correct := map[string]int{}
	count := map[string]int{}
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
		margins = append(margins, d)
		s := pairs[i].Subset
		if s == "" {
			s = "all"
		}
		count[s]++
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
	m.N = len(margins)
	if m.N == 0 {
		return m
	}
	m.Accuracy = float64(ok) / float64(m.N)
	for _, d := range margins {
		m.MeanMargin += d
	}
	m.MeanMargin /= float64(m.N)
	for _, d := range margins {
		m.MarginStd += (d - m.MeanMargin) * (d - m.MeanMargin)
	}
	m.MarginStd = math.Sqrt(m.MarginStd / float64(m.N))
	m.ECE = ECE(p, y, 10)
	for s, n := range count {
		m.BySubset[s] = SubsetMetrics{Accuracy: float64(correct[s]) / float64(n), N: n}
	}
	return m
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
