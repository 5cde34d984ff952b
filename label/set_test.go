package label

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPairID: the id does not depend on which response is A, and is fixed
// (answers written by one version are found by the next).
func TestPairID(t *testing.T) {
	a := PairID("p", "x", "y")
	if a != PairID("p", "y", "x") {
		t.Fatal("the id depends on the order of the responses")
	}
	for _, other := range []string{PairID("p", "x", "z"), PairID("q", "x", "y"), PairID("px", "", "y"), PairID("p", "xy", "")} {
		if other == a {
			t.Fatal("two pairs share an id")
		}
	}
	if PairID("", "ab", "c") == PairID("", "a", "bc") {
		t.Fatal("texts run together in the id")
	}
	if want := "01e671bbd1291b124a035a39acffdd66"; a != want {
		t.Fatalf("PairID changed: %s, was %s (answers already written would no longer be found)", a, want)
	}
}

func writeJSONL(t *testing.T, path string, rows ...map[string]any) string {
	t.Helper()
	var b strings.Builder
	for _, r := range rows {
		j, _ := json.Marshal(r)
		b.Write(j)
		b.WriteByte('\n')
	}
	return writeFile(t, path, b.String())
}

// TestLoadAsk: `ser ask` rows are shown in ask_rank order, on the sides
// ask_first says, with source_chosen kept for the statistics; identical
// responses are left out and repeats shown once.
func TestLoadAsk(t *testing.T) {
	dir := t.TempDir()
	path := writeJSONL(t, filepath.Join(dir, "to-label.jsonl"),
		map[string]any{"prompt": "p2", "response_a": "a2", "response_b": "b2", "ask_id": "x:2", "ask_rank": 2, "ask_first": "b", "reward_a": 1.0, "p_a": 0.7},
		map[string]any{"prompt": "p0", "response_a": "a0", "response_b": "b0", "ask_id": "x:0", "ask_rank": 0, "ask_first": "a", "source_chosen": "b"},
		map[string]any{"prompt": "p1", "response_a": "a1", "response_b": "b1", "ask_id": 7, "ask_rank": 1, "ask_first": "b"},
		map[string]any{"prompt": "same", "response_a": "s", "response_b": "s", "ask_rank": 3},
		map[string]any{"prompt": "p0", "response_a": "b0", "response_b": "a0", "ask_rank": 4},
	)
	s, err := Load([]string{path}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Pairs) != 3 {
		t.Fatalf("%d pairs, want 3", len(s.Pairs))
	}
	for i, p := range s.Pairs {
		if p.Prompt != []string{"p0", "p1", "p2"}[i] {
			t.Fatalf("pair %d is %q: not in ask_rank order", i, p.Prompt)
		}
	}
	if p := s.Pairs[0]; p.First != "a" || p.Source != "b" || p.AskID != "x:0" || p.A != "a0" {
		t.Fatalf("pair 0: %+v", p)
	}
	if p := s.Pairs[1]; p.First != "b" || p.Source != "" || p.AskID != "7" {
		t.Fatalf("pair 1: %+v", p)
	}
	if l, r := s.Pairs[2].Shown(); l != "b2" || r != "a2" {
		t.Fatalf("ask_first b shows %q, %q", l, r)
	}
	if len(s.Notes) != 2 {
		t.Fatalf("notes %v, want identical responses and a repeat", s.Notes)
	}
	if s.Index(s.Pairs[1].ID) != 1 || s.Index("nope") != -1 {
		t.Fatal("Index")
	}
}

// TestLoadLabelled: a labelled source's preference is kept (never served),
// and the side shown is a coin seeded by --seed and the pair: about half
// each way, the same for the same seed, another for another seed.
func TestLoadLabelled(t *testing.T) {
	dir := t.TempDir()
	var rows []map[string]any
	for i := 0; i < 400; i++ {
		rows = append(rows, map[string]any{"prompt": "q" + string(rune('a'+i%26)) + strings.Repeat("x", i), "chosen": "good", "rejected": "bad"})
	}
	path := writeJSONL(t, filepath.Join(dir, "pairs.jsonl"), rows...)
	s1, err := Load([]string{path}, LoadOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	s1b, _ := Load([]string{path}, LoadOptions{Seed: 1})
	s2, _ := Load([]string{path}, LoadOptions{Seed: 2})
	left, same, differ := 0, 0, 0
	for i, p := range s1.Pairs {
		if p.Source != "a" || p.A != "good" {
			t.Fatalf("pair %d: %+v", i, p)
		}
		if p.First == "a" {
			left++
		}
		if p.First != s1b.Pairs[i].First {
			same++
		}
		if p.First != s2.Pairs[i].First {
			differ++
		}
	}
	if same != 0 {
		t.Fatal("one seed, two orders")
	}
	if left < 160 || left > 240 {
		t.Fatalf("the source's chosen is on the left for %d of 400 pairs", left)
	}
	if differ < 150 {
		t.Fatalf("another seed changed %d of 400 sides", differ)
	}
}

// TestLoadFormats: other formats the readers take, gzipped too.
func TestLoadFormats(t *testing.T) {
	dir := t.TempDir()
	hh := filepath.Join(dir, "hh.jsonl.gz")
	f, _ := os.Create(hh)
	zw := gzip.NewWriter(f)
	zw.Write([]byte(`{"chosen": "\n\nHuman: hi\n\nAssistant: hello", "rejected": "\n\nHuman: hi\n\nAssistant: go away"}` + "\n"))
	zw.Close()
	f.Close()
	uf := writeJSONL(t, filepath.Join(dir, "uf.jsonl"), map[string]any{"prompt": "p", "prompt_id": "7",
		"chosen":       []any{map[string]any{"role": "user", "content": "p"}, map[string]any{"role": "assistant", "content": "yes"}},
		"rejected":     []any{map[string]any{"role": "user", "content": "p"}, map[string]any{"role": "assistant", "content": "no"}},
		"score_chosen": 8.0, "score_rejected": 8.0})
	s, err := Load([]string{hh, uf}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Pairs) != 2 || s.Pairs[0].Prompt != "Human: hi" || s.Pairs[0].Source != "a" || s.Pairs[0].A != "hello" {
		t.Fatalf("%+v", s.Pairs)
	}
	if s.Pairs[1].Source != "" {
		t.Fatal("a pair with tied scores has no source preference")
	}
}

// TestLoadBad: bad fields of ours name the file, line and field; what the
// readers refuse they name.
func TestLoadBad(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		row  string
		want string
	}{
		{`{"prompt":"p","response_a":"a","response_b":"b","ask_first":"c"}`, `x.jsonl:2: field "ask_first"`},
		{`{"prompt":"p","response_a":"a","response_b":"b","ask_rank":-1}`, `x.jsonl:2: field "ask_rank"`},
		{`{"prompt":"p","response_a":"a","response_b":"b","ask_rank":"1"}`, `x.jsonl:2: field "ask_rank"`},
		{`{"prompt":"p","response_a":"a","response_b":"b","source_chosen":1}`, `x.jsonl:2: field "source_chosen"`},
		{`{"prompt":"p","response_a":"a","response_b":"b","ask_id":{}}`, `x.jsonl:2: field "ask_id"`},
		{`{"prompt":"p","response_a":"a"}`, `x.jsonl:2: field "response_b"`},
		{`{"prompt":"p","response_a":"a",`, `x.jsonl:2`},
	} {
		path := writeFile(t, filepath.Join(dir, "x.jsonl"), `{"prompt":"ok","response_a":"1","response_b":"2"}`+"\n"+c.row+"\n")
		_, err := Load([]string{path}, LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.row, err, c.want)
		}
	}
	empty := writeFile(t, filepath.Join(dir, "same.jsonl"), `{"prompt":"p","response_a":"a","response_b":"a"}`+"\n")
	if _, err := Load([]string{empty}, LoadOptions{}); err == nil {
		t.Fatal("a set with nothing to judge")
	}
	long := writeFile(t, filepath.Join(dir, "long.jsonl"), `{"prompt":"`+strings.Repeat("x", 2000)+`","response_a":"a","response_b":"b"}`+"\n")
	if _, err := Load([]string{long}, LoadOptions{MaxLine: 1000}); err == nil || !strings.Contains(err.Error(), "long.jsonl:1") {
		t.Fatalf("a line over the limit: %v", err)
	}
}
