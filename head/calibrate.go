package head

import (
	"math"

	"gonum.org/v1/gonum/mat"
)

// Calibrate fits the map a*r + b from raw rewards to calibrated ones on
// pairs x (chosen first), by one of three documented methods:
//
//   - "platt": a and b by logistic regression of "this response is the
//     preferred one of its pair" on r, over both responses of every pair, so
//     sigmoid(a*r + b) estimates that probability for one response alone;
//     this is what SER's thresholds on sigmoid(r) need (the default);
//   - "temperature": a by logistic regression of "the first response is
//     preferred" on the difference r_a - r_b, so sigmoid(a*(r_a - r_b)) is a
//     calibrated pair probability, and b centres the rewards at 0;
//   - "none": a = 1, b centres the rewards at 0.
//
// ECE is the expected calibration error of sigmoid(a*r + b) per response
// (10 equal-width bins) on x.
//
// The slope a is kept positive, so calibration never changes the order of
// rewards: where the fit wants a <= 0 (the head's rewards do not predict the
// preference on x, as an overfitted head's may not on held-out pairs), a is
// held at a thousandth of 1/sd(r) and b refitted; Clamped says so, and
// sigmoid(a*r + b) then sits near the base rate: the head claims no confidence.
func Calibrate(h *Head, x *Pairs, method string) Calibration {
	ra, rb := h.Raw(x.A), h.Raw(x.B)
	r := append(append([]float64(nil), ra...), rb...)
	y := make([]float64, len(r))
	for i := range ra {
		y[i] = 1
	}
	mean := 0.0
	for _, v := range r {
		mean += v
	}
	mean /= float64(len(r))
	c := Calibration{Method: method, A: 1, B: -mean}
	aMin := 1e-3
	if sd := stddev(r, mean); sd > 0 {
		aMin /= sd
	}
	switch method {
	case "platt":
		c.A, c.B = logistic2(r, y)
		if !(c.A > aMin) {
			c.A, c.B, c.Clamped = aMin, intercept(r, y, aMin), true
		}
	case "temperature":
		d := make([]float64, 2*len(ra))
		yd := make([]float64, 2*len(ra))
		for i := range ra { // both orders, so the fit has two classes
			d[i], yd[i] = ra[i]-rb[i], 1
			d[len(ra)+i], yd[len(ra)+i] = rb[i]-ra[i], 0
		}
		c.A, _ = logistic2(d, yd)
		if !(c.A > aMin) {
			c.A, c.Clamped = aMin, true
		}
		c.B = -c.A * mean
	default:
		c.Method = "none"
	}
	p := make([]float64, len(r))
	for i, v := range r {
		p[i] = sigmoid(c.A*v + c.B)
	}
	c.ECE = ECE(p, y, 10)
	return c
}

func stddev(x []float64, mean float64) float64 {
	v := 0.0
	for _, xi := range x {
		v += (xi - mean) * (xi - mean)
	}
	return math.Sqrt(v / float64(len(x)))
}

// intercept fits b in y ~ sigmoid(a*x + b) for a fixed a, by Newton's method
// (the loss is convex in b; the same small ridge as logistic2).
func intercept(x, y []float64, a float64) float64 {
	b := 0.0
	for it := 0; it < 100; it++ {
		g, h := 1e-6*b, 1e-6
		for i, xi := range x {
			p := sigmoid(a*xi + b)
			g += p - y[i]
			h += p * (1 - p)
		}
		step := g / h
		b -= step
		if math.Abs(step) < 1e-12 {
			break
		}
	}
	return b
}

// logistic2 fits y ~ sigmoid(a*x + b) by Newton's method with a backtracking
// line search (raw rewards can be large enough to saturate the sigmoid, where
// a plain Newton step overshoots), and a small ridge (1e-6) so that separable
// data still gives finite numbers. It starts from a = 1/sd(x), b = 0.
func logistic2(x, y []float64) (a, b float64) {
	loss := func(a, b float64) float64 {
		l := 1e-6 / 2 * (a*a + b*b)
		for i, xi := range x {
			z := a*xi + b
			if y[i] > 0.5 {
				l += softplus(-z)
			} else {
				l += softplus(z)
			}
		}
		return l
	}
	var m, v float64
	for _, xi := range x {
		m += xi
	}
	m /= float64(len(x))
	for _, xi := range x {
		v += (xi - m) * (xi - m)
	}
	a, b = 1, 0
	if sd := math.Sqrt(v / float64(len(x))); sd > 0 {
		a = 1 / sd
	}
	cur := loss(a, b)
	for it := 0; it < 100; it++ {
		var ga, gb, haa, hab, hbb float64
		for i, xi := range x {
			p := sigmoid(a*xi + b)
			e := p - y[i]
			w := p * (1 - p)
			ga += e * xi
			gb += e
			haa += w * xi * xi
			hab += w * xi
			hbb += w
		}
		ga += 1e-6 * a
		gb += 1e-6 * b
		haa += 1e-6
		hbb += 1e-6
		var step mat.VecDense
		if err := step.SolveVec(mat.NewSymDense(2, []float64{haa, hab, hab, hbb}), mat.NewVecDense(2, []float64{ga, gb})); err != nil {
			break
		}
		t := 1.0
		for ; t > 1e-10; t /= 2 {
			na, nb := a-t*step.AtVec(0), b-t*step.AtVec(1)
			if l := loss(na, nb); l <= cur {
				a, b, cur = na, nb, l
				break
			}
		}
		if t <= 1e-10 || t*(math.Abs(step.AtVec(0))+math.Abs(step.AtVec(1))) < 1e-12 {
			break
		}
	}
	return a, b
}

// ECE is the expected calibration error of probabilities p for binary
// outcomes y over equal-width bins: the bins' |mean p - mean y|, weighted by size.
func ECE(p, y []float64, bins int) float64 {
	sumP := make([]float64, bins)
	sumY := make([]float64, bins)
	count := make([]float64, bins)
	for i, v := range p {
		k := bins - 1 // NaN lands in the last bin rather than outside the array
		if v >= 0 && v < 1 {
			k = min(int(v*float64(bins)), bins-1)
		} else if v < 0 {
			k = 0
		}
		sumP[k] += v
		sumY[k] += y[i]
		count[k]++
	}
	e := 0.0
	for k := range count {
		if count[k] > 0 {
			e += math.Abs(sumP[k]-sumY[k]) / float64(len(p))
		}
	}
	return e
}
