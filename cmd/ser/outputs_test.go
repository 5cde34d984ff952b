package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ser-rl/ser/internal/testsupport/testenv"
)

// TestOutputNeverAnInput: every command refuses an output that is one of its
// inputs, given by the same name, through a link or as a hard link, and two
// outputs that name one file; the input is left as it was. (Before, `ser eval
// --data x.jsonl --scores-out x.jsonl` replaced the data with scores, and
// train --out, ask --out and embed --out did the same.)
func TestOutputNeverAnInput(t *testing.T) {
	home := testenv.Home(t)
	dir := t.TempDir()
	data := sampleFile(t, dir, 50, 1)
	original := readFile(t, data)
	link := filepath.Join(dir, "link.jsonl")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(dir, "hard.jsonl")
	if err := os.Link(data, hard); err != nil {
		t.Fatal(err)
	}
	head := filepath.Join(dir, "rm.head")
	os.WriteFile(head, []byte("{}"), 0o644)
	feat := filepath.Join(dir, "c.feat")
	os.WriteFile(feat, []byte("x"), 0o644)
	run := filepath.Join(dir, "run")
	os.MkdirAll(run, 0o755)
	inRun := filepath.Join(run, "report.json")
	os.WriteFile(inRun, []byte(original), 0o644)
	cases := [][]string{
		{"eval", "--head", head, "--data", data, "--scores-out", data},
		{"eval", "--head", head, "--data", data, "--json", link},
		{"eval", "--head", head, "--data", dir, "--scores-out", hard},
		{"eval", "--head", head, "--data", data, "--json", filepath.Join(dir, "x.json"), "--scores-out", filepath.Join(dir, ".", "x.json")},
		{"train", "--data", data, "--out", data},
		{"train", "--data", data, "--out", link},
		{"train", "--data", data, "--cache", feat, "--out", feat},
		{"ask", "--head", head, "--pool", data, "--out", hard},
		{"ask", "--head", head, "--pool", dir, "--labelled", data, "--out", head},
		{"score", "--head", head, "--in", data, "--out", data},
		{"score", "--head", head, "--in", link, "--out", hard},
		{"embed", "--data", data, "--out", data},
		{"embed", "--data", data, "--out", filepath.Join(dir, "hard.npy"), "--cache", filepath.Join(dir, "hard.ids.json")},
		{"evolve", "--data", inRun, "--out", run},
		{"cache", "merge", "--cache", feat, feat},
	}
	for _, c := range cases {
		t.Run(strings.Join(c, " "), func(t *testing.T) {
			_, _, err := ser(t, home, append([]string{"-q"}, c...)...)
			if err == nil || !(strings.Contains(err.Error(), "never replaces an input") || strings.Contains(err.Error(), "name one file")) {
				t.Fatalf("err %v; want the output refused", err)
			}
			for _, p := range []string{data, inRun} {
				if readFile(t, p) != original {
					t.Fatalf("%s changed", p)
				}
			}
		})
	}
}

// TestOutFolderIsNotHere: evolve and demo refuse an output folder that is
// the current folder or holds it, with a message that says why (before,
// `--out .` failed with an unclear error from a rename), and a file.
func TestOutFolderIsNotHere(t *testing.T) {
	home := testenv.Home(t)
	missing := filepath.Join(t.TempDir(), "absent.jsonl")
	file := sampleFile(t, t.TempDir(), 5, 1)
	for _, c := range [][]string{
		{"evolve", "--data", missing, "--out", "."},
		{"evolve", "--data", missing, "--out", ".."},
		{"demo", "--out", "."},
	} {
		if _, _, err := ser(t, home, c...); err == nil || !strings.Contains(err.Error(), "is the current folder (or holds it)") {
			t.Errorf("%v: %v", c, err)
		}
	}
	if _, _, err := ser(t, home, "evolve", "--data", missing, "--out", file); err == nil || !strings.Contains(err.Error(), "is a file") {
		t.Errorf("--out FILE: %v", err)
	}
}
