package tokenize

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/ser-rl/ser/internal/safefile"
)

// HF encodes text exactly as Hugging Face tokenizers (the Rust library, v0.22)
// does with the same tokenizer.json and add_special_tokens = true: the
// added tokens are split out of the raw text, each remaining piece is
// normalized, split again on normalized added tokens, pre-tokenized into
// words, and each word goes through the model (BPE, WordPiece, WordLevel or
// Unigram); the post-processor then adds the special tokens it names. A
// feature of the file that HF does not implement is an error from LoadHF
// that names it; it is never skipped.
//
// Byte-level BPE files (Llama-3, Qwen, GPT-2) run on raw bytes: the model's
// vocabulary is decoded from the byte-to-character alphabet once at load, so
// no text is ever re-encoded. The split patterns of those families run as
// hand-written matchers; other patterns run on github.com/dlclark/regexp2.
// Words of up to 256 bytes are cached, as HF caches them.
//
// The zero value is not usable; call LoadHF or ParseHF. An HF is safe for
// concurrent use.
type HF struct {
	path  string
	added *addedVocab
	norm  normalizer // nil: none
	pre   preTokenizer
	model model
	post  postProcessor // nil: none
	trunc *truncation
}

// Limits on what a tokenizer.json may ask for, so that a hostile file fails
// at load instead of exhausting memory later.
const (
	maxTokenizerFile = 256 << 20 // bytes of tokenizer.json (the largest real ones are about 35 MB)
	maxVocab         = 1 << 24   // entries of a vocabulary
)

// LoadHF reads a tokenizer.json.
func LoadHF(path string) (*HF, error) {
	raw, err := safefile.ReadRegular(path, maxTokenizerFile)
	if err != nil {
		return nil, err
	}
	h, err := ParseHF(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	h.path = path
	return h, nil
}

// hfFile is the top level of tokenizer.json.
type hfFile struct {
	Version       string          `json:"version"`
	Truncation    json.RawMessage `json:"truncation"`
	Padding       json.RawMessage `json:"padding"`
	AddedTokens   []addedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         json.RawMessage `json:"model"`
}

// ParseHF builds a tokenizer from the contents of a tokenizer.json. Errors
// name the field at fault.
func ParseHF(raw []byte) (*HF, error) {
	var f hfFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("not a tokenizer.json: %w", jsonError(err))
	}
	if f.Version != "" && f.Version != "1.0" {
		return nil, fmt.Errorf("field version: %q is not 1.0", f.Version)
	}
	if isNull(f.Model) {
		return nil, fmt.Errorf("field model: missing")
	}
	h := &HF{}
	var err error
	if h.norm, err = parseNormalizer(f.Normalizer, "normalizer"); err != nil {
		return nil, err
	}
	var byteLevel bool
	if h.pre, byteLevel, err = parsePreTokenizer(f.PreTokenizer, "pre_tokenizer", true); err != nil {
		return nil, err
	}
	if h.model, err = parseModel(f.Model, byteLevel); err != nil {
		return nil, err
	}
	if b, ok := h.model.(*bpe); byteLevel && !(ok && b.raw) {
		// The model reads byte-level characters, not raw bytes: map them.
		lastByteLevel(h.pre).mapChars = true
	}
	if h.trunc, err = parseTruncation(f.Truncation); err != nil {
		return nil, err
	}
	if err := checkPadding(f.Padding); err != nil {
		return nil, err
	}
	if h.added, err = newAddedVocab(f.AddedTokens, h.model, h.norm); err != nil {
		return nil, err
	}
	if h.post, err = parsePostProcessor(f.PostProcessor, "post_processor"); err != nil {
		return nil, err
	}
	if err := checkFirstScheme(h.pre, h.norm); err != nil {
		return nil, err
	}
	return h, nil
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// jsonError rewrites encoding/json's messages, which name Go types, in the
// terms of the file.
func jsonError(err error) error {
	switch e := err.(type) {
	case *json.UnmarshalTypeError:
		field := e.Field
		if field == "" {
			field = "(top level)"
		}
		return fmt.Errorf("field %s: a JSON %s where another type belongs (offset %d)", field, e.Value, e.Offset)
	case *json.SyntaxError:
		return fmt.Errorf("malformed JSON at offset %d: %v", e.Offset, e)
	}
	return err
}

// typeOf reads the "type" field of a component.
func typeOf(raw json.RawMessage, where string) (string, error) {
	var t struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return "", fmt.Errorf("%s: %w", where, jsonError(err))
	}
	if t.Type == "" {
		return "", fmt.Errorf("%s: no type field", where)
	}
	return t.Type, nil
}

// decode unmarshals a component, naming it in errors.
func decode(raw json.RawMessage, where string, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", where, jsonError(err))
	}
	return nil
}

// Path returns the file the tokenizer was loaded from.
func (h *HF) Path() string { return h.path }

// TokenID returns the id of a token (an added token or a model vocabulary
// entry), and whether it exists.
func (h *HF) TokenID(token string) (int32, bool) {
	if id, ok := h.added.ids[token]; ok {
		return id, true
	}
	return h.model.tokenID(token)
}

// AddedContent returns the text of an added token.
func (h *HF) AddedContent(id int32) (string, bool) {
	t, ok := h.added.flags[id]
	return t.Content, ok
}

// scratch holds one Encode call's buffers.
type scratch struct {
	pieces []segment
	sub    []segment
	ids    []int32
}

// lastByteLevel returns the ByteLevel pre-tokenizer that ends p.
func lastByteLevel(p preTokenizer) *byteLevelPre {
	switch x := p.(type) {
	case *byteLevelPre:
		return x
	case seqPre:
		return lastByteLevel(x[len(x)-1])
	}
	panic("tokenize: no ByteLevel pre-tokenizer at the end of the pipeline")
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// Encode implements Tokenizer.
func (h *HF) Encode(text string) ([]int32, error) {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	ids, err := h.encode(text, sc)
	if err != nil {
		if h.path != "" {
			return nil, fmt.Errorf("tokenize with %s: %w", h.path, err)
		}
		return nil, err
	}
	// 5. Truncation as the file asks, then the post-processor's special tokens.
	if h.trunc != nil {
		ids = h.trunc.apply(ids, h.post)
	}
	if h.post == nil {
		return append([]int32(nil), ids...), nil
	}
	return h.post.process(make([]int32, 0, len(ids)+h.post.added()), ids), nil
}

// segment is a piece of text on its way through the pipeline, or an added
// token already found (id >= 0).
type segment struct {
	text  string
	id    int32
	first bool // starts at offset 0 of the original text (Metaspace's "first" scheme)
}

func (h *HF) encode(text string, sc *scratch) ([]int32, error) {
	// 1. Added tokens that are not normalized, on the raw text.
	sc.pieces = h.added.split(sc.pieces[:0], segment{text: text, id: -1, first: true}, false)
	// 2. Normalize what is left, then split out the normalized added tokens.
	sc.sub = sc.sub[:0]
	for _, p := range sc.pieces {
		if p.id >= 0 {
			sc.sub = append(sc.sub, p)
			continue
		}
		if h.norm != nil {
			var dropped bool
			var err error
			if p.text, dropped, err = h.norm.normalize(p.text, normBudget(len(p.text))); err != nil {
				return nil, err
			}
			p.first = p.first && !dropped
		}
		if p.text == "" {
			continue
		}
		sc.sub = h.added.split(sc.sub, p, true)
	}
	// 3. Pre-tokenize each piece into words; 4. the model turns words into ids.
	ids := sc.ids[:0]
	var err error
	for _, p := range sc.sub {
		if p.id >= 0 {
			ids = append(ids, p.id)
			continue
		}
		if h.pre == nil {
			if ids, err = h.model.tokenize(p.text, ids); err != nil {
				return nil, err
			}
			continue
		}
		err = h.pre.split(p.text, p.first, func(word string, _ bool) error {
			ids, err = h.model.tokenize(word, ids)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	sc.ids = ids
	return ids, nil
}

// truncation is tokenizer.json's "truncation" section, applied to single
// texts as HF applies it: max_length counts the special tokens the
// post-processor adds.
type truncation struct {
	maxLength int
	left      bool
}

func parseTruncation(raw json.RawMessage) (*truncation, error) {
	if isNull(raw) {
		return nil, nil
	}
	var t struct {
		Direction string `json:"direction"`
		MaxLength *int   `json:"max_length"`
		Strategy  string `json:"strategy"`
		Stride    int    `json:"stride"`
	}
	if err := decode(raw, "truncation", &t); err != nil {
		return nil, err
	}
	if t.MaxLength == nil || *t.MaxLength < 0 {
		return nil, fmt.Errorf("truncation: field max_length: missing or negative")
	}
	switch t.Direction {
	case "", "Right", "Left":
	default:
		return nil, fmt.Errorf("truncation: field direction: %q is not Left or Right", t.Direction)
	}
	return &truncation{maxLength: *t.MaxLength, left: t.Direction == "Left"}, nil
}

func (t *truncation) apply(ids []int32, post postProcessor) []int32 {
	max := t.maxLength
	if post != nil {
		if n := post.added(); n > 0 {
			max -= n
			if max < 0 {
				max = 0
			}
		}
	}
	if len(ids) <= max {
		return ids
	}
	if t.left {
		return ids[len(ids)-max:]
	}
	return ids[:max]
}

// checkPadding accepts padding to the longest text of a batch, which leaves
// a single text as it is; ser pads its batches itself, so padding a single
// text to a fixed length or a multiple would only add ids ser then feeds.
func checkPadding(raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	var p struct {
		Strategy        json.RawMessage `json:"strategy"`
		PadToMultipleOf *int            `json:"pad_to_multiple_of"`
	}
	if err := decode(raw, "padding", &p); err != nil {
		return err
	}
	var s string
	if json.Unmarshal(p.Strategy, &s) != nil || s != "BatchLongest" || (p.PadToMultipleOf != nil && *p.PadToMultipleOf > 1) {
		return fmt.Errorf("padding: only BatchLongest without pad_to_multiple_of is supported (ser pads batches itself); set \"padding\" to null")
	}
	return nil
}
