// Command backbone benchmarks the default backbone's embedding throughput,
// side by side in one run on the same texts:
//
//   - the ser pipeline: onnx.Backbone.Embed (tokenize, sort by length, batch,
//     run sessions in parallel, put vectors back in order);
//   - ONNX Runtime alone: the same pre-tokenised batches, as ready tensors,
//     through bare onnxruntime_go sessions with the same threads, which is the
//     practical limit of any pipeline on this graph;
//   - the original runtime, @energetic-ai/embeddings on Node (models/reference/peer.js).
//
// Texts are the first responses of the HH-RLHF test splits in ../shared/data,
// taken round-robin over the four subsets.
//
//	go run ./bench/backbone -n 2000
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/models"
	"github.com/ser-rl/ser/onnx"
)

func main() {
	home := flag.String("home", os.Getenv("SER_HOME"), "ser home with the runtime and the default backbone")
	shared := flag.String("shared", "../shared/data", "the shared data folder")
	n := flag.Int("n", 2000, "texts")
	reps := flag.Int("reps", 3, "timed repetitions of each Go measurement (the median is reported)")
	peer := flag.Bool("peer", true, "also run the Node peer (models/reference, npm ci first)")
	flag.Parse()
	if err := run(*home, *shared, *n, *reps, *peer); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func hhTexts(shared string, n int) ([]string, error) {
	files, _ := filepath.Glob(filepath.Join(shared, "hh-rlhf", "*", "test.jsonl.gz"))
	if len(files) == 0 {
		return nil, fmt.Errorf("no HH-RLHF files under %s", shared)
	}
	var readers []*data.Reader
	for _, f := range files {
		r, err := data.Open(f, data.Options{})
		if err != nil {
			return nil, err
		}
		defer r.Close()
		readers = append(readers, r)
	}
	var out []string
	for len(out) < n {
		progressed := false
		for _, r := range readers {
			p, err := r.Next()
			if errors.Is(err, io.EOF) {
				continue
			}
			if err != nil {
				return nil, err
			}
			progressed = true
			if p.Chosen != "" && len(out) < n {
				out = append(out, p.Chosen)
			}
		}
		if !progressed {
			break
		}
	}
	return out, nil
}

func median(xs []float64) float64 {
	sort.Float64s(xs)
	return xs[len(xs)/2]
}

func run(home, shared string, n, reps int, peer bool) error {
	texts, err := hhTexts(shared, n)
	if err != nil {
		return err
	}
	m, err := models.Find(home, models.DefaultName)
	if err != nil {
		return err
	}
	if err := onnx.Init(models.ORTLibPath(home)); err != nil {
		return err
	}
	b, err := onnx.Open(m, onnx.Options{})
	if err != nil {
		return err
	}
	defer b.Close()
	opts := b.Options()
	ids, err := b.Tokenize(texts)
	if err != nil {
		return err
	}
	tokens := 0
	for _, r := range ids {
		tokens += len(r)
	}
	b.Embed(texts[:64]) // warm-up

	var pipe []float64
	for i := 0; i < reps; i++ {
		start := time.Now()
		if _, err := b.Embed(texts); err != nil {
			return err
		}
		pipe = append(pipe, time.Since(start).Seconds())
	}
	bareS, err := bare(m, ids, b.Batches(ids), opts, reps)
	if err != nil {
		return err
	}
	tok := func() time.Duration {
		start := time.Now()
		b.Tokenize(texts)
		return time.Since(start)
	}()

	res := map[string]any{"texts": len(texts), "tokens": tokens, "sessions": opts.Sessions, "threads_per_session": opts.Threads,
		"pipeline_s": median(pipe), "bare_s": bareS, "tokenize_s": tok.Seconds()}
	fmt.Printf("backbone: %s (Universal Sentence Encoder lite, ONNX), %d HH-RLHF responses, %d tokens after the 128-token cap\n", m.Name, len(texts), tokens)
	fmt.Printf("%-34s %10s %10s %12s\n", "", "seconds", "texts/s", "tokens/s")
	row := func(name string, s float64) {
		fmt.Printf("%-34s %10.2f %10.1f %12.0f\n", name, s, float64(len(texts))/s, float64(tokens)/s)
	}
	row(fmt.Sprintf("ser pipeline (%d sessions x %d thr)", opts.Sessions, opts.Threads), median(pipe))
	row("ONNX Runtime alone, same batches", bareS)
	fmt.Printf("pipeline / bare: %.1f%%   (tokenizing all texts alone: %.3fs)\n", 100*bareS/median(pipe), tok.Seconds())
	if peer {
		p, err := runPeer(texts)
		if err != nil {
			return err
		}
		row("Node peer (TF.js, batches of 32)", p)
		fmt.Printf("pipeline / Node peer: %.1fx\n", p/median(pipe))
		res["peer_s"] = p
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	return nil
}

// bare runs the batches through bare onnxruntime_go sessions (one per
// worker, same threads as the pipeline), inputs built before the clock starts.
func bare(m *models.Manifest, ids [][]int32, batches [][]int, opts onnx.Options, reps int) (float64, error) {
	type prepared struct {
		in  []ort.Value
		out ort.Value
	}
	var work []prepared
	for _, bt := range batches {
		var idx, val []int64
		for r, i := range bt {
			for p, id := range ids[i] {
				idx = append(idx, int64(r), int64(p))
				val = append(val, int64(id))
			}
		}
		ti, err := ort.NewTensor(ort.NewShape(int64(len(val)), 2), idx)
		if err != nil {
			return 0, err
		}
		tv, err := ort.NewTensor(ort.NewShape(int64(len(val))), val)
		if err != nil {
			return 0, err
		}
		to, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(len(bt)), int64(m.Dim)))
		if err != nil {
			return 0, err
		}
		work = append(work, prepared{[]ort.Value{ti, tv}, to})
	}
	var sessions []*ort.DynamicAdvancedSession
	for i := 0; i < opts.Sessions; i++ {
		so, _ := ort.NewSessionOptions()
		so.SetIntraOpNumThreads(opts.Threads)
		so.SetInterOpNumThreads(1)
		s, err := ort.NewDynamicAdvancedSession(m.Path(m.Model), []string{"indices", "values"}, []string{m.Output}, so)
		so.Destroy()
		if err != nil {
			return 0, err
		}
		defer s.Destroy()
		sessions = append(sessions, s)
	}
	var times []float64
	for r := 0; r < reps; r++ {
		next := make(chan int)
		var wg sync.WaitGroup
		var runErr error
		var mu sync.Mutex
		start := time.Now()
		for _, s := range sessions {
			wg.Add(1)
			go func(s *ort.DynamicAdvancedSession) {
				defer wg.Done()
				for i := range next {
					if err := s.Run(work[i].in, []ort.Value{work[i].out}); err != nil {
						mu.Lock()
						runErr = err
						mu.Unlock()
					}
				}
			}(s)
		}
		for i := range work {
			next <- i
		}
		close(next)
		wg.Wait()
		if runErr != nil {
			return 0, runErr
		}
		times = append(times, time.Since(start).Seconds())
	}
	return median(times), nil
}

func runPeer(texts []string) (float64, error) {
	dir, err := os.MkdirTemp("", "ser-bench")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "texts.json")
	raw, _ := json.Marshal(texts)
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		return 0, err
	}
	cmd := exec.Command("node", "peer.js", path, "32")
	cmd.Dir = filepath.Join("models", "reference")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("node peer: %w (run `npm ci --ignore-scripts` in models/reference first)", err)
	}
	var r struct {
		Seconds float64 `json:"seconds"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return 0, fmt.Errorf("node peer printed %q: %w", out, err)
	}
	return r.Seconds, nil
}
