package head

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Feature forms: how a (prompt, response) pair becomes the head's input.
//
//   - Separate: the backbone's vectors of the response and of the prompt,
//     as [e(response), e(prompt) * e(response)] (element-wise product): 2*dim.
//     A term of the prompt alone would cancel in r(chosen) - r(rejected), so
//     it is left out. Measured best for the sentence encoder (README).
//   - Joint: the vector of the manifest's pair template filled with both,
//     e(template(prompt, response)): dim. The norm for decoder LLMs with
//     last-token pooling.
//   - Both: the two concatenated: 3*dim.
const (
	Separate = "separate"
	Joint    = "joint"
	Both     = "both"
)

// CheckForm reports an unknown form.
func CheckForm(form string) error {
	switch form {
	case Separate, Joint, Both:
		return nil
	}
	return fmt.Errorf("feature form %q: want separate, joint or both", form)
}

// FeatureDim is the width of a response's features under form.
func FeatureDim(form string, dim int) int {
	switch form {
	case Separate:
		return 2 * dim
	case Joint:
		return dim
	}
	return 3 * dim
}

// Column is one text a pair's features are made from.
type Column int

// The columns: the prompt, the first and second responses (chosen and
// rejected, or A and B), and the pair template filled with each.
const (
	ColPrompt Column = iota
	ColFirst
	ColSecond
	ColJointFirst
	ColJointSecond
)

// String names a column as .ids.json files name it.
func (c Column) String() string {
	return [...]string{"prompt", "chosen", "rejected", "template(prompt, chosen)", "template(prompt, rejected)"}[c]
}

// Columns is the layout of a form: the texts each pair needs, in order. It
// is the one place that says so; Assemble reads vectors laid out this way.
func Columns(form string) []Column {
	switch form {
	case Separate:
		return []Column{ColPrompt, ColFirst, ColSecond}
	case Joint:
		return []Column{ColJointFirst, ColJointSecond}
	}
	return []Column{ColPrompt, ColFirst, ColSecond, ColJointFirst, ColJointSecond}
}

// Pairs holds the features of n pairs: row i of A is the first response's
// (chosen, or response A when unlabelled), row i of B the second's.
type Pairs struct {
	A, B *mat.Dense
}

// Len is the number of pairs.
func (p *Pairs) Len() int {
	if p.A == nil {
		return 0
	}
	r, _ := p.A.Dims()
	return r
}

// NonFinite is the first pair whose features hold NaN or an infinity (its
// backbone's vector did), or -1.
func (p *Pairs) NonFinite() int {
	for i := 0; i < p.Len(); i++ {
		for _, m := range []*mat.Dense{p.A, p.B} {
			for _, v := range m.RawRowView(i) {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return i
				}
			}
		}
	}
	return -1
}

// Assemble builds n pairs' features from their texts' vectors (dim d), laid
// out pair by pair as Columns(form) lists them.
func Assemble(form string, d, n int, vecs []float32) *Pairs {
	if n == 0 {
		return &Pairs{}
	}
	per := len(Columns(form))
	fd := FeatureDim(form, d)
	a, b := mat.NewDense(n, fd, nil), mat.NewDense(n, fd, nil)
	vec := func(i, k int) []float32 { return vecs[(i*per+k)*d : (i*per+k+1)*d] }
	for i := 0; i < n; i++ {
		ra, rb := a.RawRowView(i), b.RawRowView(i)
		off := 0
		if form != Joint {
			pr, ca, cb := vec(i, 0), vec(i, 1), vec(i, 2)
			for k := 0; k < d; k++ {
				ra[k], rb[k] = float64(ca[k]), float64(cb[k])
				ra[d+k], rb[d+k] = float64(pr[k]*ca[k]), float64(pr[k]*cb[k])
			}
			off = 2 * d
		}
		if form != Separate {
			ja, jb := vec(i, per-2), vec(i, per-1)
			for k := 0; k < d; k++ {
				ra[off+k], rb[off+k] = float64(ja[k]), float64(jb[k])
			}
		}
	}
	return &Pairs{A: a, B: b}
}

// Rows returns pairs i..j-1 (sharing the matrices' memory).
func (p *Pairs) Rows(i, j int) *Pairs {
	_, d := p.A.Dims()
	return &Pairs{A: p.A.Slice(i, j, 0, d).(*mat.Dense), B: p.B.Slice(i, j, 0, d).(*mat.Dense)}
}
