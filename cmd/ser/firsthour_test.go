package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ser-rl/ser/cache"
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
		{[]string{"evalute"}, `did you mean "eval"?`},
		{[]string{"emebd"}, `did you mean "embed"?`},
		{[]string{"evolv"}, `did you mean "evolve"?`},
		{[]string{"models", "imprt"}, `did you mean "models import"?`},
		{[]string{"train", "--dat", "x.jsonl"}, "train: no flag --dat; did you mean --data?"},
		{[]string{"eval", "--haed", "h.json"}, "eval: no flag --haed; did you mean --head?"},
		{[]string{"--hme", "x", "train"}, "no flag --hme; did you mean --home?"},
	} {
		stderr, code := serExit(t, c.args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code == 0 || len(lines) != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("ser %v: exit %d, %d lines, want one line with %q:\n%s", c.args, code, len(lines), c.want, stderr)
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

// lockedBuffer is a bytes.Buffer safe to read while a process writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
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
	var errb lockedBuffer
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
