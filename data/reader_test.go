package data_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/ser-rl/ser/data"
)

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	os.MkdirAll(filepath.Dir(path), 0o755)
	var raw []byte
	if strings.HasSuffix(name, ".gz") {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(content))
		zw.Close()
		raw = b.Bytes()
	} else {
		raw = []byte(content)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readAll(t *testing.T, path string, opts data.Options) ([]data.Pair, data.Stats) {
	t.Helper()
	r, err := data.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []data.Pair
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, r.Stats()
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
}

const hhLines = `{"chosen": "\n\nHuman: Hi there\n\nAssistant: Hello! How can I help?\n\nHuman: Tell me a joke\n\nAssistant: Why did the chicken cross the road?", "rejected": "\n\nHuman: Hi there\n\nAssistant: Hello! How can I help?\n\nHuman: Tell me a joke\n\nAssistant: No."}
{"chosen": "\n\nHuman: Q\n\nAssistant: A good answer.  Human: more?\n\nAssistant: yes", "rejected": "\n\nHuman: Q\n\nAssistant: A bad one"}

{"chosen": "\n\nHuman: Say nothing\n\nAssistant:", "rejected": "\n\nHuman: Say nothing\n\nAssistant: Something harmful"}
`

func TestHH(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"helpful-base/test.jsonl", "harmless-base/test.jsonl.gz"} {
		path := write(t, dir, name, hhLines)
		pairs, st := readAll(t, path, data.Options{})
		if len(pairs) != 3 || st.Records != 3 {
			t.Fatalf("%s: %d pairs from %d records, want 3 from 3", name, len(pairs), st.Records)
		}
		p := pairs[0]
		if p.Prompt != "Human: Hi there\n\nAssistant: Hello! How can I help?\n\nHuman: Tell me a joke" ||
			p.Chosen != "Why did the chicken cross the road?" || p.Rejected != "No." {
			t.Errorf("%s: first pair %+v", name, p)
		}
		if want := filepath.Dir(name); p.Subset != want {
			t.Errorf("subset %q, want %q", p.Subset, want)
		}
		// a response holding its own turns: split at the shared prefix
		if pairs[1].Prompt != "Human: Q" || pairs[1].Chosen != "A good answer.  Human: more?\n\nAssistant: yes" {
			t.Errorf("second pair %+v", pairs[1])
		}
		if pairs[2].Chosen != "" || pairs[2].Line != 4 || st.Kept["empty response"] != 1 {
			t.Errorf("empty reply: %+v, stats %+v", pairs[2], st)
		}
	}
}

const ufRaw = `{"source": "evol_instruct", "instruction": "Name a colour", "models": ["a","b","c"], "completions": [{"model": "a", "response": "Red", "overall_score": 8}, {"model": "b", "response": "Blue", "overall_score": 8}, {"model": "c", "response": "Table", "overall_score": 2, "annotations": {}}]}
`

func TestUFRaw(t *testing.T) {
	pairs, st := readAll(t, write(t, t.TempDir(), "uf.jsonl", ufRaw), data.Options{})
	// Red-Blue tie dropped; Red>Table, Blue>Table
	if len(pairs) != 2 || st.Dropped["tied ratings"] != 1 {
		t.Fatalf("%d pairs, stats %+v", len(pairs), st)
	}
	for _, p := range pairs {
		if p.Rejected != "Table" || p.Subset != "evol_instruct" || !p.HasScores || p.ScoreChosen != 8 || p.ScoreRejected != 2 {
			t.Errorf("pair %+v", p)
		}
	}
}

const ufBin = `{"prompt": "p1", "prompt_id": "x", "chosen": [{"role": "user", "content": "p1"}, {"role": "assistant", "content": "good"}], "rejected": [{"role": "user", "content": "p1"}, {"role": "assistant", "content": "bad"}], "score_chosen": 9.0, "score_rejected": 3.5}
{"prompt": "p2", "chosen": "fine", "rejected": "worse", "metadata": {"score_chosen": 5, "score_rejected": 5}}
`

func TestUFBinarized(t *testing.T) {
	pairs, _ := readAll(t, write(t, t.TempDir(), "b.jsonl", ufBin), data.Options{})
	if len(pairs) != 2 {
		t.Fatalf("%d pairs", len(pairs))
	}
	if p := pairs[0]; p.Chosen != "good" || p.Rejected != "bad" || p.ScoreChosen != 9 || p.ScoreRejected != 3.5 {
		t.Errorf("messages form: %+v", p)
	}
	if p := pairs[1]; p.Chosen != "fine" || p.Problem() != "tied scores" {
		t.Errorf("plain form: %+v (problem %q)", p, p.Problem())
	}
}

func TestPairsAndUnlabelled(t *testing.T) {
	dir := t.TempDir()
	pairs, _ := readAll(t, write(t, dir, "g.jsonl.gz", `{"prompt": "q", "chosen": "a", "rejected": "b"}`+"\n"), data.Options{})
	if len(pairs) != 1 || pairs[0].Chosen != "a" || !pairs[0].Labelled || pairs[0].HasScores {
		t.Errorf("generic: %+v", pairs)
	}
	un, _ := readAll(t, write(t, dir, "u.jsonl", `{"prompt": "q", "response_a": "x", "response_b": "y"}`+"\n"), data.Options{})
	if len(un) != 1 || un[0].Labelled || un[0].Chosen != "x" || un[0].Rejected != "y" {
		t.Errorf("unlabelled: %+v", un)
	}
}

type msg struct {
	Content string `parquet:"content"`
	Role    string `parquet:"role"`
}

type binRow struct {
	Prompt        string  `parquet:"prompt"`
	PromptID      string  `parquet:"prompt_id"`
	Chosen        []msg   `parquet:"chosen,list"`
	Rejected      []msg   `parquet:"rejected,list"`
	ScoreChosen   float64 `parquet:"score_chosen"`
	ScoreRejected float64 `parquet:"score_rejected"`
}

type hhRow struct {
	Chosen   string `parquet:"chosen"`
	Rejected string `parquet:"rejected"`
}

// TestParquet reads Parquet files written as Hugging Face serves them.
func TestParquet(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "train_prefs.parquet")
	rows := []binRow{
		{Prompt: "p1", PromptID: "a", Chosen: []msg{{"p1", "user"}, {"yes", "assistant"}}, Rejected: []msg{{"p1", "user"}, {"no", "assistant"}}, ScoreChosen: 8, ScoreRejected: 2},
		{Prompt: "p2", PromptID: "b", Chosen: []msg{{"p2", "user"}, {"up", "assistant"}}, Rejected: []msg{{"p2", "user"}, {"down", "assistant"}}, ScoreChosen: 7, ScoreRejected: 7},
	}
	if err := parquet.WriteFile(bin, rows); err != nil {
		t.Fatal(err)
	}
	pairs, _ := readAll(t, bin, data.Options{})
	if len(pairs) != 2 || pairs[0].Chosen != "yes" || pairs[0].Rejected != "no" || pairs[0].ScoreChosen != 8 || pairs[1].Problem() != "tied scores" || pairs[1].Line != 2 {
		t.Errorf("binarized parquet: %+v", pairs)
	}
	hh := filepath.Join(dir, "helpful-base", "test.parquet")
	os.MkdirAll(filepath.Dir(hh), 0o755)
	if err := parquet.WriteFile(hh, []hhRow{{"\n\nHuman: hi\n\nAssistant: hello", "\n\nHuman: hi\n\nAssistant: go away"}}); err != nil {
		t.Fatal(err)
	}
	pairs, _ = readAll(t, hh, data.Options{})
	if len(pairs) != 1 || pairs[0].Rejected != "go away" || pairs[0].Subset != "helpful-base" {
		t.Errorf("hh parquet: %+v", pairs)
	}
}

// TestBadInput checks that each kind of bad record is an error naming file, line and field,
// and that SkipBad counts it instead.
func TestBadInput(t *testing.T) {
	good := `{"prompt": "q", "chosen": "a", "rejected": "b"}`
	cases := []struct {
		line, field, msg string
	}{
		{`{"prompt": "q", "chosen": "a", "rejected": `, "", "malformed JSON"},
		{`{"prompt": "q", "chosen": "a"}`, "rejected", "missing"},
		{`{"prompt": "q", "chosen": 3, "rejected": "b"}`, "chosen", "a number"},
		{`{"prompt": "", "chosen": "a", "rejected": "b"}`, "prompt", "empty"},
		{"{\"prompt\": \"q\xff\", \"chosen\": \"a\", \"rejected\": \"b\"}", "", "not valid UTF-8"},
		{`{"prompt": "q\ud800", "chosen": "a", "rejected": "b"}`, "", "surrogate"}, // read as U+FFFD by encoding/json
		{`[1, 2]`, "", "malformed JSON"},
		{`{"prompt": "q", "chosen": [{"role": "assistant", "content": 5}], "rejected": "b"}`, "chosen[0].content", "a number"},
	}
	for _, c := range cases {
		path := write(t, t.TempDir(), "bad.jsonl", good+"\n"+c.line+"\n"+good+"\n")
		_, _, err := data.ReadAll([]string{path}, data.Options{Format: data.Pairs})
		var e *data.Error
		if !errors.As(err, &e) {
			t.Errorf("%s: error %v, want a *data.Error", c.line, err)
			continue
		}
		if e.File != path || e.Line != 2 || e.Field != c.field || !strings.Contains(e.Msg, c.msg) {
			t.Errorf("%s: got %q (line %d field %q), want line 2 field %q and %q", c.line, err, e.Line, e.Field, c.field, c.msg)
		}
		pairs, st := readAll(t, path, data.Options{Format: data.Pairs, SkipBad: true})
		n := 0
		for _, k := range st.Skipped {
			n += k
		}
		if len(pairs) != 2 || n != 1 {
			t.Errorf("%s: SkipBad kept %d pairs and skipped %v", c.line, len(pairs), st.Skipped)
		}
	}
	if _, err := data.Open(write(t, t.TempDir(), "x.jsonl", good), data.Options{Format: "csv"}); err == nil {
		t.Error("format csv accepted")
	}
	_, _, err := data.ReadAll([]string{write(t, t.TempDir(), "x.jsonl", `{"text": "hello"}`)}, data.Options{})
	if err == nil || !strings.Contains(err.Error(), "cannot tell the format") {
		t.Errorf("unknown keys: %v", err)
	}
}

// TestStreaming reads a long file with a small MaxRecords and checks the reader stops early.
func TestStreaming(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 5000; i++ {
		b.WriteString(`{"prompt": "q", "chosen": "a", "rejected": "b"}` + "\n")
	}
	pairs, st := readAll(t, write(t, t.TempDir(), "many.jsonl", b.String()), data.Options{MaxRecords: 10})
	if len(pairs) != 10 || st.Records != 10 {
		t.Errorf("read %d pairs from %d records, want 10", len(pairs), st.Records)
	}
}

// FuzzReader feeds arbitrary bytes as a JSONL file: the reader must never
// panic, and every error must be located (a *data.Error with a line).
func FuzzReader(f *testing.F) {
	f.Add([]byte(hhLines))
	f.Add([]byte(ufRaw))
	f.Add([]byte(ufBin))
	f.Add([]byte(`{"prompt": "q", "response_a": "x", "response_b": "y"}`))
	f.Add([]byte("\x1f\x8b\x08"))
	f.Add([]byte("PAR1garbage"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content []byte) {
		path := filepath.Join(dir, "fuzz.jsonl")
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := data.Open(path, data.Options{})
		if err != nil {
			var e *data.Error
			if !errors.As(err, &e) {
				t.Fatalf("Open: unlocated error %v", err)
			}
			return
		}
		defer r.Close()
		for i := 0; i < 1000; i++ {
			_, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				var e *data.Error
				if !errors.As(err, &e) || (e.Line == 0 && e.Field == "") {
					t.Fatalf("unlocated error %v", err)
				}
				return
			}
		}
	})
}
