package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/ser-rl/ser/cache"
	"github.com/ser-rl/ser/internal/progress"
	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/models"
)

// serExit runs the built binary and returns its stderr and exit code.
func serExit(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(serBin, args...)
	cmd.Env = append(os.Environ(), "SER_HOME="+t.TempDir())
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return errb.String(), code
}

// TestMistypedNames: a mistyped command or flag gets one line naming the
// nearest name (swaps, missing letters, prefixes), not the whole help.
func TestMistypedNames(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"trian"}, `did you mean "train"?`},
		{[]string{""}, `no command ""`},
		{[]string{"evalute"}, `did you mean "eval"?`},
		{[]string{"emebd"}, `did you mean "embed"?`},
		{[]string{"evolv"}, `did you mean "evolve"?`},
		{[]string{"models", "imprt"}, `did you mean "models import"?`},
		{[]string{"train", "--dat", "x.jsonl"}, "train: no flag --dat; did you mean --data?"},
		{[]string{"eval", "--haed", "h.json"}, "eval: no flag --haed; did you mean --head?"},
		{[]string{"--hme", "x", "train"}, "no flag --hme; did you mean --home?"},
		{[]string{"models", "list", "--quite"}, "models list: no flag --quite; did you mean --quiet? (ser models list --help lists them)"},
		{[]string{"train", "--" + strings.Repeat("x", 100000)}, "train: no flag --xxxxxxxx"},
		{[]string{strings.Repeat("y", 100000)}, `no command "yyyyy`},
		{[]string{"embed", "--data", "a.jsonl", "b.jsonl"}, `embed takes no argument, and was given 1: "b.jsonl"`},
	} {
		stderr, code := serExit(t, c.args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code == 0 || len(lines) != 1 || !strings.Contains(stderr, c.want) || len(stderr) > 400 {
			t.Errorf("ser %v: exit %d, %d lines, want one short line with %q:\n%s", clip(strings.Join(c.args, " ")), code, len(lines), c.want, clip(stderr))
		}
	}
	// nothing near: no suggestion, still one line
	stderr, code := serExit(t, "zzzzzzzz")
	if code == 0 || strings.Contains(stderr, "did you mean") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("ser zzzzzzzz: exit %d:\n%s", code, stderr)
	}
}

// TestVersion: --version names the module version, the VCS revision Go
// recorded (or says why there is none) and the Go version.
func TestVersion(t *testing.T) {
	out, err := exec.Command(serBin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if !strings.Contains(s, "go1.") {
		t.Errorf("--version %q names no Go version", s)
	}
	if !regexp.MustCompile(`commit [0-9a-f]{12}|no VCS revision recorded`).MatchString(s) {
		t.Errorf("--version %q gives neither a revision nor why there is none", s)
	}
	bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.3.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-11-29T20:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := versionOf(bi), "v0.3.0 (commit 0123456789ab, 2026-11-29T20:00:00Z, with uncommitted changes; go1.26.0)"; got != want {
		t.Errorf("versionOf = %q, want %q", got, want)
	}
}

// TestEmbedWaitsForTheLock: a second writer of a cache says that another
// process is writing it and waits, then finishes, rather than failing.
func TestEmbedWaitsForTheLock(t *testing.T) {
	home := testenv.Home(t)
	dir := t.TempDir()
	pairs := synthPairs(t, dir, 20, 3)
	m, err := models.Find(home, models.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "c.feat")
	holder, err := cache.Open(path, m.Fingerprint(), m.Dim, cache.Format(m.FeatureStorage), true)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(serBin, "--home", home, "embed", "--data", pairs, "--cache", path)
	var errb syncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		holder.Close()
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(2 * time.Minute)
	for !strings.Contains(errb.String(), "another ser process is writing it") {
		select {
		case err := <-exited:
			holder.Close()
			t.Fatalf("embed ended while the lock was held (%v):\n%s", err, errb.String())
		case <-deadline:
			holder.Close()
			cmd.Process.Kill()
			t.Fatalf("embed never said it waits:\n%s", errb.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	holder.Close()
	if err := <-exited; err != nil {
		t.Fatalf("embed after the lock was released: %v\n%s", err, errb.String())
	}
	c, err := cache.Open(path, m.Fingerprint(), m.Dim, cache.Format(m.FeatureStorage), false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Len() == 0 {
		t.Fatalf("the waiting embed stored nothing:\n%s", errb.String())
	}
}

// TestRatesFile: the stored embedding rate replaces a damaged file (null
// included: it once panicked on a nil map), is written only from a run
// large enough to measure more than its fixed costs, and a stored rate
// beyond any machine's (1e308 s a token) is not believed.
func TestRatesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "embed-rates.json")
	run := func(batches int, tokens int64) {
		shapes := make([]progress.Shape, batches)
		sample := make([]int, batches)
		plan := cache.Plan{Batches: make([]cache.Batch, batches), TokensToEmbed: tokens}
		for i := range shapes {
			shapes[i] = progress.Shape{Rows: 10, Tokens: tokens / int64(batches)}
			sample[i] = i
		}
		est := progress.NewEstimate(shapes, sample, nil)
		now := time.Now()
		est.Start(now.Add(-10 * time.Second))
		for i := range shapes {
			est.Done(i, 0.5+float64(i)/100)
		}
		r := &embedReport{rates: path, key: "k", plan: plan}
		r.save(est, now)
	}
	for _, damaged := range []string{"null", "[1,2]", `{"k": 7}`, "{"} {
		os.WriteFile(path, []byte(damaged), 0o644)
		run(16, 60_000)
		raw, err := os.ReadFile(path)
		var all ratesFile
		if err != nil || json.Unmarshal(raw, &all) != nil {
			t.Fatalf("after %q: %s, %v", damaged, raw, err)
		}
		if k := all["k"]; !k.Valid() {
			t.Fatalf("after %q: %s, %v", damaged, raw, err)
		}
	}
	os.Remove(path)
	run(1, 5) // one batch of five tokens: its fixed costs, not a rate
	if _, err := os.Stat(path); err == nil {
		t.Fatal("a one-batch run stored its rate")
	}
	os.WriteFile(path, []byte(`{"k": {"per_row_s": 0, "per_token_s": 1e308, "wall_per_s": 1, "measured": "2026-01-01T00:00:00Z"}}`), 0o644)
	if got := (&embedReport{rates: path, key: "k"}).load(); got != nil {
		t.Fatalf("a rate of 1e308 s a token was believed: %+v", got)
	}
}
