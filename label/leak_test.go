package label

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSideSecret: the side a pair is shown on, when its input does not say,
// is drawn from the answers folder's secret key: the same for the folder
// from one start to the next, another for another folder, and not what
// the seed and the pair's id alone give (before, coin(seed 1, id) was
// public: anyone could tell from the page which side was the source's).
func TestSideSecret(t *testing.T) {
	var ps []Pair
	for i := 0; i < 64; i++ {
		ps = append(ps, Pair{Prompt: "Q", A: strings.Repeat("good ", i+1), B: "bad", Source: "a"})
	}
	sides := func(key []byte) string {
		s, err := NewSet(append([]Pair(nil), ps...), key, 1)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, p := range s.Pairs {
			b.WriteString(p.First)
		}
		return b.String()
	}
	dir, other := t.TempDir(), t.TempDir()
	k1 := openStore(t, dir).Key
	s2, err := OpenStore(dir) // the same folder again
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if !bytes.Equal(s2.Key, k1) {
		t.Fatal("the folder's key changed between starts: the sides would move")
	}
	k3 := openStore(t, other).Key
	if sides(k1) == sides(k3) || sides(k1) == sides(nil) {
		t.Fatal("two folders (or a folder and no key) show 64 pairs on the same sides")
	}
	raw, _ := os.ReadFile(filepath.Join(dir, Marker))
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil || len(m["key"].(string)) != 64 {
		t.Fatalf("marker %s", raw)
	}
}

// TestAnswerShownByText: an answer recorded from an input file that held the
// pair's responses the other way round is shown as the response it
// prefers, by text (before, the page said the annotator preferred the
// response they had rejected).
func TestAnswerShownByText(t *testing.T) {
	dir := t.TempDir()
	one, err := NewSet([]Pair{{Prompt: "Q", A: "good", B: "bad", First: "a"}}, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	store := openStore(t, dir)
	answer(t, openLogT(t, store, "p1"), &one.Pairs[0], AnswerA, 0) // prefers "good"
	store.Close()
	swapped, err := NewSet([]Pair{{Prompt: "Q", A: "bad", B: "good", First: "a"}}, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServerIn(t, swapped, Options{}, dir)
	var p pairJSON
	ts.ok(t, "GET", "/api/pair?i=0&annotator=p1", "", &p)
	shown := map[string]string{"A": p.A, "B": p.B}[p.Answer]
	if shown != "good" {
		t.Fatalf("the page says p1 preferred %q (answer %q), want \"good\"", shown, p.Answer)
	}
}

// TestWholeBadLastLine: a last line with no line end that is whole JSON
// but does not check out (a hand's edit) is an error, not cut as a crash's
// torn write (before, it was dropped without a word).
func TestWholeBadLastLine(t *testing.T) {
	dir := t.TempDir()
	set := testSet(t, 2)
	s := openStore(t, dir)
	r := answer(t, openLogT(t, s, "alice"), &set.Pairs[0], AnswerA, 0)
	s.Close()
	r.Seq, r.Annotator = 2, "mallory"
	line, _ := r.MarshalJSON()
	f, _ := os.OpenFile(filepath.Join(dir, "alice.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	f.Write(line) // no line end
	f.Close()
	if _, err := OpenStore(dir); err != nil {
		t.Fatal(err)
	}
	s2, _ := OpenStore(dir)
	defer s2.Close()
	if _, err := s2.Log("alice"); err == nil || !strings.Contains(err.Error(), "alice.jsonl:2") {
		t.Fatalf("a whole bad last line: %v", err)
	}
}
