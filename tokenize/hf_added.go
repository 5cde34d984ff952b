package tokenize

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// addedToken is one entry of tokenizer.json's "added_tokens".
type addedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized *bool  `json:"normalized"` // absent: !special, as HF defaults it
	Special    bool   `json:"special"`
}

func (t addedToken) normalized() bool {
	if t.Normalized == nil {
		return !t.Special
	}
	return *t.Normalized
}

// addedVocab finds added tokens in text as HF's AddedVocabulary does: the
// leftmost, then longest, match of any token, scanning on after it; tokens
// marked normalized are looked for in the normalized text, the others in the
// raw text.
type addedVocab struct {
	ids   map[string]int32     // content -> id
	flags map[int32]addedToken // id -> the token's last definition
	raw   *tokenTrie           // tokens matched in the raw text
	norm  *tokenTrie           // tokens matched after normalization
}

// newAddedVocab gives each token its id as HF does when it loads a file: the
// id the content already has (an earlier added token, or the model's
// vocabulary), else the next free id after the model's vocabulary. The ids
// written in the file are not used (HF only warns when they differ).
func newAddedVocab(tokens []addedToken, m model, norm normalizer) (*addedVocab, error) {
	a := &addedVocab{ids: map[string]int32{}, flags: map[int32]addedToken{}}
	var specials, others []addedToken
	isSpecial := map[string]bool{}
	for _, t := range tokens {
		if t.Special && t.Content != "" && !isSpecial[t.Content] {
			specials = append(specials, t)
			isSpecial[t.Content] = true
		}
	}
	next := int32(m.vocabSize())
	type key struct {
		content                                     string
		single, lstrip, rstrip, normalized, special bool
	}
	seen := map[key]bool{}
	for i, t := range tokens {
		k := key{t.Content, t.SingleWord, t.LStrip, t.RStrip, t.normalized(), t.Special}
		if t.Content == "" || seen[k] {
			continue
		}
		id, ok := a.ids[t.Content]
		if !ok {
			if id, ok = m.tokenID(t.Content); !ok {
				id = next
				next++
			}
		}
		if id < 0 {
			return nil, fmt.Errorf("added_tokens[%d]: id overflow", i)
		}
		a.ids[t.Content] = id
		a.flags[id] = t
		if !isSpecial[t.Content] {
			others = append(others, t)
		}
		seen[k] = true
	}
	var raw, normed []string
	var rawIDs, normIDs []int32
	for _, t := range append(specials, others...) {
		if t.normalized() {
			content := t.Content
			if norm != nil {
				var err error
				if content, _, err = norm.normalize(content, normBudget(len(content))); err != nil {
					return nil, fmt.Errorf("added token %q: %w", t.Content, err)
				}
			}
			normed = append(normed, content)
			normIDs = append(normIDs, a.ids[t.Content])
		} else {
			raw = append(raw, t.Content)
			rawIDs = append(rawIDs, a.ids[t.Content])
		}
	}
	a.raw = newTokenTrie(raw, rawIDs)
	a.norm = newTokenTrie(normed, normIDs)
	return a, nil
}

// split appends to dst the pieces of p: the added tokens found in it (with
// their ids) and the text between them. Empty pieces are left out.
func (a *addedVocab) split(dst []segment, p segment, normalized bool) []segment {
	tr := a.raw
	if normalized {
		tr = a.norm
	}
	s := p.text
	if tr.empty() {
		if s != "" {
			dst = append(dst, p)
		}
		return dst
	}
	last := 0 // end of what has been emitted
	for pos := 0; pos < len(s); {
		start, end, id := tr.find(s, pos)
		if id < 0 {
			break
		}
		pos = end
		t := a.flags[id]
		if t.SingleWord {
			startOK := start == 0 || !endsWithWord(s[:start])
			stopOK := end == len(s) || !startsWithWord(s[end:])
			if !startOK || !stopOK {
				continue
			}
		}
		if t.LStrip {
			start = max(start-trailingSpace(s[:start]), last)
		}
		if t.RStrip {
			end += leadingSpace(s[end:])
		}
		if last < start {
			dst = append(dst, segment{text: s[last:start], id: -1, first: p.first && last == 0})
		}
		dst = append(dst, segment{text: s[start:end], id: id})
		last = end
	}
	if last < len(s) {
		dst = append(dst, segment{text: s[last:], id: -1, first: p.first && last == 0})
	}
	return dst
}

// isRegexWord is \w of Rust's regex crate: Alphabetic, marks, decimal
// digits, connector punctuation and the joiners.
func isRegexWord(r rune) bool {
	return unicode.IsLetter(r) || unicode.Is(unicode.Nl, r) || unicode.Is(unicode.Other_Alphabetic, r) ||
		unicode.IsMark(r) || unicode.Is(unicode.Nd, r) || unicode.Is(unicode.Pc, r) || unicode.Is(unicode.Join_Control, r)
}

func endsWithWord(s string) bool {
	r, n := utf8.DecodeLastRuneInString(s)
	return n > 0 && isRegexWord(r)
}

func startsWithWord(s string) bool {
	r, n := utf8.DecodeRuneInString(s)
	return n > 0 && isRegexWord(r)
}

// trailingSpace is the length in bytes of the whitespace that ends s.
func trailingSpace(s string) int {
	n := 0
	for len(s) > 0 {
		r, size := utf8.DecodeLastRuneInString(s)
		if !unicode.IsSpace(r) {
			break
		}
		s = s[:len(s)-size]
		n += size
	}
	return n
}

// leadingSpace is the length in bytes of the whitespace that starts s.
func leadingSpace(s string) int {
	n := 0
	for n < len(s) {
		r, size := utf8.DecodeRuneInString(s[n:])
		if !unicode.IsSpace(r) {
			break
		}
		n += size
	}
	return n
}

// byteTrie maps byte strings to ids, walked a byte at a time from node 0.
type byteTrie struct {
	next map[uint64]int32 // node<<8 | byte -> child
	id   []int32          // node -> id, or -1
}

func newByteTrie() byteTrie { return byteTrie{next: map[uint64]int32{}, id: []int32{-1}} }

// add inserts s with id; an id already there for s stays when keepFirst.
func (t *byteTrie) add(s string, id int32, keepFirst bool) {
	node := int32(0)
	for j := 0; j < len(s); j++ {
		k := uint64(node)<<8 | uint64(s[j])
		child, ok := t.next[k]
		if !ok {
			child = int32(len(t.id))
			t.id = append(t.id, -1)
			t.next[k] = child
		}
		node = child
	}
	if node != 0 && (t.id[node] < 0 || !keepFirst) {
		t.id[node] = id
	}
}

// child steps from node along byte b.
func (t *byteTrie) child(node int32, b byte) (int32, bool) {
	c, ok := t.next[uint64(node)<<8|uint64(b)]
	return c, ok
}

// tokenTrie finds the leftmost-longest occurrence of any of a set of
// strings, byte by byte.
type tokenTrie struct {
	byteTrie
	first [256]bool // bytes that start some token
}

func newTokenTrie(tokens []string, ids []int32) *tokenTrie {
	t := &tokenTrie{byteTrie: newByteTrie()}
	for i, tok := range tokens {
		if tok != "" {
			t.first[tok[0]] = true
			t.add(tok, ids[i], true) // the first of equal patterns wins, as in Aho-Corasick
		}
	}
	return t
}

func (t *tokenTrie) empty() bool { return len(t.id) == 1 }

// find returns the leftmost-longest match at or after pos, or id -1.
func (t *tokenTrie) find(s string, pos int) (start, end int, id int32) {
	for i := pos; i < len(s); i++ {
		if !t.first[s[i]] {
			continue
		}
		node, best, bestEnd := int32(0), int32(-1), 0
		for j := i; j < len(s); j++ {
			child, ok := t.child(node, s[j])
			if !ok {
				break
			}
			node = child
			if t.id[node] >= 0 {
				best, bestEnd = t.id[node], j+1
			}
		}
		if best >= 0 {
			return i, bestEnd, best
		}
	}
	return 0, 0, -1
}
