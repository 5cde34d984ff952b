package label

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestStoreResume: answers survive a close and reopen, seq goes on, and
// every record holds what it needs (texts, the side shown, the source).
func TestStoreResume(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "answers")
	set := testSet(t, 5)
	s := openStore(t, dir)
	l := openLogT(t, s, "alice")
	for i := 0; i < 3; i++ {
		answer(t, l, &set.Pairs[i], AnswerA, i)
	}
	s.Close()
	if !IsAnswers(dir) {
		t.Fatal("no marker")
	}
	s2 := openStore(t, dir)
	l2 := openLogT(t, s2, "alice")
	if got := len(l2.Final()); got != 3 {
		t.Fatalf("after reopening: %d answers, want 3", got)
	}
	r := answer(t, l2, &set.Pairs[3], AnswerTie, 9)
	if r.Seq != 4 {
		t.Fatalf("seq %d, want 4", r.Seq)
	}
	recs, err := ReadLog(filepath.Join(dir, "alice.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4", len(recs))
	}
	p := set.Pairs[0]
	if r := recs[0]; r.Prompt != p.Prompt || r.A != p.A || r.B != p.B || r.Source != "a" || r.ShownFirst != p.First || r.Annotator != "alice" {
		t.Fatalf("record not self-contained: %+v", r)
	}
}

// TestStoreLatestWins: a change of answer is a new record, and the latest
// one is in force.
func TestStoreLatestWins(t *testing.T) {
	dir := t.TempDir()
	set := testSet(t, 2)
	l := openLogT(t, openStore(t, dir), "alice")
	answer(t, l, &set.Pairs[0], AnswerA, 0)
	answer(t, l, &set.Pairs[1], AnswerSkip, 1)
	answer(t, l, &set.Pairs[0], AnswerB, 2)
	if r, _ := l.Current(set.Pairs[0].ID); r.Answer != AnswerB || r.Seq != 3 {
		t.Fatalf("in force: %+v, want b (seq 3)", r)
	}
	if n := len(l.Records()); n != 3 {
		t.Fatalf("%d records, want 3 (a change is a new record)", n)
	}
	a, err := ReadAnswers(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Final["alice"][set.Pairs[0].ID].Answer; got != AnswerB {
		t.Fatalf("read back: %s, want b", got)
	}
}

// TestStoreUndo: undo takes back the latest answer in force, one at a time,
// back to the answer before a change; it survives a reopen.
func TestStoreUndo(t *testing.T) {
	dir := t.TempDir()
	set := testSet(t, 3)
	s := openStore(t, dir)
	l := openLogT(t, s, "alice")
	p0, p1 := &set.Pairs[0], &set.Pairs[1]
	answer(t, l, p0, AnswerA, 0)
	answer(t, l, p1, AnswerA, 1)
	answer(t, l, p0, AnswerB, 2) // a change
	u, ok, err := l.Undo(nil, t0)
	if err != nil || !ok || u.ID != p0.ID || u.Answer != AnswerB {
		t.Fatalf("undo 1: %+v %v %v", u, ok, err)
	}
	if r, _ := l.Current(p0.ID); r.Answer != AnswerA {
		t.Fatalf("after undoing the change: %s, want the answer before it (a)", r.Answer)
	}
	if u, ok, _ := l.Undo(nil, t0); !ok || u.ID != p1.ID {
		t.Fatalf("undo 2 took back %+v, want pair 1", u)
	}
	s.Close()
	l = openLogT(t, openStore(t, dir), "alice")
	if _, ok := l.Current(p1.ID); ok {
		t.Fatal("an undone answer came back after reopening")
	}
	if r, ok := l.Current(p0.ID); !ok || r.Answer != AnswerA {
		t.Fatalf("pair 0 after reopening: %+v", r)
	}
	// keep: undo skips answers to pairs the caller leaves out
	if _, ok, _ := l.Undo(func(id string) bool { return id != p0.ID }, t0); ok {
		t.Fatal("undid an answer the filter left out")
	}
	if u, ok, _ := l.Undo(nil, t0); !ok || u.ID != p0.ID {
		t.Fatalf("undo 3: %+v", u)
	}
	if _, ok, _ := l.Undo(nil, t0); ok {
		t.Fatal("undo with nothing left to undo")
	}
	if len(l.Final()) != 0 {
		t.Fatalf("answers left: %v", l.Final())
	}
}

// TestStoreTornTail: a last line a crash cut short is left out when read and
// cut before the next append; a complete last line with no line end is kept.
func TestStoreTornTail(t *testing.T) {
	dir := t.TempDir()
	set := testSet(t, 4)
	s := openStore(t, dir)
	l := openLogT(t, s, "alice")
	answer(t, l, &set.Pairs[0], AnswerA, 0)
	answer(t, l, &set.Pairs[1], AnswerB, 1)
	s.Close()
	path := filepath.Join(dir, "alice.jsonl")
	good, _ := os.ReadFile(path)
	// the first half of a third record, as a kill -9 (or a power cut) leaves it
	lines := bytes.SplitAfter(good, []byte("\n"))
	torn := append(append([]byte{}, good...), lines[1][:len(lines[1])/2]...)
	os.WriteFile(path, torn, 0o644)

	recs, err := ReadLog(path) // a reader leaves the file alone
	if err != nil || len(recs) != 2 {
		t.Fatalf("reading a torn log: %d records, %v", len(recs), err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, torn) {
		t.Fatal("a reader changed the file")
	}
	s = openStore(t, dir)
	var notes []string
	s.Notef = func(f string, a ...any) { notes = append(notes, f) }
	l = openLogT(t, s, "alice")
	if l.Cut == 0 || len(notes) != 1 {
		t.Fatalf("cut %d bytes, notes %v", l.Cut, notes)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, good) {
		t.Fatalf("after opening: %q, want the two good lines", b)
	}
	r := answer(t, l, &set.Pairs[2], AnswerTie, 2)
	if r.Seq != 3 {
		t.Fatalf("seq %d after the cut, want 3", r.Seq)
	}
	s.Close()
	// a complete record with no line end (an editor's doing) is kept, and ended
	b, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.TrimRight(b, "\n"), 0o644)
	s = openStore(t, dir)
	l = openLogT(t, s, "alice")
	if l.Cut != 0 || len(l.Final()) != 3 {
		t.Fatalf("complete last line: cut %d, %d answers", l.Cut, len(l.Final()))
	}
	answer(t, l, &set.Pairs[3], AnswerA, 3)
	if recs, err := ReadLog(path); err != nil || len(recs) != 4 {
		t.Fatalf("after appending: %d records, %v", len(recs), err)
	}
}

// TestStoreBadLines: a bad line that is not the last is an error naming the
// file, the line and the field.
func TestStoreBadLines(t *testing.T) {
	set := testSet(t, 2)
	p := &set.Pairs[0]
	okLine := func(seq int) string {
		r := Record{Seq: int64(seq), Time: t0, Annotator: "alice", ID: p.ID, Answer: "a", ShownFirst: "a", Prompt: p.Prompt, A: p.A, B: p.B}
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		return string(b) + "\n"
	}
	for _, c := range []struct{ name, text, want string }{
		{"bad json", okLine(1) + "{not json\n" + okLine(3), ":2: malformed JSON"},
		{"answer", okLine(1) + strings.Replace(okLine(2), `"answer":"a"`, `"answer":"maybe"`, 1) + okLine(3), `:2: field "answer"`},
		{"seq", okLine(2) + okLine(1) + okLine(3), `:2: field "seq"`},
		{"edited text", strings.Replace(okLine(1), `"good 0"`, `"good 0!"`, 1) + okLine(2), `:1: field "id"`},
		{"annotator", strings.Replace(okLine(1), `"alice"`, `"bob"`, 1) + okLine(2), `:1: field "annotator"`},
		{"undo of nothing", `{"seq":1,"time":"2026-11-29T12:00:00Z","annotator":"alice","id":"x","undo":5}` + "\n" + okLine(2), `:1: field "undo"`},
		{"type", strings.Replace(okLine(1), `"seq":1`, `"seq":"one"`, 1) + okLine(2), `:1: field "seq"`},
	} {
		dir := t.TempDir()
		openStore(t, dir)
		path := writeFile(t, filepath.Join(dir, "alice.jsonl"), c.text)
		_, err := ReadLog(path)
		if err == nil || !strings.Contains(err.Error(), path+c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, path+c.want)
		}
		s, _ := OpenStore(dir)
		if _, err := s.Log("alice"); err == nil {
			t.Errorf("%s: opened for writing", c.name)
		}
		s.Close()
		if _, err := ReadAnswers(dir); err == nil {
			t.Errorf("%s: exported", c.name)
		}
	}
}

// TestStoreLock: one log is written by one store (one process) at a time;
// two annotators are two files.
func TestStoreLock(t *testing.T) {
	dir := t.TempDir()
	s1 := openStore(t, dir)
	openLogT(t, s1, "alice")
	s2 := openStore(t, dir)
	if _, err := s2.Log("alice"); !errors.Is(err, ErrLocked) {
		t.Fatalf("second writer of alice: %v, want ErrLocked", err)
	}
	openLogT(t, s2, "bob")
	s1.Close()
	openLogT(t, s2, "alice") // free once the first store closes
}

// TestStoreTabs: two writers of one log in one process (two tabs) are
// ordered: every record lands whole, seqs in order.
func TestStoreTabs(t *testing.T) {
	dir := t.TempDir()
	set := testSet(t, 40)
	l := openLogT(t, openStore(t, dir), "alice")
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < 40; i += 2 {
				if _, err := l.Answer(&set.Pairs[i], AnswerA, "tab", t0); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	recs, err := ReadLog(filepath.Join(dir, "alice.jsonl"))
	if err != nil || len(recs) != 40 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	for i, r := range recs {
		if r.Seq != int64(i+1) {
			t.Fatalf("record %d has seq %d", i, r.Seq)
		}
	}
}

// TestNames: a name is a file name: nothing that leaves the folder, hides,
// or is empty.
func TestNames(t *testing.T) {
	for _, bad := range []string{"", "../x", "..", ".", "a/b", `a\b`, ".hidden", "-x", "a b", "é", "a.jsonl", strings.Repeat("a", 65), "x\x00", "CON:"} {
		if CheckName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, ok := range []string{"alice", "Bob_2", "x-y", "7", strings.Repeat("a", 64)} {
		if err := CheckName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	s := openStore(t, t.TempDir())
	if _, err := s.Log("../escape"); err == nil {
		t.Fatal("a log named ../escape")
	}
}

// TestOpenStoreRefusesDataFolder: a folder of data files is not taken for an
// answers folder, and a file is not a folder.
func TestOpenStoreRefusesDataFolder(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "train.jsonl"), "{}\n")
	if _, err := OpenStore(dir); err == nil || !strings.Contains(err.Error(), "not an answers folder") {
		t.Fatalf("data folder: %v", err)
	}
	if _, err := OpenStore(filepath.Join(dir, "train.jsonl")); err == nil {
		t.Fatal("a file taken for the answers folder")
	}
	if _, err := ReadAnswers(dir); err == nil {
		t.Fatal("a data folder exported")
	}
}

// TestLogSymlink: a log that is a link is not followed.
func TestLogSymlink(t *testing.T) {
	dir := t.TempDir()
	openStore(t, dir)
	target := writeFile(t, filepath.Join(t.TempDir(), "elsewhere.txt"), "keep me\n")
	if err := os.Symlink(target, filepath.Join(dir, "alice.jsonl")); err != nil {
		t.Skip(err)
	}
	s := openStore(t, dir)
	if _, err := s.Log("alice"); err == nil {
		t.Fatal("followed a link")
	}
	if b, _ := os.ReadFile(target); string(b) != "keep me\n" {
		t.Fatal("the link's target changed")
	}
}
