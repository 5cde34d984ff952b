package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/internal/testsupport/testenv"
)

// TestInterrupt: SIGINT (Ctrl-C) stops ser train, evolve, ask and score in
// their long step (an MLP's epochs, SER loops, D-optimal picks, embedding),
// promptly, with exit status 130 and nothing written: no output file, no
// temporary file, and an earlier output of score left as it was (before,
// it was replaced by the rows scored so far).
func TestInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("embeds 4,000 pairs and runs three long commands")
	}
	home := testenv.Home(t)
	dir := t.TempDir()
	train := filepath.Join(dir, "train.jsonl")
	if err := writeSample(train, data.Sample(4000, 5, 0)); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "c.feat")
	if _, stderr, err := run(t, home, "-q", "embed", "--data", train, "--cache", cache); err != nil {
		t.Fatal(stderr)
	}
	headPath := filepath.Join(dir, "rm.head")
	if _, stderr, err := run(t, home, "-q", "train", "--data", train, "--cache", cache, "--out", headPath); err != nil {
		t.Fatal(stderr)
	}
	out := filepath.Join(dir, "out")
	fresh := synthPairs(t, t.TempDir(), 2000, 77) // texts no cache holds: scoring embeds them
	earlier := filepath.Join(dir, "scored.jsonl")
	os.WriteFile(earlier, []byte("an earlier output\n"), 0o644)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"train", []string{"train", "--data", train, "--kind", "mlp", "--hidden", "512", "--val-frac", "0", "--out", filepath.Join(out, "mlp.head")}},
		{"evolve", []string{"evolve", "--data", train, "--ask", "5", "--no-self-label", "--max-loops", "1000", "--out", filepath.Join(out, "run")}},
		{"ask", []string{"ask", "--head", headPath, "--pool", train, "-n", "3000", "--out", filepath.Join(out, "ask.jsonl")}},
		{"score", []string{"score", "--head", headPath, "--in", fresh, "--out", earlier}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(serBin, append(append([]string{"--home", home}, c.args...), "--cache", cache)...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Second) // into the long step: reading the cached features takes well under this
			cmd.Process.Signal(os.Interrupt)
			sent := time.Now()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				took := time.Since(sent)
				ee, _ := err.(*exec.ExitError)
				if ee == nil || ee.Sys().(syscall.WaitStatus).ExitStatus() != 130 || !strings.Contains(stderr.String(), "interrupted") {
					t.Fatalf("exit %v after SIGINT (want 130, interrupted):\n%s", err, stderr.String())
				}
				t.Logf("stopped %.2fs after SIGINT", took.Seconds())
			case <-time.After(10 * time.Second): // the steps check the context between iterations of well under a second
				cmd.Process.Kill()
				t.Fatalf("still running 10 s after SIGINT:\n%s", stderr.String())
			}
			entries, _ := os.ReadDir(out)
			for _, e := range entries {
				t.Errorf("%s left %s in the output folder", c.name, e.Name())
			}
			if got := readFile(t, earlier); got != "an earlier output\n" {
				t.Errorf("%s: the earlier output became %.80q", c.name, got)
			}
		})
	}
}
