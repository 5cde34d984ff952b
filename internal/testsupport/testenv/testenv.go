// Package testenv finds what tests need beside the code: an installed ser home
// (the ONNX Runtime library and the default backbone, put there by `ser setup`)
// and the shared evaluation data in ../shared/data.
//
// A test that needs something absent is skipped with the reason, so a fresh
// clone's `go test ./...` passes; `make test` installs everything and sets
// SER_TEST_REQUIRE=1, under which an absent requirement fails the test instead,
// so CI cannot pass by skipping.
package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// Root is the module's root folder (where go.mod is).
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testenv: no go.mod above the test's folder")
		}
		dir = parent
	}
}

// missing skips the test, or fails it under SER_TEST_REQUIRE=1.
func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("SER_TEST_REQUIRE") == "1" {
		t.Fatalf("%s (SER_TEST_REQUIRE=1: run `make test`, which runs `ser setup` first)", why)
	}
	t.Skip(why)
}

// Home returns the ser home: $SER_HOME, else <root>/.ser-home, where `make test` installs.
// It skips the test when the home has no ONNX Runtime library or default backbone.
func Home(t testing.TB) string {
	t.Helper()
	home := os.Getenv("SER_HOME")
	if home == "" {
		home = filepath.Join(Root(t), ".ser-home")
	}
	for _, p := range []string{filepath.Join(home, "models", "default", "manifest.json"), ORTLib(t, home)} {
		if _, err := os.Stat(p); err != nil {
			missing(t, "no installed backbone or ONNX Runtime at "+p+": run `make setup` (or `ser setup`) first")
		}
	}
	return home
}

// ORTLib is the ONNX Runtime library the tests use: $ORT_LIB, else the one `ser setup` installs under home.
func ORTLib(t testing.TB, home string) string {
	if p := os.Getenv("ORT_LIB"); p != "" {
		return p
	}
	matches, _ := filepath.Glob(filepath.Join(home, "lib", "libonnxruntime.so.*"))
	if len(matches) == 0 {
		return filepath.Join(home, "lib", "libonnxruntime.so")
	}
	return matches[len(matches)-1]
}

// SharedData returns ../shared/data/<rel> beside the module, skipping the test when it is absent.
func SharedData(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Root(t), "..", "shared", "data", rel)
	if _, err := os.Stat(p); err != nil {
		missing(t, "shared evaluation data not found at "+p+" (a fresh clone has no ../shared)")
	}
	return p
}
