package tokenize_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/tokenize"
)

// Small tokenizer.json files of each kind, made here, for the tests and fuzz
// targets that must run without the real ones.

// byteChars is GPT-2's byte-to-character alphabet.
func byteChars() []string {
	var out []string
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			out = append(out, string(rune(b)))
		} else {
			out = append(out, string(rune(256+n)))
			n++
		}
	}
	return out
}

// bpeVocab makes a vocabulary from base tokens and merges (each merge adds
// its concatenation).
func bpeVocab(base []string, merges [][2]string) map[string]int {
	v := map[string]int{}
	for _, t := range base {
		if _, ok := v[t]; !ok {
			v[t] = len(v)
		}
	}
	for _, m := range merges {
		if _, ok := v[m[0]+m[1]]; !ok {
			v[m[0]+m[1]] = len(v)
		}
	}
	return v
}

func mustJSON(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(raw)
}

var cl100k = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

func smallByteLevel() string {
	merges := [][2]string{{"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}, {"i", "n"}, {"Ġ", "a"}, {"e", "r"}, {"in", "g"}, {"Ġ", "Ġ"}, {"ĠĠ", "ĠĠ"}, {"Ċ", "Ċ"}}
	v := bpeVocab(byteChars(), merges)
	return mustJSON(map[string]any{
		"version": "1.0",
		"added_tokens": []any{map[string]any{"id": len(v), "content": "<|eot|>", "single_word": false, "lstrip": false,
			"rstrip": false, "normalized": false, "special": true}},
		"normalizer": map[string]any{"type": "NFC"},
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": cl100k}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
		}},
		"post_processor": nil,
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "fuse_unk": false, "byte_fallback": false,
			"ignore_merges": true, "vocab": v, "merges": merges},
	})
}

func smallSentencePiece() string {
	base := []string{"<unk>", "<s>", "</s>"}
	for b := 0; b < 256; b++ {
		base = append(base, fmt.Sprintf("<0x%02X>", b))
	}
	base = append(base, "▁")
	for c := 'a'; c <= 'z'; c++ {
		base = append(base, string(c))
	}
	merges := [][2]string{{"▁", "t"}, {"h", "e"}, {"▁t", "he"}, {"▁", "▁"}, {"i", "n"}, {"in", "g"}, {"▁", "a"}}
	v := bpeVocab(base, merges)
	var ms []string
	for _, m := range merges {
		ms = append(ms, m[0]+" "+m[1])
	}
	return mustJSON(map[string]any{
		"version": "1.0",
		"added_tokens": []any{
			map[string]any{"id": 0, "content": "<unk>", "special": true, "normalized": false, "single_word": false, "lstrip": false, "rstrip": false},
			map[string]any{"id": 1, "content": "<s>", "special": true, "normalized": false, "single_word": false, "lstrip": false, "rstrip": false},
			map[string]any{"id": 2, "content": "</s>", "special": true, "normalized": false, "single_word": false, "lstrip": false, "rstrip": false},
		},
		"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "Prepend", "prepend": "▁"},
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"},
		}},
		"pre_tokenizer": nil,
		"post_processor": map[string]any{"type": "TemplateProcessing",
			"single":         []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}},
			"special_tokens": map[string]any{"<s>": map[string]any{"id": "<s>", "ids": []int{1}, "tokens": []string{"<s>"}}}},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
			"vocab": v, "merges": ms},
	})
}

func smallWordPiece() string {
	base := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "hello", "world", "un", "##able", "##s", "!", ",", "."}
	for c := 'a'; c <= 'z'; c++ {
		base = append(base, string(c), "##"+string(c))
	}
	v := bpeVocab(base, nil)
	return mustJSON(map[string]any{
		"version": "1.0",
		"added_tokens": []any{
			map[string]any{"id": 2, "content": "[CLS]", "special": true, "normalized": false, "single_word": false, "lstrip": false, "rstrip": false},
			map[string]any{"id": 3, "content": "[SEP]", "special": true, "normalized": false, "single_word": false, "lstrip": false, "rstrip": false},
		},
		"normalizer":     map[string]any{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": nil, "lowercase": true},
		"pre_tokenizer":  map[string]any{"type": "BertPreTokenizer"},
		"post_processor": map[string]any{"type": "BertProcessing", "sep": []any{"[SEP]", 3}, "cls": []any{"[CLS]", 2}},
		"model": map[string]any{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
			"max_input_chars_per_word": 100, "vocab": v},
	})
}

func smallUnigram() string {
	vocab := [][2]any{{"<unk>", 0.0}, {"▁", -2.0}, {"▁the", -1.5}, {"▁a", -2.5}, {"ing", -3.0}}
	for c := 'a'; c <= 'z'; c++ {
		vocab = append(vocab, [2]any{string(c), -4.0 - float64(c-'a')/10})
	}
	return mustJSON(map[string]any{
		"version":      "1.0",
		"added_tokens": []any{},
		"normalizer":   map[string]any{"type": "NFKC"},
		"pre_tokenizer": map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always",
			"split": true},
		"model": map[string]any{"type": "Unigram", "unk_id": 0, "vocab": vocab, "byte_fallback": false},
	})
}

// smallT5 is smallUnigram with T5's pipeline: a Precompiled charsmap
// (full-width letters, ligatures, an accent composed, a control removed)
// and UnicodeScripts before Metaspace.
func smallT5() string {
	cm, err := testenv.Charsmap(map[string]string{"Ａ": "A", "ｔ": "t", "ﬁ": "fi", "e\u0301": "é", "\x01": "", "\u3000": " "})
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(smallUnigram()), &m); err != nil {
		panic(err)
	}
	m["normalizer"] = map[string]any{"type": "Sequence", "normalizers": []any{
		map[string]any{"type": "Precompiled", "precompiled_charsmap": base64.StdEncoding.EncodeToString(cm)},
		map[string]any{"type": "Replace", "pattern": map[string]any{"Regex": " {2,}"}, "content": " "},
	}}
	m["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": []any{
		map[string]any{"type": "UnicodeScripts"},
		map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true},
	}}
	return mustJSON(m)
}

func smallTokenizers() map[string]string {
	return map[string]string{"bytelevel": smallByteLevel(), "sentencepiece": smallSentencePiece(),
		"wordpiece": smallWordPiece(), "unigram": smallUnigram(), "t5": smallT5()}
}

// TestHFSmall checks each small tokenizer on texts whose ids follow by hand
// from its vocabulary.
func TestHFSmall(t *testing.T) {
	cases := []struct {
		kind, text string
		want       []string // tokens
	}{
		{"bytelevel", "the thing", []string{"t", "he", "Ġt", "h", "ing"}},
		{"bytelevel", " the<|eot|>x", []string{"Ġthe", "<|eot|>", "x"}},
		{"sentencepiece", "the thing", []string{"<s>", "▁the", "▁t", "h", "ing"}},
		{"sentencepiece", "é", []string{"<s>", "▁", "<0xC3>", "<0xA9>"}},
		{"wordpiece", "Hello, unables!", []string{"[CLS]", "hello", ",", "un", "##able", "##s", "!", "[SEP]"}},
		{"unigram", "the king", []string{"▁the", "▁", "k", "ing"}},
		{"t5", "ｔhe\u3000\u3000\x01king", []string{"▁the", "▁", "k", "ing"}},
		{"t5", "theあking", []string{"▁the", "▁", "<unk>", "▁", "k", "ing"}},
	}
	loaded := map[string]*tokenize.HF{}
	for kind, raw := range smallTokenizers() {
		h, err := tokenize.ParseHF([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		loaded[kind] = h
	}
	for _, c := range cases {
		h := loaded[c.kind]
		got, err := h.Encode(c.text)
		if err != nil {
			t.Fatalf("%s %q: %v", c.kind, c.text, err)
		}
		var want []int32
		for _, tok := range c.want {
			id, ok := h.TokenID(tok)
			if !ok {
				t.Fatalf("%s: no token %q", c.kind, tok)
			}
			want = append(want, id)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s %q: %v, want %v (%v)", c.kind, c.text, got, want, c.want)
		}
	}
}

// TestHFLoadErrors feeds malformed and unsupported files: each is an error
// that names what is wrong, never a panic and never a tokenizer that
// silently differs from Hugging Face's.
func TestHFLoadErrors(t *testing.T) {
	base := func(patch map[string]any) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(smallByteLevel()), &m); err != nil {
			t.Fatal(err)
		}
		for k, v := range patch {
			if mk, ok := strings.CutPrefix(k, "model."); ok {
				m["model"].(map[string]any)[mk] = v
			} else {
				m[k] = v
			}
		}
		return mustJSON(m)
	}
	cases := []struct{ name, raw, want string }{
		{"not json", "{", "malformed JSON"},
		{"not an object", "[1,2]", "not a tokenizer.json"},
		{"version", base(map[string]any{"version": "2.0"}), "field version"},
		{"no model", `{"version":"1.0"}`, "field model: missing"},
		{"model type", base(map[string]any{"model.type": "Magic"}), `"Magic" is not supported`},
		{"model without type", `{"model":{"vocab":{}}}`, "model: no type field"},
		{"precompiled empty", base(map[string]any{"normalizer": map[string]any{"type": "Precompiled", "precompiled_charsmap": ""}}), `precompiled_charsmap: 0 bytes: no trie size`},
		{"precompiled not base64", base(map[string]any{"normalizer": map[string]any{"type": "Precompiled", "precompiled_charsmap": "@@"}}), `precompiled_charsmap: not base64`},
		{"normalizer type", base(map[string]any{"normalizer": map[string]any{"type": "Magic"}}), `normalizer type "Magic" is not supported`},
		{"pre-tokenizer type", base(map[string]any{"pre_tokenizer": map[string]any{"type": "Magic"}}), `pre-tokenizer type "Magic" is not supported`},
		{"bad regex", base(map[string]any{"pre_tokenizer": map[string]any{"type": "Split", "pattern": map[string]any{"Regex": "(a"}, "behavior": "Isolated", "invert": false}}), "regular expression"},
		{"empty-matching regex", base(map[string]any{"pre_tokenizer": map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `\s*`}, "behavior": "Isolated", "invert": false}}), "empty string"},
		{"empty string pattern", base(map[string]any{"normalizer": map[string]any{"type": "Replace", "pattern": map[string]any{"String": ""}, "content": "x"}}), "empty String pattern"},
		{"two patterns", base(map[string]any{"normalizer": map[string]any{"type": "Replace", "pattern": map[string]any{"String": "a", "Regex": "b"}, "content": "x"}}), "exactly one of String and Regex"},
		{"behavior", base(map[string]any{"pre_tokenizer": map[string]any{"type": "Split", "pattern": map[string]any{"String": " "}, "behavior": "Sideways", "invert": false}}), "field behavior"},
		{"dropout", base(map[string]any{"model.dropout": 0.1}), "dropout"},
		{"merge not in vocab", base(map[string]any{"model.merges": [][2]string{{"Ġ", "zzz"}}}), `"zzz" is not in the vocabulary`},
		{"merge result not in vocab", base(map[string]any{"model.merges": [][2]string{{"a", "b"}}}), `merged token "ab"`},
		{"legacy merge", base(map[string]any{"model.merges": []string{"a b c"}}), "two tokens"},
		{"negative id", base(map[string]any{"model.vocab": map[string]int{"a": -1}, "model.merges": []string{}}), "negative id"},
		{"vocab wrong type", base(map[string]any{"model.vocab": []int{1}}), "field vocab"},
		{"unigram unk", `{"model":{"type":"Unigram","unk_id":5,"vocab":[["a",0]]}}`, "unk_id"},
		{"unigram score", `{"model":{"type":"Unigram","unk_id":0,"vocab":[["a",null]]}}`, "not a number"},
		{"template special", base(map[string]any{"post_processor": map[string]any{"type": "TemplateProcessing",
			"single": []any{map[string]any{"SpecialToken": map[string]any{"id": "<x>"}}, map[string]any{"Sequence": map[string]any{"id": "A"}}}, "special_tokens": map[string]any{}}}), `special token "<x>"`},
		{"template no A", base(map[string]any{"post_processor": map[string]any{"type": "TemplateProcessing", "single": []any{}, "special_tokens": map[string]any{}}}), "no Sequence A"},
		{"post type", base(map[string]any{"post_processor": map[string]any{"type": "Magic"}}), `post-processor type "Magic"`},
		{"padding fixed", base(map[string]any{"padding": map[string]any{"strategy": map[string]any{"Fixed": 512}}}), "padding"},
		{"truncation", base(map[string]any{"truncation": map[string]any{"max_length": -1}}), "max_length"},
		{"metaspace replacement", base(map[string]any{"pre_tokenizer": map[string]any{"type": "Metaspace", "replacement": "ab"}}), "replacement"},
		{"metaspace scheme", base(map[string]any{"pre_tokenizer": map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "sometimes"}}), "prepend_scheme"},
		{"first after prepend", base(map[string]any{"normalizer": map[string]any{"type": "Prepend", "prepend": "x"},
			"pre_tokenizer": map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first"}}), `prepend_scheme "first"`},
		{"fixed length", base(map[string]any{"pre_tokenizer": map[string]any{"type": "FixedLength", "length": 0}}), "length"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := tokenize.ParseHF([]byte(c.raw))
			if err == nil {
				t.Fatalf("loaded; want an error mentioning %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

// TestHFRegexTimeout: a split pattern that backtracks without end fails the
// text instead of hanging.
func TestHFRegexTimeout(t *testing.T) {
	defer tokenize.SetRegexTimeout(200 * time.Millisecond)()
	var m map[string]any
	if err := json.Unmarshal([]byte(smallByteLevel()), &m); err != nil {
		t.Fatal(err)
	}
	m["pre_tokenizer"] = map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `(a|aa)+$`}, "behavior": "Isolated", "invert": false}
	h, err := tokenize.ParseHF([]byte(mustJSON(m)))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = h.Encode(strings.Repeat("a", 200) + "b")
	if err == nil {
		t.Fatal("no error from a search that cannot finish")
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("took %v", d)
	}
}

// TestHFHostileText: invalid UTF-8, NUL bytes, lone continuation bytes and a
// long text go through every small tokenizer without a panic, the same way
// twice.
func TestHFHostileText(t *testing.T) {
	texts := []string{"\xff\xfe\xfd", "a\x00b", "\x80abc", "é\xc3", strings.Repeat("ab\xe2\x82 ", 5000), "<|eot|\xff>", "\u0130stanbul İ"}
	for kind, raw := range smallTokenizers() {
		h, err := tokenize.ParseHF([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range texts {
			a, errA := h.Encode(text)
			b, errB := h.Encode(text)
			if !reflect.DeepEqual(a, b) || (errA == nil) != (errB == nil) {
				t.Errorf("%s %.20q: not deterministic", kind, text)
			}
		}
	}
}

// FuzzHFEncode encodes arbitrary text with each small tokenizer: no panic,
// deterministic, and (for valid UTF-8) the byte-level tokenizer's pieces cover
// every byte.
func FuzzHFEncode(f *testing.F) {
	for _, s := range []string{"", "hello world", "it's 1234 things!!\n\n", "<|eot|>", "中文 😀", "\xff", "a\u0301"} {
		f.Add(s)
	}
	var toks []*tokenize.HF
	for _, raw := range smallTokenizers() {
		h, err := tokenize.ParseHF([]byte(raw))
		if err != nil {
			f.Fatal(err)
		}
		toks = append(toks, h)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, h := range toks {
			a, errA := h.Encode(s)
			b, _ := h.Encode(s)
			if errA == nil && !reflect.DeepEqual(a, b) {
				t.Fatalf("%q: %v then %v", s, a, b)
			}
		}
	})
}

// FuzzParseHF loads arbitrary bytes as a tokenizer.json: an error or a
// tokenizer, never a panic; a tokenizer that loads encodes text.
func FuzzParseHF(f *testing.F) {
	for _, raw := range smallTokenizers() {
		f.Add([]byte(raw))
	}
	f.Add([]byte(`{"model":{"type":"WordLevel","vocab":{"a":0},"unk_token":"a"},"pre_tokenizer":{"type":"Whitespace"}}`))
	defer tokenize.SetRegexTimeout(20 * time.Millisecond)() // a pattern that backtracks without end fails fast
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 1<<16 {
			return
		}
		h, err := tokenize.ParseHF(raw)
		if err != nil {
			return
		}
		for _, s := range []string{"", "Hello, world! it's 42", "中文 ▁x\n\n  y", "\xff"} {
			h.Encode(s)
		}
	})
}

// FuzzSplitters checks the hand-written matchers of the GPT-2, cl100k and
// Qwen split patterns against regexp2 running the patterns themselves (the
// parity fixture checks both against Hugging Face's Oniguruma).
func FuzzSplitters(f *testing.F) {
	for _, s := range []string{"Hello world", "it'S 12345 ...\n\n  x", "'ſtate", "a\r\n\r\nb", "  \t\n", "x!!!\n", "١٢٣ ½", "\u00a0\u3000y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return // Oniguruma rejects invalid UTF-8; no reference to compare with
		}
		for _, p := range tokenize.KnownPatterns {
			a, b := tokenize.SplitKnown(p, s), tokenize.SplitRegexp2(p, s)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("pattern %q on %q:\n hand-written %q\n regexp2      %q", p, s, a, b)
			}
		}
	})
}
