package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ser-rl/ser/cache"
	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/internal/testsupport/tiny"
	"github.com/ser-rl/ser/models"
	"github.com/ser-rl/ser/onnx"
	"github.com/ser-rl/ser/tokenize"
)

// exportedFolder lays out what optimum writes for a model: a tiny
// random-weight graph (any id accepted) with its weights as external data,
// config.json, and the family's real tokenizer.json and tokenizer_config.json.
func exportedFolder(t *testing.T, family string, o tiny.Options, config map[string]any) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), family+"-tiny")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	o.AnyID, o.External, o.DataFile = true, true, "model.onnx_data"
	if err := tiny.WriteModel(filepath.Join(dir, "model.onnx"), o); err != nil {
		t.Fatal(err)
	}
	src := testenv.TokenizerDir(t, family)
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		raw, err := os.ReadFile(filepath.Join(src, f))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, _ := json.Marshal(config)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestModelsImport imports Llama-, Qwen- and Gemma-shaped decoders and a
// BERT-shaped encoder, each a tiny generated graph with the family's real
// tokenizer and chat template, checks every manifest field, then embeds
// pairs through each and compares the vectors with what the graph computes
// from Hugging Face's ids of the formatted pair.
func TestModelsImport(t *testing.T) {
	home := testenv.Home(t)
	cases := []struct {
		family   string
		opts     tiny.Options
		config   map[string]any
		template string
		pad      int
		pooling  string
		features string
		maxTok   int
	}{
		{"llama3", tiny.Options{Pooling: models.PoolLast},
			map[string]any{"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama", "hidden_size": tiny.Dim,
				"max_position_embeddings": 8192, "eos_token_id": []int{128001, 128009}, "bos_token_id": 128000},
			"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{prompt}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{response}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
			128001, models.PoolLast, "joint", models.DefaultMaxTokens},
		{"qwen3", tiny.Options{Pooling: models.PoolLast, PositionIDs: true},
			map[string]any{"architectures": []string{"Qwen3ForCausalLM"}, "model_type": "qwen3", "hidden_size": tiny.Dim,
				"max_position_embeddings": 40960, "eos_token_id": 151645},
			"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n{response}<|im_end|>\n",
			151643, models.PoolLast, "joint", models.DefaultMaxTokens},
		{"gemma3", tiny.Options{Pooling: models.PoolLast},
			map[string]any{"architectures": []string{"Gemma3ForCausalLM"}, "model_type": "gemma3_text", "hidden_size": tiny.Dim,
				"max_position_embeddings": 2048, "eos_token_id": 1, "pad_token_id": 0},
			// the chat template starts with <bos>, which the tokenizer adds itself
			"<start_of_turn>user\n{prompt}<end_of_turn>\n<start_of_turn>model\n{response}<end_of_turn>\n",
			0, models.PoolLast, "joint", 2048},
		{"bert", tiny.Options{Pooling: models.PoolMean, TokenTypes: true},
			map[string]any{"architectures": []string{"BertModel"}, "model_type": "bert", "hidden_size": tiny.Dim,
				"max_position_embeddings": 512, "pad_token_id": 0},
			"{prompt}\n\n{response}", 0, models.PoolMean, "separate", 512},
	}
	pairs := []data.Pair{
		{Prompt: "What is the capital of France?", Chosen: "Paris is the capital of France.", Rejected: "I don't know."},
		{Prompt: "Write a haiku about rain.", Chosen: "Soft rain on the roof\nthe garden drinks slowly\nclouds hum their grey song", Rejected: "Rain is wet."},
	}
	for _, c := range cases {
		t.Run(c.family, func(t *testing.T) {
			dir := exportedFolder(t, c.family, c.opts, c.config)
			out, stderr, err := run(t, home, "models", "import", dir)
			if err != nil {
				t.Fatalf("import: %v\n%s%s", err, out, stderr)
			}
			m, err := models.Find(home, dir)
			if err != nil {
				t.Fatal(err)
			}
			if m.Name != c.family+"-tiny" || m.Dim != tiny.Dim || m.PadID != c.pad || m.Pooling != c.pooling ||
				m.FeatureForm() != c.features || m.MaxTokens != c.maxTok || m.Output != "last_hidden_state" || m.TokenizerKind != "hf" {
				t.Errorf("manifest %+v", m)
			}
			if m.PairTemplate != c.template {
				t.Errorf("pair template %q,\nwant          %q", m.PairTemplate, c.template)
			}
			// a chat template's turns are derived (models tests them against
			// the template); without one, conversations are written as HH-RLHF
			// does. Either way a one-turn prompt is written as the pair
			// template writes it.
			wantConv := models.ConversationChat
			if c.family == "bert" {
				wantConv = models.ConversationHH
			}
			if m.Conversation != wantConv || (wantConv == models.ConversationChat) != (m.ChatTurns != nil) {
				t.Errorf("conversation %q, chat turns %+v; want %q", m.Conversation, m.ChatTurns, wantConv)
			}
			if wantConv == models.ConversationChat {
				p := pairs[0]
				if got, want := m.FormatPair(p.Prompt, p.Chosen, data.FormatAuto), strings.NewReplacer("{prompt}", p.Prompt, "{response}", p.Chosen).Replace(m.PairTemplate); got != want {
					t.Errorf("a one-turn pair written with the chat turns:\n  %q\nwith the pair template:\n  %q", got, want)
				}
			}
			var names []string
			for _, f := range m.Files {
				names = append(names, f.Name)
				sum, _, _ := models.FileSHA256(m.Path(f.Name))
				if sum != f.SHA256 {
					t.Errorf("%s: sha256 %s, file has %s", f.Name, f.SHA256, sum)
				}
			}
			if !reflect.DeepEqual(names, []string{"model.onnx", "model.onnx_data", "tokenizer.json"}) {
				t.Errorf("files %v", names)
			}
			if !strings.Contains(stderr, "embedded text 2") {
				t.Errorf("import did not embed its check texts:\n%s", stderr)
			}
			checkImportedVectors(t, home, m, c.opts, pairs)
		})
	}
}

// checkImportedVectors embeds pairs through the imported backbone and
// compares with the graph's vectors for Hugging Face's ids of each text.
func checkImportedVectors(t *testing.T, home string, m *models.Manifest, o tiny.Options, pairs []data.Pair) {
	t.Helper()
	if err := onnx.Init(testenv.ORTLib(t, home)); err != nil {
		t.Fatal(err)
	}
	b, err := onnx.Open(m, onnx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tok, err := tokenize.LoadHF(m.Path(m.Tokenizer))
	if err != nil {
		t.Fatal(err)
	}
	o.AnyID = true
	var texts []string
	for _, p := range pairs {
		texts = append(texts, m.FormatPair(p.Prompt, p.Chosen, data.FormatAuto), p.Rejected)
	}
	got, err := b.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range texts {
		ids, err := tok.Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		want := tiny.Expect(o, tokenize.Truncate(ids, m.MaxTokens, m.Truncate))
		for k, w := range want {
			if d := got[i*m.Dim+k] - w; d > 1e-4 || d < -1e-4 {
				t.Fatalf("text %d value %d: %v, want %v", i, k, got[i*m.Dim+k], w)
			}
		}
	}
}

// TestModelsImportRefuses: what import cannot turn into a working backbone
// is an error naming the cause, and nothing is written.
func TestModelsImportRefuses(t *testing.T) {
	home := testenv.Home(t)
	llama := map[string]any{"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama", "hidden_size": tiny.Dim}
	cases := []struct {
		name   string
		config map[string]any
		args   []string
		want   string
	}{
		{"unknown architecture", map[string]any{"model_type": "mystery", "hidden_size": tiny.Dim}, nil, "--pooling"},
		{"no width", map[string]any{"model_type": "llama"}, nil, "--dim"},
		{"model outside", llama, []string{"--model-file", "../model.onnx"}, "not a path inside"},
		{"tokenizer missing", llama, []string{"--tokenizer-file", "nope.json"}, "nope.json"},
		{"bad pooling", llama, []string{"--pooling", "max"}, "pooling"},
		{"bad name", llama, []string{"--name", "../../x"}, "field name"},
		{"template without response", llama, []string{"--pair-template", "{prompt} only"}, "{response}"},
		{"bad feature storage", llama, []string{"--feature-storage", "int8"}, "feature_storage"},
		// before: a panic in tokenize.Clip (max*256 overflowed), or every text clipped to nothing
		{"huge max tokens", llama, []string{"--max-tokens", "9223372036854775807"}, "field max_tokens"},
		{"2^56 max tokens", llama, []string{"--max-tokens", "72057594037927936"}, "field max_tokens"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := exportedFolder(t, "llama3", tiny.Options{Pooling: models.PoolLast}, c.config)
			_, stderr, err := run(t, home, append(append([]string{"models", "import"}, c.args...), dir)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v (stderr %s); want one mentioning %q", err, stderr, c.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
				t.Fatal("a manifest was written")
			}
		})
	}
}

// TestFloat16Storage: a backbone imported with --feature-storage float16
// caches its features in a float16 file of its own, and training and scoring
// read them from there; a float32 cache of the same backbone is left alone.
func TestFloat16Storage(t *testing.T) {
	home := testenv.Home(t)
	dir := exportedFolder(t, "bert", tiny.Options{Pooling: models.PoolMean, TokenTypes: true},
		map[string]any{"architectures": []string{"BertModel"}, "model_type": "bert", "hidden_size": tiny.Dim, "max_position_embeddings": 512, "pad_token_id": 0})
	if out, stderr, err := run(t, home, "models", "import", "--feature-storage", "float16", dir); err != nil {
		t.Fatalf("import: %v\n%s%s", err, out, stderr)
	}
	m, err := models.Find(home, dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.FeatureStorage != "float16" {
		t.Fatalf("manifest feature_storage %q", m.FeatureStorage)
	}
	work := t.TempDir()
	data := synthPairs(t, work, 60, 3)
	if _, stderr, err := run(t, home, "--quiet", "embed", "--model", dir, "--data", data); err != nil {
		t.Fatalf("embed: %v\n%s", err, stderr)
	}
	f16 := cache.File(filepath.Join(home, "cache", "features"), m.Fingerprint(), cache.Float16)
	vecs := readCache(t, f16, m)
	if len(vecs) == 0 {
		t.Fatalf("no float16 cache at %s", f16)
	}
	if _, err := os.Stat(cache.File(filepath.Join(home, "cache", "features"), m.Fingerprint(), cache.Float32)); err == nil {
		t.Error("a float32 cache was written too")
	}
	for _, v := range vecs {
		for _, x := range v {
			if cache.HalfToFloat(cache.FloatToHalf(x)) != x {
				t.Fatalf("cached value %v is not a float16", x)
			}
		}
	}
	head := filepath.Join(work, "rm.head")
	if _, stderr, err := run(t, home, "--quiet", "train", "--model", dir, "--data", data, "--out", head); err != nil {
		t.Fatalf("train on float16 features: %v\n%s", err, stderr)
	}
}

// TestReimportNeedsForce: the pair template is part of the fingerprint, and
// an import over a manifest that says something else needs --force, after
// saying what changes. A head trained under the old template then no longer
// loads with the backbone. (Before, a re-import with another template
// replaced the manifest silently and the head kept loading, its scores
// moved by up to 0.25 under the same fingerprint.)
func TestReimportNeedsForce(t *testing.T) {
	home := testenv.Home(t)
	llama := map[string]any{"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama", "hidden_size": tiny.Dim, "eos_token_id": 128001}
	dir := exportedFolder(t, "llama3", tiny.Options{Pooling: models.PoolLast}, llama)
	if _, stderr, err := run(t, home, "models", "import", dir); err != nil {
		t.Fatalf("import: %v\n%s", err, stderr)
	}
	raw := strings.Replace(readFile(t, filepath.Join(dir, "manifest.json")), `"description"`, `"licence": "mine", "description"`, 1)
	raw = strings.Replace(raw, "imported by ser models import", "my notes", 1)
	os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(raw), 0o644)
	if _, stderr, err := run(t, home, "models", "import", dir); err != nil { // the same again: fine
		t.Fatalf("the same import again: %v\n%s", err, stderr)
	}
	if m, err := models.ReadManifest(dir); err != nil || m.Licence != "mine" || m.Description != "my notes" {
		t.Fatalf("the user's licence and description were not kept: %+v %v", m, err)
	}
	work := t.TempDir()
	train := synthPairs(t, work, 40, 9)
	headPath := filepath.Join(work, "rm.head")
	if _, stderr, err := run(t, home, "-q", "train", "--model", dir, "--data", train, "--cache", filepath.Join(work, "c.feat"), "--out", headPath); err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	before := readFile(t, filepath.Join(dir, "manifest.json"))
	_, _, err := run(t, home, "models", "import", "--pair-template", "User: {prompt}\nAssistant: {response}", dir)
	if err == nil || !strings.Contains(err.Error(), "--force") || !strings.Contains(err.Error(), "pair_template") || !strings.Contains(err.Error(), "fingerprint") {
		t.Fatalf("a changing re-import without --force: %v", err)
	}
	if readFile(t, filepath.Join(dir, "manifest.json")) != before {
		t.Fatal("the manifest changed without --force")
	}
	if _, stderr, err := run(t, home, "models", "import", "--force", "--pair-template", "User: {prompt}\nAssistant: {response}", dir); err != nil || !strings.Contains(stderr, "replacing") {
		t.Fatalf("--force: %v\n%s", err, stderr)
	}
	score := filepath.Join(work, "in.jsonl")
	os.WriteFile(score, []byte(`{"prompt": "hi", "response": "hello"}`+"\n"), 0o644)
	if _, _, err := run(t, home, "score", "--head", headPath, "--model", dir, "--in", score); err == nil || !strings.Contains(err.Error(), "fingerprint") {
		t.Fatalf("a head of the old template still loads: %v", err)
	}
}
