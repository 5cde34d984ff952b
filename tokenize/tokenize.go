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
	"os"
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
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
