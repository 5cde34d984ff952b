package head

import (
	"math"
	"testing"
)

// TestPairedDiff: the mean is the difference of accuracies; identical heads
// give a zero-width interval; a head that wins 20 pairs and loses none has
// an interval above zero.
func TestPairedDiff(t *testing.T) {
	a := make([]bool, 1000)
	b := make([]bool, 1000)
	for i := range a {
		a[i] = i%10 < 6              // 60%
		b[i] = i%10 < 6 || i%50 == 7 // 62%: a's hits and 20 more
	}
	d := PairedDiff(a, b)
	if math.Abs(d.Mean-0.02) > 1e-12 || d.N != 1000 {
		t.Fatalf("mean %v over %d, want 0.02 over 1000", d.Mean, d.N)
	}
	if !(d.CI[0] > 0 && d.CI[0] < 0.02 && d.CI[1] > 0.02 && d.CI[1] < 0.04) {
		t.Errorf("interval %v: b wins 20 pairs and loses none, so it should exclude 0 and hold 0.02", d.CI)
	}
	if s := PairedDiff(a, a); s.Mean != 0 || s.CI != [2]float64{0, 0} {
		t.Errorf("a head against itself: %+v", s)
	}
	m, ci := MeanCI([]float64{1, 2, 3, 4, 5})
	// mean 3, sd 1.5811, se 0.7071, t(4) 2.776: half-width 1.963
	if m != 3 || math.Abs(ci[0]-(3-1.963)) > 1e-3 || math.Abs(ci[1]-(3+1.963)) > 1e-3 {
		t.Errorf("MeanCI = %v %v, want 3 [1.037, 4.963]", m, ci)
	}
}
