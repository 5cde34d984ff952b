package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ser-rl/ser/features"
	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/label"
	"github.com/ser-rl/ser/models"
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

// TestOutFolderHere: `ser evolve --out .` writes its files into the
// current folder, in place: the folder and the user's files in it stay
// (before, it failed with an unclear error from a rename); --out naming a
// file is refused, and so is a --cache that would be one of the run's own
// files.
func TestOutFolderHere(t *testing.T) {
	home := testenv.Home(t)
	dir := t.TempDir()
	train := sampleFile(t, dir, 200, 1)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644)
	before, _ := os.Stat(dir)
	cmd := exec.Command(serBin, "--home", home, "-q", "evolve", "--data", train, "--out", ".", "--max-loops", "0", "--full-data=false", "--cache", filepath.Join(t.TempDir(), "c.feat"))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("--out .: %v\n%s", err, out)
	}
	after, _ := os.Stat(dir)
	if !os.SameFile(before, after) || readFile(t, filepath.Join(dir, "notes.txt")) != "mine" {
		t.Fatal("the current folder was replaced, or the user's file changed")
	}
	if _, err := os.Stat(filepath.Join(dir, "final.head.json")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ser(t, home, "evolve", "--data", train, "--out", train); err == nil || !strings.Contains(err.Error(), "is a file") {
		t.Errorf("--out FILE: %v", err)
	}
	run := filepath.Join(t.TempDir(), "run")
	if _, _, err := ser(t, home, "evolve", "--data", train, "--out", run, "--cache", filepath.Join(run, "final.head.json")); err == nil || !strings.Contains(err.Error(), "never replaces an input") {
		t.Errorf("--cache RUN/final.head.json: %v", err)
	}
}

// TestOutputNeverTheBackbone: an output is never the feature cache in use
// (the home's, by default), a backbone file, a cache reached through a
// linked folder before it exists, standard input's file, or (demo) one of
// its own files named as the cache. (Before, each of these was replaced.)
func TestOutputNeverTheBackbone(t *testing.T) {
	real := testenv.Home(t)
	t.Setenv("ORT_LIB", testenv.ORTLib(t, real)) // the runtime this test process has loaded
	home := t.TempDir()                          // the installed backbone and runtime, a cache of its own
	for _, d := range []string{"models", "lib"} {
		if err := os.Symlink(filepath.Join(real, d), filepath.Join(home, d)); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	data := sampleFile(t, dir, 30, 1)
	_, headPath := trainedHead(t, home, dir, data)
	m, err := models.Find(home, "default")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, home, "-q", "embed", "--data", data); err != nil {
		t.Fatal(err)
	}
	homeCache := features.HomeCache(home, m)
	cacheBefore := readFile(t, homeCache)
	for _, c := range [][]string{
		{"score", "--head", headPath, "--in", data, "--out", homeCache},
		{"train", "--data", data, "--out", homeCache},
		{"eval", "--head", headPath, "--data", data, "--json", homeCache},
		{"ask", "--head", headPath, "--pool", data, "--out", homeCache},
		{"embed", "--data", data, "--out", homeCache},
		{"train", "--data", data, "--out", m.Path("tokenizer.json")},
	} {
		if _, _, err := run(t, home, append([]string{"-q"}, c...)...); err == nil || !strings.Contains(err.Error(), "never replaces an input") {
			t.Errorf("%v: %v", c, err)
		}
	}
	if readFile(t, homeCache) != cacheBefore {
		t.Fatal("the home's feature cache changed")
	}
	realDir := filepath.Join(dir, "real")
	os.Mkdir(realDir, 0o755)
	os.Symlink(realDir, filepath.Join(dir, "linkdir"))
	if _, _, err := run(t, home, "-q", "train", "--data", data, "--cache", filepath.Join(realDir, "c.feat"), "--out", filepath.Join(dir, "linkdir", "c.feat")); err == nil {
		t.Error("a cache about to be made through a linked folder was taken for the output")
	}
	in, _ := os.Open(data)
	defer in.Close()
	cmd := exec.Command(serBin, "--home", home, "-q", "score", "--head", headPath, "--out", data)
	cmd.Stdin = in
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "never replaces an input") {
		t.Errorf("score --out F < F: %v\n%s", err, out)
	}
	demo := filepath.Join(dir, "dm")
	if _, _, err := run(t, home, "-q", "demo", "--out", demo, "--cache", filepath.Join(demo, "eval.json")); err == nil || !strings.Contains(err.Error(), "never replaces an input") {
		t.Errorf("demo --cache OUT/eval.json: %v", err)
	}
}

// TestLabelExportTo: export --to never lands in the answers folder, even
// through a linked folder, and never replaces a FIFO; --to - is stdout.
func TestLabelExportTo(t *testing.T) {
	home := testenv.Home(t)
	dir := t.TempDir()
	answers := filepath.Join(dir, "ans")
	store, err := label.OpenStore(answers)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := label.NewSet([]label.Pair{{Prompt: "Q", A: "good", B: "bad"}}, nil, 1)
	l, err := store.Log("alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Answer(&set.Pairs[0], label.AnswerA, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	store.Close()
	os.Symlink(answers, filepath.Join(dir, "alink"))
	if _, _, err := run(t, home, "label", "export", "--out", answers, "--to", filepath.Join(dir, "alink", "x.jsonl")); err == nil {
		t.Error("export --to through a link into the answers folder was written")
	}
	fifo := filepath.Join(dir, "pipe")
	syscall.Mkfifo(fifo, 0o644)
	if _, _, err := run(t, home, "label", "export", "--out", answers, "--to", fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("export --to FIFO: %v", err)
	}
	out, _, err := run(t, home, "label", "export", "--out", answers, "--to", "-")
	if err != nil || !strings.Contains(out, `"chosen":"good"`) {
		t.Errorf("export --to -: %v\n%s", err, out)
	}
	if _, err := os.Stat("-"); err == nil {
		t.Error("a file named - was written")
	}
}
