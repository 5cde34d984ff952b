package eval

import (
	"math"
	"testing"

	"github.com/ser-rl/ser/data"
)

// TestUltraFeedbackMeasures reads a small UltraFeedback-raw file written for
// this test (three prompts of four rated completions) and checks each
// measure against a count by hand and scipy's spearmanr.
func TestUltraFeedbackMeasures(t *testing.T) {
	pairs, _, err := data.ReadAll([]string{"testdata/uf-raw.jsonl"}, data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// the third prompt's completions are all rated 5: it makes no pair, and
	// says nothing of which completion is better
	recs := RatedRecords(pairs)
	if len(recs) != 2 {
		t.Fatalf("%d rated records, want 2", len(recs))
	}
	rewards := [][]float64{
		{0.1, 0.5, 0.3, 0.9}, // overall 2, 7, 7, 9: the pick (0.9) is rated best
		{0.2, 0.2, 0.5, 0.1}, // overall 8, 6, 4, 2: the pick (0.5) is rated 4
	}
	u := UltraFeedbackMeasures(recs, rewards)
	// scipy.stats.spearmanr: 0.9486832980505139 and 0.316227766016838
	if want := (0.9486832980505139 + 0.316227766016838) / 2; math.Abs(u.Spearman-want) > 1e-12 || u.SpearmanPrompts != 2 || u.Prompts != 2 {
		t.Errorf("spearman %v over %d of %d prompts, want %v over 2 of 2", u.Spearman, u.SpearmanPrompts, u.Prompts, want)
	}
	if u.PickRating != (9+4)/2.0 || u.BestRating != (9+8)/2.0 || u.MeanRating != (25/4.0+5)/2 || u.PickBest != 0.5 {
		t.Errorf("best of n: pick %v, best %v, mean %v, pick is best %v", u.PickRating, u.BestRating, u.MeanRating, u.PickBest)
	}
	// helpfulness: prompt 1 (1, 3, 3, 5): 5 of 5 ordered right; prompt 2
	// (5, 4, 3, 2) against rewards 0.2, 0.2, 0.5, 0.1: 3 of 6
	if h := u.Aspects["helpfulness"]; h.N != 11 || math.Abs(h.Accuracy-8/11.0) > 1e-15 || !(h.CI[0] <= h.Accuracy && h.Accuracy <= h.CI[1]) {
		t.Errorf("helpfulness %+v, want 8 of 11", h)
	}
	// honesty: prompt 1 is N/A throughout; prompt 2 (5, 4, 2, 1) as
	// helpfulness: 3 of 6
	if h := u.Aspects["honesty"]; h.N != 6 || h.Accuracy != 0.5 {
		t.Errorf("honesty %+v, want 3 of 6", h)
	}
	// truthfulness: prompt 1 (3, 5, 5, 5): 3 of 3
	if h := u.Aspects["truthfulness"]; h.N != 3 || h.Accuracy != 1 {
		t.Errorf("truthfulness %+v, want 3 of 3", h)
	}
	if _, ok := u.Aspects["instruction_following"]; !ok {
		t.Error("instruction following is rated in prompt 1")
	}
}

// TestRatingsRefused: a rating that is not a number or "N/A" is an error
// naming the field.
func TestRatingsRefused(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/bad.jsonl"
	writeFile(t, path, `{"source": "s", "instruction": "q", "completions": [{"response": "a", "overall_score": 1, "annotations": {"honesty": {"Rating": "five"}}}]}`+"\n")
	_, _, err := data.ReadAll([]string{path}, data.Options{})
	if err == nil || !contains(err.Error(), "completions[0].annotations.honesty.Rating") || !contains(err.Error(), "bad.jsonl:1") {
		t.Errorf("err %v", err)
	}
}
