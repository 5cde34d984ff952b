package head

import "math"

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
