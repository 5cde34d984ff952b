package score

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/features"
	"github.com/ser-rl/ser/head"
	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/models"
)

func fixture(t *testing.T) (*features.Featurizer, *head.Head) {
	t.Helper()
	home := testenv.Home(t)
	m, err := models.Find(home, models.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	f, err := features.New(features.Options{Manifest: m, CachePath: filepath.Join(t.TempDir(), "c.feat"), ORTLib: testenv.ORTLib(t, home)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	train := data.Sample(60, 1, 0)
	x, _, err := f.Pairs(context.Background(), train)
	if err != nil {
		t.Fatal(err)
	}
	h, err := head.Train(context.Background(), head.Problem{Train: head.Data{X: x}, Backbone: f.Backbone(), Form: f.Form()}, head.TrainOptions{Seed: 1, L2: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	return f, h
}

// TestRows: every kind of row gets its rewards, equal to the featurizer's
// for the same texts, in order, the rows' own fields kept; a batch size of
// 2 changes nothing; a bad row stops it after the rows before it are
// written, whole.
func TestRows(t *testing.T) {
	f, h := fixture(t)
	in := `{"prompt": "How do I keep bread fresh?", "response": "A paper bag.", "mine": 1}
{"prompt": "Name a prime.", "chosen": "Seven.", "rejected": "Nine."}

{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
{}
`
	want, err := f.Rewards(context.Background(), h, []features.Item{
		{Prompt: "How do I keep bread fresh?", Response: "A paper bag."},
		{Prompt: "Name a prime.", Response: "Seven."}, {Prompt: "Name a prime.", Response: "Nine."},
		{Prompt: "Human: Hi", Response: "Hello!"}})
	if err != nil {
		t.Fatal(err)
	}
	var outs []string
	for _, batch := range []int{512, 2} {
		rr, err := data.NewRows(strings.NewReader(in), "in.jsonl", data.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		n, err := Rows(context.Background(), f, h, rr, &b, Options{Batch: batch})
		var de *data.Error
		if n != 3 || !errors.As(err, &de) || de.Line != 5 {
			t.Fatalf("batch %d: %d rows, err %v; want 3 rows and line 5's error", batch, n, err)
		}
		outs = append(outs, b.String())
		var rows []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
			var r map[string]any
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			rows = append(rows, r)
		}
		if rows[0]["reward"] != want[0] || rows[0]["mine"] != 1.0 || rows[1]["reward_chosen"] != want[1] || rows[1]["reward_rejected"] != want[2] || rows[2]["reward"] != want[3] {
			t.Fatalf("batch %d: rows %v, want rewards %v", batch, rows, want)
		}
	}
	if outs[0] != outs[1] {
		t.Fatal("the batch size changed the output")
	}
}

// TestRowsDataset: a stream of HH-RLHF transcripts is read with the
// dataset readers (detected, or named), one row a pair.
func TestRowsDataset(t *testing.T) {
	f, h := fixture(t)
	in := `{"chosen": "\n\nHuman: Hi\n\nAssistant: Hello!", "rejected": "\n\nHuman: Hi\n\nAssistant: Go away."}` + "\n"
	for _, format := range []string{"", "hh"} {
		rr, err := data.NewRows(strings.NewReader(in), "<stdin>", data.Options{Format: format})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if n, err := Rows(context.Background(), f, h, rr, &b, Options{}); n != 1 || err != nil {
			t.Fatalf("format %q: %d rows, %v", format, n, err)
		}
		var r map[string]any
		json.Unmarshal([]byte(b.String()), &r)
		if r["prompt"] != "Human: Hi" || r["chosen"] != "Hello!" || r["reward_chosen"] == nil {
			t.Fatalf("format %q: %v", format, r)
		}
	}
}
