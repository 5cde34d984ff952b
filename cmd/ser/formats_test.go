package main

import (
	"encoding/json"
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
	if !strings.Contains(out, "RewardBench score") || !strings.Contains(out, "95% CI") || !strings.Contains(out, "mt-bench-hard") {
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
