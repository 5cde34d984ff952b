package tokenize

import (
	"encoding/json"
	"fmt"
	"unicode/utf16"
)

// Unigram segments text as the TF.js Universal Sentence Encoder runtime
// (@energetic-ai/embeddings, lib/tokenizer) does, from a Unigram tokenizer.json:
//
//   - the normalizer of the file is applied (for USE-lite: NFKC, every ASCII
//     space becomes U+2581, and a non-empty text gets a leading U+2581);
//   - a Viterbi search over the pieces, not counting added tokens, maximises the
//     sum of piece scores; a code point that starts no piece is the unknown
//     piece (score 0); among equal scores the candidate with the later start
//     wins, and a best score of exactly 0 counts as unset, as in the reference;
//   - the back-trace steps back by each piece's length in UTF-16 code units
//     while the lattice counts code points, as the reference's does, so a piece
//     holding a character outside the BMP shifts the result the same way;
//   - consecutive unknowns are merged into one.
//
// The zero value is not usable; call LoadUnigram or NewUnigram.
type Unigram struct {
	scores []float64
	u16len []int // each piece's length in UTF-16 code units
	trie   map[uint64]int32
	term   []int32 // trie node -> piece id, or -1
	unk    int32
	norm   normalizer // nil: none
}

// NewUnigram builds the segmenter from pieces and scores indexed by id; ids in
// skip (reserved or added tokens) never match text.
func NewUnigram(pieces []string, scores []float64, unk int32, skip map[int]bool) *Unigram {
	u := &Unigram{scores: scores, u16len: make([]int, len(pieces)), trie: map[uint64]int32{}, term: []int32{-1}, unk: unk}
	for id, p := range pieces {
		u.u16len[id] = len(utf16.Encode([]rune(p)))
		if skip[id] {
			continue
		}
		node := int32(0)
		for _, r := range p {
			k := trieKey(node, r)
			child, ok := u.trie[k]
			if !ok {
				child = int32(len(u.term))
				u.term = append(u.term, -1)
				u.trie[k] = child
			}
			node = child
		}
		if node != 0 {
			u.term[node] = int32(id) // a repeated piece keeps the later id, as the reference's trie does
		}
	}
	return u
}

func trieKey(node int32, r rune) uint64 { return uint64(node)<<21 | uint64(r) }

// tokenizerFile is the part of tokenizer.json that Unigram reads.
type tokenizerFile struct {
	AddedTokens []struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
	} `json:"added_tokens"`
	Normalizer   json.RawMessage `json:"normalizer"`
	PreTokenizer json.RawMessage `json:"pre_tokenizer"`
	Model        struct {
		Type  string               `json:"type"`
		UnkID *int                 `json:"unk_id"`
		Vocab [][2]json.RawMessage `json:"vocab"`
	} `json:"model"`
}

// LoadUnigram reads a tokenizer.json whose model is Unigram, with any
// normalizer HF supports except a Replace by regular expression; a
// pre-tokenizer is not supported (use HF for those files).
func LoadUnigram(path string) (*Unigram, error) {
	var f tokenizerFile
	if err := readJSON(path, &f); err != nil {
		return nil, err
	}
	if f.Model.Type != "Unigram" {
		return nil, fmt.Errorf("%s: model.type is %q, want Unigram", path, f.Model.Type)
	}
	if len(f.PreTokenizer) > 0 && string(f.PreTokenizer) != "null" {
		return nil, fmt.Errorf("%s: pre_tokenizer is set; the unigram tokenizer segments whole texts (use kind hf)", path)
	}
	steps, err := parseNormalizer(f.Normalizer, "normalizer")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if usesRegex(steps) {
		return nil, fmt.Errorf("%s: normalizer: a Replace by regular expression is not supported by the unigram tokenizer (use kind hf)", path)
	}
	pieces := make([]string, len(f.Model.Vocab))
	scores := make([]float64, len(f.Model.Vocab))
	for i, e := range f.Model.Vocab {
		if err := json.Unmarshal(e[0], &pieces[i]); err != nil {
			return nil, fmt.Errorf("%s: model.vocab[%d][0]: %w", path, i, err)
		}
		if err := json.Unmarshal(e[1], &scores[i]); err != nil {
			return nil, fmt.Errorf("%s: model.vocab[%d][1]: %w", path, i, err)
		}
	}
	unk := int32(0)
	if f.Model.UnkID != nil {
		unk = int32(*f.Model.UnkID)
	}
	if int(unk) >= len(pieces) || unk < 0 {
		return nil, fmt.Errorf("%s: model.unk_id %d is outside the vocabulary of %d", path, unk, len(pieces))
	}
	skip := map[int]bool{}
	for _, t := range f.AddedTokens {
		skip[t.ID] = true
	}
	u := NewUnigram(pieces, scores, unk, skip)
	u.norm = steps
	return u, nil
}

// Encode implements Tokenizer; it fails only when the normalizers grow the
// text past normBudget (LoadUnigram refuses regular expressions).
func (u *Unigram) Encode(text string) ([]int32, error) {
	sym, err := u.normalize(text)
	if err != nil {
		return nil, err
	}
	return u.EncodeRunes(sym), nil
}

func (u *Unigram) normalize(text string) ([]rune, error) {
	if u.norm != nil {
		var err error
		if text, _, err = u.norm.normalize(text, normBudget(len(text))); err != nil {
			return nil, err
		}
	}
	return []rune(text), nil
}

// EncodeRunes segments already-normalized text.
func (u *Unigram) EncodeRunes(sym []rune) []int32 {
	n := len(sym)
	if n == 0 {
		return nil
	}
	best := make([]float64, n+1)
	words := make([]int32, n+1)
	relax := func(start, end int, id int32) {
		score := u.scores[id] + best[start]
		if best[end] == 0 || score >= best[end] {
			best[end] = score
			words[end] = id
		}
	}
	// Starts ascend, so each end position sees its candidates in the order the
	// reference visits them; best[i] is final when start i is reached.
	for i := 0; i < n; i++ {
		node, matched := int32(0), false
		for j := i; j < n; j++ {
			child, ok := u.trie[trieKey(node, sym[j])]
			if !ok {
				break
			}
			node = child
			if id := u.term[node]; id >= 0 {
				matched = true
				relax(i, j+1, id)
			}
		}
		if !matched {
			relax(i, i+1, u.unk)
		}
	}
	var rev []int32
	for it := n; it > 0; it -= u.u16len[words[it]] {
		rev = append(rev, words[it])
	}
	out := make([]int32, 0, len(rev))
	for i := len(rev) - 1; i >= 0; i-- {
		if rev[i] == u.unk && len(out) > 0 && out[len(out)-1] == u.unk {
			continue
		}
		out = append(out, rev[i])
	}
	return out
}

func usesRegex(n normalizer) bool {
	switch x := n.(type) {
	case seqNormalizer:
		for _, y := range x {
			if usesRegex(y) {
				return true
			}
		}
	case replace:
		_, ok := x.m.(regex)
		return ok
	}
	return false
}
