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
//
// With -model (any other backbone: an LLM with its real tokenizer) it
// measures instead what tokenization costs the pipeline: the same sessions
// embed the texts from pre-tokenized ids (Backbone.EmbedTokens, the limit of
// any pipeline) and from text (Backbone.Embed: tokenize, then the same), on
// -device. Texts are HH-RLHF responses, or with -pairs each pair's prompt and
// answers formatted with the backbone's pair template, as `ser embed` does for
// joint features.
//
//	go run ./bench/backbone -model ./llama3-fp16 -device cuda -pairs pairs.jsonl
package main

import (
	"context"
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
	model := flag.String("model", "", "measure tokenization's cost on this backbone (name or folder) instead")
	device := flag.String("device", "cpu", "with -model: cpu, cuda or cuda:N")
	pairs := flag.String("pairs", "", "with -model: texts from this pairs JSONL, formatted with the pair template")
	ortLib := flag.String("ort-lib", os.Getenv("ORT_LIB"), "ONNX Runtime library (default: the one ser setup installed)")
	flag.Parse()
	if *ortLib == "" {
		*ortLib = models.ORTLibPath(*home)
	}
	if *model != "" {
		if err := tokenizerCost(*home, *ortLib, *model, *device, *shared, *pairs, *n, *reps); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
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
	b.Embed(context.Background(), texts[:64]) // warm-up

	var pipe []float64
	for i := 0; i < reps; i++ {
		start := time.Now()
		if _, err := b.Embed(context.Background(), texts); err != nil {
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

// tokenizerCost times the same backbone on pre-tokenized ids and on text.
func tokenizerCost(home, ortLib, model, device, shared, pairsPath string, n, reps int) error {
	m, err := models.Find(home, model)
	if err != nil {
		return err
	}
	var texts []string
	if pairsPath != "" {
		r, err := data.Open(pairsPath, data.Options{})
		if err != nil {
			return err
		}
		for len(texts) < 2*n {
			p, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			texts = append(texts, m.FormatPair(p.Prompt, p.Chosen, data.FormatAuto), m.FormatPair(p.Prompt, p.Rejected, data.FormatAuto))
		}
		r.Close()
	} else if texts, err = hhTexts(shared, n); err != nil {
		return err
	}
	if err := onnx.Init(ortLib); err != nil {
		return err
	}
	b, err := onnx.Open(m, onnx.Options{Device: device})
	if err != nil {
		return err
	}
	defer b.Close()
	start := time.Now()
	ids, err := b.Tokenize(texts)
	if err != nil {
		return err
	}
	tokS := time.Since(start).Seconds()
	tokens := 0
	for _, r := range ids {
		tokens += len(r)
	}
	if _, err := b.EmbedTokens(context.Background(), ids[:min(len(ids), 64)]); err != nil { // warm-up
		return err
	}
	var pre, pipe []float64
	for i := 0; i < reps; i++ {
		start := time.Now()
		if _, err := b.EmbedTokens(context.Background(), ids); err != nil {
			return err
		}
		pre = append(pre, time.Since(start).Seconds())
		start = time.Now()
		if _, err := b.Embed(context.Background(), texts); err != nil {
			return err
		}
		pipe = append(pipe, time.Since(start).Seconds())
	}
	p, e := median(pre), median(pipe)
	fmt.Printf("backbone %s (%s tokenizer, %s), device %s: %d texts, %d tokens (cap %d)\n", m.Name, m.TokenizerKind, m.Tokenizer, device, len(texts), tokens, m.MaxTokens)
	fmt.Printf("  tokenizing alone, all cores:          %8.3f s  %12.0f tokens/s\n", tokS, float64(tokens)/tokS)
	fmt.Printf("  ONNX Runtime on pre-tokenized ids:    %8.3f s  %12.0f tokens/s\n", p, float64(tokens)/p)
	fmt.Printf("  ser pipeline (tokenize, then embed):  %8.3f s  %12.0f tokens/s\n", e, float64(tokens)/e)
	fmt.Printf("  pipeline / pre-tokenized: %.1f%%\n", 100*p/e)
	out, _ := json.Marshal(map[string]any{"model": m.Name, "device": device, "texts": len(texts), "tokens": tokens,
		"tokenize_s": tokS, "pretokenized_s": p, "pipeline_s": e, "ratio": p / e})
	fmt.Println(string(out))
	return nil
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
