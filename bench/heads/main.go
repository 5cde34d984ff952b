// Command heads measures ser's reward heads against their peers on the same
// features of the default backbone, side by side in one run:
//
//   - accuracy: the linear and MLP heads against scikit-learn's
//     LogisticRegression (C=1, the reference) on an 80/20 split of the 8,552
//     HH-RLHF pairs and 5-fold cross-validation on the 1,200 UltraFeedback pairs;
//   - speed: the linear head's training (L-BFGS, at scikit-learn's
//     regularisation) against LogisticRegression.fit, and the MLP head's
//     (AdamW, early stopping) against a PyTorch MLP of the same shape and
//     schedule, on the HH-RLHF split; and the head's scoring rate.
//
// The Python peers run in bench/heads/peer.py on features exported as .npy.
//
//	go run ./bench/heads
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/ser-rl/ser/bench/internal/benchdata"
	"github.com/ser-rl/ser/cache"
	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/eval"
	"github.com/ser-rl/ser/head"
	"github.com/ser-rl/ser/internal/openblas"
	"github.com/ser-rl/ser/models"
	"github.com/ser-rl/ser/onnx"
)

func main() {
	home := flag.String("home", os.Getenv("SER_HOME"), "ser home")
	shared := flag.String("shared", "../shared/data", "the shared data folder")
	python := flag.String("python", "/usr/bin/python3", "a Python with scikit-learn and PyTorch (Debian's python3-sklearn, python3-torch)")
	flag.Parse()
	if err := run(*home, *shared, *python); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type dataset struct {
	name  string
	pairs []data.Pair
	x     *head.Pairs
}

// Load reads the shared data and the features of its pairs, embedding what the cache lacks.
func load(home, shared string) ([]dataset, *models.Manifest, error) {
	sets := []dataset{{name: "HH-RLHF"}, {name: "UltraFeedback"}}
	for i, which := range []string{"hh", "uf"} {
		var err error
		if sets[i].pairs, err = benchdata.Pairs(shared, which); err != nil {
			return nil, nil, err
		}
	}
	f, m, err := benchdata.Featurizer(home, head.Separate, func(*onnx.Backbone) {
		fmt.Fprintln(os.Stderr, "embedding what the cache lacks (once; cached afterwards)")
	})
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	for i := range sets {
		if sets[i].x, _, err = f.Pairs(context.Background(), sets[i].pairs); err != nil {
			return nil, nil, err
		}
	}
	return sets, m, nil
}

type job struct {
	Name    string  `json:"name"`
	Train   []int   `json:"train"`
	Val     []int   `json:"val,omitempty"`
	Test    []int   `json:"test"`
	Sklearn bool    `json:"sklearn"`
	C       float64 `json:"C"`
	Torch   bool    `json:"torch"`
	Hidden  int     `json:"hidden,omitempty"`
	Seed    int     `json:"seed"`
}

type peerResult struct {
	Name        string  `json:"name"`
	SklearnAcc  float64 `json:"sklearn_acc"`
	SklearnS    float64 `json:"sklearn_s"`
	SklearnPred []bool  `json:"sklearn_pred"`
	TorchAcc    float64 `json:"torch_acc"`
	TorchS      float64 `json:"torch_s"`
	TorchEp     int     `json:"torch_epochs"`
	Setting     string  `json:"-"` // the threads it ran with
}

func rows(p *head.Pairs, idx []int) *head.Pairs {
	_, d := p.A.Dims()
	a, b := mat.NewDense(len(idx), d, nil), mat.NewDense(len(idx), d, nil)
	for k, i := range idx {
		copy(a.RawRowView(k), p.A.RawRowView(i))
		copy(b.RawRowView(k), p.B.RawRowView(i))
	}
	return &head.Pairs{A: a, B: b}
}

func export(dir string, x *head.Pairs, jobs []job) error {
	n, d := x.A.Dims()
	for name, m := range map[string]*mat.Dense{"a.npy": x.A, "b.npy": x.B} {
		v := make([]float32, n*d)
		for i := 0; i < n; i++ {
			for k, f := range m.RawRowView(i) {
				v[i*d+k] = float32(f)
			}
		}
		if err := cache.WriteNPY(filepath.Join(dir, name), []int{n, d}, v); err != nil {
			return err
		}
	}
	raw, _ := json.Marshal(jobs)
	return os.WriteFile(filepath.Join(dir, "splits.json"), raw, 0o644)
}

// peers runs the Python peers on jobs under each setting of threads
// (OpenBLAS's, PyTorch's) and keeps, for each job and peer, its fastest run:
// the peers at their best on this machine (oversubscribed threads can make
// PyTorch several times slower). numpy and PyTorch reach OpenBLAS through
// libblas; they get the kernels ser's OpenBLAS runs (OPENBLAS_CORETYPE).
func peers(python string, x *head.Pairs, jobs []job) ([]peerResult, error) {
	dir, err := os.MkdirTemp("", "ser-heads")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := export(dir, x, jobs); err != nil {
		return nil, err
	}
	var best []peerResult
	for _, set := range [][2]int{{1, 1}, {2, 1}, {1, 2}, {2, 2}} {
		cmd := exec.Command(python, filepath.Join("bench", "heads", "peer.py"), dir)
		cmd.Env = append(os.Environ(), fmt.Sprintf("OPENBLAS_NUM_THREADS=%d", set[0]), fmt.Sprintf("TORCH_THREADS=%d", set[1]))
		if ct := openblas.CoreType(); ct != "" && os.Getenv("OPENBLAS_CORETYPE") == "" {
			cmd.Env = append(cmd.Env, "OPENBLAS_CORETYPE="+ct) // the kernels ser's OpenBLAS runs
		}
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("python peer: %w", err)
		}
		var res []peerResult
		if err := json.Unmarshal(out, &res); err != nil {
			return nil, err
		}
		name := fmt.Sprintf("OpenBLAS threads %d, PyTorch threads %d", set[0], set[1])
		if best == nil {
			best = res
			for i := range best {
				best[i].Setting = name
			}
			continue
		}
		for i, r := range res {
			b := &best[i]
			if r.SklearnS < b.SklearnS {
				b.SklearnAcc, b.SklearnS, b.SklearnPred = r.SklearnAcc, r.SklearnS, r.SklearnPred
			}
			if r.TorchS > 0 && r.TorchS < b.TorchS {
				b.TorchAcc, b.TorchS, b.TorchEp, b.Setting = r.TorchAcc, r.TorchS, r.TorchEp, name
			}
		}
	}
	return best, nil
}

func split(n int, seed uint64, testFrac float64) (train, test []int) {
	perm := rand.New(rand.NewPCG(seed, 0x5711)).Perm(n)
	k := int(testFrac * float64(n))
	return perm[k:], perm[:k]
}

// trainHead trains on idx, holding out the last tenth of it for validation, as
// `ser train` does. Training is deterministic: it runs three times and the
// fastest time is kept, as the peers' fastest setting is.
func trainHead(x *head.Pairs, idx []int, opt head.TrainOptions) (*head.Head, float64, []int, []int) {
	var h *head.Head
	best := math.Inf(1)
	for range 3 {
		var s float64
		h, s = fit(x, idx, opt)
		best = min(best, s)
	}
	nv := len(idx) / 10
	return h, best, idx[:len(idx)-nv], idx[len(idx)-nv:]
}

// fit trains once on idx (its last tenth for validation) and times it.
func fit(x *head.Pairs, idx []int, opt head.TrainOptions) (*head.Head, float64) {
	nv := len(idx) / 10
	trX, vaX := rows(x, idx[:len(idx)-nv]), rows(x, idx[len(idx)-nv:]) // the peers get their arrays before their clocks start too
	start := time.Now()
	h, err := head.Train(context.Background(), head.Problem{Train: head.Data{X: trX}, Val: &head.Data{X: vaX}, Backbone: head.Backbone{}, Form: head.Separate}, opt)
	if err != nil {
		panic(err)
	}
	return h, time.Since(start).Seconds()
}

func run(home, shared, python string) error {
	sets, m, err := load(home, shared)
	if err != nil {
		return err
	}
	fmt.Printf("backbone: %s (Universal Sentence Encoder lite), separate features (%d per response)\n\n", m.Name, head.FeatureDim(head.Separate, m.Dim))

	// HH-RLHF: one 80/20 split; accuracy and speed.
	hh := sets[0]
	trIdx, teIdx := split(len(hh.pairs), 1, 0.2)
	lin, linS, tr, va := trainHead(hh.x, trIdx, head.TrainOptions{Seed: 1})
	mlp, mlpS, _, _ := trainHead(hh.x, trIdx, head.TrainOptions{Kind: head.MLP, Hidden: []int{64}, Seed: 1})
	// the same objective as LogisticRegression(C=1) on each pair in both orders: l2 = 1/(2 C n)
	fixed, fixedS, _, _ := trainHead(hh.x, trIdx, head.TrainOptions{Seed: 1, L2: 1 / (2 * float64(len(tr)))})
	hhJobs := []job{
		{Name: "hh-lr", Train: tr, Test: teIdx, Sklearn: true, C: 1},
		{Name: "hh-mlp", Train: tr, Val: va, Test: teIdx, Torch: true, Hidden: 64, Seed: 1},
	}
	pr, err := peers(python, hh.x, hhJobs)
	if err != nil {
		return err
	}
	te := rows(hh.x, teIdx)
	fmt.Printf("HH-RLHF, %d pairs, 80/20 split (train %d, of which 10%% validation; test %d)\n", len(hh.pairs), len(trIdx), len(teIdx))
	fmt.Printf("  %-52s %9s %10s\n", "", "test acc", "train s")
	fmt.Printf("  %-52s %9.4f %10.3f\n", "scikit-learn LogisticRegression(C=1)  [reference]", pr[0].SklearnAcc, pr[0].SklearnS)
	fmt.Printf("  %-52s %9.4f %10.3f\n", "ser linear head, l2 = 1/(2Cn) (same objective)", head.Accuracy(fixed, te), fixedS)
	fmt.Printf("  %-52s %9.4f %10.3f\n", fmt.Sprintf("ser linear head, default (l2 %v by validation)", lin.Training.L2), head.Accuracy(lin, te), linS)
	fmt.Printf("  %-52s %9.4f %10.3f\n", fmt.Sprintf("PyTorch MLP 64, AdamW, early stopping (%d epochs)", pr[1].TorchEp), pr[1].TorchAcc, pr[1].TorchS)
	fmt.Printf("  %-52s %9.4f %10.3f\n", fmt.Sprintf("ser MLP head 64, AdamW, early stopping (%v epochs)", mlp.Training.Epochs), head.Accuracy(mlp, te), mlpS)
	fmt.Printf("  speed: linear %.1fx scikit-learn (same objective), MLP %.1fx PyTorch\n", pr[0].SklearnS/fixedS, pr[1].TorchS/mlpS)
	differ := 0
	rb := fixed.Rewards(te.B)
	for k, ra := range fixed.Rewards(te.A) {
		if (ra > rb[k]) != pr[0].SklearnPred[k] {
			differ++
		}
	}
	fmt.Printf("  same objective: %d of %d test predictions differ from scikit-learn's\n", differ, len(teIdx))
	fmt.Printf("  the peers at their best of four thread settings (fastest kept): PyTorch with %s;\n", pr[1].Setting)
	fmt.Printf("  ser's MLP products on %s, %s kernels (SER_BLAS=go or no OpenBLAS: gonum's pure Go);\n", mlp.Training.BLAS, openblas.Core())
	fmt.Printf("  the peers' OpenBLAS kernels: OPENBLAS_CORETYPE=%q\n", cmp.Or(os.Getenv("OPENBLAS_CORETYPE"), openblas.CoreType()))
	start := time.Now()
	reps := 0
	for time.Since(start) < time.Second {
		lin.Rewards(te.A)
		mlp.Rewards(te.A)
		reps++
	}
	perRow := time.Since(start).Seconds() / float64(2*reps*len(teIdx))
	fmt.Printf("  head scoring: %.0f rows/s (linear and MLP alike)\n", 1/perRow)
	// float16 storage: the same fits on features rounded as a float16 cache
	// stores them; the MLP over 5 seeds, as its own seed-to-seed spread is
	// larger than what rounding could do
	h16 := half(hh.x)
	te16 := rows(h16, teIdx)
	lin16, _ := fit(h16, trIdx, head.TrainOptions{Seed: 1})
	var d16, a32 []float64
	for seed := uint64(1); seed <= 5; seed++ {
		m32, _ := fit(hh.x, trIdx, head.TrainOptions{Kind: head.MLP, Hidden: []int{64}, Seed: seed})
		m16, _ := fit(h16, trIdx, head.TrainOptions{Kind: head.MLP, Hidden: []int{64}, Seed: seed})
		a32 = append(a32, head.Accuracy(m32, te))
		d16 = append(d16, 100*(head.Accuracy(m16, te16)-head.Accuracy(m32, te)))
	}
	fmt.Printf("  features stored as float16 (feature_storage), test acc: linear %.4f (float32 %.4f, %+.2f pt);\n",
		head.Accuracy(lin16, te16), head.Accuracy(lin, te), 100*(head.Accuracy(lin16, te16)-head.Accuracy(lin, te)))
	fmt.Printf("  MLP float16 - float32 over seeds 1-5: %+.2f pt on average %v; float32 MLP accuracy across those seeds %s\n\n",
		mean(d16), fmtPts(d16), meanSD(a32))

	// UltraFeedback: 5-fold cross-validation, accuracy only.
	uf := sets[1]
	perm := rand.New(rand.NewPCG(1, 0x5711)).Perm(len(uf.pairs))
	var jobs []job
	var linAcc, mlpAcc, lin16Acc []float64
	uf16 := half(uf.x)
	for f := 0; f < 5; f++ {
		var trI, teI []int
		for k, i := range perm {
			if k%5 == f {
				teI = append(teI, i)
			} else {
				trI = append(trI, i)
			}
		}
		jobs = append(jobs, job{Name: fmt.Sprintf("uf-%d", f), Train: trI, Test: teI, Sklearn: true, C: 1})
		h, _, _, _ := trainHead(uf.x, trI, head.TrainOptions{Seed: 1})
		linAcc = append(linAcc, head.Accuracy(h, rows(uf.x, teI)))
		h, _, _, _ = trainHead(uf16, trI, head.TrainOptions{Seed: 1})
		lin16Acc = append(lin16Acc, head.Accuracy(h, rows(uf16, teI)))
		h, _, _, _ = trainHead(uf.x, trI, head.TrainOptions{Kind: head.MLP, Hidden: []int{64}, Seed: 1})
		mlpAcc = append(mlpAcc, head.Accuracy(h, rows(uf.x, teI)))
	}
	ur, err := peers(python, uf.x, jobs)
	if err != nil {
		return err
	}
	var sk []float64
	for _, r := range ur {
		sk = append(sk, r.SklearnAcc)
	}
	fmt.Printf("UltraFeedback sample, %d pairs without ties, 5-fold cross-validation (mean +- sd over folds)\n", len(uf.pairs))
	fmt.Printf("  %-52s %s\n", "scikit-learn LogisticRegression(C=1)  [reference]", meanSD(sk))
	fmt.Printf("  %-52s %s\n", "ser linear head, default", meanSD(linAcc))
	fmt.Printf("  %-52s %s\n", "ser MLP head 64", meanSD(mlpAcc))
	fmt.Printf("  %-52s %s (%+.2f pt)\n", "ser linear head, default, float16 features", meanSD(lin16Acc), 100*(mean(lin16Acc)-mean(linAcc)))
	return nil
}

// half is x with every feature rounded to float16, as a float16 feature
// cache stores it.
func half(x *head.Pairs) *head.Pairs {
	out := &head.Pairs{A: mat.DenseCopyOf(x.A), B: mat.DenseCopyOf(x.B)}
	for _, m := range []*mat.Dense{out.A, out.B} {
		raw := m.RawMatrix().Data
		for i, v := range raw {
			raw[i] = float64(cache.HalfToFloat(cache.FloatToHalf(float32(v))))
		}
	}
	return out
}

func fmtPts(x []float64) string {
	var b strings.Builder
	for i, v := range x {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%+.2f", v)
	}
	return "(" + b.String() + ")"
}

func mean(x []float64) float64 {
	m, _ := eval.MeanCI(x)
	return m
}

func meanSD(x []float64) string {
	m := 0.0
	for _, v := range x {
		m += v
	}
	m /= float64(len(x))
	s := 0.0
	for _, v := range x {
		s += (v - m) * (v - m)
	}
	return fmt.Sprintf("%.4f +- %.4f", m, math.Sqrt(s/float64(len(x))))
}
