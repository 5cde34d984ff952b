package data_test

import (
	"path/filepath"
	"testing"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/internal/testsupport/testenv"
)

// TestSharedData reads the evaluation data in ../shared/data: exactly 8,552
// HH-RLHF pairs over four subsets and 1,200 UltraFeedback pairs.
func TestSharedData(t *testing.T) {
	hh := testenv.SharedData(t, "hh-rlhf")
	files, _ := filepath.Glob(filepath.Join(hh, "*", "test.jsonl.gz"))
	pairs, _, err := data.ReadAll(files, data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bySubset := map[string]int{}
	for _, p := range pairs {
		bySubset[p.Subset]++
		if p.Prompt == "" || (p.Chosen == "" && p.Rejected == "") || !p.Labelled {
			t.Fatalf("%s: incomplete pair %+v", p.Where(), p)
		}
	}
	want := map[string]int{"harmless-base": 2312, "helpful-base": 2354, "helpful-online": 1137, "helpful-rejection-sampled": 2749}
	if len(pairs) != 8552 {
		t.Errorf("HH-RLHF: %d pairs, want 8552", len(pairs))
	}
	for s, n := range want {
		if bySubset[s] != n {
			t.Errorf("HH-RLHF %s: %d pairs, want %d", s, bySubset[s], n)
		}
	}
	uf := testenv.SharedData(t, "ultrafeedback-binarized-sample1200")
	upairs, stats, err := data.ReadAll([]string{filepath.Join(uf, "train_clean.jsonl"), filepath.Join(uf, "eval_clean.jsonl")}, data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(upairs) != 1200 {
		t.Errorf("UltraFeedback: %d pairs, want 1200", len(upairs))
	}
	ties := 0
	for _, p := range upairs {
		if !p.HasScores {
			t.Fatalf("%s: no scores", p.Where())
		}
		if p.Problem() != "" {
			ties++
		}
	}
	// SOURCE.md: 111 + 25 tied rows, 4 + 1 identical texts (some of them tied too)
	if ties < 136 || ties > 141 {
		t.Errorf("UltraFeedback: %d pairs with a problem, want 136 to 141", ties)
	}
	t.Logf("UltraFeedback: %d pairs (%d tied or identical), stats %+v", len(upairs), ties, stats)
}
