package tokenize_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ser-rl/ser/tokenize"
)

// TestNormalizerGrowthBounded: a normalizer chain that grows a text without
// end (each of 12 Replace steps turns "a" into ten of them: 10^12 bytes) is
// an error at the first text, or at load when an added token runs through
// it, not an exhausted memory. A real chain's growth (NFKD of U+FDFA, 11x in
// bytes) is well inside the bound.
func TestNormalizerGrowthBounded(t *testing.T) {
	var steps []string
	for i := 0; i < 12; i++ {
		steps = append(steps, `{"type":"Replace","pattern":{"String":"a"},"content":"aaaaaaaaaa"}`)
	}
	chain := `{"type":"Sequence","normalizers":[` + strings.Join(steps, ",") + `]}`
	model := `{"type":"WordLevel","vocab":{"a":0,"b":1},"unk_token":"b"}`
	h, err := tokenize.ParseHF([]byte(fmt.Sprintf(`{"model":%s,"normalizer":%s,"pre_tokenizer":{"type":"Whitespace"}}`, model, chain)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Encode("a banana"); err == nil || !strings.Contains(err.Error(), "grows past") {
		t.Fatalf("encode: %v", err)
	}
	if ids, err := h.Encode("bbb"); err != nil || len(ids) != 1 {
		t.Fatalf("a text the chain leaves alone: %v %v", ids, err)
	}
	added := `"added_tokens":[{"id":0,"content":"a","special":false,"normalized":true,"single_word":false,"lstrip":false,"rstrip":false}]`
	if _, err := tokenize.ParseHF([]byte(fmt.Sprintf(`{"model":%s,"normalizer":%s,%s}`, model, chain, added))); err == nil || !strings.Contains(err.Error(), "grows past") {
		t.Fatalf("load with a normalized added token: %v", err)
	}
	nfkd, err := tokenize.ParseHF([]byte(fmt.Sprintf(`{"model":%s,"normalizer":{"type":"NFKD"}}`, model)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nfkd.Encode(strings.Repeat("\ufdfa", 10000)); err != nil {
		t.Fatalf("NFKD of U+FDFA: %v", err)
	}
}

// TestNormalizerGrowthStreamed: a chain that grows a text step by step
// (a Replace within its budget, then NFKD past it) fails before NFKD's
// whole expansion is built, and says the first text's length.
func TestNormalizerGrowthStreamed(t *testing.T) {
	model := `{"type":"WordLevel","vocab":{"a":0,"b":1},"unk_token":"b"}`
	chain := `{"type":"Sequence","normalizers":[{"type":"Replace","pattern":{"String":"a"},"content":"` + strings.Repeat(`\ufdfa`, 21) + `"},{"type":"NFKD"}]}`
	h, err := tokenize.ParseHF([]byte(fmt.Sprintf(`{"model":%s,"normalizer":%s}`, model, chain)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.Encode(strings.Repeat("a", 1000))
	if err == nil || !strings.Contains(err.Error(), "a text of 1000 bytes grows past") {
		t.Fatalf("err %v", err)
	}
}
