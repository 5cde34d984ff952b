package tokenize_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ser-rl/ser/internal/testsupport/corpus"
	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/tokenize"
)

// parityFixture is tokenize/testdata/hf-parity.json, written by
// tokenize/reference/parity.js with Hugging Face tokenizers.
type parityFixture struct {
	Reference    string `json:"reference"`
	CorpusSHA256 string `json:"corpus_sha256"`
	Texts        int    `json:"texts"`
	Tokenizers   map[string]struct {
		FileSHA256 string   `json:"file_sha256"`
		IDs        []string `json:"ids"`
		Counts     []int    `json:"counts"`
	} `json:"tokenizers"`
}

func hashIDs(ids []int32) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(id)))
	}
	s := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(s[:])[:16]
}

// loadFixture reads a parity fixture and checks that texts are the corpus it
// was made from.
func loadFixture(t *testing.T, name string, texts []corpus.Text) *parityFixture {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var fx parityFixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := corpus.WriteJSONL(&buf, texts); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	if got := hex.EncodeToString(sum[:]); got != fx.CorpusSHA256 || len(texts) != fx.Texts {
		t.Fatalf("the corpus (%d texts, sha256 %s) is not the one %s was made from (%d texts, %s): regenerate it (tokenize/reference/parity.js)", len(texts), got, name, fx.Texts, fx.CorpusSHA256)
	}
	return &fx
}

// TestHFParity encodes the whole parity corpus (3,200 texts from the shared
// data and the adversarial set) with every family's real tokenizer.json and
// requires the ids of Hugging Face tokenizers on every text.
func TestHFParity(t *testing.T) {
	texts, err := corpus.All(testenv.SharedData(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	fx := loadFixture(t, "hf-parity.json", texts)
	for _, fam := range testenv.TokenizerFamilies {
		t.Run(fam.Name, func(t *testing.T) {
			checkParity(t, fx, fam.Name, testenv.TokenizerFile(t, fam.Name), texts)
		})
	}
}

// TestHFVariants does the same for the variants: real tokenizers with other
// normalizers, pre-tokenizers, added-token flags, post-processors,
// truncation and unknown handling, on 60 shared texts and the adversarial set.
func TestHFVariants(t *testing.T) {
	texts, err := corpus.Variants(testenv.SharedData(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	fx := loadFixture(t, "hf-variants.json", texts)
	for _, fam := range testenv.TokenizerFamilies {
		testenv.TokenizerDir(t, fam.Name) // fetched, or the test skips
	}
	specs, err := testenv.WriteTokenizerVariants(testenv.Home(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range specs {
		name, path, _ := strings.Cut(spec, "=")
		t.Run(name, func(t *testing.T) { checkParity(t, fx, name, path, texts) })
	}
}

func checkParity(t *testing.T, fx *parityFixture, name, path string, texts []corpus.Text) {
	want, ok := fx.Tokenizers[name]
	if !ok {
		t.Fatalf("the fixture has no %s", name)
	}
	if sum := fileSHA(t, path); sum != want.FileSHA256 {
		t.Fatalf("%s has sha256 %s; the fixture was made from %s", path, sum, want.FileSHA256)
	}
	tk, err := loadHF(path)
	if err != nil {
		t.Fatal(err)
	}
	// -short checks every adversarial text and every fifth of the others.
	checked := func(i int) bool {
		return !testing.Short() || i%5 == 0 || strings.HasPrefix(texts[i].Source, "adversarial:")
	}
	got := make([][]int32, len(texts))
	errs := make([]error, len(texts))
	var wg sync.WaitGroup
	workers := runtime.NumCPU()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(texts); i += workers {
				if checked(i) {
					got[i], errs[i] = tk.Encode(texts[i].Text)
				}
			}
		}(w)
	}
	wg.Wait()
	equal, shown, n := 0, 0, 0
	for i, text := range texts {
		if !checked(i) {
			continue
		}
		n++
		if errs[i] == nil && hashIDs(got[i]) == want.IDs[i] {
			equal++
			continue
		}
		if shown < 5 {
			shown++
			t.Errorf("%s: %s (%.60q): %d ids, reference %d; err %v\n  ser: %v", name, text.Source, text.Text, len(got[i]), want.Counts[i], errs[i], head(got[i], 40))
		}
	}
	t.Logf("%s: ids equal on %d of %d texts", name, equal, n)
}

// loaded keeps the tokenizers this test binary has loaded, by path: the
// parity and clip tests read the same files, and loading the large ones
// (262k-entry vocabularies) is most of their time.
var loaded sync.Map // path -> *tokenize.HF

func loadHF(path string) (*tokenize.HF, error) {
	if h, ok := loaded.Load(path); ok {
		return h.(*tokenize.HF), nil
	}
	h, err := tokenize.LoadHF(path)
	if err != nil {
		return nil, err
	}
	loaded.Store(path, h)
	return h, nil
}

func head(ids []int32, n int) string {
	if len(ids) <= n {
		return fmt.Sprint(ids)
	}
	return fmt.Sprint(ids[:n]) + "..."
}
func fileSHA(t *testing.T, path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(raw)
	return hex.EncodeToString(s[:])
}
