package tokenize

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"unicode/utf8"
)

// wordPiece is BERT's WordPiece: the longest vocabulary entry that starts the
// word, then the longest "##"-prefixed entry that continues it, and so on; a
// word that cannot be covered, or is longer than maxChars characters, is the
// unknown token.
type wordPiece struct {
	vocab    map[string]int32
	unk      string
	prefix   string
	maxChars int
}

func parseWordPiece(raw json.RawMessage, where string) (*wordPiece, error) {
	f := struct {
		UnkToken *string          `json:"unk_token"`
		Prefix   *string          `json:"continuing_subword_prefix"`
		MaxChars *int             `json:"max_input_chars_per_word"`
		Vocab    map[string]int32 `json:"vocab"`
	}{}
	if err := decode(raw, where, &f); err != nil {
		return nil, err
	}
	w := &wordPiece{vocab: f.Vocab, unk: "[UNK]", prefix: "##", maxChars: 100}
	if f.UnkToken != nil {
		w.unk = *f.UnkToken
	}
	if f.Prefix != nil {
		w.prefix = *f.Prefix
	}
	if f.MaxChars != nil {
		w.maxChars = *f.MaxChars
	}
	if err := checkVocab(f.Vocab, where); err != nil {
		return nil, err
	}
	return w, nil
}

func checkVocab(v map[string]int32, where string) error {
	if v == nil {
		return fmt.Errorf("%s: field vocab: missing", where)
	}
	if len(v) > maxVocab {
		return fmt.Errorf("%s: field vocab: %d entries, over %d", where, len(v), maxVocab)
	}
	for tok, id := range v {
		if id < 0 {
			return fmt.Errorf("%s: field vocab: %q has negative id %d", where, tok, id)
		}
	}
	return nil
}

func (w *wordPiece) vocabSize() int { return len(w.vocab) }

func (w *wordPiece) tokenID(t string) (int32, bool) {
	id, ok := w.vocab[t]
	return id, ok
}

func (w *wordPiece) unknown(dst []int32) ([]int32, error) {
	id, ok := w.vocab[w.unk]
	if !ok {
		return dst, fmt.Errorf("WordPiece: the unknown token %q is not in the vocabulary", w.unk)
	}
	return append(dst, id), nil
}

func (w *wordPiece) tokenize(word string, dst []int32) ([]int32, error) {
	if utf8.RuneCountInString(word) > w.maxChars {
		return w.unknown(dst)
	}
	n := len(dst)
	var buf []byte
	for start := 0; start < len(word); {
		end := len(word)
		found := int32(-1)
		for start < end {
			var id int32
			var ok bool
			if start > 0 {
				buf = append(append(buf[:0], w.prefix...), word[start:end]...)
				id, ok = w.vocab[string(buf)]
			} else {
				id, ok = w.vocab[word[start:end]]
			}
			if ok {
				found = id
				break
			}
			_, size := utf8.DecodeLastRuneInString(word[start:end])
			end -= size
		}
		if found < 0 {
			return w.unknown(dst[:n])
		}
		dst = append(dst, found)
		start = end
	}
	return dst, nil
}

// wordLevel maps each word to its id, or to the unknown token.
type wordLevel struct {
	vocab map[string]int32
	unk   string
}

func parseWordLevel(raw json.RawMessage, where string) (*wordLevel, error) {
	var f struct {
		UnkToken string           `json:"unk_token"`
		Vocab    map[string]int32 `json:"vocab"`
	}
	if err := decode(raw, where, &f); err != nil {
		return nil, err
	}
	if err := checkVocab(f.Vocab, where); err != nil {
		return nil, err
	}
	return &wordLevel{vocab: f.Vocab, unk: f.UnkToken}, nil
}

func (w *wordLevel) vocabSize() int { return len(w.vocab) }

func (w *wordLevel) tokenID(t string) (int32, bool) {
	id, ok := w.vocab[t]
	return id, ok
}

func (w *wordLevel) tokenize(word string, dst []int32) ([]int32, error) {
	if id, ok := w.vocab[word]; ok {
		return append(dst, id), nil
	}
	if id, ok := w.vocab[w.unk]; ok {
		return append(dst, id), nil
	}
	return dst, fmt.Errorf("WordLevel: the unknown token %q is not in the vocabulary", w.unk)
}

// unigramModel is HF's Unigram (models/unigram, encode_optimized): a Viterbi
// search over the byte positions of the word for the pieces whose scores sum
// highest; a character that starts no piece is the unknown piece, scored ten
// below the lowest score; consecutive unknowns are fused, and an unknown run
// becomes byte-fallback pieces when the model has them.
type unigramModel struct {
	scores       []float64
	ids          map[string]int32 // token -> id (the last of duplicates)
	trie         byteTrie
	unk          int32 // -1: none
	unkScore     float64
	byteFallback bool
	fallbackID   [256]int32
	cache        wordCache
}

func parseUnigramModel(raw json.RawMessage, where string) (*unigramModel, error) {
	var f struct {
		UnkID        *int                 `json:"unk_id"`
		Vocab        [][2]json.RawMessage `json:"vocab"`
		ByteFallback bool                 `json:"byte_fallback"`
	}
	if err := decode(raw, where, &f); err != nil {
		return nil, err
	}
	if len(f.Vocab) > maxVocab {
		return nil, fmt.Errorf("%s: field vocab: %d entries, over %d", where, len(f.Vocab), maxVocab)
	}
	u := &unigramModel{ids: make(map[string]int32, len(f.Vocab)), trie: newByteTrie(),
		unk: -1, byteFallback: f.ByteFallback, scores: make([]float64, len(f.Vocab))}
	if f.UnkID != nil {
		if len(f.Vocab) == 0 {
			return nil, fmt.Errorf("%s: field vocab: empty", where)
		}
		if *f.UnkID < 0 || *f.UnkID >= len(f.Vocab) {
			return nil, fmt.Errorf("%s: field unk_id: %d is outside the vocabulary of %d", where, *f.UnkID, len(f.Vocab))
		}
		u.unk = int32(*f.UnkID)
	}
	minScore := math.Inf(1)
	for i, e := range f.Vocab {
		var tok string
		if err := json.Unmarshal(e[0], &tok); err != nil {
			return nil, fmt.Errorf("%s: vocab[%d][0]: %w", where, i, jsonError(err))
		}
		// The score as Hugging Face reads it (see serdeFloat).
		score, err := serdeFloat(bytes.TrimSpace(e[1]))
		if err != nil {
			return nil, fmt.Errorf("%s: vocab[%d][1]: not a number (%v)", where, i, err)
		}
		u.scores[i] = score
		minScore = math.Min(minScore, score)
		u.ids[tok] = int32(i)
	}
	for tok, id := range u.ids {
		u.trie.add(tok, id, false)
	}
	u.unkScore = minScore - 10
	for i := range u.fallbackID {
		u.fallbackID[i] = -1
		if id, ok := u.ids[fmt.Sprintf("<0x%02X>", i)]; ok {
			u.fallbackID[i] = id
		}
	}
	return u, nil
}

func (u *unigramModel) vocabSize() int { return len(u.scores) }

func (u *unigramModel) tokenID(t string) (int32, bool) {
	id, ok := u.ids[t]
	return id, ok
}

func (u *unigramModel) tokenize(s string, dst []int32) ([]int32, error) {
	if s == "" {
		return dst, nil
	}
	if ids, ok := u.cache.get(s); ok {
		return append(dst, ids...), nil
	}
	type node struct {
		id    int32
		score float64
		from  int // -1: unset
	}
	best := make([]node, len(s)+1)
	for i := range best {
		best[i].from = -1
	}
	for start := 0; start < len(s); {
		base := best[start].score
		_, mblen := utf8.DecodeRuneInString(s[start:])
		single := false
		n := int32(0)
		for j := start; j < len(s); j++ {
			child, ok := u.trie.child(n, s[j])
			if !ok {
				break
			}
			n = child
			id := u.trie.id[n]
			if id < 0 {
				continue
			}
			end := j + 1
			if t := &best[end]; t.from < 0 || u.scores[id]+base > t.score {
				t.score, t.from, t.id = u.scores[id]+base, start, id
			}
			if end-start == mblen {
				single = true
			}
		}
		if !single {
			if t := &best[start+mblen]; t.from < 0 || u.unkScore+base > t.score {
				if u.unk < 0 {
					return dst, fmt.Errorf("Unigram: a character needs the unknown piece, and the model has no unk_id")
				}
				t.score, t.from, t.id = u.unkScore+base, start, u.unk
			}
		}
		start += mblen
	}
	// Back-trace, fusing runs of unknowns.
	var rev []int32
	for end := len(s); end > 0; {
		t := best[end]
		if t.id == u.unk && u.unk >= 0 {
			start := end
			for start > 0 && best[start].id == u.unk {
				start = best[start].from
			}
			rev = u.appendPiece(rev, s[start:end], true)
			end = start
			continue
		}
		rev = append(rev, t.id)
		end = t.from
	}
	n := len(dst)
	for i := len(rev) - 1; i >= 0; i-- {
		dst = append(dst, rev[i])
	}
	u.cache.put(s, dst[n:])
	return dst, nil
}

// appendPiece appends, in reverse order, the ids of an unknown run: its own
// id if the run is a vocabulary entry, else byte-fallback pieces, else unk.
func (u *unigramModel) appendPiece(rev []int32, piece string, _ bool) []int32 {
	if id, ok := u.ids[piece]; ok {
		return append(rev, id)
	}
	if u.byteFallback {
		all := true
		for i := 0; i < len(piece); i++ {
			all = all && u.fallbackID[piece[i]] >= 0
		}
		if all {
			for i := len(piece) - 1; i >= 0; i-- {
				rev = append(rev, u.fallbackID[piece[i]])
			}
			return rev
		}
	}
	return append(rev, u.unk)
}
