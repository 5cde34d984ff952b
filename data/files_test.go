package data

import (
	"os"
	"path/filepath"
	"slices"
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
