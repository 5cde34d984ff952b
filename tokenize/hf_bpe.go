package tokenize

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// model turns one pre-tokenized word into ids.
type model interface {
	// tokenize appends the ids of word to dst.
	tokenize(word string, dst []int32) ([]int32, error)
	// tokenID is the model's id of a token, as HF's token_to_id.
	tokenID(token string) (int32, bool)
	// vocabSize is the number of vocabulary entries, where HF numbers the
	// first added token that the vocabulary lacks.
	vocabSize() int
}

func parseModel(raw json.RawMessage, byteLevel bool) (model, error) {
	typ, err := typeOf(raw, "model")
	if err != nil {
		if !legacyUnigram(raw) {
			return nil, err
		}
		// Files written before the model carried its type (T5's, among
		// others): Hugging Face tries BPE, WordPiece, WordLevel and then
		// Unigram, and only Unigram takes a vocabulary that is a list.
		typ = "Unigram"
	}
	where := fmt.Sprintf("model (%s)", typ)
	switch typ {
	case "BPE":
		return parseBPE(raw, where, byteLevel)
	case "WordPiece":
		return parseWordPiece(raw, where)
	case "WordLevel":
		return parseWordLevel(raw, where)
	case "Unigram":
		return parseUnigramModel(raw, where)
	}
	return nil, fmt.Errorf("model: type %q is not supported", typ)
}

// legacyUnigram reports a model with no "type" whose vocabulary is a list.
func legacyUnigram(raw json.RawMessage) bool {
	var m struct {
		Type  *string         `json:"type"`
		Vocab json.RawMessage `json:"vocab"`
	}
	if json.Unmarshal(raw, &m) != nil || m.Type != nil {
		return false
	}
	v := bytes.TrimSpace(m.Vocab)
	return len(v) > 0 && v[0] == '['
}

// bpe is HF's BPE model: each character of a word (with the continuing
// prefix and end-of-word suffix where set) starts as a symbol; characters
// missing from the vocabulary become byte-fallback pieces <0xXX> or the
// unknown token; then the merge of lowest rank, leftmost first, is applied
// until none applies (models/bpe/word.rs, merge_all).
type bpe struct {
	vocab   map[string]int32 // raw mode: keys decoded to bytes
	other   map[string]int32 // raw mode: vocabulary keys outside the byte alphabet
	size    int
	merges  pairTable
	unk     int32 // -1: none, or not in the vocabulary
	hasUnk  bool  // unk_token is set
	unkName string
	fuseUnk bool
	prefix  string
	suffix  string
	// raw: words are raw bytes (a ByteLevel pre-tokenizer ends the pipeline)
	// and byteID holds each byte's single-character token.
	raw          bool
	byteID       [256]int32
	cuts         []cut // where words can be cut before merging (char mode)
	byteFallback bool
	fallbackID   [256]int32 // <0xXX> pieces, -1 where missing
	ignoreMerges bool
	cache        wordCache
	words        sync.Pool // *bpeWord
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

func parseBPE(raw json.RawMessage, where string, byteLevel bool) (*bpe, error) {
	var f struct {
		Dropout      *float64         `json:"dropout"`
		UnkToken     *string          `json:"unk_token"`
		Prefix       *string          `json:"continuing_subword_prefix"`
		Suffix       *string          `json:"end_of_word_suffix"`
		FuseUnk      bool             `json:"fuse_unk"`
		ByteFallback bool             `json:"byte_fallback"`
		IgnoreMerges bool             `json:"ignore_merges"`
		Vocab        map[string]int32 `json:"vocab"`
		Merges       json.RawMessage  `json:"merges"`
	}
	if err := decode(raw, where, &f); err != nil {
		return nil, err
	}
	if f.Dropout != nil && *f.Dropout != 0 {
		return nil, fmt.Errorf("%s: field dropout: %v; BPE dropout is random and not supported (set it to null)", where, *f.Dropout)
	}
	if f.Vocab == nil {
		return nil, fmt.Errorf("%s: field vocab: missing", where)
	}
	if len(f.Vocab) > maxVocab {
		return nil, fmt.Errorf("%s: field vocab: %d entries, over %d", where, len(f.Vocab), maxVocab)
	}
	for tok, id := range f.Vocab {
		if id < 0 {
			return nil, fmt.Errorf("%s: field vocab: %q has negative id %d", where, tok, id)
		}
	}
	pairs, err := parseMerges(f.Merges, where)
	if err != nil {
		return nil, err
	}
	b := &bpe{size: len(f.Vocab), unk: -1, fuseUnk: f.FuseUnk, byteFallback: f.ByteFallback, ignoreMerges: f.IgnoreMerges}
	if f.Prefix != nil {
		b.prefix = *f.Prefix
	}
	if f.Suffix != nil {
		b.suffix = *f.Suffix
	}
	b.merges.init(len(pairs))
	for i, p := range pairs {
		a, ok := f.Vocab[p[0]]
		if !ok {
			return nil, fmt.Errorf("%s: merges[%d]: %q is not in the vocabulary", where, i, p[0])
		}
		c, ok := f.Vocab[p[1]]
		if !ok {
			return nil, fmt.Errorf("%s: merges[%d]: %q is not in the vocabulary", where, i, p[1])
		}
		second := p[1]
		if len(b.prefix) > 0 { // HF drops as many bytes as the prefix has, whatever they are
			if len(second) < len(b.prefix) || !utf8.ValidString(second[len(b.prefix):]) {
				return nil, fmt.Errorf("%s: merges[%d]: %q does not start with a whole continuing prefix", where, i, second)
			}
			second = second[len(b.prefix):]
		}
		id, ok := f.Vocab[p[0]+second]
		if !ok {
			return nil, fmt.Errorf("%s: merges[%d]: the merged token %q is not in the vocabulary", where, i, p[0]+second)
		}
		b.merges.put(pairKey(a, c), int32(i), id)
	}
	if f.UnkToken != nil {
		b.hasUnk, b.unkName = true, *f.UnkToken
		if id, ok := f.Vocab[*f.UnkToken]; ok {
			b.unk = id
		}
	}
	for i := range b.fallbackID {
		b.fallbackID[i] = -1
		if id, ok := f.Vocab[fmt.Sprintf("<0x%02X>", i)]; ok {
			b.fallbackID[i] = id
		}
	}
	b.raw = byteLevel && b.prefix == "" && b.suffix == ""
	if b.raw {
		decoded := make(map[string]int32, len(f.Vocab))
		b.other = map[string]int32{}
		for tok, id := range f.Vocab {
			if d, ok := byteLevelDecode(tok); ok {
				decoded[d] = id
			} else {
				b.other[tok] = id
			}
		}
		b.vocab = decoded
		for i := range b.byteID {
			b.byteID[i] = -1
			if id, ok := decoded[string([]byte{byte(i)})]; ok {
				b.byteID[i] = id
			}
		}
	} else {
		b.vocab = f.Vocab
		if b.unk < 0 || !mergesTouch(b.merges, b.unk) {
			b.cuts = findCuts(f.Vocab, pairs, b.prefix, b.suffix)
		}
	}
	return b, nil
}

// parseMerges reads merges as ["a b", ...] (the older form; "#version"
// lines skipped) or [["a", "b"], ...].
func parseMerges(raw json.RawMessage, where string) ([][2]string, error) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return nil, fmt.Errorf("%s: field merges: missing", where)
	}
	body := bytes.TrimSpace(bytes.TrimPrefix(raw, []byte("[")))
	if len(body) > 0 && body[0] == '"' {
		var lines []string
		if err := json.Unmarshal(raw, &lines); err != nil {
			return nil, fmt.Errorf("%s: field merges: %w", where, jsonError(err))
		}
		out := make([][2]string, 0, len(lines))
		for _, l := range lines {
			if strings.HasPrefix(l, "#version") {
				continue
			}
			parts := strings.Split(l, " ")
			if len(parts) != 2 {
				return nil, fmt.Errorf("%s: field merges: entry %d (%q) is not two tokens separated by one space", where, len(out), l)
			}
			out = append(out, [2]string{parts[0], parts[1]})
		}
		return out, nil
	}
	var pairs [][2]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, fmt.Errorf("%s: field merges: %w", where, jsonError(err))
	}
	return pairs, nil
}

// mergesTouch reports whether some merge has id on one of its sides.
func mergesTouch(t pairTable, id int32) bool {
	for _, k := range t.keys {
		if k != 0 && (int32(uint32((k-1)>>32)) == id || int32(uint32(k-1)) == id) {
			return true
		}
	}
	return false
}

func (b *bpe) vocabSize() int { return b.size }

func (b *bpe) tokenID(token string) (int32, bool) {
	if !b.raw {
		id, ok := b.vocab[token]
		return id, ok
	}
	if id, ok := b.other[token]; ok {
		return id, true
	}
	d, ok := byteLevelDecode(token)
	if !ok {
		return 0, false
	}
	id, ok := b.vocab[d]
	return id, ok
}

func (b *bpe) tokenize(word string, dst []int32) ([]int32, error) {
	if word == "" {
		return dst, nil
	}
	if b.ignoreMerges {
		if id, ok := b.vocab[word]; ok {
			return append(dst, id), nil
		}
	}
	if len(b.cuts) == 0 {
		return b.segment(word, dst)
	}
	// Cut the word where no merge can ever join its two sides, and merge the
	// parts on their own: the same ids, and parts short enough to cache.
	start, prev := 0, rune(-1)
	var err error
	for i, r := range word {
		if i > start && b.cutBefore(prev, r) {
			if dst, err = b.segment(word[start:i], dst); err != nil {
				return dst, err
			}
			start = i
		}
		prev = r
	}
	return b.segment(word[start:], dst)
}

// cutBefore reports whether a word may be cut between characters a and r.
func (b *bpe) cutBefore(a, r rune) bool {
	for _, c := range b.cuts {
		if c.at == r {
			return !c.after[a]
		}
	}
	return false
}

// cut is a character before which a word can be cut unless the character
// before it is in after: no vocabulary entry holds r preceded by any other.
type cut struct {
	at    rune
	after map[rune]bool
}

// findCuts returns the cut characters of a vocabulary: ▁ (SentencePiece's
// space), space and newline, where each is a token of its own. A cut is only
// exact when every token's text is the text it covers: no continuing prefix
// or end-of-word suffix, no merge of a byte-fallback or unknown piece.
func findCuts(vocab map[string]int32, pairs [][2]string, prefix, suffix string) []cut {
	if prefix != "" || suffix != "" {
		return nil
	}
	for _, p := range pairs {
		for _, t := range p {
			if len(t) == 6 && strings.HasPrefix(t, "<0x") && strings.HasSuffix(t, ">") {
				return nil
			}
		}
	}
	var cuts []cut
	for _, r := range []rune{'\u2581', ' ', '\n'} {
		if _, ok := vocab[string(r)]; ok {
			cuts = append(cuts, cut{at: r, after: map[rune]bool{}})
		}
	}
	if len(cuts) == 0 {
		return nil
	}
	for tok := range vocab {
		prev := rune(-1)
		for _, r := range tok {
			for _, c := range cuts {
				if c.at == r && prev >= 0 {
					c.after[prev] = true
				}
			}
			prev = r
		}
	}
	return cuts
}

// segment is the BPE of one word or part of a word.
func (b *bpe) segment(word string, dst []int32) ([]int32, error) {
	if ids, ok := b.cache.get(word); ok {
		return append(dst, ids...), nil
	}
	w := b.getWord()
	defer b.words.Put(w)
	if err := b.symbols(w, word); err != nil {
		return dst, err
	}
	w.mergeAll(&b.merges)
	n := len(dst)
	for i := int32(0); len(w.sym) > 0 && i >= 0; i = w.sym[i].next {
		dst = append(dst, w.sym[i].id)
	}
	b.cache.put(word, dst[n:])
	return dst, nil
}

func (b *bpe) getWord() *bpeWord {
	if w, ok := b.words.Get().(*bpeWord); ok {
		return w
	}
	return &bpeWord{}
}

// symbols sets w to the starting symbols of word (merge_word before its merges).
func (b *bpe) symbols(w *bpeWord, word string) error {
	w.reset()
	if b.raw {
		for i := 0; i < len(word); i++ {
			id := b.byteID[word[i]]
			if id < 0 {
				if err := b.unknown(w, 1); err != nil {
					return err
				}
				continue
			}
			b.flushUnk(w)
			w.add(id)
		}
		b.flushUnk(w)
		return nil
	}
	var buf []byte
	for i := 0; i < len(word); {
		_, n := utf8.DecodeRuneInString(word[i:])
		s := word[i : i+n]
		if (b.prefix != "" && i > 0) || (b.suffix != "" && i+n == len(word)) {
			buf = buf[:0]
			if b.prefix != "" && i > 0 {
				buf = append(buf, b.prefix...)
			}
			buf = append(buf, s...)
			if b.suffix != "" && i+n == len(word) {
				buf = append(buf, b.suffix...)
			}
			s = string(buf)
		}
		i += n
		if id, ok := b.vocab[s]; ok {
			b.flushUnk(w)
			w.add(id)
			continue
		}
		if b.byteFallback {
			all := true
			for k := 0; k < len(s); k++ {
				all = all && b.fallbackID[s[k]] >= 0
			}
			if all {
				// HF adds these without first adding a pending unknown.
				for k := 0; k < len(s); k++ {
					w.add(b.fallbackID[s[k]])
				}
				continue
			}
		}
		if err := b.unknown(w, n); err != nil {
			return err
		}
	}
	b.flushUnk(w)
	return nil
}

// unknown records a character missing from the vocabulary: pending until
// the next known character, fused with the one before when fuse_unk; with no
// unk_token the character is dropped, as HF drops it.
func (b *bpe) unknown(w *bpeWord, _ int) error {
	if !b.hasUnk {
		return nil
	}
	if b.unk < 0 {
		return fmt.Errorf("the unknown token %q is not in the vocabulary", b.unkName)
	}
	if w.pendingUnk && b.fuseUnk {
		return nil
	}
	if w.pendingUnk {
		w.add(b.unk)
	}
	w.pendingUnk = true
	return nil
}

func (b *bpe) flushUnk(w *bpeWord) {
	if w.pendingUnk {
		w.add(b.unk)
		w.pendingUnk = false
	}
}

// bpeWord is the symbols of one word as a linked list over a slice, and the
// queue of candidate merges.
type bpeWord struct {
	sym        []bpeSymbol
	queue      []uint64 // rank<<32 | position: the order HF's queue pops in
	pendingUnk bool
}

type bpeSymbol struct {
	id         int32
	prev, next int32 // -1 at the ends
	gone       bool  // merged into the symbol on its left
}

func (w *bpeWord) reset() {
	w.sym = w.sym[:0]
	w.queue = w.queue[:0]
	w.pendingUnk = false
}

func (w *bpeWord) add(id int32) {
	n := int32(len(w.sym))
	if n > 0 {
		w.sym[n-1].next = n
	}
	w.sym = append(w.sym, bpeSymbol{id: id, prev: n - 1, next: -1})
}

// mergeAll applies merges as HF's Word::merge_all does, without dropout: a
// queue ordered by rank, then position; an entry whose pair has changed since
// it was queued is skipped (its rank names the merge, and so the id it makes).
// It then leaves the merged symbols unlinked: sym[0] starts the list.
func (w *bpeWord) mergeAll(merges *pairTable) {
	s := w.sym
	q := w.queue[:0]
	for i := 0; i+1 < len(s); i++ {
		if rank, _, ok := merges.get(pairKey(s[i].id, s[i+1].id)); ok {
			q = append(q, uint64(rank)<<32|uint64(i))
		}
	}
	heapify(q)
	for len(q) > 0 {
		top := q[0]
		q = popMin(q)
		rank, pos := int32(top>>32), int32(uint32(top))
		cur := &s[pos]
		if cur.gone || cur.next < 0 {
			continue
		}
		right := s[cur.next]
		_, id, ok := merges.get(pairKey(cur.id, right.id))
		if !ok || id != merges.ids[rank] {
			continue
		}
		s[cur.next].gone = true
		cur.id = id
		cur.next = right.next
		if right.next >= 0 {
			s[right.next].prev = pos
		}
		if cur.prev >= 0 {
			if r, _, ok := merges.get(pairKey(s[cur.prev].id, cur.id)); ok {
				q = pushMin(q, uint64(r)<<32|uint64(uint32(cur.prev)))
			}
		}
		if cur.next >= 0 {
			if r, _, ok := merges.get(pairKey(cur.id, s[cur.next].id)); ok {
				q = pushMin(q, uint64(r)<<32|uint64(uint32(pos)))
			}
		}
	}
	w.queue = q
}

// A 4-ary min-heap of uint64: shallower than a binary one, as HF's.

func heapify(q []uint64) {
	if len(q) < 2 {
		return
	}
	for i := (len(q) - 2) / 4; i >= 0; i-- {
		down(q, i)
	}
}

func pushMin(q []uint64, x uint64) []uint64 {
	q = append(q, x)
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) / 4
		if q[p] <= x {
			break
		}
		q[i] = q[p]
		i = p
	}
	q[i] = x
	return q
}

func popMin(q []uint64) []uint64 {
	n := len(q) - 1
	q[0] = q[n]
	q = q[:n]
	if n > 1 {
		down(q, 0)
	}
	return q
}

func down(q []uint64, i int) {
	n := len(q)
	x := q[i]
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		for k := c + 1; k < c+4 && k < n; k++ {
			if q[k] < q[m] {
				m = k
			}
		}
		if q[m] >= x {
			break
		}
		q[i] = q[m]
		i = m
	}
	q[i] = x
}

// pairTable maps a pair of ids to the rank of its merge and the id it makes:
// open addressing with linear probing, faster than a map for the lookups
// that dominate long words. Later merges of the same pair replace earlier
// ones, as in HF.
type pairTable struct {
	keys  []uint64 // pairKey+1; 0 is empty
	ranks []int32
	mask  uint64
	ids   []int32 // rank -> the merged id
}

func (t *pairTable) init(n int) {
	size := 16
	for size < 2*n {
		size *= 2
	}
	t.keys = make([]uint64, size)
	t.ranks = make([]int32, size)
	t.mask = uint64(size - 1)
	t.ids = make([]int32, n)
}

func (t *pairTable) slot(key uint64) uint64 { return (key * 0x9E3779B97F4A7C15) >> 20 & t.mask }

func (t *pairTable) put(key uint64, rank, id int32) {
	t.ids[rank] = id
	for i := t.slot(key); ; i = (i + 1) & t.mask {
		if t.keys[i] == 0 || t.keys[i] == key+1 {
			t.keys[i], t.ranks[i] = key+1, rank
			return
		}
	}
}

func (t *pairTable) get(key uint64) (rank, id int32, ok bool) {
	if len(t.keys) == 0 {
		return 0, 0, false
	}
	for i := t.slot(key); ; i = (i + 1) & t.mask {
		switch t.keys[i] {
		case key + 1:
			r := t.ranks[i]
			return r, t.ids[r], true
		case 0:
			return 0, 0, false
		}
	}
}
