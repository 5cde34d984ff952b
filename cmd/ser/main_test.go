package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ser-rl/ser/data"
)

var serBin string

// TestMain builds the ser binary once, for the tests that must run it as a
// process (the crash test kills it); the others run ser in this process.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ser-bin")
	if err != nil {
		panic(err)
	}
	serBin = filepath.Join(dir, "ser")
	if out, err := exec.Command("go", "build", "-o", serBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building ser: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// ser runs `ser --home HOME ARGS...` in this process, as main would, and
// returns stdout, stderr (with the error main would print) and the error.
func ser(t *testing.T, home string, args ...string) (string, string, error) {
	t.Helper()
	out, errb, err := run(t, home, args...)
	if err != nil {
		errb += fmt.Sprintf("ser: %v\n", err)
	}
	return out, errb, err
}

var words = strings.Fields(`the a reward model answer question helpful harmless honest assistant user
explain how why what when good bad better worse step first then finally because however example code
python recipe bread oven travel city history science energy music garden health sleep money budget`)

// synthPairs writes n generic pairs of made-up sentences (distinct texts) and returns the file.
func synthPairs(t *testing.T, dir string, n int, seed uint64) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	sentence := func(k int) string {
		w := make([]string, k)
		for i := range w {
			w[i] = words[rng.IntN(len(words))]
		}
		return strings.Join(w, " ")
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	for i := 0; i < n; i++ {
		enc.Encode(map[string]string{
			"prompt":   fmt.Sprintf("Q%d: %s?", i, sentence(4+rng.IntN(12))),
			"chosen":   sentence(5 + rng.IntN(60)),
			"rejected": sentence(3 + rng.IntN(40)),
		})
	}
	path := filepath.Join(dir, "pairs.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// sampleFile writes n pairs of the built-in sample (seed, no label noise) to
// dir/train.jsonl and returns its path.
func sampleFile(t *testing.T, dir string, n int, seed uint64) string {
	t.Helper()
	path := filepath.Join(dir, "train.jsonl")
	if err := writeSample(path, data.Sample(n, seed, 0)); err != nil {
		t.Fatal(err)
	}
	return path
}

// trainedHead trains a head on pairs with `ser train` and returns the feature
// cache and the head file it wrote under dir.
func trainedHead(t *testing.T, home, dir, pairs string) (cache, head string) {
	t.Helper()
	cache, head = filepath.Join(dir, "c.feat"), filepath.Join(dir, "rm.head")
	if _, stderr, err := run(t, home, "-q", "train", "--data", pairs, "--cache", cache, "--out", head); err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	return cache, head
}

// run runs ser in this process, as `ser --home HOME ARGS...`, and returns
// stdout, stderr and the error.
func run(t *testing.T, home string, args ...string) (string, string, error) {
	t.Helper()
	app := newApp()
	var out, errb bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errb
	err := app.Run(append([]string{"ser", "--home", home}, args...))
	return out.String(), errb.String(), err
}
