package main

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/features"
	"github.com/ser-rl/ser/head"
	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/internal/testsupport/tiny"
	"github.com/ser-rl/ser/models"
	"github.com/ser-rl/ser/serve"
	"github.com/ser-rl/ser/tokenize"
)

// rmPairs are the conversations the reward-model tests score: lengths
// differ, so batches pad.
var rmPairs = []data.Pair{
	{Prompt: "What is the capital of France?", Chosen: "Paris is the capital of France.", Rejected: "I don't know.", Labelled: true},
	{Prompt: "Write a haiku about rain.", Chosen: "Soft rain on the roof\nthe garden drinks slowly\nclouds hum their grey song", Rejected: "Rain is wet.", Labelled: true},
	{Prompt: "Say yes.", Chosen: "yes", Rejected: "No, and here is a long explanation of why I will not say it, at length.", Labelled: true},
}

// TestRewardModels imports tiny random-weight sequence classifiers shaped
// as the reward models people have (Llama- and Qwen-shaped decoders with
// the real tokenizers and chat templates, one giving its hidden states as
// well, one exported without a pad id; a BERT-shaped encoder with three
// labels), and checks that ser score, eval and the server give each
// model's own reward, equal to what the graph computes from Hugging Face's
// ids of the formatted conversation, with no head; that a residual head
// trains on one; and that the shapes that are no reward model are refused
// with the reason.
func TestRewardModels(t *testing.T) {
	home := testenv.Home(t)
	cases := []struct {
		name    string
		family  string
		opts    tiny.Options
		config  map[string]any
		args    []string
		label   int
		padLeft bool
	}{
		{"llama3", "llama3", tiny.Options{Pooling: models.PoolLast, Labels: 1, PadID: 128001},
			map[string]any{"architectures": []string{"LlamaForSequenceClassification"}, "model_type": "llama", "hidden_size": tiny.Dim,
				"max_position_embeddings": 8192, "eos_token_id": []int{128001, 128009}, "bos_token_id": 128000, "pad_token_id": 128001, "num_labels": 1}, nil, 0, false},
		{"qwen3-with-hidden", "qwen3", tiny.Options{Pooling: models.PoolLast, Labels: 1, PadID: 151643, PositionIDs: true, Both: true},
			map[string]any{"architectures": []string{"Qwen3ForSequenceClassification"}, "model_type": "qwen3", "hidden_size": tiny.Dim,
				"max_position_embeddings": 40960, "eos_token_id": 151645, "pad_token_id": 151643}, nil, 0, false},
		// no pad id: transformers' classifier then reads each row's last
		// position (the tiny graph matches no id, so it does too)
		{"llama3-no-pad", "llama3", tiny.Options{Pooling: models.PoolLast, Labels: 1, PadID: -1},
			map[string]any{"architectures": []string{"LlamaForSequenceClassification"}, "model_type": "llama", "hidden_size": tiny.Dim,
				"max_position_embeddings": 8192, "eos_token_id": 128009}, nil, 0, true},
		{"bert-3-labels", "bert", tiny.Options{Pooling: models.PoolCLS, Labels: 3, TokenTypes: true},
			map[string]any{"architectures": []string{"BertForSequenceClassification"}, "model_type": "bert", "hidden_size": tiny.Dim,
				"max_position_embeddings": 512, "pad_token_id": 0, "id2label": map[string]string{"0": "bad", "1": "ok", "2": "good"}}, []string{"--label", "2"}, 2, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := exportedFolder(t, c.family, c.opts, c.config)
			out, stderr, err := run(t, home, append(append([]string{"models", "import"}, c.args...), dir)...)
			if err != nil {
				t.Fatalf("import: %v\n%s%s", err, out, stderr)
			}
			m, err := models.Find(home, dir)
			if err != nil {
				t.Fatal(err)
			}
			wantDim := c.opts.Labels
			if c.opts.Both {
				wantDim += tiny.Dim
			}
			if m.Reward == nil || m.Reward.Labels != c.opts.Labels || m.Reward.Label != c.label || m.Dim != wantDim || m.FeatureForm() != head.Joint || m.PadLeft != c.padLeft {
				t.Fatalf("manifest: reward %+v, dim %d, features %s, pad left %v", m.Reward, m.Dim, m.FeatureForm(), m.PadLeft)
			}
			// what the graph computes from Hugging Face's ids of each text
			tok, err := tokenize.LoadHF(m.Path(m.Tokenizer))
			if err != nil {
				t.Fatal(err)
			}
			o := c.opts
			o.AnyID = true
			want := func(prompt, response string) float64 {
				ids, err := tok.Encode(m.FormatPair(prompt, response, data.FormatAuto))
				if err != nil {
					t.Fatal(err)
				}
				return float64(tiny.ExpectLogits(o, tokenize.Truncate(ids, m.MaxTokens, m.Truncate))[c.label])
			}
			var rows bytes.Buffer
			var wants []float64
			for _, p := range rmPairs {
				for _, r := range []string{p.Chosen, p.Rejected} {
					raw, _ := json.Marshal(map[string]string{"prompt": p.Prompt, "response": r})
					rows.Write(append(raw, '\n'))
					wants = append(wants, want(p.Prompt, r))
				}
			}
			in := filepath.Join(t.TempDir(), "rows.jsonl")
			os.WriteFile(in, rows.Bytes(), 0o644)
			cache := filepath.Join(t.TempDir(), "c.feat")
			out, stderr, err = run(t, home, "-q", "score", "--model", dir, "--in", in, "--cache", cache)
			if err != nil {
				t.Fatalf("score: %v\n%s", err, stderr)
			}
			got := rewardsOfRows(t, out)
			near := func(what string, got []float64) {
				t.Helper()
				if len(got) != len(wants) {
					t.Fatalf("%s: %d rewards, want %d", what, len(got), len(wants))
				}
				for i := range wants {
					if math.Abs(got[i]-wants[i]) > 1e-4 {
						t.Errorf("%s: text %d: reward %v, the graph's %v", what, i, got[i], wants[i])
					}
				}
			}
			near("ser score --model", got)
			// ser eval --model: the model's own accuracy on the pairs
			pairsFile := filepath.Join(t.TempDir(), "pairs.jsonl")
			var pb bytes.Buffer
			for _, p := range rmPairs {
				raw, _ := json.Marshal(map[string]string{"prompt": p.Prompt, "chosen": p.Chosen, "rejected": p.Rejected})
				pb.Write(append(raw, '\n'))
			}
			os.WriteFile(pairsFile, pb.Bytes(), 0o644)
			if c.opts.Both { // the hidden states pooled by the graph, as on CUDA: the same vectors
				onHost, inGraph := filepath.Join(t.TempDir(), "h.feat"), filepath.Join(t.TempDir(), "g.feat")
				for _, where := range [][2]string{{"host", onHost}, {"graph", inGraph}} {
					if _, stderr, err := run(t, home, "-q", "--pool-in", where[0], "embed", "--model", dir, "--data", pairsFile, "--cache", where[1]); err != nil {
						t.Fatalf("embed --pool-in %s: %v\n%s", where[0], err, stderr)
					}
				}
				host, graph := readCache(t, onHost, m), readCache(t, inGraph, m)
				if len(host) != len(graph) || len(host) == 0 {
					t.Fatalf("pooled on the host %d vectors, in the graph %d", len(host), len(graph))
				}
				for k, v := range host {
					for j := range v {
						if d := math.Abs(float64(v[j] - graph[k][j])); d > 1e-5 {
							t.Fatalf("component %d: pooled on the host %v, in the graph %v", j, v[j], graph[k][j])
						}
					}
				}
			}

			jsonPath := filepath.Join(t.TempDir(), "e.json")
			if _, stderr, err := run(t, home, "-q", "eval", "--model", dir, "--data", pairsFile, "--cache", cache, "--json", jsonPath); err != nil {
				t.Fatalf("eval: %v\n%s", err, stderr)
			}
			var met struct{ Accuracy float64 }
			raw, _ := os.ReadFile(jsonPath)
			json.Unmarshal(raw, &met)
			right := 0
			for i := range rmPairs {
				if wants[2*i] > wants[2*i+1] {
					right++
				}
			}
			if met.Accuracy != float64(right)/float64(len(rmPairs)) {
				t.Errorf("eval accuracy %v, the graph's rewards order %d of %d right", met.Accuracy, right, len(rmPairs))
			}

			// the server: the same rewards, named by the backbone
			h, _, err := modelHeadFor(home, dir)
			if err != nil {
				t.Fatal(err)
			}
			f, err := features.New(features.Options{Manifest: m, Form: head.Joint, CachePath: cache, ORTLib: testenv.ORTLib(t, home)})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			s, err := serve.New(f, serve.Options{Head: h})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ts := httptest.NewServer(s.Handler())
			defer ts.Close()
			var items []map[string]string
			for _, p := range rmPairs {
				for _, r := range []string{p.Chosen, p.Rejected} {
					items = append(items, map[string]string{"prompt": p.Prompt, "response": r})
				}
			}
			body, _ := json.Marshal(map[string]any{"items": items})
			resp, err := http.Post(ts.URL+"/v1/reward", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			var v struct{ Rewards []float64 }
			json.NewDecoder(resp.Body).Decode(&v)
			resp.Body.Close()
			near("/v1/reward", v.Rewards)
			if hdr := resp.Header.Get("X-Ser-Head"); hdr != head.ModelSHA256Prefix+m.Fingerprint() {
				t.Errorf("X-Ser-Head %q, want the backbone's fingerprint", hdr)
			}
			if err := s.Reload(); err == nil {
				t.Error("a reload with no head file succeeded")
			}

			// a residual head on the model
			headPath := filepath.Join(t.TempDir(), "adapted.head")
			if _, stderr, err := run(t, home, "-q", "train", "--model", dir, "--residual", "--data", pairsFile, "--cache", cache, "--out", headPath, "--val-frac", "0"); err != nil {
				t.Fatalf("train --residual: %v\n%s", err, stderr)
			}
			adapted, err := head.Load(headPath)
			if err != nil || adapted.Training.Base == nil || *adapted.Training.Base != m.RewardIndex() {
				t.Errorf("residual head: %v %+v", err, adapted)
			}
		})
	}
}

// modelHeadFor is the head of a reward model's own reward, as the commands
// make it.
func modelHeadFor(home, dir string) (*head.Head, *models.Manifest, error) {
	m, err := models.Find(home, dir)
	if err != nil {
		return nil, nil, err
	}
	h, err := head.FromRewardModel(features.BackboneOf(m), m.RewardIndex())
	return h, m, err
}

// rewardsOfRows reads the "reward" of each output row of ser score.
func rewardsOfRows(t *testing.T, out string) []float64 {
	t.Helper()
	var rs []float64
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct{ Reward *float64 }
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.Reward == nil {
			t.Fatalf("row %q: %v", l, err)
		}
		rs = append(rs, *r.Reward)
	}
	return rs
}

// TestRewardModelRefusals: what is no reward model, or is one ser cannot
// read as asked, is refused at import with the reason, and nothing is
// written; commands that need a reward model say so of a backbone that is
// not one.
func TestRewardModelRefusals(t *testing.T) {
	home := testenv.Home(t)
	cfg := map[string]any{"architectures": []string{"BertForSequenceClassification"}, "model_type": "bert", "hidden_size": tiny.Dim,
		"max_position_embeddings": 512, "pad_token_id": 0}
	for _, c := range []struct {
		name string
		opts tiny.Options
		args []string
		want string
	}{
		{"three labels, none picked", tiny.Options{Pooling: models.PoolCLS, Labels: 3}, nil, "pick the reward's column with --label"},
		{"label out of range", tiny.Options{Pooling: models.PoolCLS, Labels: 3}, []string{"--label", "3"}, "--label 3: the logits have 3 columns"},
		{"label on no classifier", tiny.Options{Pooling: models.PoolMean}, []string{"--label", "0"}, "not a sequence classifier"},
		{"a language model's logits", tiny.Options{Pooling: models.PoolMean, HiddenName: "logits"}, nil, "a language model's head"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := exportedFolder(t, "bert", c.opts, cfg)
			_, _, err := run(t, home, append(append([]string{"models", "import"}, c.args...), dir)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "manifest.json")); !os.IsNotExist(err) {
				t.Errorf("a manifest was written")
			}
		})
	}
	// a backbone that is no reward model, used as one
	dir := exportedFolder(t, "bert", tiny.Options{Pooling: models.PoolMean}, cfg)
	if _, stderr, err := run(t, home, "models", "import", dir); err != nil {
		t.Fatalf("import: %v\n%s", err, stderr)
	}
	in := filepath.Join(t.TempDir(), "rows.jsonl")
	os.WriteFile(in, []byte(`{"prompt": "p", "response": "r"}`+"\n"), 0o644)
	for _, args := range [][]string{{"score", "--model", dir, "--in", in}, {"train", "--model", dir, "--residual", "--data", in, "--out", filepath.Join(t.TempDir(), "h")}} {
		if _, _, err := run(t, home, args...); err == nil || !strings.Contains(err.Error(), "not a reward model") {
			t.Errorf("%v: %v", args, err)
		}
	}
	if _, _, err := run(t, home, "score", "--in", in); err == nil || !strings.Contains(err.Error(), "--head is required") {
		t.Errorf("score without --head or --model: %v", err)
	}
}
