package safefile

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
	// a crash between the two renames: dir is gone, the old set (marked) waits beside it
	os.WriteFile(filepath.Join(dir, setMarker), nil, 0o644)
	os.Rename(dir, filepath.Join(parent, ".run.ser-old-123"))
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

// TestWriteSetKeepsTheUsers: only the set's own names are replaced or
// removed. The user's hidden files and folders (even ones named like
// temporary files), links, a sibling folder named like WriteSet's own, and
// the folder's permissions all stay. (Before, r/.tmp/, r/.env.tmpl and a
// sibling .r.old-k/ were removed, and r was reset to mode 0700.)
func TestWriteSetKeepsTheUsers(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "r")
	owned := func(n string) bool { return strings.HasPrefix(n, "set-") }
	one := func(name string) func(string) error {
		return func(stage string) error { return os.WriteFile(filepath.Join(stage, name), []byte(name), 0o644) }
	}
	os.MkdirAll(filepath.Join(dir, ".tmp", "deep"), 0o755)
	os.WriteFile(filepath.Join(dir, ".tmp", "deep", "f"), []byte("mine"), 0o644)
	os.WriteFile(filepath.Join(dir, ".env.tmpl"), []byte("mine"), 0o644)
	os.WriteFile(filepath.Join(dir, ".set-a.tmpl"), []byte("mine"), 0o644)
	os.Symlink("/etc/hostname", filepath.Join(dir, "link"))
	for _, sib := range []string{".r.old-k", ".r.new-1", ".r.ser-old-9", ".r.ser-new-9"} {
		os.MkdirAll(filepath.Join(parent, sib), 0o755)
		os.WriteFile(filepath.Join(parent, sib, "f"), []byte("mine"), 0o644)
	}
	os.Chmod(dir, 0o750)
	for _, f := range []string{"set-a", "set-b"} {
		if err := WriteSet(dir, owned, one(f)); err != nil {
			t.Fatal(err)
		}
	}
	if got := names(t, dir); got != ".env.tmpl,.set-a.tmpl,.tmp,link,set-b" {
		t.Fatalf("the folder holds %s", got)
	}
	if raw, _ := os.ReadFile(filepath.Join(dir, ".tmp", "deep", "f")); string(raw) != "mine" {
		t.Fatal("the user's folder .tmp lost its file")
	}
	if l, _ := os.Readlink(filepath.Join(dir, "link")); l != "/etc/hostname" {
		t.Fatalf("the link now points to %q", l)
	}
	if got := names(t, parent); got != ".r.new-1,.r.old-k,.r.ser-new-9,.r.ser-old-9,r" {
		t.Fatalf("beside the folder: %s", got)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o750 {
		t.Fatalf("mode %v, want 0750 as it was", fi.Mode().Perm())
	}
}

// TestWriteSetRepairs: a write killed after it moved the user's folder into
// its staging folder, and before the swap, loses nothing: the next write
// puts the folder back and removes the stage.
func TestWriteSetRepairs(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "r")
	owned := func(n string) bool { return strings.HasPrefix(n, "set-") }
	if err := WriteSet(dir, owned, func(s string) error { return os.WriteFile(filepath.Join(s, "set-a"), nil, 0o644) }); err != nil {
		t.Fatal(err)
	}
	// the state of a kill between moving "sub" into the stage and the swap
	stage := filepath.Join(parent, ".r.ser-new-42")
	os.MkdirAll(filepath.Join(stage, "sub"), 0o755)
	os.WriteFile(filepath.Join(stage, "sub", "f"), []byte("mine"), 0o644)
	os.WriteFile(filepath.Join(stage, "set-b"), nil, 0o644)
	os.WriteFile(filepath.Join(stage, setMarker), nil, 0o644)
	if err := WriteSet(dir, owned, func(s string) error { return os.WriteFile(filepath.Join(s, "set-c"), nil, 0o644) }); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); got != "set-c,sub" {
		t.Fatalf("after repair: %s", got)
	}
	if raw, _ := os.ReadFile(filepath.Join(dir, "sub", "f")); string(raw) != "mine" {
		t.Fatal("the user's folder was not put back")
	}
	if got := names(t, parent); got != "r" {
		t.Fatalf("left beside: %s", got)
	}
}
