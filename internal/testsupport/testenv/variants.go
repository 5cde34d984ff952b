package testenv

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
}

// WriteTokenizerVariants writes each variant's tokenizer.json under
// home/tokenizers/variants and returns "NAME=PATH" for each, in order.
func WriteTokenizerVariants(home string) ([]string, error) {
	var specs []string
	for _, v := range TokenizerVariants {
		dir, err := FetchTokenizer(home, v.Base)
		if err != nil {
			return nil, err
		}
		raw, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
		if err != nil {
			return nil, err
		}
		out, err := patchTokenizer(raw, v.Patch)
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
