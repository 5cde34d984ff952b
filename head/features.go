package head

import (
	"fmt"

	"gonum.org/v1/gonum/mat"

	"github.com/ser-rl/ser/cache"
	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/models"
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

// Texts lists the texts whose vectors the pairs need under form, in order
// (with repeats; the cache stores each once).
func Texts(form string, m *models.Manifest, pairs []data.Pair) []string {
	var out []string
	for i := range pairs {
		out = append(out, pairTexts(form, m, &pairs[i])...)
	}
	return out
}

func pairTexts(form string, m *models.Manifest, p *data.Pair) []string {
	var t []string
	if form != Joint {
		t = append(t, p.Prompt, p.Chosen, p.Rejected)
	}
	if form != Separate {
		t = append(t, m.FormatPair(p.Prompt, p.Chosen), m.FormatPair(p.Prompt, p.Rejected))
	}
	return t
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

// Build reads the pairs' vectors from the cache and assembles their features.
func Build(form string, m *models.Manifest, c *cache.Cache, pairs []data.Pair) (*Pairs, error) {
	if err := CheckForm(form); err != nil {
		return nil, err
	}
	fp := m.Fingerprint()
	keys := make([]cache.Key, 0, len(pairs)*textsPerPair(form))
	for i := range pairs {
		for _, t := range pairTexts(form, m, &pairs[i]) {
			keys = append(keys, cache.KeyOf(fp, t))
		}
	}
	vecs, err := c.Matrix(keys)
	if err != nil {
		return nil, err
	}
	return Assemble(form, m.Dim, len(pairs), vecs), nil
}

// Assemble builds n pairs' features from their texts' vectors, laid out as
// Texts lists them (per pair: prompt, first, second response for the
// separate form; the two templates for the joint form; both for both).
func Assemble(form string, d, n int, vecs []float32) *Pairs {
	if n == 0 {
		return &Pairs{}
	}
	per := textsPerPair(form)
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

func textsPerPair(form string) int {
	switch form {
	case Separate:
		return 3
	case Joint:
		return 2
	}
	return 5
}

// Rows returns pairs i..j-1 (sharing the matrices' memory).
func (p *Pairs) Rows(i, j int) *Pairs {
	_, d := p.A.Dims()
	return &Pairs{A: p.A.Slice(i, j, 0, d).(*mat.Dense), B: p.B.Slice(i, j, 0, d).(*mat.Dense)}
}
