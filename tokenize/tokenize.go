// Package tokenize turns text into backbone token ids.
//
// Two tokenizers load a Hugging Face tokenizer.json:
//   - Unigram segments exactly as the TF.js Universal Sentence Encoder runtime
//     does (a Viterbi search over SentencePiece pieces, with that runtime's
//     tie-breaking and quirks), so the default backbone sees the ids it was
//     trained on;
//   - HF runs github.com/sugarme/tokenizer for any other tokenizer.json (the
//     BPE and WordPiece files that LLM exports ship).
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
// or "hf" (sugarme/tokenizer).
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
