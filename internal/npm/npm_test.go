package npm

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeNPM is an npm that answers `config get cache` with $FAKE_CACHE and
// packs by writing 3 MB into the cache's _cacache/tmp, as npm does while a
// download arrives, then the tarball "hello" into --pack-destination.
const fakeNPM = `#!/bin/sh
if [ "$1" = config ]; then echo "$FAKE_CACHE"; exit 0; fi
while [ $# -gt 0 ]; do [ "$1" = --pack-destination ] && dest="$2"; shift; done
mkdir -p "$FAKE_CACHE/_cacache/tmp"
head -c 3000000 /dev/zero > "$FAKE_CACHE/_cacache/tmp/download"
sleep 1
rm "$FAKE_CACHE/_cacache/tmp/download"
printf hello > "$dest/pkg-1.0.0.tgz"
echo '[{"filename":"pkg-1.0.0.tgz"}]'
`

// TestFetchProgress: a download that takes a while is reported as it
// arrives, with its size when the package pins one.
func TestFetchProgress(t *testing.T) {
	dir := t.TempDir()
	npm := filepath.Join(dir, "npm")
	if err := os.WriteFile(npm, []byte(fakeNPM), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_CACHE", filepath.Join(dir, "npm-cache"))
	// another download's leftover, from before this one: not counted
	stale := filepath.Join(dir, "npm-cache", "_cacache", "tmp", "leftover")
	os.MkdirAll(filepath.Dir(stale), 0o755)
	os.WriteFile(stale, make([]byte, 7_000_000), 0o644)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(stale, old, old)
	sum := sha256.Sum256([]byte("hello"))
	p := Package{Spec: "pkg@1.0.0", SHA256: hex.EncodeToString(sum[:]), Size: 5_000_000}
	var mu sync.Mutex
	var lines []string
	logf := func(f string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, strings.TrimSpace(fmt.Sprintf(f, a...)))
	}
	got, err := Fetch(filepath.Join(dir, "cache"), p, Options{NPM: npm, Logf: logf, Every: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(got); err != nil || string(b) != "hello" {
		t.Fatalf("fetched %q, %v", b, err)
	}
	mu.Lock()
	defer mu.Unlock()
	found := false
	for _, l := range lines {
		if strings.Contains(l, "pkg@1.0.0") && strings.Contains(l, "3.0 MB of 5.0 MB") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no progress line with 3.0 MB of 5.0 MB in %q", lines)
	}
	// fetched once, the tarball is not fetched again
	n := len(lines)
	if _, err := Fetch(filepath.Join(dir, "cache"), p, Options{NPM: "/nonexistent", Logf: logf}); err != nil {
		t.Fatal(err)
	}
	if len(lines) != n {
		t.Fatalf("a cached tarball was fetched again: %q", lines[n:])
	}
}
