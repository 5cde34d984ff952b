package tokenize

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// precompiled is SentencePiece's normalizer as a tokenizer.json carries it
// (T5, mT5, XLM-R, ALBERT, DeBERTa-v3, ...): "precompiled_charsmap", base64
// of a little-endian uint32 byte count n, then n/4 uint32 units of a
// Darts double-array trie over the UTF-8 of the strings to rewrite, then
// the rewritten strings, each ending in a NUL, which the trie's values
// index. Applied as Hugging Face applies it: the text is cut into extended
// grapheme clusters; a cluster of fewer than 6 bytes is looked up whole,
// and where the trie knows it (more exactly: knows a prefix of it, the
// shortest one, as the reference's common-prefix search takes its first
// result) the whole cluster becomes that prefix's rewrite; otherwise each
// character is looked up alone and kept where the trie has none.
//
// A charsmap is checked whole at load: every state the trie can reach
// from any input has all of its 255 children inside the array, no state
// leads back to itself (a loop), and every
// value points at a character boundary of a valid UTF-8 blob. So lookups
// never leave the array, and a malformed or hostile charsmap is an error
// that says what is wrong, never a panic at the first text.
type precompiled struct {
	units []uint32
	blob  string
	ascii [utf8.RuneSelf]asciiRule // each ASCII character alone
}

type asciiRule struct {
	out string
	ok  bool
}

// Darts unit fields, as SentencePiece writes them.
func unitHasLeaf(u uint32) bool  { return u>>8&1 == 1 }
func unitValue(u uint32) uint32  { return u & (1<<31 - 1) }
func unitLabel(u uint32) uint32  { return u & (1<<31 | 0xFF) }
func unitOffset(u uint32) uint32 { return u >> 10 << (u & (1 << 9) >> 6) }

// maxCharsmap bounds the decoded charsmap: real ones are about 240 KB
// (SentencePiece's nmt_nfkc), and the check at load looks at 255 labels
// for each state: for a hostile map of this size, a million states, about
// 255 million steps (well under a second).
const maxCharsmap = 4 << 20

func parsePrecompiled(b64, where string) (*precompiled, error) {
	if base64.StdEncoding.DecodedLen(len(b64)) > maxCharsmap {
		return nil, fmt.Errorf("%s: field precompiled_charsmap: %d bytes of base64, more than %d MiB decoded", where, len(b64), maxCharsmap>>20)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%s: field precompiled_charsmap: not base64: %v", where, err)
	}
	p, err := newPrecompiled(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: field precompiled_charsmap: %w", where, err)
	}
	return p, nil
}

func newPrecompiled(raw []byte) (*precompiled, error) {
	if len(raw) > maxCharsmap {
		return nil, fmt.Errorf("%d bytes, more than %d MiB", len(raw), maxCharsmap>>20)
	}
	if len(raw) < 4 {
		return nil, fmt.Errorf("%d bytes: no trie size", len(raw))
	}
	n := uint64(binary.LittleEndian.Uint32(raw)) / 4 // units; a remainder of the byte count falls to the blob, as in the reference
	if n == 0 {
		return nil, errors.New("the trie is empty")
	}
	if 4+4*n > uint64(len(raw)) {
		return nil, fmt.Errorf("the trie's size (%d units) runs past the end of the charsmap (%d bytes)", n, len(raw))
	}
	units := make([]uint32, n)
	for i := range units {
		units[i] = binary.LittleEndian.Uint32(raw[4+4*i:])
	}
	blob := raw[4+4*n:]
	if !utf8.Valid(blob) {
		return nil, errors.New("the normalized strings are not valid UTF-8")
	}
	p := &precompiled{units: units, blob: string(blob)}
	if err := p.check(); err != nil {
		return nil, err
	}
	for c := 1; c < utf8.RuneSelf; c++ {
		p.ascii[c].out, p.ascii[c].ok = p.transform(string(rune(c)))
	}
	p.ascii[0].out, p.ascii[0].ok = p.transform("\x00")
	return p, nil
}

// check walks every state of the trie (see precompiled) depth first.
// States may be shared (SentencePiece's builder merges equal suffixes, so
// the trie is a graph without cycles); a state reached again while it is
// still being walked is a loop.
func (p *precompiled) check() error {
	size := uint32(len(p.units))
	const (
		unseen = iota
		open
		done
	)
	color := make([]uint8, size)
	type frame struct{ state, label uint32 }
	root := unitOffset(p.units[0])
	if root|0xFF >= size {
		return fmt.Errorf("the root's children lie past the end of the trie (%d units)", size)
	}
	color[root] = open
	stack := []frame{{root, 1}}
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		if f.label == 256 {
			color[f.state] = done
			stack = stack[:len(stack)-1]
			continue
		}
		c := f.label
		f.label++
		s := f.state
		u := p.units[s^c] // in s's block of 256, inside the array
		if unitLabel(u) != c {
			continue
		}
		next := s ^ c ^ unitOffset(u)
		if next >= size {
			return fmt.Errorf("a trie transition leads past the end of the trie (unit %d of %d)", next, size)
		}
		if unitHasLeaf(u) {
			v := unitValue(p.units[next])
			if v > uint32(len(p.blob)) || (v < uint32(len(p.blob)) && !utf8.RuneStart(p.blob[v])) {
				return fmt.Errorf("a trie value (%d) is not the start of a character of the normalized strings (%d bytes)", v, len(p.blob))
			}
		}
		switch color[next] {
		case open:
			return fmt.Errorf("the trie loops (state %d leads back to itself)", next)
		case done:
			continue
		}
		// Labels 1..255 reach next^1 .. next^255, all in its block of 256.
		if next|0xFF >= size {
			return fmt.Errorf("a trie state (%d) has children past the end of the trie (%d units)", next, size)
		}
		color[next] = open
		stack = append(stack, frame{next, 1})
	}
	return nil
}

// transform is the rewrite of the shortest prefix of key that the trie
// holds, if any (a NUL byte ends the key).
func (p *precompiled) transform(key string) (string, bool) {
	s := unitOffset(p.units[0])
	for i := 0; i < len(key); i++ {
		c := uint32(key[i])
		if c == 0 {
			break
		}
		s ^= c
		u := p.units[s]
		if unitLabel(u) != c {
			return "", false
		}
		s ^= unitOffset(u)
		if unitHasLeaf(u) {
			v := unitValue(p.units[s])
			end := strings.IndexByte(p.blob[v:], 0)
			if end < 0 {
				return p.blob[v:], true
			}
			return p.blob[v : int(v)+end], true
		}
	}
	return "", false
}

// normalize implements normalizer. What now starts the text is always
// taken to start the original: Hugging Face's alignments give the first
// character kept the place of the first one removed.
func (p *precompiled) normalize(s string, max int) (string, bool, error) {
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	for i := 0; i < len(s); {
		if b.Len() > max {
			return "", false, grown(max)
		}
		c := s[i]
		if c < utf8.RuneSelf && (i+1 == len(s) || (s[i+1] < utf8.RuneSelf && !(c == '\r' && s[i+1] == '\n'))) {
			// An ASCII character before another one (or the end) is a
			// cluster of its own: no ASCII character extends a cluster and
			// only CR LF is one.
			if r := p.ascii[c]; r.ok {
				b.WriteString(r.out)
			} else {
				b.WriteByte(c)
			}
			i++
			continue
		}
		g, _, _, _ := uniseg.FirstGraphemeClusterInString(s[i:], -1)
		if g == "" { // not reached: a non-empty text has a first cluster
			g = s[i : i+1]
		}
		i += len(g)
		if len(g) < 6 {
			if out, ok := p.transform(g); ok {
				b.WriteString(out)
				continue
			}
		}
		for j := 0; j < len(g); {
			_, size := utf8.DecodeRuneInString(g[j:])
			ch := g[j : j+size]
			j += size
			if out, ok := p.transform(ch); ok {
				b.WriteString(out)
			} else {
				b.WriteString(ch)
			}
		}
	}
	if b.Len() > max {
		return "", false, grown(max)
	}
	return b.String(), false, nil
}
