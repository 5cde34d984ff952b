package evolve

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/head"
)

// Plant relabels pairs from a hidden Bradley-Terry teacher, for a benchmark
// where SER's premise holds by construction: the features stay the real
// backbone features of real responses, but which response is preferred is
// drawn with probability sigmoid(r*(a) - r*(b)), where r*(x) = beta * w.z(x),
// z the features standardised over every response, and w a random unit
// direction from seed. beta sets the noise: the larger, the more the teacher
// agrees with itself. The returned set has the drawn winner first.
func Plant(x *head.Pairs, pairs []data.Pair, beta float64, seed uint64) Set {
	return PlantWith(x, pairs, PlantOptions{Beta: beta, Seed: seed})
}

// PlantOptions configure PlantWith.
type PlantOptions struct {
	Beta float64
	Seed uint64
	// Clusters > 0 makes the teacher's reward a quality per cluster of
	// responses (k-means on the first Dim features, the response's vector
	// in the separate form) plus Within times a linear term: preferences
	// that follow the representation's structure, which is what lets a
	// model's confident labels teach it something.
	Clusters int
	Within   float64
	Dim      int
	// Margin > 0 drops the pairs whose teacher rewards differ by less than
	// Margin standard deviations of that difference (over all pairs): the
	// pairs near the teacher's boundary go, leaving a low-density gap there,
	// the condition under which learning from unlabelled pairs can help.
	Margin float64
}

// PlantWith is Plant with a choice of teacher.
func PlantWith(x *head.Pairs, pairs []data.Pair, o PlantOptions) Set {
	beta := o.Beta
	n, d := x.A.Dims()
	rng := rand.New(rand.NewPCG(o.Seed, 0x91a))
	w := make([]float64, d)
	norm := 0.0
	for k := range w {
		w[k] = rng.NormFloat64()
		norm += w[k] * w[k]
	}
	mean, sd := make([]float64, d), make([]float64, d)
	for _, m := range []*mat.Dense{x.A, x.B} {
		for i := 0; i < n; i++ {
			for k, v := range m.RawRowView(i) {
				mean[k] += v
				sd[k] += v * v
			}
		}
	}
	for k := range w {
		w[k] /= math.Sqrt(norm)
		mean[k] /= float64(2 * n)
		sd[k] = math.Sqrt(math.Max(sd[k]/float64(2*n)-mean[k]*mean[k], 1e-12))
	}
	linear := func(row []float64) float64 {
		s := 0.0
		for k, v := range row {
			s += w[k] * (v - mean[k]) / sd[k]
		}
		return s
	}
	r := func(row []float64) float64 { return beta * linear(row) }
	if o.Clusters > 0 {
		dim := o.Dim
		if dim <= 0 || dim > d {
			dim = d
		}
		cents, quality := kmeans(x, dim, o.Clusters, rng)
		r = func(row []float64) float64 {
			return beta * (quality[nearest(cents, row[:dim])] + o.Within*linear(row))
		}
	}
	diff := make([]float64, n)
	keep := make([]int, 0, n)
	sum, sq := 0.0, 0.0
	for i := range diff {
		diff[i] = r(x.A.RawRowView(i)) - r(x.B.RawRowView(i))
		sum, sq = sum+diff[i], sq+diff[i]*diff[i]
	}
	cut := o.Margin * math.Sqrt(math.Max(sq/float64(n)-(sum/float64(n))*(sum/float64(n)), 0))
	for i := range diff {
		if o.Margin <= 0 || math.Abs(diff[i]) >= cut {
			keep = append(keep, i)
		}
	}
	a, b := mat.NewDense(len(keep), d, nil), mat.NewDense(len(keep), d, nil)
	out := make([]data.Pair, len(keep))
	for j, i := range keep {
		ra, rb := x.A.RawRowView(i), x.B.RawRowView(i)
		p := pairs[i]
		p.HasScores = false
		if rng.Float64() > 1/(1+math.Exp(-diff[i])) {
			ra, rb = rb, ra
			p.Chosen, p.Rejected = p.Rejected, p.Chosen
		}
		copy(a.RawRowView(j), ra)
		copy(b.RawRowView(j), rb)
		out[j] = p
	}
	return Set{X: &head.Pairs{A: a, B: b}, Pairs: out}
}

// kmeans clusters the responses (rows of A and B, first dim features) into k
// groups (20 Lloyd iterations from k random rows) and draws each a quality.
func kmeans(x *head.Pairs, dim, k int, rng *rand.Rand) ([][]float64, []float64) {
	n, _ := x.A.Dims()
	row := func(i int) []float64 {
		if i < n {
			return x.A.RawRowView(i)[:dim]
		}
		return x.B.RawRowView(i - n)[:dim]
	}
	cents := make([][]float64, k)
	for c := range cents {
		cents[c] = append([]float64(nil), row(rng.IntN(2*n))...)
	}
	assign := make([]int, 2*n)
	for it := 0; it < 20; it++ {
		for i := range assign {
			assign[i] = nearest(cents, row(i))
		}
		sums := make([][]float64, k)
		counts := make([]int, k)
		for c := range sums {
			sums[c] = make([]float64, dim)
		}
		for i, c := range assign {
			counts[c]++
			for j, v := range row(i) {
				sums[c][j] += v
			}
		}
		for c := range cents {
			if counts[c] == 0 {
				continue
			}
			for j := range cents[c] {
				cents[c][j] = sums[c][j] / float64(counts[c])
			}
		}
	}
	quality := make([]float64, k)
	for c := range quality {
		quality[c] = rng.NormFloat64()
	}
	return cents, quality
}

func nearest(cents [][]float64, v []float64) int {
	best, bd := 0, math.Inf(1)
	for c, m := range cents {
		d := 0.0
		for j, x := range v {
			d += (x - m[j]) * (x - m[j])
		}
		if d < bd {
			best, bd = c, d
		}
	}
	return best
}
