package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ser-rl/ser/cache"
	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/models"
)

// TestOptionsRefused: every option outside its range is refused before any
// data is read (the data file named here does not exist, so an error about
// it would mean the option was not checked first).
func TestOptionsRefused(t *testing.T) {
	home := testenv.Home(t)
	missing := filepath.Join(t.TempDir(), "absent.jsonl")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"train", "--data", missing, "--out", "x.head", "--l2", "-1"}, "l2"},
		{[]string{"train", "--data", missing, "--out", "x.head", "--l2", "NaN"}, "l2"},
		{[]string{"train", "--data", missing, "--out", "x.head", "--calibration", "foo"}, "calibration"},
		{[]string{"train", "--data", missing, "--out", "x.head", "--head", "mlp", "--hidden", "0"}, "hidden size 0"},
		{[]string{"train", "--data", missing, "--out", "x.head", "--head", "mlp", "--hidden", "-3"}, "hidden size -3"},
		{[]string{"train", "--data", missing, "--out", "x.head", "--val-frac", "1.5"}, "val-frac"},
		{[]string{"evolve", "--data", missing, "--test-frac", "1.5"}, "test fraction"},
		{[]string{"evolve", "--data", missing, "--seed-frac", "0"}, "seed fraction"},
		{[]string{"evolve", "--data", missing, "--seed-val-frac", "0"}, "seed validation fraction"},
		{[]string{"evolve", "--data", missing, "--tau-high", "1.5"}, "tau-high"},
		{[]string{"evolve", "--data", missing, "--tau-low", "-0.5"}, "tau-low"},
		{[]string{"evolve", "--data", missing, "--tau-delta", "-1"}, "tau-delta"},
		{[]string{"evolve", "--data", missing, "--min-precision", "2"}, "minimum precision"},
		{[]string{"evolve", "--data", missing, "--max-loops", "-1"}, "max loops"},
		{[]string{"evolve", "--data", missing, "--l2", "-1"}, "l2"},
		{[]string{"evolve", "--data", missing, "--ask", "5", "--ask-rule", "best"}, "rule"},
		{[]string{"evolve", "--data", missing, "--no-self-label"}, "no loop adds anything"},
		{[]string{"evolve", "--data", missing, "--keep-by", "luck"}, "keep-by"},
		{[]string{"ask", "--head", missing, "--pool", missing, "--out", "x", "-n", "-1"}, "pairs"},
		{[]string{"score", "--head", missing, "--batch", "0"}, "--batch"},
		{[]string{"--threads", "-3", "train", "--data", missing, "--out", "x"}, "--threads"},
		{[]string{"--device", "cuda:abc", "train", "--data", missing, "--out", "x"}, "--device"},
		{[]string{"train", "--data", missing, "--out", "x", "--max-line-mb", "0"}, "max-line-mb"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			_, _, err := run(t, home, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v; want one about %q", err, c.want)
			}
		})
	}
}

// TestMaxLoopsZero: zero is a value: --max-loops 0 trains the seed head only.
func TestMaxLoopsZero(t *testing.T) {
	home := testenv.Home(t)
	dir := t.TempDir()
	train := sampleFile(t, dir, 400, 1)
	out, stderr, err := run(t, home, "evolve", "--data", train, "--out", filepath.Join(dir, "run"), "--cache", filepath.Join(dir, "c.feat"), "--max-loops", "0")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if strings.Contains(out, "| 1 |") || !strings.Contains(out, "max loops (0)") {
		t.Fatalf("a loop ran:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "run", "loop-1.head.json")); err == nil {
		t.Fatal("loop-1.head.json written")
	}
}

// TestScoreBadRows: a bad row stops score after the rows before it are
// written; --skip-bad leaves it out and goes on; a row that already has a
// reward field, or is not UTF-8, is a bad row.
func TestScoreBadRows(t *testing.T) {
	home := testenv.Home(t)
	dir := t.TempDir()
	cache, headPath := trainedHead(t, home, dir, sampleFile(t, dir, 300, 1))
	var b strings.Builder
	for i := 0; i < 700; i++ {
		b.WriteString(`{"prompt": "hi", "response": "the answer is good"}` + "\n")
	}
	good := b.String()
	cases := []struct {
		name, bad, want string
	}{
		{"reward present", `{"prompt": "hi", "response": "x", "reward": 1}`, `"reward": already present`},
		{"not UTF-8", "{\"prompt\": \"hi\", \"response\": \"\xff\"}", "not valid UTF-8"},
		{"no response", `{"prompt": "hi"}`, `"response": missing`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := filepath.Join(dir, "in.jsonl")
			os.WriteFile(in, []byte("\xef\xbb\xbf"+good+c.bad+"\n"+good), 0o644)
			out, _, err := run(t, home, "score", "--head", headPath, "--in", in, "--cache", cache, "--batch", "512")
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "in.jsonl:701") {
				t.Fatalf("err %v", err)
			}
			if n := strings.Count(out, "\n"); n != 700 {
				t.Fatalf("%d rows written before the bad one, want 700", n)
			}
			out, stderr, err := run(t, home, "score", "--head", headPath, "--in", in, "--cache", cache, "--skip-bad")
			if err != nil || strings.Count(out, "\n") != 1400 || !strings.Contains(stderr, "skipped 1 bad rows") {
				t.Fatalf("--skip-bad: %v, %d rows\n%s", err, strings.Count(out, "\n"), stderr)
			}
		})
	}
}

// TestScoreKeepsRowsBeforeFailure: whatever stops ser score, the rows before
// the failure are written, to a file (atomically, whole rows) as to a
// stream: a bad row at line 701, and a non-finite reward at row 601 (in the
// second batch of 512). (Before, --out wrote no file at all, and a
// non-finite reward lost the batch's earlier rows even on stdout.)
func TestScoreKeepsRowsBeforeFailure(t *testing.T) {
	home := testenv.Home(t)
	dir := t.TempDir()
	cachePath, headPath := trainedHead(t, home, dir, sampleFile(t, dir, 300, 1))
	var b strings.Builder
	for i := 0; i < 700; i++ {
		b.WriteString(`{"prompt": "hi", "response": "the answer is good"}` + "\n")
	}
	good := b.String()
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(good+`{"prompt": "hi"}`+"\n"+good), 0o644)
	out := filepath.Join(dir, "scored.jsonl")
	_, stderr, err := run(t, home, "score", "--head", headPath, "--in", bad, "--cache", cachePath, "--out", out)
	if err == nil || !strings.Contains(err.Error(), "bad.jsonl:701") {
		t.Fatalf("err %v", err)
	}
	if n := strings.Count(readFile(t, out), "\n"); n != 700 || !strings.Contains(stderr, "holds the 700 rows") {
		t.Fatalf("--out holds %d rows, want the 700 before the bad one\n%s", n, stderr)
	}

	m, err := models.Find(home, "default")
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.Open(cachePath, m.Fingerprint(), m.Dim, cache.Format(m.FeatureStorage), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Fill(context.Background(), c, nanEmbedder{m.Dim}, []string{"a response whose vector is NaN"}, cache.FillOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	nan := filepath.Join(dir, "nan.jsonl")
	os.WriteFile(nan, []byte(good[:600*len(good)/700]+`{"prompt": "hi", "response": "a response whose vector is NaN"}`+"\n"+good), 0o644)
	stdout, _, err := run(t, home, "score", "--head", headPath, "--in", nan, "--cache", cachePath)
	if err == nil || !strings.Contains(err.Error(), "nan.jsonl:601") || !strings.Contains(err.Error(), "not a finite number") {
		t.Fatalf("err %v", err)
	}
	if n := strings.Count(stdout, "\n"); n != 600 {
		t.Fatalf("stdout holds %d rows, want the 600 before the non-finite reward", n)
	}
	os.Remove(out)
	if _, _, err := run(t, home, "score", "--head", headPath, "--in", nan, "--cache", cachePath, "--out", out); err == nil {
		t.Fatal("no error")
	}
	if n := strings.Count(readFile(t, out), "\n"); n != 600 {
		t.Fatalf("--out holds %d rows, want 600", n)
	}
}

// TestSmallHardening: --shard 0/2/3 is refused, not read as 0/2; --test
// pairs that are also in --data are said to make the test optimistic; eval
// says how many pairs had a non-finite reward (counted as wrong) and still
// writes its JSON and scores.
func TestSmallHardening(t *testing.T) {
	home := testenv.Home(t)
	dir := t.TempDir()
	train := sampleFile(t, dir, 300, 1)
	for _, s := range []string{"0/2/3", "1/2x", "/2", "2/2", "-1/2", "0/0", "+0/2", "-0/2", " 0/2"} {
		if _, _, err := run(t, home, "embed", "--data", train, "--shard", s); err == nil || !strings.Contains(err.Error(), "--shard") {
			t.Errorf("--shard %s: %v", s, err)
		}
	}

	cachePath := filepath.Join(dir, "c.feat")
	test := filepath.Join(dir, "test.jsonl")
	lines := strings.SplitAfter(readFile(t, train), "\n")
	os.WriteFile(test, []byte(strings.Join(lines[:40], "")), 0o644)
	_, stderr, err := run(t, home, "evolve", "--data", train, "--test", test, "--cache", cachePath, "--max-loops", "0", "--full-data=false", "--out", filepath.Join(dir, "run"))
	if err != nil || !strings.Contains(stderr, "40 of the 40 --test pairs are also in --data") {
		t.Errorf("--test inside --data: %v\n%s", err, stderr)
	}
	dup := filepath.Join(dir, "dup.jsonl")
	os.WriteFile(dup, []byte(readFile(t, train)+strings.Join(lines[:30], "")), 0o644)
	_, stderr, err = run(t, home, "evolve", "--data", dup, "--cache", cachePath, "--max-loops", "0", "--full-data=false", "--out", filepath.Join(dir, "run2"))
	if err != nil || !strings.Contains(stderr, "30 pairs of --data repeat another") {
		t.Errorf("--data with copies, no --test: %v\n%s", err, stderr)
	}

	headPath := filepath.Join(dir, "rm.head")
	if _, stderr, err := run(t, home, "-q", "train", "--data", train, "--cache", cachePath, "--out", headPath); err != nil {
		t.Fatal(stderr)
	}
	m, err := models.Find(home, "default")
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.Open(cachePath, m.Fingerprint(), m.Dim, cache.Format(m.FeatureStorage), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Fill(context.Background(), c, nanEmbedder{m.Dim}, []string{"a NaN answer"}, cache.FillOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	nan := filepath.Join(dir, "nan.jsonl")
	os.WriteFile(nan, []byte(strings.Join(lines[:9], "")+`{"prompt": "p?", "chosen": "a NaN answer", "rejected": "fine"}`+"\n"), 0o644)
	jsonPath, scores := filepath.Join(dir, "eval.json"), filepath.Join(dir, "scores.jsonl")
	out, _, err := run(t, home, "eval", "--head", headPath, "--data", nan, "--cache", cachePath, "--json", jsonPath, "--scores-out", scores)
	if err != nil || !strings.Contains(out, "1 pairs have a reward that is not a finite number") {
		t.Fatalf("eval with a NaN reward: %v\n%s", err, out)
	}
	var raw map[string]any
	json.Unmarshal([]byte(readFile(t, jsonPath)), &raw)
	if raw["n"] != 10.0 || raw["non_finite"] != 1.0 {
		t.Errorf("eval.json: n %v, non_finite %v", raw["n"], raw["non_finite"])
	}
	if strings.Count(readFile(t, scores), "\n") != 10 || !strings.Contains(readFile(t, scores), `"reward_chosen":null`) {
		t.Errorf("scores:\n%s", readFile(t, scores))
	}
}

// TestTrainNaNFeatures: training on a pair whose backbone vector holds NaN
// is refused naming the pair's file and line (before: "mean[0] is NaN").
func TestTrainNaNFeatures(t *testing.T) {
	home := testenv.Home(t)
	dir := t.TempDir()
	cachePath := filepath.Join(dir, "c.feat")
	m, err := models.Find(home, "default")
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.Open(cachePath, m.Fingerprint(), m.Dim, cache.Format(m.FeatureStorage), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Fill(context.Background(), c, nanEmbedder{m.Dim}, []string{"a NaN answer"}, cache.FillOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	train := sampleFile(t, dir, 30, 1)
	f, _ := os.OpenFile(train, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"prompt": "p?", "chosen": "a NaN answer", "rejected": "fine"}` + "\n")
	f.Close()
	for _, cmd := range [][]string{{"train", "--out", filepath.Join(dir, "x.head")}, {"evolve", "--out", filepath.Join(dir, "run")}} {
		_, _, err := run(t, home, append(cmd, "--data", train, "--cache", cachePath)...)
		if err == nil || !strings.Contains(err.Error(), train+":31") || !strings.Contains(err.Error(), "NaN") {
			t.Errorf("%s: %v", cmd[0], err)
		}
	}
}
