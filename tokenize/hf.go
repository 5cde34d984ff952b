package tokenize

import (
	"fmt"

	"github.com/sugarme/tokenizer"
	"github.com/sugarme/tokenizer/pretrained"
)

// HF is a Hugging Face tokenizer.json run by github.com/sugarme/tokenizer,
// special tokens added as its post-processor says (BOS for Llama, [CLS] and
// [SEP] for BERT).
type HF struct {
	tk   *tokenizer.Tokenizer
	path string
}

// LoadHF reads a tokenizer.json.
func LoadHF(path string) (*HF, error) {
	tk, err := pretrained.FromFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &HF{tk: tk, path: path}, nil
}

// Encode implements Tokenizer. A panic inside sugarme (its NFKC panics on some
// texts that normalisation shortens) is returned as an error.
func (h *HF) Encode(text string) (ids []int32, err error) {
	defer func() {
		if r := recover(); r != nil {
			ids, err = nil, fmt.Errorf("tokenize with %s: sugarme/tokenizer failed on this text: %v", h.path, r)
		}
	}()
	enc, err := h.tk.EncodeSingle(text, true)
	if err != nil {
		return nil, fmt.Errorf("tokenize with %s: %w", h.path, err)
	}
	ids = make([]int32, len(enc.Ids))
	for i, id := range enc.Ids {
		ids[i] = int32(id)
	}
	return ids, nil
}
