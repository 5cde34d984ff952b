package onnx

import (
	"math"

	"github.com/ser-rl/ser/models"
)

// pool reduces hidden [b, t, dim] to dst [b, dim] over the tokens mask [b, t]
// keeps. cls takes the first kept token and last the last one, so both are
// right whichever side the padding is on.
func pool(kind string, hidden []float32, mask []int64, b, t, dim int, dst []float32) {
	for i := 0; i < b; i++ {
		out := dst[i*dim : (i+1)*dim]
		m := mask[i*t : (i+1)*t]
		first, last, n := -1, -1, 0
		for j, v := range m {
			if v != 0 {
				if first < 0 {
					first = j
				}
				last = j
				n++
			}
		}
		if n == 0 { // an empty text: no token to pool
			clear(out)
			continue
		}
		row := func(j int) []float32 { return hidden[(i*t+j)*dim : (i*t+j+1)*dim] }
		switch kind {
		case models.PoolCLS:
			copy(out, row(first))
		case models.PoolLast:
			copy(out, row(last))
		default: // mean, accumulated in float64 so long texts lose nothing
			acc := make([]float64, dim)
			for j, v := range m {
				if v == 0 {
					continue
				}
				for k, x := range row(j) {
					acc[k] += float64(x)
				}
			}
			for k := range out {
				out[k] = float32(acc[k] / float64(n))
			}
		}
	}
}

// float16to32 widens an IEEE 754 half-precision value.
func float16to32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf, NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: normalise
		e := uint32(127 - 15 + 1)
		for frac&0x400 == 0 {
			frac <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (frac&0x3ff)<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
}
