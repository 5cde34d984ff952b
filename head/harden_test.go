package head

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// reversed swaps every pair: the first response becomes the rejected one.
func reversed(d Data) Data {
	return Data{X: &Pairs{A: d.X.B, B: d.X.A}}
}

// TestCalibrationKeepsOrder: a head calibrated on pairs where its rewards
// point the wrong way (as an overfitted head's can on held-out pairs) must
// not turn its rankings around. Before the slope was kept positive, Platt
// scaling fitted a < 0 here and reversed every pair.
func TestCalibrationKeepsOrder(t *testing.T) {
	all, _ := synthetic(2000, 6, 11, false)
	train, rest := split(all, 1000)
	h, err := Train(context.Background(), Problem{Train: train, Backbone: Backbone{}, Form: Separate}, TrainOptions{Seed: 1, Calibration: "none"})
	if err != nil {
		t.Fatal(err)
	}
	raw := Accuracy(h, rest.X)
	for _, method := range []string{"platt", "temperature"} {
		c := Calibrate(h, reversed(rest).X, method)
		if !(c.A > 0) || !c.Clamped {
			t.Fatalf("%s on reversed pairs: %+v; want a small positive slope, clamped", method, c)
		}
		h.Calib = c
		ra, rb := h.Rewards(rest.X.A), h.Rewards(rest.X.B)
		ok := 0
		for i := range ra {
			if ra[i] > rb[i] {
				ok++
			}
		}
		if got := float64(ok) / float64(len(ra)); got != raw {
			t.Errorf("%s: accuracy %.4f after calibration, %.4f before", method, got, raw)
		}
	}
}

func trainedHead(t *testing.T) (*Head, string) {
	t.Helper()
	all, _ := synthetic(300, 6, 7, false)
	h, err := Train(context.Background(), Problem{Train: all, Backbone: Backbone{Name: "b", Fingerprint: "0123456789abcdef", Dim: 3}, Form: Separate}, TrainOptions{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "h.head")
	if err := h.Save(path); err != nil {
		t.Fatal(err)
	}
	return h, path
}

// rewrite edits a head file's JSON and, when resum, recomputes its checksum
// (as a hostile writer would, to get past it).
func rewrite(t *testing.T, path string, resum bool, edit func(f *file)) {
	t.Helper()
	raw, _ := os.ReadFile(path)
	var f file
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	edit(&f)
	if resum {
		f.SHA256, _ = f.checksum()
	}
	raw, _ = json.Marshal(f)
	os.WriteFile(path, raw, 0o644)
}

// TestHeadFileTampering: changed, damaged or malformed head files are refused
// with the field at fault, never loaded into rewards that mean nothing and
// never a panic or a huge allocation.
func TestHeadFileTampering(t *testing.T) {
	cases := []struct {
		name  string
		resum bool
		edit  func(f *file)
		want  string
	}{
		{"one base64 character", false, func(f *file) {
			b := []byte(f.Layers[0].W)
			b[4] ^= 1
			f.Layers[0].W = string(b)
		}, "checksum"},
		{"calibration edited", false, func(f *file) { f.Calib.A = 5 }, "checksum"},
		{"NaN weight", true, func(f *file) {
			w, _ := dec(f.Layers[0].W, f.Layers[0].Rows*f.Layers[0].Cols, "w")
			w[2] = math.NaN()
			f.Layers[0].W = enc(w)
		}, "NaN"},
		{"huge exponent", true, func(f *file) {
			w, _ := dec(f.Layers[0].W, f.Layers[0].Rows*f.Layers[0].Cols, "w")
			w[2] = math.Inf(1)
			f.Layers[0].W = enc(w)
		}, "Inf"},
		{"form changed", true, func(f *file) { f.Features = Joint }, "feature_dim"},
		{"feature_dim mismatched", true, func(f *file) { f.InDim = 7 }, "feature_dim"},
		{"huge feature_dim", true, func(f *file) { f.InDim = 1 << 40; f.Backbone.Dim = 1 << 39 }, "backbone.dim"},
		{"layer with no rows", true, func(f *file) { f.Layers[0].Rows = 0 }, "rows"},
		{"negative calibration slope", true, func(f *file) { f.Calib.A = -0.2 }, "calibration"},
		{"no layers", true, func(f *file) { f.Layers = nil }, "layers"},
		{"older format", true, func(f *file) { f.Format = "ser-head/1" }, "older ser"},
		{"unknown kind", true, func(f *file) { f.Kind = "forest" }, "kind"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, path := trainedHead(t)
			rewrite(t, path, c.resum, c.edit)
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v; want one mentioning %q", err, c.want)
			}
		})
	}
	t.Run("not finite is not saved", func(t *testing.T) {
		h, path := trainedHead(t)
		h.Layers[0].W.Set(0, 0, math.NaN())
		if err := h.Save(path + "2"); err == nil {
			t.Fatal("a head with NaN was saved")
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "x.head")
		os.WriteFile(path, []byte(`{"format": ["ser-head/2"]}`), 0o644)
		if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "field format") || strings.Contains(err.Error(), "Go value") {
			t.Fatalf("err %v", err)
		}
	})
}

// TestTrainOptionsCheck: every setting outside its range is refused before
// training, naming the setting.
func TestTrainOptionsCheck(t *testing.T) {
	cases := []struct {
		opt  TrainOptions
		want string
	}{
		{TrainOptions{Kind: "tree"}, "kind"},
		{TrainOptions{Kind: MLP, Hidden: []int{0}}, "hidden size 0"},
		{TrainOptions{Kind: MLP, Hidden: []int{-4}}, "hidden size -4"},
		{TrainOptions{Kind: MLP, Hidden: []int{8, 8, 8}}, "hidden layers"},
		{TrainOptions{L2: -1}, "l2"},
		{TrainOptions{L2: math.NaN()}, "l2"},
		{TrainOptions{Margin: math.Inf(1)}, "margin"},
		{TrainOptions{Optimizer: "sgd"}, "optimizer"},
		{TrainOptions{Kind: MLP, Optimizer: LBFGS}, "lbfgs"},
		{TrainOptions{Calibration: "foo"}, "calibration"},
		{TrainOptions{Epochs: -1}, "epochs"},
	}
	all, _ := synthetic(50, 3, 1, false)
	for _, c := range cases {
		if err := c.opt.Check(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v; want one mentioning %q", c.opt, err, c.want)
		}
		if _, err := Train(context.Background(), Problem{Train: all, Backbone: Backbone{}, Form: Separate}, c.opt); err == nil {
			t.Errorf("%+v: trained", c.opt)
		}
	}
}

// TestMarginScales: the margin option changes the fit (it once did not: the
// score differences were applied at scale 1 whatever it said).
func TestMarginScales(t *testing.T) {
	all, _ := synthetic(400, 4, 2, false)
	n, _ := all.X.A.Dims()
	all.Margins = make([]float64, n)
	for i := range all.Margins {
		all.Margins[i] = float64(i%5) * 0.5
	}
	weights := func(m float64) []float64 {
		h, err := Train(context.Background(), Problem{Train: all, Backbone: Backbone{}, Form: Separate}, TrainOptions{Seed: 1, Margin: m, L2: 1e-3})
		if err != nil {
			t.Fatal(err)
		}
		return mat.Row(nil, 0, h.Layers[0].W)
	}
	w0, w1, w5 := weights(0), weights(0.5), weights(5)
	same := func(a, b []float64) bool {
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	if same(w0, w1) || same(w1, w5) {
		t.Fatal("margins 0, 0.5 and 5 give the same weights")
	}
	// without score differences the margin changes nothing
	all.Margins = nil
	if !same(weights(0), weights(5)) {
		t.Fatal("a margin without score differences changed the weights")
	}
}

// FuzzHeadFile loads arbitrary bytes as a head file: an error or a head whose
// rewards are finite, never a panic.
func FuzzHeadFile(f *testing.F) {
	all, _ := synthetic(100, 3, 1, false)
	h, err := Train(context.Background(), Problem{Train: all, Backbone: Backbone{Name: "b", Fingerprint: "f", Dim: 1}, Form: Joint}, TrainOptions{Seed: 1})
	if err != nil {
		f.Fatal(err)
	}
	seed := filepath.Join(f.TempDir(), "seed.head")
	if err := h.Save(seed); err != nil {
		f.Fatal(err)
	}
	raw, _ := os.ReadFile(seed)
	f.Add(raw)
	f.Add([]byte(`{"format":"ser-head/2","kind":"linear","features":"joint","backbone":{"dim":1},"feature_dim":1}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw []byte) {
		path := filepath.Join(dir, "h.head")
		os.WriteFile(path, raw, 0o644)
		g, err := Load(path)
		if err != nil {
			return
		}
		x := mat.NewDense(2, g.FeatureDim(), nil)
		for _, r := range g.Rewards(x) {
			if math.IsNaN(r) {
				t.Fatalf("a loaded head gives NaN")
			}
		}
	})
}
