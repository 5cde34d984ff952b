// Package tokenize turns text into backbone token ids.
//
// Two tokenizers load a Hugging Face tokenizer.json:
//   - HF encodes any tokenizer.json exactly as Hugging Face tokenizers does
//     (byte-level BPE of Llama-3, Qwen and GPT-2; SentencePiece BPE of
//     Llama-2, Mistral and Gemma; WordPiece of BERT; WordLevel; Unigram),
//     checked id for id against the Rust library on real tokenizers
//     (testdata/hf-parity.json, testdata/hf-variants.json);
//   - Unigram segments exactly as the TF.js Universal Sentence Encoder runtime
//     does (a Viterbi search over SentencePiece pieces, with that runtime's
//     tie-breaking and quirks), so the default backbone sees the ids it was
//     trained on, which are not always Hugging Face's.
package tokenize

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/ser-rl/ser/internal/safefile"
)

// Tokenizer turns one text into token ids. Implementations are safe for
// concurrent use.
type Tokenizer interface {
	Encode(text string) ([]int32, error)
}

// Load opens a tokenizer.json. kind is "unigram" (the reference USE segmenter)
// or "hf" (Hugging Face's rules, whatever the model type of the file).
func Load(kind, path string) (Tokenizer, error) {
	switch kind {
	case "unigram":
		return LoadUnigram(path)
	case "hf", "":
		return LoadHF(path)
	}
	return nil, fmt.Errorf("tokenize: unknown tokenizer kind %q (want unigram or hf)", kind)
}

// ClipBytesPerToken and ClipMinBytes bound the text Clip keeps: a token
// spans at most 128 bytes in the vocabularies of Llama 3, Qwen 3, GPT-2 and
// GPT-4o (48 in Gemma 3's, 25 in Llama 2's), so max tokens come from fewer
// than max*256 bytes, with room to spare for the boundary.
const (
	ClipBytesPerToken = 256
	ClipMinBytes      = 64 << 10
)

// Clip cuts a text that would be truncated to max tokens down to the bytes
// those tokens can come from: the first max(ClipMinBytes,
// max*ClipBytesPerToken) bytes (side "head") or the last (side "tail"), cut
// at a character boundary. Truncate(Encode(Clip(t))) equals
// Truncate(Encode(t)) unless that many bytes of t hold fewer than max
// tokens (bytes a normalizer deletes), and it bounds the work a hostile
// 16 MiB text costs. max <= 0 keeps everything.
func Clip(text string, max int, side string) string {
	if max <= 0 || max > len(text)/ClipBytesPerToken+1 {
		return text // no cap, or one the text cannot reach (nor max*256 overflow)
	}
	n := ClipMinBytes
	if max > n/ClipBytesPerToken {
		n = max * ClipBytesPerToken
	}
	if len(text) <= n {
		return text
	}
	if side == "tail" {
		i := len(text) - n
		for i < len(text) && !utf8.RuneStart(text[i]) {
			i++
		}
		return text[i:]
	}
	i := n
	for i > 0 && !utf8.RuneStart(text[i]) {
		i--
	}
	return text[:i]
}

// Truncate keeps at most max ids, from the start of ids (side "head", the
// default) or from its end ("tail"). max <= 0 keeps everything.
func Truncate(ids []int32, max int, side string) []int32 {
	if max <= 0 || len(ids) <= max {
		return ids
	}
	if side == "tail" {
		return ids[len(ids)-max:]
	}
	return ids[:max]
}

// readJSON decodes a JSON file, naming the file in errors.
func readJSON(path string, v any) error {
	raw, err := safefile.ReadRegular(path, maxTokenizerFile)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
