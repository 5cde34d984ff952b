package cache

import (
	"math"
	"sort"
	"testing"
)

// TestFloatToHalf checks the rounding against a reference that knows nothing
// of bit layouts: the nearest of all finite float16 values (ties to the one
// with an even last bit), over a sweep of float32 bit patterns (every 4,093rd,
// both signs, all exponents) and the edge cases.
func TestFloatToHalf(t *testing.T) {
	type hv struct {
		v float64
		h uint16
	}
	var all []hv // every finite non-negative float16, ascending
	for h := uint16(0); h < 0x7c00; h++ {
		all = append(all, hv{float64(HalfToFloat(h)), h})
	}
	ref := func(x float32) uint16 {
		a := math.Abs(float64(x))
		var sign uint16
		if math.Signbit(float64(x)) {
			sign = 0x8000
		}
		if a >= 65520 {
			return sign | 0x7c00
		}
		i := sort.Search(len(all), func(i int) bool { return all[i].v >= a })
		if i == 0 {
			return sign | all[0].h
		}
		lo, hi := all[i-1], all[min(i, len(all)-1)]
		switch dl, dh := a-lo.v, hi.v-a; {
		case dl < dh:
			return sign | lo.h
		case dh < dl:
			return sign | hi.h
		case lo.h&1 == 0:
			return sign | lo.h
		}
		return sign | hi.h
	}
	check := func(x float32) {
		if got, want := FloatToHalf(x), ref(x); got != want {
			t.Fatalf("FloatToHalf(%v = %#08x) = %#04x, want %#04x", x, math.Float32bits(x), got, want)
		}
	}
	for b := uint64(0); b < 1<<32; b += 4093 {
		x := math.Float32frombits(uint32(b))
		if !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) {
			check(x)
		}
	}
	for _, x := range []float32{0, 65504, 65519.99, 65520, 6.1035156e-05, 5.9604645e-08, 2.9802322e-08, 2.9802326e-08, 1, 1.0004883, 1.0014648, -2049, 1e-30} {
		check(x)
		check(-x)
	}
	if h := FloatToHalf(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("NaN became %#04x", h)
	}
	if FloatToHalf(float32(math.Inf(-1))) != 0xfc00 {
		t.Error("-Inf is not -Inf")
	}
}

// TestHalfRoundTrip: every float16 survives float32 and back.
func TestHalfRoundTrip(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			continue // NaN payloads
		}
		if got := FloatToHalf(HalfToFloat(uint16(h))); got != uint16(h) {
			t.Fatalf("%#04x -> %v -> %#04x", h, HalfToFloat(uint16(h)), got)
		}
	}
}

// TestHalfToFloat checks the decoding against the definition,
// (-1)^s 2^(e-15) (1 + f/1024), or 2^-14 f/1024 for subnormals.
func TestHalfToFloat(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		s, e, f := h>>15, (h>>10)&0x1f, float64(h&0x3ff)
		var want float64
		switch e {
		case 0:
			want = math.Ldexp(f/1024, -14)
		case 0x1f:
			want = math.Inf(1)
			if f != 0 {
				want = math.NaN()
			}
		default:
			want = math.Ldexp(1+f/1024, e-15)
		}
		if s == 1 {
			want = -want
		}
		got := float64(HalfToFloat(uint16(h)))
		if got != want && !(math.IsNaN(got) && math.IsNaN(want)) {
			t.Fatalf("HalfToFloat(%#04x) = %v, want %v", h, got, want)
		}
	}
}

// TestHalvesToFloats: the vector decoder (fast paths for normals and zeros)
// agrees with HalfToFloat on every float16.
func TestHalvesToFloats(t *testing.T) {
	src := make([]uint16, 1<<16)
	for h := range src {
		src[h] = uint16(h)
	}
	dst := make([]float32, len(src))
	halvesToFloats(dst[:7], src[0x3c00:0x3c07]) // a tail shorter than four
	for k, v := range dst[:7] {
		if v != HalfToFloat(uint16(0x3c00+k)) {
			t.Fatalf("tail value %d: %v", k, v)
		}
	}
	halvesToFloats(dst, src)
	for h, v := range dst {
		want := HalfToFloat(uint16(h))
		if math.Float32bits(v) != math.Float32bits(want) && !(v != v && want != want) {
			t.Fatalf("%#04x: %v, want %v", h, v, want)
		}
	}
}

func BenchmarkHalvesToFloats(b *testing.B) {
	src, dst := make([]uint16, 4096), make([]float32, 4096)
	for i := range src {
		src[i] = FloatToHalf(float32(i%200-100) * 0.001)
	}
	b.SetBytes(4096 * 2)
	for b.Loop() {
		halvesToFloats(dst, src)
	}
}
