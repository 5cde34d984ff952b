package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/internal/testsupport/tiny"
	"github.com/ser-rl/ser/models"
)

// TestTrainEvalScoreEvolve runs the main commands on the built-in sample as a
// user would, and checks what they write.
func TestTrainEvalScoreEvolve(t *testing.T) {
	home := testenv.Home(t)
	dir := t.TempDir()
	train, test := filepath.Join(dir, "train.jsonl"), filepath.Join(dir, "test.jsonl")
	if err := writeSample(train, data.Sample(400, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if err := writeSample(test, data.Sample(150, 2, 0)); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "c.feat")
	headPath := filepath.Join(dir, "rm.head")
	out, stderr, err := ser(t, home, "train", "--data", train, "--out", headPath, "--cache", cache)
	if err != nil || !strings.Contains(out, "validation accuracy") {
		t.Fatalf("train: %v\n%s%s", err, out, stderr)
	}
	// retraining warm from the head: no backbone work, the cache has every text
	_, stderr, err = ser(t, home, "train", "--data", train, "--init", headPath, "--out", filepath.Join(dir, "rm2.head"), "--cache", cache)
	if err != nil || strings.Contains(stderr, "embedded") {
		t.Fatalf("retrain: %v\n%s", err, stderr)
	}

	jsonPath := filepath.Join(dir, "eval.json")
	out, stderr, err = ser(t, home, "eval", "--head", headPath, "--data", test, "--json", jsonPath, "--cache", cache)
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, stderr)
	}
	var met map[string]any
	raw, _ := os.ReadFile(jsonPath)
	if err := json.Unmarshal(raw, &met); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"accuracy", "n", "ties", "mean_margin", "ece", "skipped", "by_subset"} {
		if _, ok := met[k]; !ok {
			t.Errorf("eval --json lacks %q", k)
		}
	}
	if acc := met["accuracy"].(float64); acc < 0.8 || met["n"].(float64) != 150 {
		t.Errorf("eval on the clean sample: accuracy %v over %v pairs (want >= 0.8 over 150)\n%s", acc, met["n"], out)
	}
	if len(met["by_subset"].(map[string]any)) != 6 || !strings.Contains(out, "overall") {
		t.Errorf("eval table or subsets:\n%s", out)
	}

	in := filepath.Join(dir, "score.jsonl")
	os.WriteFile(in, []byte(`{"id": 1, "prompt": "How do I bake bread?", "response": "Mix flour, water, salt and yeast, knead, let it rise, bake at 220 C."}
{"id": 2, "prompt": "How do I bake bread?", "response": "I'm sorry, I can't help with that."}
{"prompt": "How do I bake bread?", "chosen": "Knead the dough ten minutes.", "rejected": "Ask someone else.", "id": 3}
`), 0o644)
	scored := filepath.Join(dir, "scored.jsonl")
	if _, stderr, err := ser(t, home, "score", "--head", headPath, "--in", in, "--out", scored); err != nil {
		t.Fatalf("score: %v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(readFile(t, scored)), "\n")
	var rows []map[string]any
	for _, l := range lines {
		var r map[string]any
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("score output %q: %v", l, err)
		}
		rows = append(rows, r)
	}
	if len(rows) != 3 || rows[0]["id"].(float64) != 1 || rows[2]["id"].(float64) != 3 {
		t.Fatalf("score changed the rows or their order: %v", rows)
	}
	if rows[0]["reward"].(float64) <= rows[1]["reward"].(float64) {
		t.Errorf("a helpful answer scored %v, a refusal %v", rows[0]["reward"], rows[1]["reward"])
	}
	if _, ok := rows[2]["reward_chosen"]; !ok {
		t.Errorf("a pair row got no reward_chosen: %v", rows[2])
	}
	os.WriteFile(in, []byte("{\"prompt\": \"q\", \"response\": \"a\"}\n{\"prompt\": \"q\", \"response\": 7}\n"), 0o644)
	if _, stderr, err := ser(t, home, "score", "--head", headPath, "--in", in, "--out", scored); err == nil || !strings.Contains(stderr, "score.jsonl:2") || !strings.Contains(stderr, `"response"`) {
		t.Errorf("a bad line: err %v, stderr %q (want file:2 and the field)", err, stderr)
	}

	run := filepath.Join(dir, "run")
	out, stderr, err = ser(t, home, "evolve", "--data", train, "--test", test, "--out", run, "--cache", cache)
	if err != nil {
		t.Fatalf("evolve: %v\n%s", err, stderr)
	}
	for _, f := range []string{"report.json", "report.md", "accuracy.png", "accuracy.svg", "loop-0.head.json", "final.head.json", "full-data.head.json"} {
		if _, err := os.Stat(filepath.Join(run, f)); err != nil {
			t.Errorf("evolve wrote no %s", f)
		}
	}
	if !strings.Contains(out, "Seed-only test accuracy") || !strings.Contains(stderr, "time: reading") {
		t.Errorf("evolve output:\n%s\n%s", out, stderr)
	}
	// the mixed loop: each loop asks human labels (answered from the hidden ones), no pseudo-labels
	asked := filepath.Join(dir, "asked")
	if _, stderr, err := ser(t, home, "-q", "evolve", "--data", train, "--test", test, "--out", asked, "--cache", cache, "--ask", "20", "--ask-rule", "uncertainty", "--no-self-label"); err != nil {
		t.Fatalf("evolve --ask: %v\n%s", err, stderr)
	}
	raw, _ = os.ReadFile(filepath.Join(asked, "report.json"))
	var rep struct {
		Loops []struct {
			Asked, Selected int
		}
	}
	if err := json.Unmarshal(raw, &rep); err != nil || len(rep.Loops) < 2 || rep.Loops[1].Asked != 20 || rep.Loops[1].Selected != 0 {
		t.Errorf("evolve --ask 20 --no-self-label: loops %+v (%v)", rep.Loops, err)
	}
}

// TestHeadOfAnotherBackbone: a head used with another backbone is an error, not a silent wrong answer.
func TestHeadOfAnotherBackbone(t *testing.T) {
	home := testenv.Home(t)
	dir := t.TempDir()
	train := filepath.Join(dir, "train.jsonl")
	writeSample(train, data.Sample(120, 3, 0))
	headPath := filepath.Join(dir, "rm.head")
	if _, stderr, err := ser(t, home, "train", "--data", train, "--out", headPath, "--cache", filepath.Join(dir, "c.feat")); err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	other := filepath.Join(dir, "tiny")
	if _, err := tiny.Write(other, tiny.Options{Name: "tiny", Pooling: models.PoolMean}); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := ser(t, home, "eval", "--head", headPath, "--data", train, "--model", other)
	if err == nil || !strings.Contains(stderr, "was trained on backbone default") {
		t.Errorf("eval with another backbone: err %v\n%s", err, stderr)
	}
}

func readFile(t *testing.T, p string) string {
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// TestDemo runs `ser demo` small: the report, both charts and the
// evaluation are written (demo reads its sample without the data flags).
func TestDemo(t *testing.T) {
	home := testenv.Home(t)
	out := filepath.Join(t.TempDir(), "demo")
	if _, errb, err := ser(t, home, "-q", "demo", "--out", out, "--pairs", "300", "--test-pairs", "100"); err != nil {
		t.Fatal(errb)
	}
	for _, f := range []string{"report.md", "report.json", "accuracy.png", "scores.png", "eval.json", "final.head.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

// TestAsk: ser ask writes the chosen pool rows with every input field and
// what a labelling tool needs, the same for a seed, and refuses what it
// cannot do.
func TestAsk(t *testing.T) {
	home := testenv.Home(t)
	dir := t.TempDir()
	train := synthPairs(t, dir, 120, 31)
	cache, rm := trainedHead(t, home, dir, train)
	var b strings.Builder
	for i := 0; i < 60; i++ {
		fmt.Fprintf(&b, `{"prompt": "Q%d: how do I bake bread?", "response_a": "knead, rise, bake %d", "response_b": "no idea %d", "my_field": %d}`+"\n", i, i, i, i)
	}
	pool := filepath.Join(dir, "pool.jsonl")
	os.WriteFile(pool, []byte(b.String()), 0o644)
	for _, rule := range []string{"dopt", "uncertainty", "random"} {
		out := filepath.Join(dir, rule+".jsonl")
		args := []string{"-q", "ask", "--head", rm, "--cache", cache, "--pool", pool, "--labelled", train, "--rule", rule, "--n", "10", "--out", out}
		if _, errb, err := ser(t, home, args...); err != nil {
			t.Fatal(errb)
		}
		first, _ := os.ReadFile(out)
		if _, errb, err := ser(t, home, args...); err != nil {
			t.Fatal(errb)
		}
		second, _ := os.ReadFile(out)
		if !bytes.Equal(first, second) {
			t.Errorf("%s: two runs with one seed wrote different files", rule)
		}
		lines := strings.Split(strings.TrimSpace(string(first)), "\n")
		if len(lines) != 10 {
			t.Fatalf("%s: %d rows, want 10", rule, len(lines))
		}
		for r, l := range lines {
			var row map[string]any
			if err := json.Unmarshal([]byte(l), &row); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"prompt", "response_a", "response_b", "my_field", "ask_id", "ask_rank", "ask_first", "ask_score", "reward_a", "reward_b", "p_a"} {
				if _, ok := row[k]; !ok {
					t.Errorf("%s row %d lacks %q: %s", rule, r, k, l)
				}
			}
			if row["ask_rank"] != float64(r) || row["ask_rule"] != rule {
				t.Errorf("%s row %d: rank %v rule %v", rule, r, row["ask_rank"], row["ask_rule"])
			}
		}
	}
	if _, _, err := ser(t, home, "-q", "ask", "--head", rm, "--pool", pool, "--rule", "best", "--out", filepath.Join(dir, "x.jsonl")); err == nil || !strings.Contains(err.Error(), "rule") {
		t.Errorf("--rule best: %v", err)
	}
}
