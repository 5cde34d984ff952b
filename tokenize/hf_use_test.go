package tokenize_test

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/tokenize"
)

// TestHFLoadsUSETokenizer checks that HF loads the tokenizer.json that setup
// writes for the default backbone, and that Hugging Face's Unigram agrees
// with the TF.js reference on ordinary text. It does not on every text (its
// Viterbi breaks ties and merges unknowns its own way), which is why the
// default backbone uses tokenize.Unigram.
func TestHFLoadsUSETokenizer(t *testing.T) {
	ref := loadReference(t)
	home := testenv.Home(t)
	h, err := tokenize.LoadHF(filepath.Join(home, "models", "default", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	agree := 0
	for _, c := range ref.Texts {
		got, err := h.Encode(c.Text)
		if err != nil {
			t.Logf("HF fails on %.40q: %v", c.Text, err)
			continue
		}
		if reflect.DeepEqual(got, c.IDs) || (len(got) == 0 && len(c.IDs) == 0) {
			agree++
		} else {
			t.Logf("differs on %.50q:\n hf  %v\n ref %v", c.Text, got, c.IDs)
		}
	}
	t.Logf("Hugging Face's Unigram agrees with the TF.js reference on %d of %d texts", agree, len(ref.Texts))
	for _, text := range []string{"A dog runs in the park", "How do I bake bread at home without a bread machine?"} {
		got, _ := h.Encode(text)
		want, _ := mustUnigram(t, home).Encode(text)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("on plain English %q: hf %v, unigram %v", text, got, want)
		}
	}
}

func mustUnigram(t *testing.T, home string) *tokenize.Unigram {
	u, err := tokenize.LoadUnigram(filepath.Join(home, "models", "default", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}
