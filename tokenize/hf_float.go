package tokenize

import (
	"errors"
	"math"
	"strconv"
)

// serdeFloat reads a JSON number as serde_json (without its
// "float_roundtrip" feature, as Hugging Face tokenizers builds it) reads it
// into an f64: the decimal digits become a u64 significand (digits past
// what a u64 holds are dropped, those before the point counted in the
// exponent), the significand is rounded to an f64 and then multiplied or
// divided by a power of ten. That is not always the closest f64 (it is
// one unit in the last place off for -12.130167007446289, a score in T5's
// vocabulary), and a Unigram model's ties between paths of equal score
// fall the way those values make them fall.
func serdeFloat(raw []byte) (float64, error) {
	bad := errors.New("not a JSON number")
	i := 0
	neg := false
	if i < len(raw) && raw[i] == '-' {
		neg = true
		i++
	}
	digit := func() (uint64, bool) {
		if i < len(raw) && raw[i] >= '0' && raw[i] <= '9' {
			return uint64(raw[i] - '0'), true
		}
		return 0, false
	}
	overflows := func(sig, d uint64) bool {
		return sig >= math.MaxUint64/10 && (sig > math.MaxUint64/10 || d > math.MaxUint64%10)
	}
	var sig uint64
	exp := int64(0)
	d, ok := digit()
	if !ok {
		return 0, bad
	}
	i++
	sig = d
	isFloat := false
	if d == 0 {
		if _, more := digit(); more {
			return 0, bad // one leading zero only
		}
	} else {
		for {
			d, ok := digit()
			if !ok {
				break
			}
			if overflows(sig, d) {
				// A long integer: the rest of its digits only scale it.
				isFloat = true
				for ; i < len(raw) && raw[i] >= '0' && raw[i] <= '9'; i++ {
					exp++
				}
				break
			}
			sig = sig*10 + d
			i++
		}
	}
	if i < len(raw) && raw[i] == '.' {
		isFloat = true
		i++
		after := 0
		for {
			d, ok := digit()
			if !ok {
				break
			}
			if overflows(sig, d) {
				for ; i < len(raw) && raw[i] >= '0' && raw[i] <= '9'; i++ {
				}
				after = -1 // digits seen; the rest dropped
				break
			}
			sig = sig*10 + d
			exp--
			after++
			i++
		}
		if after == 0 {
			return 0, bad
		}
	}
	if i < len(raw) && (raw[i] == 'e' || raw[i] == 'E') {
		isFloat = true
		i++
		posExp := true
		if i < len(raw) && (raw[i] == '+' || raw[i] == '-') {
			posExp = raw[i] == '+'
			i++
		}
		d, ok := digit()
		if !ok {
			return 0, bad
		}
		i++
		e := int64(d)
		for {
			d, ok := digit()
			if !ok {
				break
			}
			i++
			if e*10+int64(d) > math.MaxInt32 {
				for ; i < len(raw) && raw[i] >= '0' && raw[i] <= '9'; i++ {
				}
				if i != len(raw) {
					return 0, bad
				}
				if sig != 0 && posExp {
					return 0, errors.New("number out of range")
				}
				if neg {
					return math.Copysign(0, -1), nil
				}
				return 0, nil
			}
			e = e*10 + int64(d)
		}
		if posExp {
			exp = min(exp+e, math.MaxInt32)
		} else {
			exp = max(exp-e, math.MinInt32)
		}
	}
	if i != len(raw) {
		return 0, bad
	}
	if !isFloat {
		if neg {
			if sig == 0 || sig > 1<<63 {
				return -float64(sig), nil
			}
			return float64(-int64(sig)), nil
		}
		return float64(sig), nil
	}
	f := float64(sig)
	for {
		if a := abs64(exp); a <= 308 {
			if exp >= 0 {
				f *= pow10[a]
				if math.IsInf(f, 0) {
					return 0, errors.New("number out of range")
				}
			} else {
				f /= pow10[a]
			}
			break
		}
		if f == 0 {
			break
		}
		if exp >= 0 {
			return 0, errors.New("number out of range")
		}
		f /= 1e308
		exp += 308
	}
	if neg {
		return -f, nil
	}
	return f, nil
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// pow10 holds the f64 literals 1e0 .. 1e308, each the closest f64.
var pow10 = func() (t [309]float64) {
	for k := range t {
		t[k], _ = strconv.ParseFloat("1e"+strconv.Itoa(k), 64)
	}
	return t
}()
