package tokenize_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/tokenize"
)

// reference is testdata/use-lite-reference.json, made by models/reference/fixture.js
// with the original TF.js runtime.
type reference struct {
	Texts []struct {
		Text string  `json:"text"`
		IDs  []int32 `json:"ids"`
	} `json:"texts"`
	SyntheticVocab [][2]any `json:"synthetic_vocab"`
	Synthetic      []struct {
		Text string  `json:"text"`
		IDs  []int32 `json:"ids"`
	} `json:"synthetic"`
}

func loadReference(t *testing.T) reference {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.Root(t), "testdata", "use-lite-reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestUnigramMatchesReference checks the installed default tokenizer against the
// ids the reference JS tokenizer gave for 58 varied texts (accents, emoji, CJK,
// code, URLs, runs of spaces, an empty text, a 5,000-character text).
func TestUnigramMatchesReference(t *testing.T) {
	ref := loadReference(t)
	home := testenv.Home(t)
	u, err := tokenize.LoadUnigram(filepath.Join(home, "models", "default", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ref.Texts) < 50 {
		t.Fatalf("fixture has %d texts, want at least 50", len(ref.Texts))
	}
	for _, c := range ref.Texts {
		got, _ := u.Encode(c.Text)
		if len(got) == 0 && len(c.IDs) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, c.IDs) {
			t.Errorf("Encode(%.40q):\n got %v\nwant %v", c.Text, got, c.IDs)
		}
	}
}

// TestUnigramSyntheticCorners checks ties, unknown runs and the UTF-16 back-trace
// quirk on a small vocabulary, against the reference tokenizer class itself.
func TestUnigramSyntheticCorners(t *testing.T) {
	ref := loadReference(t)
	pieces := make([]string, len(ref.SyntheticVocab))
	scores := make([]float64, len(ref.SyntheticVocab))
	for i, e := range ref.SyntheticVocab {
		pieces[i] = e[0].(string)
		scores[i] = e[1].(float64)
	}
	skip := map[int]bool{0: true, 1: true, 2: true, 3: true, 4: true, 5: true}
	u := tokenize.NewUnigram(pieces, scores, 0, skip)
	for _, c := range ref.Synthetic {
		sym := []rune("\u2581" + c.Text)
		for i, r := range sym {
			if r == ' ' {
				sym[i] = '\u2581'
			}
		}
		got := u.EncodeRunes(sym)
		if !reflect.DeepEqual(got, c.IDs) {
			t.Errorf("EncodeRunes(%q) = %v, want %v", c.Text, got, c.IDs)
		}
	}
}

func TestTruncate(t *testing.T) {
	ids := []int32{1, 2, 3, 4, 5}
	if got := tokenize.Truncate(ids, 3, "head"); !reflect.DeepEqual(got, []int32{1, 2, 3}) {
		t.Errorf("head: %v", got)
	}
	if got := tokenize.Truncate(ids, 3, "tail"); !reflect.DeepEqual(got, []int32{3, 4, 5}) {
		t.Errorf("tail: %v", got)
	}
	if got := tokenize.Truncate(ids, 0, "head"); len(got) != 5 {
		t.Errorf("no cap: %v", got)
	}
}
