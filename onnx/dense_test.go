package onnx_test

import (
	"context"
	"math"
	"testing"

	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/internal/testsupport/tiny"
	"github.com/ser-rl/ser/models"
	"github.com/ser-rl/ser/onnx"
	"github.com/ser-rl/ser/onnx/onnxpb"
)

var tinyTexts = []string{
	"the good answer",
	"a",
	"the reward model is very good yes",
	"",
	"bad bad bad",
	"prompt response maybe no unknownword",
	"very very very very very very very very very very very very good",
}

// TestDensePooling runs the generated tiny graph with the inputs of a Hugging
// Face export, for each pooling, padding side and optional input, and compares
// with what the graph computes by construction (tiny.Expect). Ragged texts in
// one batch make padding matter: a mask or side mistake changes the vectors.
func TestDensePooling(t *testing.T) {
	home := testenv.Home(t)
	if err := onnx.Init(testenv.ORTLib(t, home)); err != nil {
		t.Fatal(err)
	}
	type variant struct {
		o    tiny.Options
		tol  float64
		left bool
	}
	var vs []variant
	for _, pool := range []string{models.PoolMean, models.PoolCLS, models.PoolLast} {
		for _, left := range []bool{false, true} {
			vs = append(vs, variant{o: tiny.Options{Pooling: pool}, tol: 1e-5, left: left})
		}
	}
	vs = append(vs,
		variant{o: tiny.Options{Pooling: models.PoolLast, PositionIDs: true}, tol: 1e-5, left: true},
		variant{o: tiny.Options{Pooling: models.PoolLast, PositionIDs: true}, tol: 1e-5},
		variant{o: tiny.Options{Pooling: models.PoolMean, TokenTypes: true}, tol: 1e-5},
		// 16-bit outputs read back as float32: half keeps 11 significant bits, bfloat16 8,
		// on values up to about 8 here
		variant{o: tiny.Options{Pooling: models.PoolLast, Out: onnxpb.Float16}, tol: 8 * 0x1p-11, left: true},
		variant{o: tiny.Options{Pooling: models.PoolMean, Out: onnxpb.BFloat16}, tol: 8 * 0x1p-8},
		variant{o: tiny.Options{Pooling: models.PoolCLS, External: true}, tol: 1e-5},
		variant{o: tiny.Options{Pooling: models.PoolLast, MaxTokens: 4, Truncate: "tail"}, tol: 1e-5, left: true},
		variant{o: tiny.Options{Pooling: models.PoolLast, MaxTokens: 4, Truncate: "head"}, tol: 1e-5},
	)
	for _, v := range vs {
		m, err := tiny.Write(t.TempDir(), v.o)
		if err != nil {
			t.Fatal(err)
		}
		// pooled by ser on the host, and by the graph itself (as on CUDA)
		for _, in := range []string{"host", "graph"} {
			b, err := onnx.Open(m, onnx.Options{PadLeft: v.left, MaxBatch: 4, PoolIn: in})
			if err != nil {
				t.Fatalf("%+v pool in %s: %v", v.o, in, err)
			}
			got, err := b.Embed(context.Background(), tinyTexts)
			b.Close()
			if err != nil {
				t.Fatal(err)
			}
			checkTiny(t, v.o, v.left, in, got, v.tol)
		}
	}
}

// checkTiny compares the vectors of tinyTexts with what the tiny graph
// computes by construction (truncated as the manifest says).
func checkTiny(t *testing.T, o tiny.Options, left bool, in string, got []float32, tol float64) {
	t.Helper()
	{
		for i, text := range tinyTexts {
			ids := tiny.IDs(text)
			if o.MaxTokens > 0 && len(ids) > o.MaxTokens {
				if o.Truncate == "tail" {
					ids = ids[len(ids)-o.MaxTokens:]
				} else {
					ids = ids[:o.MaxTokens]
				}
			}
			want := tiny.Expect(o, ids)
			for k, w := range want {
				if d := math.Abs(float64(got[i*tiny.Dim+k] - w)); d > tol {
					t.Fatalf("%+v left=%v pool in %s: text %q component %d: got %g, want %g", o, left, in, text, k, got[i*tiny.Dim+k], w)
				}
			}
		}
	}
}

// TestOpenErrors checks that a graph that does not fit the manifest is refused with a reason.
func TestOpenErrors(t *testing.T) {
	home := testenv.Home(t)
	if err := onnx.Init(testenv.ORTLib(t, home)); err != nil {
		t.Fatal(err)
	}
	m, err := tiny.Write(t.TempDir(), tiny.Options{Pooling: models.PoolMean})
	if err != nil {
		t.Fatal(err)
	}
	bad := *m
	bad.Output = "logits"
	if _, err := onnx.Open(&bad, onnx.Options{}); err == nil {
		t.Error("a missing output was accepted")
	}
	bad = *m
	bad.Pooling = models.PoolNone
	if _, err := onnx.Open(&bad, onnx.Options{}); err == nil {
		t.Error("pooling none on a [batch, tokens, dim] output was accepted")
	}
	bad = *m
	bad.Input = models.InputSparse
	if _, err := onnx.Open(&bad, onnx.Options{}); err == nil {
		t.Error("sparse input on a dense graph was accepted")
	}
	if _, err := onnx.Open(m, onnx.Options{Device: "tpu"}); err == nil {
		t.Error("device tpu was accepted")
	}
}

// TestLengthBuckets: with length buckets a batch is padded to its rows'
// bucket (never past max_tokens) and holds one bucket only, so that a
// text's padded shape depends on its own length: the vectors still equal
// what the graph computes for each text alone, for every pooling and
// padding side.
func TestLengthBuckets(t *testing.T) {
	home := testenv.Home(t)
	if err := onnx.Init(testenv.ORTLib(t, home)); err != nil {
		t.Fatal(err)
	}
	for _, n := range []struct{ n, max, want int }{{1, 0, 16}, {17, 0, 32}, {129, 0, 192}, {1025, 0, 1280}, {100, 100, 100}, {90, 100, 96}, {5, 4, 5}} {
		if got := onnx.BucketLen(n.n, n.max); got != n.want {
			t.Errorf("BucketLen(%d, %d) = %d, want %d", n.n, n.max, got, n.want)
		}
	}
	for _, v := range []struct {
		o    tiny.Options
		left bool
	}{
		{tiny.Options{Pooling: models.PoolLast, PositionIDs: true}, true},
		{tiny.Options{Pooling: models.PoolMean}, false},
		{tiny.Options{Pooling: models.PoolCLS}, false},
		{tiny.Options{Pooling: models.PoolLast}, false},
	} {
		m, err := tiny.Write(t.TempDir(), v.o)
		if err != nil {
			t.Fatal(err)
		}
		b, err := onnx.Open(m, onnx.Options{PadLeft: v.left, MaxBatch: 4, LengthBuckets: "on"})
		if err != nil {
			t.Fatal(err)
		}
		ids, _ := b.Tokenize(tinyTexts)
		for _, batch := range b.Batches(ids) {
			for _, i := range batch {
				if a, z := onnx.BucketLen(max(1, len(ids[i])), m.MaxTokens), onnx.BucketLen(max(1, len(ids[batch[0]])), m.MaxTokens); a != z {
					t.Fatalf("a batch holds buckets %d and %d", a, z)
				}
			}
		}
		got, err := b.Embed(context.Background(), tinyTexts)
		b.Close()
		if err != nil {
			t.Fatal(err)
		}
		for i, text := range tinyTexts {
			want := tiny.Expect(v.o, tiny.IDs(text))
			for k, w := range want {
				if d := math.Abs(float64(got[i*tiny.Dim+k] - w)); d > 1e-5 {
					t.Fatalf("%+v left=%v: text %q component %d: got %g, want %g", v.o, v.left, text, k, got[i*tiny.Dim+k], w)
				}
			}
		}
	}
}
