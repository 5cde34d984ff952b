package ask

import (
	"crypto/sha256"
	"strings"

	"github.com/ser-rl/ser/data"
)

// Why a pool pair is not worth a human label (the keys of Eligible's counts).
const (
	SkipIdentical = "identical responses"
	SkipRepeat    = "repeats an earlier pool pair (in either order)"
	SkipLabelled  = "already labelled"
)

// Key identifies a pair for asking: its prompt and its two responses as an
// unordered set, each with its whitespace evened out (trimmed, and runs of
// spaces, tabs and newlines as one space), so that a pair and its mirror
// image, a copy of it, or one that differs only in spacing are one pair to
// a labeller.
type Key [sha256.Size]byte

// even is s with its whitespace evened out.
func even(s string) string { return strings.Join(strings.Fields(s), " ") }

// KeyOf is p's Key.
func KeyOf(p *data.Pair) Key {
	a, b := even(p.Chosen), even(p.Rejected)
	if b < a {
		a, b = b, a
	}
	h := sha256.New()
	for _, s := range []string{even(p.Prompt), a, b} {
		var n [8]byte
		for i, l := 0, uint64(len(s)); i < 8; i++ { // length-prefixed: no two splits of one string collide
			n[i] = byte(l >> (8 * i))
		}
		h.Write(n[:])
		h.Write([]byte(s))
	}
	var k Key
	h.Sum(k[:0])
	return k
}

// Eligible marks the pool pairs a human label would be wasted on (for
// Options.Skip): a pair whose two responses are identical (but for
// whitespace), a pair that
// repeats an earlier one of the pool in either order (the first is kept),
// and a pair already among labelled. It returns the marks and how many
// pairs each reason took.
func Eligible(pool, labelled []data.Pair) ([]bool, map[string]int) {
	known := make(map[Key]bool, len(labelled)+len(pool))
	for i := range labelled {
		known[KeyOf(&labelled[i])] = true
	}
	seen := make(map[Key]bool, len(pool))
	skip := make([]bool, len(pool))
	why := map[string]int{}
	for i := range pool {
		p := &pool[i]
		k := KeyOf(p)
		switch {
		case even(p.Chosen) == even(p.Rejected):
			skip[i] = true
			why[SkipIdentical]++
		case known[k]:
			skip[i] = true
			why[SkipLabelled]++
		case seen[k]:
			skip[i] = true
			why[SkipRepeat]++
		}
		seen[k] = true
	}
	return skip, why
}
