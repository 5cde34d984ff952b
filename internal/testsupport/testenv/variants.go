package testenv

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/ser-rl/ser/internal/safefile"
)

// TokenizerVariant is a real family's tokenizer.json with some components
// replaced, to cover what the families themselves do not use (other split
// behaviours and pre-tokenizers, normalizers, added-token flags,
// post-processors, truncation, Metaspace schemes, unknown handling). Patch
// keys are top-level fields, or "model.FIELD" for a field of the model; a
// null value deletes the field.
type TokenizerVariant struct {
	Name  string
	Base  string
	Patch map[string]string
}

// TokenizerVariants are the variants of the parity fixture hf-variants.json.
var TokenizerVariants = []TokenizerVariant{
	{"bert-cased", "bert", map[string]string{
		"normalizer": `{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":false,"strip_accents":true,"lowercase":false}`,
	}},
	{"bert-whitespace-digits", "bert", map[string]string{
		"pre_tokenizer":  `{"type":"Sequence","pretokenizers":[{"type":"Whitespace"},{"type":"Digits","individual_digits":true}]}`,
		"post_processor": `{"type":"BertProcessing","sep":["[SEP]",102],"cls":["[CLS]",101]}`,
	}},
	{"bert-wordlevel", "bert", map[string]string{
		"pre_tokenizer":                   `{"type":"WhitespaceSplit"}`,
		"model.type":                      `"WordLevel"`,
		"model.continuing_subword_prefix": `null`,
		"model.max_input_chars_per_word":  `null`,
	}},
	{"bert-punct-roberta-left", "bert", map[string]string{
		"pre_tokenizer":  `{"type":"Sequence","pretokenizers":[{"type":"WhitespaceSplit"},{"type":"Punctuation","behavior":"MergedWithPrevious"}]}`,
		"truncation":     `{"direction":"Left","max_length":20,"strategy":"LongestFirst","stride":0}`,
		"post_processor": `{"type":"RobertaProcessing","sep":["[SEP]",102],"cls":["[CLS]",101],"trim_offsets":true,"add_prefix_space":false}`,
	}},
	{"bert-nfd-digits-contiguous", "bert", map[string]string{
		"normalizer":    `{"type":"Sequence","normalizers":[{"type":"NFD"},{"type":"StripAccents"},{"type":"Lowercase"}]}`,
		"pre_tokenizer": `{"type":"Sequence","pretokenizers":[{"type":"BertPreTokenizer"},{"type":"Digits","individual_digits":false}]}`,
		"truncation":    `{"direction":"Right","max_length":12,"strategy":"LongestFirst","stride":0}`,
	}},
	{"gpt2-prefix-space", "gpt2", map[string]string{
		"pre_tokenizer": `{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true}`,
	}},
	{"gpt2-split-next", "gpt2", map[string]string{
		"pre_tokenizer": `{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\\s+"},"behavior":"MergedWithNext","invert":false},{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":false}]}`,
	}},
	{"gpt2-bytelevel-normalizer", "gpt2", map[string]string{
		"normalizer":    `{"type":"ByteLevel"}`,
		"pre_tokenizer": `{"type":"Split","pattern":{"String":"Ġ"},"behavior":"MergedWithNext","invert":false}`,
	}},
	{"gpt2-added-flags", "gpt2", map[string]string{
		"normalizer": `{"type":"Lowercase"}`,
		"added_tokens": `[{"id":50256,"content":"<|endoftext|>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},` +
			`{"id":50257,"content":"<tool>","single_word":false,"lstrip":true,"rstrip":false,"normalized":false,"special":true},` +
			`{"id":50258,"content":"[[x]]","single_word":false,"lstrip":false,"rstrip":true,"normalized":false,"special":false},` +
			`{"id":50259,"content":"word","single_word":true,"lstrip":false,"rstrip":false,"normalized":true,"special":false},` +
			`{"id":50260,"content":"Hello World","single_word":false,"lstrip":false,"rstrip":false,"normalized":true,"special":false},` +
			`{"id":50261,"content":"ing","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":false},` +
			`{"id":50262,"content":"\n\n","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":false}]`,
	}},
	{"gpt2-contiguous-invert", "gpt2", map[string]string{
		"pre_tokenizer": `{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\\p{N}"},"behavior":"Contiguous","invert":false},{"type":"Split","pattern":{"Regex":"[aeiou]"},"behavior":"Removed","invert":true},{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":false}]}`,
		"post_processor": `{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<|endoftext|>","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"eot2","type_id":0}}],` +
			`"pair":[{"Sequence":{"id":"A","type_id":0}},{"Sequence":{"id":"B","type_id":1}}],` +
			`"special_tokens":{"<|endoftext|>":{"id":"<|endoftext|>","ids":[50256],"tokens":["<|endoftext|>"]},"eot2":{"id":"eot2","ids":[50256,50256],"tokens":["<|endoftext|>","<|endoftext|>"]}}}`,
	}},
	{"llama2-metaspace-first", "llama2", map[string]string{
		"normalizer":    `null`,
		"pre_tokenizer": `{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false}`,
	}},
	{"llama2-metaspace-always", "llama2", map[string]string{
		"normalizer":    `null`,
		"pre_tokenizer": `{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true}`,
	}},
	{"llama2-metaspace-never-strip", "llama2", map[string]string{
		"normalizer":    `{"type":"Strip","strip_left":true,"strip_right":true}`,
		"pre_tokenizer": `{"type":"Metaspace","replacement":"▁","prepend_scheme":"never","split":true}`,
	}},
	{"llama2-unk-nofuse", "llama2", map[string]string{
		"normalizer":          `{"type":"Sequence","normalizers":[{"type":"NFKD"},{"type":"Lowercase"},{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]}`,
		"model.byte_fallback": `false`,
		"model.fuse_unk":      `false`,
	}},
	{"llama2-unk-fuse", "llama2", map[string]string{
		"model.byte_fallback": `false`,
		"model.fuse_unk":      `true`,
	}},
	{"use-nmt-strip", "use", map[string]string{
		"normalizer": `{"type":"Sequence","normalizers":[{"type":"Nmt"},{"type":"Strip","strip_left":true,"strip_right":true},{"type":"NFKC"},` +
			`{"type":"Replace","pattern":{"Regex":" {2,}"},"content":" "},{"type":"Replace","pattern":{"String":" "},"content":"▁"},{"type":"Prepend","prepend":"▁"}]}`,
	}},
	{"use-split-fixed", "use", map[string]string{
		"pre_tokenizer": `{"type":"Sequence","pretokenizers":[{"type":"CharDelimiterSplit","delimiter":"▁"},{"type":"FixedLength","length":4}]}`,
	}},
	// SentencePiece's Precompiled normalizer, as T5, mT5 and XLM-R files
	// have it, with a charsmap compiled from an NFKC table (NFKCRules):
	// Unigram with WhitespaceSplit and Metaspace, and SentencePiece BPE.
	{"use-precompiled", "use", map[string]string{
		"normalizer":    `{"type":"Sequence","normalizers":[{"type":"Precompiled","precompiled_charsmap":"` + charsmapNFKC + `"},{"type":"Replace","pattern":{"Regex":" {2,}"},"content":" "}]}`,
		"pre_tokenizer": `{"type":"Sequence","pretokenizers":[{"type":"WhitespaceSplit"},{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true}]}`,
	}},
	{"llama2-precompiled", "llama2", map[string]string{
		"normalizer": `{"type":"Sequence","normalizers":[{"type":"Precompiled","precompiled_charsmap":"` + charsmapNFKC + `"},{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]}`,
	}},
	// UnicodeScripts before Metaspace (the "first" scheme: what the split
	// drops at the start decides), before BERT's split, and alone on
	// Unigram.
	{"llama2-scripts-first", "llama2", map[string]string{
		"normalizer":    `null`,
		"pre_tokenizer": `{"type":"Sequence","pretokenizers":[{"type":"UnicodeScripts"},{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":true}]}`,
	}},
	{"bert-unicode-scripts", "bert", map[string]string{
		"pre_tokenizer": `{"type":"Sequence","pretokenizers":[{"type":"UnicodeScripts"},{"type":"BertPreTokenizer"}]}`,
	}},
	{"use-unicode-scripts", "use", map[string]string{
		"normalizer":    `{"type":"NFKC"}`,
		"pre_tokenizer": `{"type":"Sequence","pretokenizers":[{"type":"UnicodeScripts"},{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":false}]}`,
	}},
}

// charsmapNFKC stands in a variant's patch for the base64 of the charsmap
// that Charsmap compiles from NFKCRules.
const charsmapNFKC = "{{charsmap:nfkc}}"

// WriteTokenizerVariants writes each variant's tokenizer.json under
// home/tokenizers/variants and returns "NAME=PATH" for each, in order.
func WriteTokenizerVariants(home string) ([]string, error) {
	var specs []string
	var nfkc string
	for _, v := range TokenizerVariants {
		dir, err := FetchTokenizer(home, v.Base)
		if err != nil {
			return nil, err
		}
		raw, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
		if err != nil {
			return nil, err
		}
		patch := map[string]string{}
		for k, p := range v.Patch {
			if strings.Contains(p, charsmapNFKC) {
				if nfkc == "" {
					cm, err := Charsmap(NFKCRules())
					if err != nil {
						return nil, err
					}
					nfkc = base64.StdEncoding.EncodeToString(cm)
				}
				p = strings.ReplaceAll(p, charsmapNFKC, nfkc)
			}
			patch[k] = p
		}
		out, err := patchTokenizer(raw, patch)
		if err != nil {
			return nil, fmt.Errorf("variant %s: %w", v.Name, err)
		}
		path := filepath.Join(home, "tokenizers", "variants", v.Name+".json")
		if old, err := os.ReadFile(path); err != nil || string(old) != string(out) {
			if err := safefile.WriteFile(path, out); err != nil {
				return nil, err
			}
		}
		specs = append(specs, v.Name+"="+path)
	}
	return specs, nil
}

func patchTokenizer(raw []byte, patch map[string]string) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, err
	}
	var model map[string]json.RawMessage
	if err := json.Unmarshal(top["model"], &model); err != nil {
		return nil, err
	}
	for k, v := range patch {
		target, key := top, k
		if rest, ok := strings.CutPrefix(k, "model."); ok {
			target, key = model, rest
		}
		if !json.Valid([]byte(v)) {
			return nil, fmt.Errorf("patch %s: invalid JSON", k)
		}
		if v == "null" && key != k {
			delete(target, key)
			continue
		}
		target[key] = json.RawMessage(v)
	}
	m, err := json.Marshal(model)
	if err != nil {
		return nil, err
	}
	top["model"] = m
	return json.Marshal(top)
}

// Charsmap compiles rewrite rules (key -> replacement, keys non-empty and
// free of NUL) into a SentencePiece precompiled_charsmap: a little-endian
// uint32 byte count, a Darts double-array trie over the keys' bytes whose
// values index the replacements, then the replacements, each ending in a
// NUL. Bases are placed first-fit, and the array is whole blocks of 256
// units, as SentencePiece's builder leaves it.
func Charsmap(rules map[string]string) ([]byte, error) {
	type node struct {
		children map[byte]int
		value    int // offset in the blob, -1: none
	}
	nodes := []node{{children: map[byte]int{}, value: -1}}
	keys := make([]string, 0, len(rules))
	for k := range rules {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var blob []byte
	for _, k := range keys {
		if k == "" || strings.IndexByte(k, 0) >= 0 || strings.IndexByte(rules[k], 0) >= 0 {
			return nil, fmt.Errorf("charsmap: rule %q -> %q: empty key or NUL", k, rules[k])
		}
		n := 0
		for i := 0; i < len(k); i++ {
			c, ok := nodes[n].children[k[i]]
			if !ok {
				c = len(nodes)
				nodes = append(nodes, node{children: map[byte]int{}, value: -1})
				nodes[n].children[k[i]] = c
			}
			n = c
		}
		nodes[n].value = len(blob)
		blob = append(append(blob, rules[k]...), 0)
	}
	var units []uint32
	var used []bool
	grow := func(n int) {
		for len(units) < n {
			units = append(units, make([]uint32, 256)...)
			used = append(used, make([]bool, 256)...)
		}
	}
	grow(256)
	used[0] = true // the root's unit
	usedBase := map[int]bool{}
	idx := make([]int, len(nodes)) // each node's unit
	queue := []int{0}
	cursor := 1
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		labels := make([]int, 0, len(nodes[n].children))
		for c := range nodes[n].children {
			labels = append(labels, int(c))
		}
		sort.Ints(labels)
		terminal := nodes[n].value >= 0
		fits := func(b int) bool {
			if usedBase[b] || b == 0 {
				return false
			}
			grow((b | 0xFF) + 1)
			if terminal && used[b] {
				return false
			}
			for _, c := range labels {
				if used[b^c] {
					return false
				}
			}
			return true
		}
		first := 0
		if len(labels) > 0 {
			first = labels[0]
		}
		for cursor < len(used) && used[cursor] {
			cursor++
		}
		b := -1
		for q := cursor; b < 0; q++ {
			grow(q + 1)
			if !used[q] && fits(q^first) {
				b = q ^ first
			}
		}
		usedBase[b] = true
		off := idx[n] ^ b
		if off >= 1<<21 {
			return nil, fmt.Errorf("charsmap: offset %d does not fit", off)
		}
		u := uint32(off) << 10
		if n != 0 {
			u |= units[idx[n]] & 0xFF // its label, set by the parent
		}
		if terminal {
			u |= 1 << 8
			units[b] = uint32(nodes[n].value) | 1<<31
			used[b] = true
		}
		units[idx[n]] = u
		for _, c := range labels {
			child := nodes[n].children[byte(c)]
			idx[child] = b ^ c
			units[b^c] = uint32(c)
			used[b^c] = true
			queue = append(queue, child)
		}
	}
	out := binary.LittleEndian.AppendUint32(nil, uint32(4*len(units)))
	for _, u := range units {
		out = binary.LittleEndian.AppendUint32(out, u)
	}
	return append(out, blob...), nil
}

// NFKCRules is a normalization table in the manner of SentencePiece's
// nmt_nfkc, made from golang.org/x/text's NFKC: every character that NFKC
// changes, a letter followed by one of 26 combining marks (which NFKC
// composes), the control characters that NMT normalization removes and
// the spaces it makes ' '.
func NFKCRules() map[string]string {
	rules := map[string]string{}
	for r := rune(1); r <= unicode.MaxRune; r++ {
		if r >= 0xD800 && r < 0xE000 {
			continue
		}
		s := string(r)
		if n := norm.NFKC.String(s); n != s {
			rules[s] = n
		}
	}
	for _, base := range "AEIOUNCSZaeiouncszYyGgKk" {
		for m := rune(0x300); m <= 0x314; m++ {
			s := string(base) + string(m)
			rules[s] = norm.NFKC.String(s)
		}
		for _, m := range []rune{0x323, 0x327, 0x328, 0x331, 0x330} {
			s := string(base) + string(m)
			rules[s] = norm.NFKC.String(s)
		}
	}
	for _, r := range []rune{1, 2, 3, 4, 5, 6, 7, 8, 0xB, 0xE, 0xF, 0x10, 0x1E, 0x1F, 0x7F, 0x8F, 0x9F} {
		rules[string(r)] = ""
	}
	for _, r := range []rune{'\t', '\n', '\r', 0xC, 0x1680, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2028, 0x2029, 0x2581, 0xFEFF, 0xFFFD} {
		rules[string(r)] = " "
	}
	return rules
}
