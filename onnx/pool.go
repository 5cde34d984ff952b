package onnx

import (
	"encoding/binary"
	"math"
	"runtime"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/ser-rl/ser/models"
)

// hiddenOutput is a [b, t, dim] output as the graph wrote it: float32, or
// the bytes of float16 / bfloat16 values.
type hiddenOutput struct {
	typ    ort.TensorElementDataType
	f32    []float32
	raw    []byte
	t, dim int
}

// row returns token j of text i as float32, widening into buf when needed.
func (h *hiddenOutput) row(i, j int, buf []float32) []float32 {
	off := (i*h.t + j) * h.dim
	if h.f32 != nil {
		return h.f32[off : off+h.dim]
	}
	widen16(h.typ, h.raw[2*off:2*(off+h.dim)], buf)
	return buf
}

// pool reduces hidden [b, t, dim] to dst [b, dim] over the tokens mask [b, t]
// keeps, reading only those tokens (and for cls and last only one), on all
// cores. cls takes the first kept token and last the last one, so both are
// right whichever side the padding is on.
func pool(kind string, hidden hiddenOutput, mask []int64, b, t, dim int, dst []float32) {
	workers := min(b, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			buf := make([]float32, dim)
			acc := make([]float64, dim)
			for i := w; i < b; i += workers {
				poolRow(kind, &hidden, mask[i*t:(i+1)*t], i, dst[i*dim:(i+1)*dim], buf, acc)
			}
		}(w)
	}
	wg.Wait()
}

func poolRow(kind string, h *hiddenOutput, m []int64, i int, out, buf []float32, acc []float64) {
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
		return
	}
	switch kind {
	case models.PoolCLS:
		copy(out, h.row(i, first, buf))
	case models.PoolLast:
		copy(out, h.row(i, last, buf))
	default: // mean, accumulated in float64 so long texts lose nothing
		clear(acc)
		for j, v := range m {
			if v == 0 {
				continue
			}
			for k, x := range h.row(i, j, buf) {
				acc[k] += float64(x)
			}
		}
		for k := range out {
			out[k] = float32(acc[k] / float64(n))
		}
	}
}

// widen16 converts 16-bit floats (little-endian bytes) to float32.
func widen16(typ ort.TensorElementDataType, raw []byte, dst []float32) {
	if typ == ort.TensorElementDataTypeBFloat16 {
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16)
		}
		return
	}
	for i := range dst {
		dst[i] = half[binary.LittleEndian.Uint16(raw[2*i:])]
	}
}

// half holds every float16 value widened (256 KiB), so widening is one load.
var half = func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = float16to32(uint16(i))
	}
	return &t
}()

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
