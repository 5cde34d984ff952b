package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/internal/testsupport/testenv"
)

type rbRow struct {
	Prompt   string `parquet:"prompt"`
	Chosen   string `parquet:"chosen"`
	Rejected string `parquet:"rejected"`
	Subset   string `parquet:"subset"`
	ID       int64  `parquet:"id"`
}

// TestFormatsEverywhere: eval reads RewardBench's layout (Parquet with a
// subset column) and reports its score with intervals; score reads Parquet,
// HH transcripts and chat messages; --split picks one split of a folder.
func TestFormatsEverywhere(t *testing.T) {
	home := testenv.Home(t)
	dir := t.TempDir()
	cache, headPath := trainedHead(t, home, dir, sampleFile(t, dir, 300, 1))
	sample := data.Sample(120, 2, 0)
	var rows []rbRow
	subsets := []string{"alpacaeval-easy", "mt-bench-hard", "donotanswer", "hep-go"}
	for i, p := range sample {
		rows = append(rows, rbRow{p.Prompt, p.Chosen, p.Rejected, subsets[i%4], int64(i)})
	}
	rb := filepath.Join(dir, "filtered.parquet")
	if err := parquet.WriteFile(rb, rows); err != nil {
		t.Fatal(err)
	}
	jsonPath := filepath.Join(dir, "eval.json")
	scores := filepath.Join(dir, "scores.jsonl")
	out, stderr, err := run(t, home, "eval", "--head", headPath, "--data", rb, "--cache", cache, "--json", jsonPath, "--scores-out", scores)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(out, "RewardBench (as its code at") || !strings.Contains(out, "95% CI") || !strings.Contains(out, "mt-bench-hard") {
		t.Fatalf("eval output:\n%s", out)
	}
	var met struct {
		AccuracyCI  [2]float64 `json:"accuracy_ci"`
		RewardBench struct {
			Sections map[string]float64 `json:"sections"`
			Score    float64            `json:"score"`
		} `json:"rewardbench"`
		BySubset map[string]struct {
			CI [2]float64 `json:"accuracy_ci"`
		} `json:"by_subset"`
	}
	raw, _ := os.ReadFile(jsonPath)
	if err := json.Unmarshal(raw, &met); err != nil {
		t.Fatal(err)
	}
	if len(met.RewardBench.Sections) != 4 || met.AccuracyCI[1] <= 0 || len(met.BySubset) != 4 {
		t.Fatalf("eval.json: %s", raw)
	}
	if raw, _ := os.ReadFile(scores); strings.Count(string(raw), "\n") != 120 || !strings.Contains(string(raw), `"id":"7"`) {
		t.Fatalf("scores: %.300s", raw)
	}

	// score: Parquet in, a row per pair out
	out, stderr, err = run(t, home, "score", "--head", headPath, "--in", rb, "--cache", cache)
	if err != nil || strings.Count(out, "\n") != 120 || !strings.Contains(out, `"reward_chosen"`) || !strings.Contains(out, `"subset":"hep-go"`) {
		t.Fatalf("score parquet: %v\n%.300s\n%s", err, out, stderr)
	}
	// score: chat messages
	chat := filepath.Join(dir, "chat.jsonl")
	os.WriteFile(chat, []byte(`{"messages": [{"role": "user", "content": "Is the answer good?"}, {"role": "assistant", "content": "the answer is good"}], "tag": 7}`+"\n"), 0o644)
	out, _, err = run(t, home, "score", "--head", headPath, "--in", chat, "--cache", cache)
	if err != nil || !strings.Contains(out, `"tag": 7`) || !strings.Contains(out, `"reward":`) {
		t.Fatalf("score chat: %v\n%s", err, out)
	}

	// --split: a folder with train and test files
	ds := filepath.Join(dir, "dataset")
	os.MkdirAll(ds, 0o755)
	writeSample(filepath.Join(ds, "train_prefs-00000-of-00001.jsonl"), data.Sample(50, 3, 0))
	writeSample(filepath.Join(ds, "test_prefs-00000-of-00001.jsonl"), data.Sample(30, 4, 0))
	out, stderr, err = run(t, home, "eval", "--head", headPath, "--data", ds, "--cache", cache)
	if err != nil || !strings.Contains(stderr, "holds several splits") || !strings.Contains(out, "    80 ") {
		t.Fatalf("no split: %v\n%s\n%s", err, out, stderr)
	}
	out, stderr, err = run(t, home, "eval", "--head", headPath, "--data", ds, "--cache", cache, "--split", "test_prefs")
	if err != nil || strings.Contains(stderr, "holds several splits") || !strings.Contains(out, "    30 ") {
		t.Fatalf("--split: %v\n%s\n%s", err, out, stderr)
	}
}

// TestEvalCompare: two heads on the same pairs give each one's figures,
// their paired difference with an interval and McNemar's p in the table and
// the JSON, a second head's rewards in --scores-out, and charts (PNG and
// SVG) for each head and the comparison; uf-raw data adds UltraFeedback's
// measures.
func TestEvalCompare(t *testing.T) {
	home := testenv.Home(t)
	dir := t.TempDir()
	train := sampleFile(t, dir, 300, 1)
	cache, lin := trainedHead(t, home, dir, train)
	mlp := filepath.Join(dir, "mlp.head")
	if _, stderr, err := run(t, home, "-q", "train", "--data", train, "--cache", cache, "--kind", "mlp", "--out", mlp); err != nil {
		t.Fatalf("train mlp: %v\n%s", err, stderr)
	}
	test := filepath.Join(dir, "test.jsonl")
	if err := writeSample(test, data.Sample(200, 9, 0)); err != nil {
		t.Fatal(err)
	}
	jsonPath, scores, plots := filepath.Join(dir, "e.json"), filepath.Join(dir, "s.jsonl"), filepath.Join(dir, "charts")
	out, stderr, err := run(t, home, "eval", "--head", lin, "--head", mlp, "--data", test, "--cache", cache, "--json", jsonPath, "--scores-out", scores, "--plots", plots)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, want := range []string{"A: " + lin, "B: " + mlp, "B - A, paired on the same pairs", "McNemar p", "figures:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	var v struct {
		Heads []struct {
			Head    string
			Metrics struct{ Accuracy float64 }
		}
		Comparisons []struct {
			A, B    string
			Overall struct {
				N                    int
				AccuracyA, AccuracyB float64 `json:"-"`
				Diff                 float64
				CI                   [2]float64 `json:"diff_ci"`
				McNemarP             float64    `json:"mcnemar_p"`
			}
		}
	}
	raw, _ := os.ReadFile(jsonPath)
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Heads) != 2 || len(v.Comparisons) != 1 {
		t.Fatalf("e.json: %.500s", raw)
	}
	c := v.Comparisons[0].Overall
	if d := v.Heads[1].Metrics.Accuracy - v.Heads[0].Metrics.Accuracy; c.N != 200 || math.Abs(c.Diff-d) > 1e-12 || !(c.CI[0] <= c.Diff && c.Diff <= c.CI[1]) || !(c.McNemarP > 0 && c.McNemarP <= 1) {
		t.Errorf("comparison %+v; accuracies %+v", c, v.Heads)
	}
	if raw, _ := os.ReadFile(scores); strings.Count(string(raw), "\n") != 200 || !strings.Contains(string(raw), `"reward_chosen_2"`) {
		t.Errorf("scores: %.300s", raw)
	}
	for _, name := range []string{"A-subsets", "A-reliability", "A-margins", "B-subsets", "B-reliability", "B-margins", "compare-A-B"} {
		for _, ext := range []string{".png", ".svg"} {
			if st, err := os.Stat(filepath.Join(plots, name+ext)); err != nil || st.Size() < 1000 {
				t.Errorf("chart %s%s: %v", name, ext, err)
			}
		}
	}
	// --plots into a folder that exists (a rerun) works; an output that is
	// one of its charts, or a file as the folder, is refused before anything
	// is written; data with no pair to evaluate is an error
	if _, stderr, err := run(t, home, "-q", "eval", "--head", lin, "--head", mlp, "--data", test, "--cache", cache, "--plots", plots); err != nil {
		t.Errorf("a rerun into the charts' folder: %v\n%s", err, stderr)
	}
	clash := filepath.Join(plots, "A-subsets.png")
	if _, _, err := run(t, home, "-q", "eval", "--head", lin, "--head", mlp, "--data", test, "--cache", cache, "--plots", plots, "--json", clash); err == nil {
		t.Error("--json naming one of the charts was taken")
	}
	fresh := filepath.Join(dir, "fresh-scores.jsonl")
	if _, _, err := run(t, home, "-q", "eval", "--head", lin, "--data", test, "--cache", cache, "--plots", scores, "--scores-out", fresh); err == nil {
		t.Error("--plots naming a file was taken")
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Error("--scores-out was written before --plots was refused")
	}
	unl := filepath.Join(dir, "unlabelled.jsonl")
	os.WriteFile(unl, []byte(`{"prompt": "q", "response_a": "x", "response_b": "y"}`+"\n"), 0o644)
	if _, _, err := run(t, home, "-q", "eval", "--head", lin, "--data", unl, "--cache", cache); err == nil || !strings.Contains(err.Error(), "no pair to evaluate") {
		t.Errorf("unlabelled data: %v", err)
	}
	// uf-raw: the ratings' measures
	out, stderr, err = run(t, home, "eval", "--head", lin, "--data", filepath.Join("..", "..", "eval", "testdata", "uf-raw.jsonl"), "--cache", cache)
	if err != nil {
		t.Fatalf("uf-raw: %v\n%s", err, stderr)
	}
	for _, want := range []string{"UltraFeedback ratings, 2 prompts", "helpfulness: accuracy", "best of N"} {
		if !strings.Contains(out, want) {
			t.Errorf("uf-raw output lacks %q:\n%s", want, out)
		}
	}
}
