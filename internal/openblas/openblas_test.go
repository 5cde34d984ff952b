package openblas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// TestDgemm checks OpenBLAS's products against gonum's on every transpose
// case, with strides wider than the rows and beta != 0. Tolerance: both sum
// k products of numbers of order 1 in different orders, so they differ by a
// few units in the last place times sqrt(k); 1e-12 relative is far above that
// and far below any real error.
func TestDgemm(t *testing.T) {
	if Use() == "" {
		t.Skip("OpenBLAS not installed (apt-get install libopenblas0-pthread) or SER_BLAS=go: gonum's kernels are in use")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(n int) []float64 {
		x := make([]float64, n)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		return x
	}
	var ob Implementation
	var ref gonum.Implementation
	for _, s := range []struct{ m, n, k int }{{256, 64, 1024}, {64, 1024, 256}, {33, 47, 61}, {100, 1, 500}, {8, 8, 8}} {
		for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
			for _, tB := range []blas.Transpose{blas.NoTrans, blas.Trans} {
				ar, ac := s.m, s.k
				if tA == blas.Trans {
					ar, ac = ac, ar
				}
				br, bc := s.k, s.n
				if tB == blas.Trans {
					br, bc = bc, br
				}
				lda, ldb, ldc := ac+3, bc+1, s.n+2
				a, b, c := fill((ar-1)*lda+ac), fill((br-1)*ldb+bc), fill((s.m-1)*ldc+s.n)
				want := append([]float64(nil), c...)
				ref.Dgemm(tA, tB, s.m, s.n, s.k, 0.7, a, lda, b, ldb, -0.3, want, ldc)
				ob.Dgemm(tA, tB, s.m, s.n, s.k, 0.7, a, lda, b, ldb, -0.3, c, ldc)
				for i := range c {
					if d := math.Abs(c[i] - want[i]); d > 1e-12*(1+math.Abs(want[i]))*math.Sqrt(float64(s.k)) {
						t.Fatalf("%+v tA %c tB %c: element %d: OpenBLAS %v, gonum %v", s, tA, tB, i, c[i], want[i])
					}
				}
			}
		}
	}
}

// TestConcurrent calls OpenBLAS from many goroutines at once, as a server
// scoring requests in parallel does; every result must equal the one computed
// alone.
func TestConcurrent(t *testing.T) {
	if Use() == "" {
		t.Skip("OpenBLAS not installed or SER_BLAS=go")
	}
	const m, n, k = 64, 64, 512
	a, b := make([]float64, m*k), make([]float64, k*n)
	for i := range a {
		a[i] = float64(i%13) - 6
	}
	for i := range b {
		b[i] = float64(i%7) - 3
	}
	want := make([]float64, m*n)
	Implementation{}.Dgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, a, k, b, n, 0, want, n)
	errs := make(chan string, 16)
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := make([]float64, m*n)
			for r := 0; r < 50; r++ {
				Implementation{}.Dgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, a, k, b, n, 0, c, n)
				if !slices.Equal(c, want) { // integers: exact in any order
					errs <- fmt.Sprintf("goroutine %d, round %d: a product differs", g, r)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// TestBadArguments: calls OpenBLAS cannot take safely go to gonum, which
// panics in Go with its message, never in C.
func TestBadArguments(t *testing.T) {
	if Use() == "" {
		t.Skip("OpenBLAS not installed or SER_BLAS=go")
	}
	a := make([]float64, 64*64)
	for _, c := range []struct {
		name         string
		m, n, k, lda int
		a, b, cc     []float64
	}{
		{"short a", 64, 64, 64, 64, a[:100], a, a},
		{"short c", 64, 64, 64, 64, a, a, a[:64*63]},
		{"lda below cols", 64, 64, 64, 32, a, a, a},
		{"negative m", -64, 64, 64, 64, a, a, a},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", c.name)
				}
			}()
			Implementation{}.Dgemm(blas.NoTrans, blas.NoTrans, c.m, c.n, c.k, 1, c.a, c.lda, c.b, 64, 0, c.cc, 64)
		}()
	}
}

func BenchmarkDgemm(b *testing.B) {
	a, x, c := make([]float64, 256*1024), make([]float64, 64*1024), make([]float64, 256*64)
	for i := range a {
		a[i] = float64(i%7) - 3
	}
	for name, impl := range map[string]blas.Float64Level3{"gonum": gonum.Implementation{}, "openblas": Implementation{}} {
		if name == "openblas" && Use() == "" {
			continue
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				impl.Dgemm(blas.NoTrans, blas.Trans, 256, 64, 1024, 1, a, 1024, x, 1024, 0, c, 64) // Z W^T
				impl.Dgemm(blas.Trans, blas.NoTrans, 64, 1024, 256, 1, c, 64, a, 1024, 0, x, 1024) // delta^T Z
			}
		})
	}
}

// TestCore: OpenBLAS runs the kernels chosen for this CPU, not the oldest
// ones its model detection falls back to.
func TestCore(t *testing.T) {
	preset := os.Getenv("OPENBLAS_CORETYPE")
	if Use() == "" {
		t.Skip("OpenBLAS not installed or SER_BLAS=go")
	}
	want := CoreType()
	if preset != "" || want == "" {
		t.Skipf("kernels chosen by OPENBLAS_CORETYPE=%q or by OpenBLAS itself: %s", preset, Core())
	}
	if got := Core(); !strings.EqualFold(got, want) {
		t.Errorf("OpenBLAS runs %q kernels, want %q", got, want)
	}
}
