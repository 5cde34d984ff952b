package atomic

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func names(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range entries {
		n = append(n, e.Name())
	}
	sort.Strings(n)
	return strings.Join(n, ",")
}

// TestWriteSet: a set replaces the last one whole (a file the new set lacks
// goes), the user's other files stay, and a failed write changes nothing.
func TestWriteSet(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "run")
	owned := func(n string) bool { return strings.HasPrefix(n, "set-") }
	write := func(files ...string) func(string) error {
		return func(stage string) error {
			for _, f := range files {
				if err := os.WriteFile(filepath.Join(stage, f), []byte(f), 0o644); err != nil {
					return err
				}
			}
			return nil
		}
	}
	if err := WriteSet(dir, owned, write("set-a", "set-b", "set-c")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	if err := WriteSet(dir, owned, write("set-a", "set-b")); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); got != "notes.txt,set-a,set-b,sub" {
		t.Fatalf("after the second set: %s", got)
	}
	if err := WriteSet(dir, owned, func(stage string) error {
		os.WriteFile(filepath.Join(stage, "set-x"), nil, 0o644)
		return errors.New("disk full")
	}); err == nil {
		t.Fatal("no error")
	}
	if got := names(t, dir); got != "notes.txt,set-a,set-b,sub" {
		t.Fatalf("a failed write changed the set: %s", got)
	}
	if got := names(t, parent); got != "run" {
		t.Fatalf("left behind: %s", got)
	}
	// a crash between the two renames: dir is gone, the old set waits beside it
	os.Rename(dir, filepath.Join(parent, ".run.old-123"))
	if err := WriteSet(dir, owned, write("set-z")); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); got != "notes.txt,set-z,sub" {
		t.Fatalf("after recovery: %s", got)
	}
	if raw, _ := os.ReadFile(filepath.Join(dir, "notes.txt")); string(raw) != "mine" {
		t.Fatal("the user's file changed")
	}
}
