package tokenize

import (
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Unicode normalization as Hugging Face does it (the unicode-normalization
// crate): golang.org/x/text/unicode/norm writes the Stream-Safe Text Format,
// which puts U+034F (COMBINING GRAPHEME JOINER) after every 30 combining
// marks in a row and then orders and composes each side of it apart;
// Hugging Face orders and composes a run of any length as one. Texts
// without such a run (all but Zalgo-style text) take x/text's path, which
// is exact for them; the others are decomposed, ordered and composed here,
// character by character, from x/text's per-character data.

// maxRunFast is the most combining marks in a row that x/text normalizes
// as the standard does (its maxNonStarters).
const maxRunFast = 30

// decomposer is the form that decomposes as f does: NFD for NFC and NFD,
// NFKD for NFKC and NFKD.
func decomposer(f norm.Form) norm.Form {
	if f == norm.NFKC || f == norm.NFKD {
		return norm.NFKD
	}
	return norm.NFD
}

func composes(f norm.Form) bool { return f == norm.NFC || f == norm.NFKC }

// longMarkRun reports whether s, decomposed as f decomposes, may hold more
// than maxRunFast non-starters in a row. It overcounts (every character of
// a decomposition that starts or ends with a non-starter counts), so a
// false alarm only costs the slower path.
func longMarkRun(f norm.Form, s string) bool {
	d := decomposer(f)
	run := 0
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			run = 0
			i++
			continue
		}
		p := d.PropertiesString(s[i:])
		size := p.Size()
		if size == 0 {
			size = 1
		}
		n := 1
		if dec := p.Decomposition(); dec != nil {
			n = utf8.RuneCount(dec)
		}
		switch {
		case p.LeadCCC() != 0 || p.CCC() != 0:
			run += n
		case p.TrailCCC() != 0:
			run = n
		default:
			run = 0
		}
		if run > maxRunFast-2 {
			return true
		}
		i += size
	}
	return false
}

// normalizeForm returns s in normal form f as the Unicode standard defines
// it, failing when the result would pass max bytes.
func normalizeForm(f norm.Form, s string, max int) (string, error) {
	// A text x/text finds normal is normal by the standard too (a long run
	// in it is already ordered and composed): most texts stop here.
	if f.IsNormalString(s) {
		return s, nil
	}
	if longMarkRun(f, s) {
		return normalizeLong(f, s, max)
	}
	var it norm.Iter
	it.InitString(f, s)
	var b strings.Builder
	b.Grow(min(len(s)+len(s)/8, max))
	for !it.Done() {
		seg := it.Next()
		if b.Len()+len(seg) > max {
			return "", grown(max)
		}
		b.Write(seg)
	}
	return b.String(), nil
}

// mark is a character of a decomposed text and its canonical combining
// class; raw is set for a byte of invalid UTF-8, which passes unchanged
// and stops composition.
type mark struct {
	r   rune
	ccc uint8
	raw bool
}

// Hangul syllable arithmetic (Unicode 3.12).
const (
	hangulS = 0xAC00
	hangulL = 0x1100
	hangulV = 0x1161
	hangulT = 0x11A7
	hangulN = 21 * 28
	hangulE = hangulS + 19*hangulN
)

// normalizeLong is the standard algorithm: full decomposition, canonical
// ordering of each run of non-starters (a stable sort by combining class),
// then, for NFC and NFKC, canonical composition.
func normalizeLong(f norm.Form, s string, max int) (string, error) {
	d := decomposer(f)
	seq := make([]mark, 0, len(s))
	var one [utf8.UTFMax]byte
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			seq = append(seq, mark{r: rune(s[i]), raw: true})
			i++
			continue
		}
		i += size
		if r >= hangulS && r < hangulE {
			si := r - hangulS
			seq = append(seq, mark{r: hangulL + si/hangulN}, mark{r: hangulV + (si%hangulN)/28})
			if t := si % 28; t != 0 {
				seq = append(seq, mark{r: hangulT + t})
			}
			continue
		}
		n := utf8.EncodeRune(one[:], r)
		p := d.Properties(one[:n])
		dec := p.Decomposition()
		if dec == nil {
			seq = append(seq, mark{r: r, ccc: p.CCC()})
			continue
		}
		// A character's decomposition is short (18 characters at most)
		// and already normal: x/text gives it exactly.
		for _, c := range d.String(string(dec)) {
			seq = append(seq, mark{r: c, ccc: cccOf(c)})
		}
		if len(seq) > max {
			return "", grown(max)
		}
	}
	// Canonical ordering: insertion sort inside each run of non-starters,
	// stable for equal classes.
	for i := 1; i < len(seq); i++ {
		c := seq[i]
		if c.ccc == 0 || c.raw {
			continue
		}
		j := i
		for j > 0 && !seq[j-1].raw && seq[j-1].ccc > c.ccc {
			seq[j] = seq[j-1]
			j--
		}
		seq[j] = c
	}
	if composes(f) {
		seq = compose(seq)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, c := range seq {
		if c.raw {
			b.WriteByte(byte(c.r))
		} else {
			b.WriteRune(c.r)
		}
		if b.Len() > max {
			return "", grown(max)
		}
	}
	return b.String(), nil
}

func cccOf(r rune) uint8 {
	var buf [utf8.UTFMax]byte
	n := utf8.EncodeRune(buf[:], r)
	return norm.NFD.Properties(buf[:n]).CCC()
}

// compose is canonical composition over an ordered decomposition: each
// character that is not blocked from the last starter (no character
// between them of class 0 or of a class at least its own) joins it when
// the two have a primary composite.
func compose(seq []mark) []mark {
	out := seq[:0]
	starter := -1
	for _, c := range seq {
		if c.raw {
			out = append(out, c)
			starter = -1
			continue
		}
		if starter >= 0 {
			last := len(out) - 1
			if last == starter || (out[last].ccc != 0 && out[last].ccc < c.ccc) {
				if x, ok := primaryComposite(out[starter].r, c.r); ok {
					out[starter].r = x
					continue
				}
			}
		}
		if c.ccc == 0 {
			starter = len(out)
		}
		out = append(out, c)
	}
	return out
}

// compositeCache holds the pairs looked up so far (-1: no composite), up to
// maxCached of them.
var (
	compositeCache sync.Map // [2]rune -> rune
	cached         atomic.Int32
)

const maxCached = 1 << 16

// primaryComposite is the character that a and b compose to, if any.
func primaryComposite(a, b rune) (rune, bool) {
	switch {
	case a >= hangulL && a < hangulL+19 && b >= hangulV && b < hangulV+21:
		return hangulS + ((a-hangulL)*21+(b-hangulV))*28, true
	case a >= hangulS && a < hangulE && (a-hangulS)%28 == 0 && b > hangulT && b < hangulT+28:
		return a + (b - hangulT), true
	}
	key := [2]rune{a, b}
	if v, ok := compositeCache.Load(key); ok {
		x := v.(rune)
		return x, x >= 0
	}
	// NFC of the pair is one character exactly when the pair composes: a
	// is a starter in NFC (a decomposed starter or a composite built here)
	// and b follows it unblocked.
	x := rune(-1)
	if c := norm.NFC.String(string([]rune{a, b})); utf8.RuneCountInString(c) == 1 {
		x, _ = utf8.DecodeRuneInString(c)
	}
	if cached.Add(1) <= maxCached {
		compositeCache.Store(key, x)
	}
	return x, x >= 0
}
