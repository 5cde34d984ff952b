package label

import (
	"bytes"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ser-rl/ser/data"
)

// TestKappa against hand-computed examples.
func TestKappa(t *testing.T) {
	// two categories (Wikipedia's example): both yes 20, yes/no 5, no/yes 10,
	// both no 15: p_o = 0.7, p_e = 0.5*0.6 + 0.5*0.4 = 0.5, kappa = 0.4
	var x, y []string
	add := func(a, b string, n int) {
		for i := 0; i < n; i++ {
			x, y = append(x, a), append(y, b)
		}
	}
	add("yes", "yes", 20)
	add("yes", "no", 5)
	add("no", "yes", 10)
	add("no", "no", 15)
	k := Kappa(x, y)
	if k.N != 50 || k.Agree != 35 || math.Abs(k.Percent-70) > 1e-12 || math.Abs(k.Kappa-0.4) > 1e-12 {
		t.Fatalf("yes/no: %+v, want n 50, agree 35, 70%%, kappa 0.4", k)
	}
	// three categories, ten items: p_o = 7/10; each rater 4 x, 4 y, 2 tie:
	// p_e = .16 + .16 + .04 = .36; kappa = (.7 - .36) / .64 = .53125
	k = Kappa(strings.Fields("x x x y y y t t x y"), strings.Fields("x x y y y t t x x y"))
	if k.Agree != 7 || math.Abs(k.Kappa-0.53125) > 1e-12 {
		t.Fatalf("three categories: %+v, want agree 7, kappa 0.53125", k)
	}
	// one answer throughout by both: p_e = 1, kappa undefined
	if k := Kappa([]string{"x", "x"}, []string{"x", "x"}); !math.IsNaN(k.Kappa) || k.Percent != 100 {
		t.Fatalf("constant raters: %+v", k)
	}
	if k := Kappa(nil, nil); k.N != 0 || !math.IsNaN(k.Kappa) {
		t.Fatalf("no items: %+v", k)
	}
	// perfect disagreement on two balanced categories: kappa -1
	if k := Kappa([]string{"x", "y"}, []string{"y", "x"}); math.Abs(k.Kappa+1) > 1e-12 {
		t.Fatalf("opposite raters: %+v", k)
	}
}

// votingFolder writes three annotators' answers (see TestExportMajority).
func votingFolder(t *testing.T) (string, *Set) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "answers")
	set := testSet(t, 8)
	// bob's set holds pair 7 with its responses the other way round (another
	// input file): his answer b there prefers the same text as alice's a
	var swapped []Pair
	for _, p := range set.Pairs {
		if p.Prompt == "Q 7" {
			p.A, p.B, p.Source = p.B, p.A, "b"
		}
		swapped = append(swapped, p)
	}
	bobSet, err := NewSet(swapped, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t, dir)
	votes := map[string][]string{ // pair -> alice, bob, carol ("" none)
		"Q 0": {"a", "a", "b"},
		"Q 1": {"b", "b", "tie"},
		"Q 2": {"a", "b", ""},
		"Q 3": {"tie", "tie", "a"},
		"Q 4": {"skip", "skip", ""},
		"Q 5": {"a", "tie", ""},
		"Q 6": {"skip", "a", ""},
		"Q 7": {"a", "b", ""},
	}
	for k, name := range []string{"alice", "bob", "carol"} {
		l := openLogT(t, s, name)
		sset := set
		if name == "bob" {
			sset = bobSet
		}
		for i := range sset.Pairs {
			p := &sset.Pairs[i]
			if a := votes[p.Prompt][k]; a != "" {
				answer(t, l, p, a, i)
			}
		}
	}
	return dir, set
}

// TestExportMajority: majority vote with the counts kept; ties, split
// votes and skips counted apart; responses matched by text, whatever order
// an annotator saw them in.
func TestExportMajority(t *testing.T) {
	dir, _ := votingFolder(t)
	a, err := ReadAnswers(dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(a.Annotators, ",") != "alice,bob,carol" {
		t.Fatalf("annotators %v", a.Annotators)
	}
	want := map[string]struct {
		outcome, chosen string
		v               Votes
	}{
		"Q 0": {Decided, "good 0", Votes{2, 1, 0, 0}},
		"Q 1": {Decided, "bad 1", Votes{2, 0, 1, 0}},
		"Q 2": {NoMajority, "good 2", Votes{1, 1, 0, 0}},
		"Q 3": {Tied, "good 3", Votes{1, 0, 2, 0}},
		"Q 4": {Skipped, "good 4", Votes{0, 0, 0, 2}},
		"Q 5": {Tied, "good 5", Votes{1, 0, 1, 0}},
		"Q 6": {Decided, "good 6", Votes{1, 0, 0, 1}},
		"Q 7": {Decided, "good 7", Votes{2, 0, 0, 0}},
	}
	rows := a.Rows()
	if len(rows) != 8 {
		t.Fatalf("%d rows", len(rows))
	}
	for i, r := range rows {
		if r.Prompt != "Q "+string(rune('0'+i)) {
			t.Fatalf("row %d is %s: not in the order first answered", i, r.Prompt)
		}
		w := want[r.Prompt]
		if r.Outcome != w.outcome || r.Chosen != w.chosen || r.Votes != w.v {
			t.Errorf("%s: %s %q %+v, want %s %q %+v", r.Prompt, r.Outcome, r.Chosen, r.Votes, w.outcome, w.chosen, w.v)
		}
	}
	st := a.Stats()
	if st.Pairs != 8 || st.Decided != 4 || st.Ties != 2 || st.NoMajority != 1 || st.Skipped != 1 {
		t.Fatalf("stats %+v", st)
	}
	// the majority against the source (good i): 0, 6, 7 agree, 1 does not
	if st.Source.N != 4 || st.Source.Agree != 3 {
		t.Fatalf("majority against the source: %+v", st.Source)
	}
	// alice / bob: both answered (no skip) 0 1 2 3 5 7, the same on 0 1 3 7
	ab := st.Between[0]
	if ab.A != "alice" || ab.B != "bob" || ab.N != 6 || ab.Agree != 4 {
		t.Fatalf("alice/bob %+v", ab)
	}
	// kappa by hand, over first/second/tie where "bad i" sorts before "good i":
	// alice 0 second, 1 first, 2 second, 3 tie, 5 second, 7 second; bob 0
	// second, 1 first, 2 first, 3 tie, 5 tie, 7 second. p_o = 4/6; alice 4
	// second, 1 first, 1 tie; bob 2, 2, 2: p_e = (4*2 + 1*2 + 1*2)/36 = 1/3;
	// kappa = (2/3 - 1/3) / (2/3) = 0.5
	if math.Abs(ab.Kappa-0.5) > 1e-12 {
		t.Fatalf("alice/bob kappa %v, by hand 0.5", ab.Kappa)
	}
	// alice against the source: preferred on 0 1 2 5 7 (good, bad, good,
	// good, good): 4 of 5; one tie
	if s := st.Annotators[0].Source; s.N != 5 || s.Agree != 4 || s.Ties != 1 {
		t.Fatalf("alice against the source: %+v", s)
	}
	var rep bytes.Buffer
	if err := st.WriteStats(&rep); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"alice / bob", "kappa", "80.0% of 5 (ties left out: 1)", "75.0% of 4"} {
		if !strings.Contains(rep.String(), w) {
			t.Errorf("report lacks %q:\n%s", w, rep.String())
		}
	}
}

// TestWriteRows: decided pairs as {prompt, chosen, rejected} with the
// votes; with ties, the pairs without a majority too, which the readers take
// for tied scores (so training sets them aside); skips never.
func TestWriteRows(t *testing.T) {
	dir, _ := votingFolder(t)
	a, err := ReadAnswers(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	for _, ties := range []bool{false, true} {
		var b bytes.Buffer
		n, err := WriteRows(&b, a.Rows(), ties)
		if err != nil {
			t.Fatal(err)
		}
		path := writeFile(t, filepath.Join(out, "labelled.jsonl"), b.String())
		pairs, _, err := data.ReadAll([]string{path}, data.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(pairs) != n {
			t.Fatalf("wrote %d rows, read %d", n, len(pairs))
		}
		decided, tied := 0, 0
		for _, p := range pairs {
			if !p.Labelled {
				t.Fatalf("%+v not labelled", p)
			}
			switch p.Problem() {
			case "":
				decided++
				if p.Prompt == "Q 1" && p.Chosen != "bad 1" {
					t.Fatalf("Q 1: chosen %q", p.Chosen)
				}
			case "tied scores":
				tied++
			default:
				t.Fatalf("%+v: %s", p, p.Problem())
			}
		}
		wantTied := 0
		if ties {
			wantTied = 3
		}
		if decided != 4 || tied != wantTied {
			t.Fatalf("ties=%v: %d decided, %d tied", ties, decided, tied)
		}
		if !strings.Contains(b.String(), `"votes":{"chosen":2,"rejected":1,"tie":0,"skip":0}`) {
			t.Fatalf("votes not kept:\n%s", b.String())
		}
	}
	ps := a.Pairs()
	if len(ps) != 4 || ps[0].File != dir || ps[0].Line != 1 || !ps[0].Labelled {
		t.Fatalf("Pairs: %+v", ps)
	}
}

// TestExportReadsWhileWriting: an export reads a log being written by a
// running server (a torn last line) up to its last whole record.
func TestExportReadsWhileWriting(t *testing.T) {
	dir := t.TempDir()
	set := testSet(t, 2)
	s := openStore(t, dir)
	l := openLogT(t, s, "alice")
	answer(t, l, &set.Pairs[0], AnswerA, 0)
	f := filepath.Join(dir, "alice.jsonl")
	b := readFile(t, f)
	writeFile(t, f, b+`{"seq":2,"time":"2026-`)
	a, err := ReadAnswers(dir)
	if err != nil || len(a.Rows()) != 1 {
		t.Fatalf("%v %+v", err, a)
	}
}
