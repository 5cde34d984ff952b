package head

import (
	"context"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// benchPairs are n random pairs of d features with a planted preference, the
// shape of the HH-RLHF benchmark's training set on the default backbone.
func benchPairs(n, d int, seed uint64) *Pairs {
	rng := rand.New(rand.NewPCG(seed, 7))
	a, b := mat.NewDense(n, d, nil), mat.NewDense(n, d, nil)
	for i := 0; i < n; i++ {
		ra, rb := a.RawRowView(i), b.RawRowView(i)
		for k := range ra {
			ra[k], rb[k] = rng.NormFloat64(), rng.NormFloat64()
		}
		ra[0] += 0.5
	}
	return &Pairs{A: a, B: b}
}

// BenchmarkTrainMLP is one run of MLP training, 5 epochs over 6,131 pairs of
// 1,024 features (no validation, so no early stopping: a fixed amount of
// work). Its products run on OpenBLAS where installed; SER_BLAS=go measures
// gonum's kernels.
func BenchmarkTrainMLP(b *testing.B) {
	x := benchPairs(6131, 1024, 1)
	for b.Loop() {
		if _, err := Train(context.Background(), Problem{Train: Data{X: x}, Backbone: Backbone{}, Form: Separate}, TrainOptions{Kind: MLP, Epochs: 5, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrainLinear is one L-BFGS fit at a fixed l2 on the same shape.
func BenchmarkTrainLinear(b *testing.B) {
	x := benchPairs(6131, 1024, 1)
	for b.Loop() {
		if _, err := Train(context.Background(), Problem{Train: Data{X: x}, Backbone: Backbone{}, Form: Separate}, TrainOptions{L2: 1 / (2 * 6131.0), Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
