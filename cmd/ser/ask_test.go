package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ser-rl/ser/ask"
	"github.com/ser-rl/ser/cache"
	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/models"
)

// nanEmbedder gives every text a vector of NaN: what a broken backbone writes.
type nanEmbedder struct{ dim int }

func (nanEmbedder) Tokenize(texts []string) ([][]int32, error) {
	ids := make([][]int32, len(texts))
	for i := range ids {
		ids[i] = []int32{1}
	}
	return ids, nil
}

func (nanEmbedder) Batches(ids [][]int32) [][]int {
	b := make([]int, len(ids))
	for i := range b {
		b[i] = i
	}
	return [][]int{b}
}

func (e nanEmbedder) EmbedTokens(_ context.Context, ids [][]int32) ([]float32, error) {
	v := make([]float32, len(ids)*e.dim)
	for i := range v {
		v[i] = float32(math.NaN())
	}
	return v, nil
}

// askRows reads the rows ser ask wrote.
func askRows(t *testing.T, path string) []map[string]any {
	t.Helper()
	var rows []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(readFile(t, path)), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		rows = append(rows, r)
	}
	return rows
}

// TestAskWastesNoLabels: for every rule, ser ask never asks a pair whose two
// responses are identical, asks a pair once however often and in whichever
// order the pool holds it, skips the pairs --labelled already has, and
// refuses a pool pair whose reward is not finite, naming its file and line.
// (Before, uncertainty asked 5 of 5 identical pairs, one pair 10 times, each
// pair in both orders, and pairs already labelled.)
func TestAskWastesNoLabels(t *testing.T) {
	home := testenv.Home(t)
	dir := t.TempDir()
	train := synthPairs(t, dir, 120, 41)
	cache_, rm := trainedHead(t, home, dir, train)
	var b strings.Builder
	row := func(p, a, bb string) {
		fmt.Fprintf(&b, `{"prompt": %q, "response_a": %q, "response_b": %q}`+"\n", p, a, bb)
	}
	for i := 0; i < 5; i++ { // identical responses: the closest scores of all
		row(fmt.Sprintf("Q same %d?", i), "the same answer", "the same answer")
	}
	for i := 0; i < 10; i++ { // one pair ten times
		row("Q repeated?", "knead and bake", "buy it")
	}
	for i := 0; i < 8; i++ { // each pair in both orders
		row(fmt.Sprintf("Q mirror %d?", i), fmt.Sprintf("answer one %d", i), fmt.Sprintf("answer two %d", i))
		row(fmt.Sprintf("Q mirror %d?", i), fmt.Sprintf("answer two %d", i), fmt.Sprintf("answer one %d", i))
	}
	var seed map[string]string // a pair of the training data, mirrored, in the pool
	json.Unmarshal([]byte(strings.SplitN(readFile(t, train), "\n", 2)[0]), &seed)
	row(seed["prompt"], seed["rejected"], seed["chosen"])
	pool := filepath.Join(dir, "pool.jsonl")
	os.WriteFile(pool, []byte(b.String()), 0o644)
	// 5 identical, 9 + 8 repeats, 1 labelled: 9 pairs worth asking
	for _, rule := range []string{"dopt", "uncertainty", "random"} {
		out := filepath.Join(dir, rule+".jsonl")
		_, errb, err := ser(t, home, "ask", "--head", rm, "--cache", cache_, "--pool", pool, "--labelled", train, "--rule", rule, "-n", "50", "--out", out)
		if err != nil {
			t.Fatal(errb)
		}
		for _, want := range []string{"5 pool pairs: identical responses", "17 pool pairs: repeats an earlier pool pair", "1 pool pairs: already labelled"} {
			if !strings.Contains(errb, want) {
				t.Errorf("%s: stderr lacks %q:\n%s", rule, want, errb)
			}
		}
		rows := askRows(t, out)
		if len(rows) != 9 {
			t.Errorf("%s: %d rows asked, want the 9 distinct pairs", rule, len(rows))
		}
		seen := map[string]bool{}
		for _, r := range rows {
			a, bb := r["response_a"].(string), r["response_b"].(string)
			if a == bb {
				t.Errorf("%s asked identical responses: %v", rule, r)
			}
			if a > bb {
				a, bb = bb, a
			}
			k := r["prompt"].(string) + "\x00" + a + "\x00" + bb
			if seen[k] {
				t.Errorf("%s asked one pair twice: %v", rule, r)
			}
			seen[k] = true
			if r["prompt"] == seed["prompt"] {
				t.Errorf("%s asked a labelled pair again", rule)
			}
		}
	}

	// A NaN vector for one pool text: its pair is refused, by file and line.
	nanPool := filepath.Join(dir, "nan-pool.jsonl")
	os.WriteFile(nanPool, []byte(`{"prompt": "A?", "response_a": "one", "response_b": "two"}
{"prompt": "B?", "response_a": "three", "response_b": "four"}

{"prompt": "C?", "response_a": "five", "response_b": "a text no backbone saw"}
`), 0o644)
	m, err := models.Find(home, "default")
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.Open(cache_, m.Fingerprint(), m.Dim, cache.Format(m.FeatureStorage), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Fill(context.Background(), c, nanEmbedder{m.Dim}, []string{"a text no backbone saw"}, cache.FillOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	for _, rule := range []string{"dopt", "uncertainty", "random"} {
		_, _, err := ser(t, home, "ask", "--head", rm, "--cache", cache_, "--pool", nanPool, "--rule", rule, "-n", "1", "--out", filepath.Join(dir, "nan.jsonl"))
		if err == nil || !strings.Contains(err.Error(), nanPool+":4") || !strings.Contains(err.Error(), "not a finite number") {
			t.Errorf("%s: a NaN reward at %s:4: %v", rule, nanPool, err)
		}
	}
}

// TestAskBlind: ser ask's rows from a labelled pool carry no label: no
// chosen, rejected or scores, and response_a is the source's chosen about
// half the time, not always; --keep-labels keeps them and says which
// response the source prefers.
func TestAskBlind(t *testing.T) {
	home := testenv.Home(t)
	dir := t.TempDir()
	train := synthPairs(t, dir, 120, 43)
	cache_, rm := trainedHead(t, home, dir, train)
	pool := filepath.Join(dir, "labelled-pool.jsonl")
	var b strings.Builder
	for i := 0; i < 80; i++ {
		fmt.Fprintf(&b, `{"prompt": "P%d?", "chosen": "good answer %d", "rejected": "bad answer %d", "score_chosen": 9, "score_rejected": 2, "id": "r%d"}`+"\n", i, i, i, i)
	}
	os.WriteFile(pool, []byte(b.String()), 0o644)
	out := filepath.Join(dir, "blind.jsonl")
	if _, errb, err := ser(t, home, "ask", "--head", rm, "--cache", cache_, "--pool", pool, "--rule", "random", "-n", "80", "--out", out); err != nil {
		t.Fatal(errb)
	}
	aChosen := 0
	for _, r := range askRows(t, out) {
		for k := range r {
			if ask.IsLabelField(k) && !strings.HasPrefix(k, "ask_") {
				t.Fatalf("a blind row has %q: %v", k, r)
			}
		}
		if strings.HasPrefix(r["response_a"].(string), "good") {
			aChosen++
		}
		if !strings.HasPrefix(r["ask_id"].(string), "r") || r["id"] == nil {
			t.Errorf("the source id is lost: %v", r)
		}
	}
	if aChosen < 25 || aChosen > 55 { // Binomial(80, 1/2): outside [25, 55] with probability below 1e-3
		t.Errorf("response_a is the source's chosen in %d of 80 rows: the order tells the label", aChosen)
	}
	// the A/B order is drawn from a secret key, fresh each run: the seed does
	// not give it (before, a fixed seed's coin did, so the side shown first
	// told the label); a given --side-key repeats it
	again := filepath.Join(dir, "blind2.jsonl")
	if _, errb, err := ser(t, home, "ask", "--head", rm, "--cache", cache_, "--pool", pool, "--rule", "random", "-n", "80", "--out", again); err != nil {
		t.Fatal(errb)
	}
	if readFile(t, again) == readFile(t, out) {
		t.Error("two runs drew the same A/B order for 80 pairs: it follows from the seed")
	}
	for _, f := range []string{"k1.jsonl", "k2.jsonl"} {
		if _, errb, err := ser(t, home, "ask", "--head", rm, "--cache", cache_, "--pool", pool, "--rule", "random", "-n", "80", "--side-key", "00112233445566778899", "--out", filepath.Join(dir, f)); err != nil {
			t.Fatal(errb)
		}
	}
	if readFile(t, filepath.Join(dir, "k1.jsonl")) != readFile(t, filepath.Join(dir, "k2.jsonl")) {
		t.Error("one --side-key gave two files")
	}
	out = filepath.Join(dir, "kept.jsonl")
	if _, errb, err := ser(t, home, "ask", "--head", rm, "--cache", cache_, "--pool", pool, "--rule", "random", "-n", "80", "--keep-labels", "--out", out); err != nil {
		t.Fatal(errb)
	}
	arena := filepath.Join(dir, "arena.jsonl")
	os.WriteFile(arena, []byte(`{"prompt": "Q?", "response_a": "one", "response_b": "two", "winner_model_a": 1, "winner_model_b": 0, "winner_tie": 0, "model_a": "big", "model_b": "small", "topic": "kept"}`+"\n"), 0o644)
	blind := filepath.Join(dir, "arena-blind.jsonl")
	if _, errb, err := ser(t, home, "ask", "--head", rm, "--cache", cache_, "--pool", arena, "-n", "1", "--out", blind); err != nil {
		t.Fatal(errb)
	}
	for _, r := range askRows(t, blind) {
		for _, k := range []string{"winner_model_a", "winner_model_b", "winner_tie", "model_a", "model_b"} {
			if _, ok := r[k]; ok {
				t.Errorf("an arena row kept %q: %v", k, r)
			}
		}
		if r["topic"] != "kept" {
			t.Errorf("a field that tells nothing was dropped: %v", r)
		}
	}
	for _, r := range askRows(t, out) {
		sc := r["source_chosen"]
		good := map[any]string{"a": r["response_a"].(string), "b": r["response_b"].(string)}[sc]
		if r["chosen"] == nil || !strings.HasPrefix(good, "good") {
			t.Fatalf("--keep-labels: source_chosen %v does not name the chosen response: %v", sc, r)
		}
	}
}
