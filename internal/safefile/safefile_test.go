package safefile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
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
	if err := WriteSet(dir, owned, files("set-a", "set-b", "set-c")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	if err := WriteSet(dir, owned, files("set-a", "set-b")); err != nil {
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
	if err := WriteSet(dir, owned, func(stage string) error { return os.WriteFile(filepath.Join(stage, "notes.txt"), nil, 0o644) }); err == nil {
		t.Fatal("a set wrote a name it does not own")
	}
	if raw, _ := os.ReadFile(filepath.Join(dir, "notes.txt")); string(raw) != "mine" {
		t.Fatal("the user's file changed")
	}
}

func files(names ...string) func(string) error {
	return func(stage string) error {
		for _, f := range names {
			if err := os.WriteFile(filepath.Join(stage, f), []byte(f), 0o644); err != nil {
				return err
			}
		}
		return nil
	}
}

// TestWriteSetKeepsTheUsers: only the set's own names are replaced or
// removed, in place: the user's hidden files and folders (even ones named
// like temporary files or like ser's staging), links, the folder itself (its
// mode, owner, inode) and its siblings all stay. (Before, r/.tmp/,
// r/.env.tmpl and a sibling .r.old-k/ were removed, r was reset to mode
// 0700, and two runs at once lost the user's folders.)
func TestWriteSetKeepsTheUsers(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "r")
	owned := func(n string) bool { return strings.HasPrefix(n, "set-") }
	os.MkdirAll(filepath.Join(dir, ".tmp", "deep"), 0o755)
	os.WriteFile(filepath.Join(dir, ".tmp", "deep", "f"), []byte("mine"), 0o644)
	os.WriteFile(filepath.Join(dir, ".env.tmpl"), []byte("mine"), 0o644)
	os.WriteFile(filepath.Join(dir, ".set-a.tmp"), []byte("mine"), 0o644)
	os.WriteFile(filepath.Join(dir, ".ser-set"), []byte("mine"), 0o644)
	os.Symlink("/etc/hostname", filepath.Join(dir, "link"))
	for _, sib := range []string{".r.old-k", ".r.ser-old-9", ".r.ser-new-9"} {
		os.MkdirAll(filepath.Join(parent, sib), 0o755)
	}
	os.Chmod(dir, 0o1750)
	before, _ := os.Stat(dir)
	for _, f := range []string{"set-a", "set-b"} {
		if err := WriteSet(dir, owned, files(f)); err != nil {
			t.Fatal(err)
		}
	}
	if got := names(t, dir); got != ".env.tmpl,.ser-set,.set-a.tmp,.tmp,link,set-b" {
		t.Fatalf("the folder holds %s", got)
	}
	if raw, _ := os.ReadFile(filepath.Join(dir, ".tmp", "deep", "f")); string(raw) != "mine" {
		t.Fatal("the user's folder .tmp lost its file")
	}
	if l, _ := os.Readlink(filepath.Join(dir, "link")); l != "/etc/hostname" {
		t.Fatalf("the link now points to %q", l)
	}
	if got := names(t, parent); got != ".r.old-k,.r.ser-new-9,.r.ser-old-9,r" {
		t.Fatalf("beside the folder: %s", got)
	}
	after, _ := os.Stat(dir)
	if after.Mode() != before.Mode() || !os.SameFile(before, after) {
		t.Fatalf("the folder was replaced or its mode changed: %v -> %v", before.Mode(), after.Mode())
	}
	// a folder named like the staging folder that is not ser's stops the write, untouched
	os.MkdirAll(filepath.Join(dir, ".ser-staging"), 0o755)
	os.WriteFile(filepath.Join(dir, ".ser-staging", "f"), []byte("mine"), 0o644)
	if err := WriteSet(dir, owned, files("set-c")); err == nil || !strings.Contains(err.Error(), "not ser's") {
		t.Fatalf("a foreign .ser-staging: %v", err)
	}
	if raw, _ := os.ReadFile(filepath.Join(dir, ".ser-staging", "f")); string(raw) != "mine" {
		t.Fatal("the user's .ser-staging lost its file")
	}
}

// TestWriteSetRepairs: a write killed during its renames (its commit list
// written) is finished by the next write or by Repair: the new set whole,
// the stale files gone; a write killed before its commit list leaves the
// last set whole and its stage is removed.
func TestWriteSetRepairs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r")
	owned := func(n string) bool { return strings.HasPrefix(n, "set-") }
	if err := WriteSet(dir, owned, files("set-a", "set-b")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "mine"), []byte("mine"), 0o644)
	// the state of a kill after set-c moved into place, set-d not yet, set-a not yet removed
	stage := filepath.Join(dir, ".ser-staging")
	os.Mkdir(stage, 0o755)
	os.WriteFile(filepath.Join(stage, ".ser-set"), nil, 0o644)
	os.WriteFile(filepath.Join(stage, "set-d"), []byte("d"), 0o644)
	os.WriteFile(filepath.Join(dir, "set-c"), []byte("c"), 0o644)
	os.WriteFile(filepath.Join(stage, "commit.json"), []byte(`{"files":["set-c","set-d"],"stale":["set-a","set-b"]}`), 0o644)
	if err := Repair(dir, owned); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); got != "mine,set-c,set-d" {
		t.Fatalf("after repair: %s", got)
	}
	// a kill before the commit list: the stage goes, the set stays
	os.Mkdir(stage, 0o755)
	os.WriteFile(filepath.Join(stage, ".ser-set"), nil, 0o644)
	os.WriteFile(filepath.Join(stage, "set-e"), []byte("e"), 0o644)
	if err := WriteSet(dir, owned, files("set-c", "set-d")); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); got != "mine,set-c,set-d" {
		t.Fatalf("after a stage without a commit: %s", got)
	}
	// a commit list naming files the set does not own is not carried out
	os.Mkdir(stage, 0o755)
	os.WriteFile(filepath.Join(stage, ".ser-set"), nil, 0o644)
	os.WriteFile(filepath.Join(stage, "commit.json"), []byte(`{"files":[],"stale":["mine"]}`), 0o644)
	if err := Repair(dir, owned); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); got != "mine,set-c,set-d" {
		t.Fatalf("a forged commit list removed the user's file: %s", got)
	}
}

// TestWriteSetTurns: two writers of one folder at once take turns; both
// succeed, the folder holds one of their sets, and the user's folders stay.
func TestWriteSetTurns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r")
	owned := func(n string) bool { return strings.HasPrefix(n, "set-") }
	os.MkdirAll(dir, 0o755)
	for i := 0; i < 200; i++ {
		os.Mkdir(filepath.Join(dir, fmt.Sprintf("u%d", i)), 0o755)
	}
	errs := make(chan error, 2)
	for _, set := range [][]string{{"set-a", "set-b"}, {"set-c"}} {
		go func() { errs <- WriteSet(dir, owned, files(set...)) }()
	}
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	users, sets := 0, []string{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "u") {
			users++
		} else {
			sets = append(sets, e.Name())
		}
	}
	if got := strings.Join(sets, ","); users != 200 || (got != "set-a,set-b" && got != "set-c") {
		t.Fatalf("%d of 200 user folders, set %s", users, got)
	}
}

// TestWriteTarget: a write through a link to a regular file writes that
// file and keeps the link; a FIFO, a device, or a link to one is refused
// (before, each was replaced by a regular file: --to /dev/stdout, as root,
// replaced the system's /dev/stdout link).
func TestWriteTarget(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.txt")
	os.WriteFile(real, []byte("old"), 0o644)
	link := filepath.Join(dir, "link.txt")
	os.Symlink(real, link)
	if err := WriteFile(link, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.Readlink(link); got != real {
		t.Fatalf("the link was replaced (now %q)", got)
	}
	if b, _ := os.ReadFile(real); string(b) != "new" {
		t.Fatalf("the file the link names holds %q", b)
	}
	fifo := filepath.Join(dir, "pipe")
	syscall.Mkfifo(fifo, 0o644)
	devLink := filepath.Join(dir, "null")
	os.Symlink("/dev/null", devLink)
	for _, p := range []string{fifo, devLink, dir} {
		if err := WriteFile(p, []byte("x")); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: %v", p, err)
		}
	}
	if fi, _ := os.Lstat(fifo); fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatal("the FIFO was replaced")
	}
}

// TestWriteSetFolderInTheWay: a folder under one of the set's names stops
// the write before anything moves (it once failed at the renames, every
// run, leaving new files beside the old set's), and says what to do.
func TestWriteSetFolderInTheWay(t *testing.T) {
	dir := t.TempDir()
	owned := func(n string) bool { return strings.HasPrefix(n, "set-") }
	if err := WriteSet(dir, owned, files("set-a", "set-b")); err != nil {
		t.Fatal(err)
	}
	before := names(t, dir)
	os.Remove(filepath.Join(dir, "set-b"))
	os.Mkdir(filepath.Join(dir, "set-b"), 0o755)
	err := WriteSet(dir, owned, files("set-a", "set-b"))
	if err == nil || !strings.Contains(err.Error(), "set-b there is a folder") {
		t.Fatalf("a folder in the way: %v", err)
	}
	if got := names(t, dir); got != before {
		t.Fatalf("the refused write changed the folder: %s, was %s", got, before)
	}
}
