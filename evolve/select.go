package evolve

import (
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/ser-rl/ser/head"
)

// 1 when A is the preferred response, 0 when B is, -1 when unknown.
type poolPair struct {
	row   int
	swap  bool
	truth int
}

// selected is a pseudo-labelled pool pair.
type selected struct {
	pool    int  // index into the pool slice at selection time
	row     int  // row in the pool's feature matrix
	swap    bool // the pool shows B as A
	aChosen bool // the shown A is the pseudo-chosen response (the truly chosen one, when human)
	human   bool // asked and answered from the hidden label, not pseudo-labelled
}

// scores returns sigmoid of the calibrated rewards of the shown A and B of each pool pair.
func scores(h *head.Head, src *head.Pairs, pool []poolPair) (sa, sb []float64) {
	if len(pool) == 0 {
		return nil, nil
	}
	// score every row of the source in place (no copy), then read each pool
	// pair in the order it is shown
	ra, rb := h.Rewards(src.A), h.Rewards(src.B)
	sa, sb = make([]float64, len(pool)), make([]float64, len(pool))
	for i, p := range pool {
		a, b := ra[p.row], rb[p.row]
		if p.swap {
			a, b = b, a
		}
		sa[i], sb[i] = sigmoid(a), sigmoid(b)
	}
	return sa, sb
}

// histogram counts scores in [0, 1] into ScoreBins equal bins.
func histogram(lists ...[]float64) []int {
	h := make([]int, ScoreBins)
	for _, l := range lists {
		for _, v := range l {
			h[min(ScoreBins-1, max(0, int(v*ScoreBins)))]++
		}
	}
	return h
}

// rule applies the selection rule to one pair's scores: whether it is kept,
// whether by status 1, and whether A is the one to call chosen.
func rule(sa, sb float64, status string, o Options) (keep, byStatus1, aChosen bool) {
	s1 := (sa > o.TauHigh && sb < o.TauLow) || (sb > o.TauHigh && sa < o.TauLow)
	s2 := math.Abs(sa-sb) > o.TauDelta
	switch status {
	case Status1:
		keep = s1
	case Status2:
		keep = s2
	default:
		keep = s1 || s2
	}
	return keep, s1, sa > sb
}

func selectPairs(h *head.Head, src *head.Pairs, pool []poolPair, status string, o Options) (sel []selected, n1, n2only int) {
	sa, sb := scores(h, src, pool)
	for i, p := range pool {
		keep, s1, aChosen := rule(sa[i], sb[i], status, o)
		if !keep {
			continue
		}
		if s1 {
			n1++
		} else {
			n2only++
		}
		sel = append(sel, selected{pool: i, row: p.row, swap: p.swap, aChosen: aChosen})
	}
	return sel, n1, n2only
}

// valPrecision applies the rule to the labelled validation pairs, each shown
// in both orders: the share of picked pairs it orients correctly.
func valPrecision(h *head.Head, val *head.Pairs, status string, o Options) (float64, int) {
	ra, rb := h.Rewards(val.A), h.Rewards(val.B)
	ok, n := 0, 0
	for i := range ra {
		sa, sb := sigmoid(ra[i]), sigmoid(rb[i])
		keep, _, aChosen := rule(sa, sb, status, o)
		if keep {
			n++
			if aChosen {
				ok++
			}
		}
	}
	if n == 0 {
		return -1, 0
	}
	return float64(ok) / float64(n), n
}

// trainingSet is the seed (unless dropped) plus the pseudo-labelled pairs, chosen first.
func trainingSet(labelled Set, seed []int, src *head.Pairs, sel []selected, dropSeed bool) head.Data {
	_, d := src.A.Dims()
	n := len(sel)
	if !dropSeed {
		n += len(seed)
	}
	a, b := mat.NewDense(n, d, nil), mat.NewDense(n, d, nil)
	m := make([]float64, n)
	r := 0
	if !dropSeed {
		for _, i := range seed {
			copy(a.RawRowView(r), labelled.X.A.RawRowView(i))
			copy(b.RawRowView(r), labelled.X.B.RawRowView(i))
			if p := labelled.Pairs[i]; p.HasScores {
				m[r] = p.ScoreChosen - p.ScoreRejected
			}
			r++
		}
	}
	for _, s := range sel {
		shownA, shownB := src.A.RawRowView(s.row), src.B.RawRowView(s.row)
		if s.swap {
			shownA, shownB = shownB, shownA
		}
		if !s.aChosen {
			shownA, shownB = shownB, shownA
		}
		copy(a.RawRowView(r), shownA)
		copy(b.RawRowView(r), shownB)
		if p := labelled.Pairs[s.row]; s.human && p.HasScores { // oriented chosen first, as the seed's
			m[r] = p.ScoreChosen - p.ScoreRejected
		}
		r++
	}
	return head.Data{X: &head.Pairs{A: a, B: b}, Margins: m}
}

func remove(pool []poolPair, sel []selected) []poolPair {
	drop := map[int]bool{}
	for _, s := range sel {
		drop[s.pool] = true
	}
	out := pool[:0:0]
	for i, p := range pool {
		if !drop[i] {
			out = append(out, p)
		}
	}
	return out
}
