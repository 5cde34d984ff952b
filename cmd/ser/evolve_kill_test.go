package main

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/evolve"
	"github.com/ser-rl/ser/internal/safefile"
	"github.com/ser-rl/ser/internal/testsupport/testenv"
)

// TestEvolveKilled kills `ser evolve` at random moments while it writes its
// report, run after run with other seeds: once what the kill left is
// repaired (as the next write does first: a write killed during its renames
// is finished from its commit list, one killed before it is dropped), the
// output folder holds one run's whole set (report.json, final.head.json and
// loop heads of the same seed, nothing of another run), the user's other
// files stay, and no temporary file is left in it.
func TestEvolveKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("full mode only (go test without -short)")
	}
	home := testenv.Home(t)
	dir := t.TempDir()
	train := filepath.Join(dir, "train.jsonl")
	if err := writeSample(train, data.Sample(600, 3, 0.1)); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "c.feat")
	out := filepath.Join(dir, "run")
	args := func(seed int) []string {
		return []string{"--home", home, "--quiet", "evolve", "--data", train, "--cache", cache, "--out", out, "--seed", string(rune('0' + seed))}
	}
	if err := exec.Command(serBin, args(1)...).Run(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644)
	start := time.Now()
	if err := exec.Command(serBin, args(2)...).Run(); err != nil {
		t.Fatal(err)
	}
	full := time.Since(start)
	rng := rand.New(rand.NewPCG(7, 8))
	seeds := map[uint64]bool{}
	midCommit := 0
	for k := 0; k < 8; k++ {
		seed := 3 + k%6
		cmd := exec.Command(serBin, args(seed)...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Float64() * float64(full)))
		cmd.Process.Kill()
		cmd.Wait()
		if _, err := os.Stat(filepath.Join(out, ".ser-staging", "commit.json")); err == nil {
			midCommit++
		}
		if err := safefile.Repair(out, evolve.Owned); err != nil {
			t.Fatal(err)
		}
		seeds[checkSet(t, out)] = true
	}
	t.Logf("8 kills (%d during the renames of a commit); the folder held the sets of seeds %v", midCommit, seeds)
}

// checkSet checks that out holds one run's files and returns its seed.
func checkSet(t *testing.T, out string) uint64 {
	t.Helper()
	var rep struct {
		Options struct{ Seed uint64 }
		Loops   []struct{ Added bool }
	}
	raw, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatalf("report.json: %v", err)
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	heads := 0
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		n := e.Name()
		if strings.Contains(n, ".tmp") {
			t.Fatalf("a temporary file is left: %s", n)
		}
		if !strings.HasSuffix(n, ".head.json") {
			continue
		}
		if strings.HasPrefix(n, "loop-") {
			heads++
		}
		var h struct{ Training struct{ Seed uint64 } }
		raw, _ := os.ReadFile(filepath.Join(out, n))
		if err := json.Unmarshal(raw, &h); err != nil || h.Training.Seed != rep.Options.Seed {
			t.Fatalf("%s is of seed %d, report.json of seed %d (%v)", n, h.Training.Seed, rep.Options.Seed, err)
		}
	}
	added := 0
	for _, l := range rep.Loops {
		if l.Added {
			added++
		}
	}
	if heads != added {
		t.Fatalf("%d loop heads for %d loops that trained", heads, added)
	}
	if raw, _ := os.ReadFile(filepath.Join(out, "notes.txt")); string(raw) != "mine" {
		t.Fatal("the user's notes.txt is gone")
	}
	return rep.Options.Seed
}
