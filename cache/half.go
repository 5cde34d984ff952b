package cache

import "math"

// IEEE 754 half precision (binary16): 1 sign bit, 5 exponent bits (bias 15),
// 10 fraction bits.

// maxHalf is the largest finite float16, 65504.
const maxHalf = 65504

// fitsHalf reports whether v is finite and rounds to a finite float16
// (|v| < 65520, the midpoint above 65504).
func fitsHalf(v float32) bool { return math.Abs(float64(v)) < 65520 }

// FloatToHalf rounds v to the nearest float16, ties to even, as the
// conversion instructions do (VCVTPS2PH with round-to-nearest): values too
// small for a normal float16 become subnormals or zero, too large become
// infinity; NaN stays NaN.
func FloatToHalf(v float32) uint16 {
	b := math.Float32bits(v)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	frac := b & 0x7fffff
	switch {
	case exp == 0xff: // infinity or NaN
		if frac != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp-127 > 15: // beyond the largest exponent
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 1 { // a normal float16: round 23 fraction bits to 10
		h := uint32(e)<<10 | frac>>13
		rest := frac & 0x1fff
		if rest > 0x1000 || rest == 0x1000 && h&1 == 1 {
			h++ // a carry into the exponent is right, up to infinity
		}
		return sign | uint16(h)
	}
	// subnormal or zero: value = m * 2^-24 with m the rounded mantissa
	if e < -10 {
		return sign // below half the smallest subnormal: zero
	}
	m := frac | 0x800000  // 24 bits with the implicit one
	shift := uint(14 - e) // from 2^(exp-127-23) units to 2^-24 units
	h := m >> shift
	rest, half := m&(1<<shift-1), uint32(1)<<(shift-1)
	if rest > half || rest == half && h&1 == 1 {
		h++
	}
	return sign | uint16(h)
}

// HalfToFloat is the float32 of a float16 (exact: every float16 is a float32).
func HalfToFloat(h uint16) float32 {
	// The 15 bits after the sign, moved to a float32's exponent and fraction,
	// are the value times 2^-112 (float16's exponent bias is 15, float32's
	// 127), subnormals included; multiplying by 2^112 is exact.
	v := math.Float32frombits(uint32(h&0x7fff)<<13) * 0x1p112
	if h&0x7c00 == 0x7c00 { // infinity or NaN
		v = math.Float32frombits(0x7f800000 | uint32(h&0x3ff)<<13)
	}
	if h&0x8000 != 0 {
		v = -v
	}
	return v
}

// halvesToFloats decodes src into dst (of the same length). Four values at a
// time take the normal numbers' path without a branch each, unless one of
// the four is zero, subnormal, infinite or NaN.
func halvesToFloats(dst []float32, src []uint16) {
	src = src[:len(dst)]
	const (
		expBits = 0x7c007c007c007c00
		lanes   = 0x7fff7fff7fff7fff
		tops    = 0x8000800080008000
	)
	i := 0
	for ; i+4 <= len(src); i += 4 {
		s, d := src[i:i+4:i+4], dst[i:i+4:i+4]
		x := uint64(s[0]) | uint64(s[1])<<16 | uint64(s[2])<<32 | uint64(s[3])<<48
		// a lane's exponent is 0 or 31 when it, or its exponent xor 31, is 0;
		// adding 0x7fff to each lane sets its top bit unless it is 0
		e := x & expBits
		if (e+lanes)&tops != tops || ((e^expBits)+lanes)&tops != tops {
			for k, h := range s {
				d[k] = HalfToFloat(h)
			}
			continue
		}
		for k, h := range s {
			d[k] = math.Float32frombits(uint32(h&0x8000)<<16 | (uint32(h&0x7fff)<<13 + 112<<23))
		}
	}
	for ; i < len(src); i++ {
		dst[i] = HalfToFloat(src[i])
	}
}
