package tokenize_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ser-rl/ser/internal/testsupport/corpus"
	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/tokenize"
)

// TestClip: clipping a long text before encoding gives the ids truncation
// keeps, for every tokenizer of the parity fixture and the default
// backbone's own, both sides, and a text of real conversations, answers
// and the adversarial cases joined until it is three times the clip.
func TestClip(t *testing.T) {
	texts, err := corpus.All(filepath.Join(testenv.Root(t), "..", "shared", "data"))
	if err != nil {
		testenv.SharedData(t, "hh-rlhf") // skips (or fails under SER_TEST_REQUIRE) when absent
		t.Fatal(err)
	}
	var b strings.Builder
	for i := 0; b.Len() < 3*1024*tokenize.ClipBytesPerToken; i++ {
		b.WriteString(texts[i%len(texts)].Text)
		b.WriteString("\n\n")
	}
	long := b.String()
	type tok struct {
		name string
		t    tokenize.Tokenizer
	}
	var toks []tok
	for _, fam := range testenv.TokenizerFamilies {
		h, err := loadHF(testenv.TokenizerFile(t, fam.Name))
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok{fam.Name, h})
	}
	u, err := tokenize.Load("unigram", filepath.Join(testenv.Home(t), "models", "default", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	toks = append(toks, tok{"default (unigram)", u})
	for _, tk := range toks {
		full, err := tk.t.Encode(long)
		if err != nil {
			t.Fatal(err)
		}
		for _, max := range []int{128, 1024} {
			for _, side := range []string{"head", "tail"} {
				c := tokenize.Clip(long, max, side)
				if len(c) >= len(long) {
					t.Fatalf("%s: Clip(%d bytes, %d, %s) kept %d bytes", tk.name, len(long), max, side, len(c))
				}
				ids, err := tk.t.Encode(c)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(tokenize.Truncate(ids, max, side), tokenize.Truncate(full, max, side)) {
					t.Errorf("%s, max %d, side %s: the clipped text's ids differ from the whole text's", tk.name, max, side)
				}
			}
		}
	}
	// a character is never cut: the clip of a text of 3-byte characters is valid UTF-8
	for _, side := range []string{"head", "tail"} {
		c := tokenize.Clip(strings.Repeat("é€", 1<<16), 1, side)
		if !strings.HasPrefix(c, "é") && !strings.HasPrefix(c, "€") || !strings.HasSuffix(c, "é") && !strings.HasSuffix(c, "€") || len(c) > tokenize.ClipMinBytes {
			t.Errorf("side %s: the clip cut a character or kept %d bytes", side, len(c))
		}
	}
	if tokenize.Clip(long, 0, "head") != long {
		t.Error("max 0 (no truncation) clipped the text")
	}
}
