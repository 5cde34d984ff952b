package data

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestFilesFolderLink: a link to a folder is read as the folder (a dataset
// linked into place, as the README's first steps do), with the paths under
// the link; a link to a file is the file.
func TestFilesFolderLink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "elsewhere", "hh")
	for _, sub := range []string{"harmless-base", "helpful-base"} {
		if err := os.MkdirAll(filepath.Join(real, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(real, sub, "test.jsonl"), []byte(`{"chosen":"\n\nHuman: a\n\nAssistant: b","rejected":"\n\nHuman: a\n\nAssistant: c"}`+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, "datasets", "hh-rlhf")
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	files, _, err := Files([]string{link}, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(link, "harmless-base", "test.jsonl"), filepath.Join(link, "helpful-base", "test.jsonl")}
	if !slices.Equal(files, want) {
		t.Fatalf("Files(link) = %q, want %q", files, want)
	}
	fileLink := filepath.Join(dir, "datasets", "one.jsonl")
	if err := os.Symlink(want[0], fileLink); err != nil {
		t.Fatal(err)
	}
	if files, _, err := Files([]string{fileLink}, ""); err != nil || !slices.Equal(files, []string{fileLink}) {
		t.Fatalf("Files(file link) = %q, %v", files, err)
	}
}

// TestFilesLinkedSubfolder: a link to a folder inside the folder given is
// not followed (it may lead anywhere), and said, never silently skipped.
func TestFilesLinkedSubfolder(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other")
	ds := filepath.Join(dir, "ds")
	for _, d := range []string{other, filepath.Join(ds, "real"), filepath.Join(dir, "onlylinks")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	row := []byte(`{"prompt":"p","chosen":"a","rejected":"b"}` + "\n")
	os.WriteFile(filepath.Join(other, "x.jsonl"), row, 0o644)
	os.WriteFile(filepath.Join(ds, "real", "y.jsonl"), row, 0o644)
	os.Symlink(other, filepath.Join(ds, "linked"))
	os.Symlink(other, filepath.Join(dir, "onlylinks", "linked"))
	files, notes, err := Files([]string{ds}, "")
	if err != nil || len(files) != 1 || len(notes) != 1 || !strings.Contains(notes[0], "1 links to folders") {
		t.Fatalf("Files(ds) = %q, notes %q, %v", files, notes, err)
	}
	if _, _, err := Files([]string{filepath.Join(dir, "onlylinks")}, ""); err == nil || !strings.Contains(err.Error(), "not followed") {
		t.Fatalf("a folder of links only: %v", err)
	}
}
