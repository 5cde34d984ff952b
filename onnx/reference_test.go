package onnx_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/models"
	"github.com/ser-rl/ser/onnx"
)

type refText struct {
	Text      string  `json:"text"`
	IDs       []int32 `json:"ids"`
	Embedding string  `json:"embedding"`
}

func loadRef(t *testing.T) []refText {
	raw, err := os.ReadFile(filepath.Join(testenv.Root(t), "testdata", "use-lite-reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Texts []refText `json:"texts"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	return ref.Texts
}

func decodeVec(t *testing.T, s string) []float32 {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, len(raw)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return v
}

// openDefault opens the installed default backbone.
func openDefault(t *testing.T, opts onnx.Options) *onnx.Backbone {
	t.Helper()
	home := testenv.Home(t)
	if err := onnx.Init(testenv.ORTLib(t, home)); err != nil {
		t.Fatal(err)
	}
	m, err := models.Find(home, models.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	b, err := onnx.Open(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestDefaultMatchesReference embeds the 58 fixture texts with the converted
// graph and compares with the vectors of the original TF.js runtime. The
// tolerance, 1e-5 per component, is the bar set for the conversion; float32
// kernels that sum in another order differ by a few ulps (7.2e-7 at most, seen).
func TestDefaultMatchesReference(t *testing.T) {
	ref := loadRef(t)
	texts := make([]string, len(ref))
	for i, r := range ref {
		texts[i] = r.Text
	}
	// one row per batch, and everything in as few batches as fit: batching must not change a vector
	for _, opts := range []onnx.Options{{MaxBatch: 1}, {BatchTokens: 1 << 20, MaxBatch: 1024}} {
		b := openDefault(t, opts)
		got, err := b.Embed(context.Background(), texts)
		if err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for i, r := range ref {
			want := decodeVec(t, r.Embedding)
			for k, w := range want {
				d := math.Abs(float64(got[i*512+k] - w))
				worst = math.Max(worst, d)
				if d > 1e-5 {
					t.Fatalf("text %d %.40q component %d: got %g, reference %g", i, r.Text, k, got[i*512+k], w)
				}
			}
		}
		t.Logf("batching %+v: max |go - reference| = %.2g over %d texts", opts, worst, len(ref))
		b.Close()
	}
}
