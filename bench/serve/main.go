// Command serve is the load benchmark of `ser serve`, on loopback only: many
// concurrent clients send real HH-RLHF texts (prompt and response items) to
// one server, over both endpoints (/get_reward with prompts, as OpenRLHF
// sends them, and /v1/reward), and some clients give up mid-request (a
// deadline of a few milliseconds) and send their items again, as a trainer's
// retry would. Every answer is checked against `ser score`'s rewards for the
// same rows, run as a process beside it: each item answered once, none lost,
// none mismatched.
//
// Throughput is compared with ser's score path (features.Vectors and the
// head, in batches of 512 rows, as `ser score` runs it) in the same process,
// on the same texts and backbone:
//
//   - cold: neither side has seen the texts (an empty feature cache; the
//     server's memory empty), so both embed everything;
//   - warm: the texts were seen (the score path reads them from a filled
//     feature cache; the server from its memory).
//
// It is bounded: -pairs pairs, -max-seconds per pass, and it stops by itself.
//
//	go run ./bench/serve            # 1000 HH-RLHF pairs (2000 items), 32 clients
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ser-rl/ser/bench/openrlhf"
	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/features"
	"github.com/ser-rl/ser/head"
	"github.com/ser-rl/ser/models"
	"github.com/ser-rl/ser/onnx"
	"github.com/ser-rl/ser/serve"
)

type config struct {
	home, shared       string
	pairs, clients     int
	perRequest         int
	cancel             float64
	maxSeconds         float64
	maxBatch           int
	maxWait            time.Duration
	testSplit, trainOn string
	rounds             int
	model, device      string
	ortLib, serBin     string
}

// features opens a featurizer on the benchmark's backbone, device and runtime.
func (c config) features(m *models.Manifest, form, cachePath string) (*features.Featurizer, error) {
	return features.New(features.Options{Manifest: m, Form: form, CachePath: cachePath, ORTLib: c.ortLib, Backbone: onnx.Options{Device: c.device}})
}

func main() {
	var c config
	flag.StringVar(&c.home, "home", os.Getenv("SER_HOME"), "ser home (default: .ser-home)")
	flag.StringVar(&c.shared, "shared", "../shared/data", "the shared data folder")
	flag.IntVar(&c.pairs, "pairs", 1000, "HH-RLHF pairs to score (two items each)")
	flag.IntVar(&c.clients, "clients", 32, "concurrent clients")
	flag.IntVar(&c.perRequest, "items", 8, "items per request (a trainer's group of responses)")
	flag.Float64Var(&c.cancel, "cancel", 0.05, "fraction of requests whose client gives up after 1-20 ms (and sends them again)")
	flag.Float64Var(&c.maxSeconds, "max-seconds", 600, "a pass that takes longer stops and fails")
	flag.IntVar(&c.maxBatch, "max-batch", 256, "the server's --max-batch")
	flag.DurationVar(&c.maxWait, "max-wait", 5*time.Millisecond, "the server's --max-wait")
	flag.StringVar(&c.testSplit, "split", "hh-rlhf/harmless-base/test.jsonl.gz", "the texts scored (under -shared, or an absolute path)")
	flag.StringVar(&c.trainOn, "train", "hh-rlhf/helpful-base/test.jsonl.gz", "the head's training pairs (under -shared, or an absolute path)")
	flag.Float64Var(&tolerance, "tolerance", tolerance, "the largest |served - ser score| accepted for one reward (1e-4 fits fp32 backbones; fp16 on a GPU needs about 0.02)")
	flag.IntVar(&c.rounds, "rounds", 3, "rounds of every measurement (medians reported)")
	flag.StringVar(&c.model, "model", models.DefaultName, "backbone (a name under the home, or a folder)")
	flag.StringVar(&c.device, "device", "cpu", "cpu, cuda or cuda:N")
	flag.StringVar(&c.ortLib, "ort-lib", os.Getenv("ORT_LIB"), "ONNX Runtime library (default: $ORT_LIB, else the home's)")
	flag.StringVar(&c.serBin, "ser", "", "a ser binary to run as `ser score` (default: build one; a GPU machine has no Go)")
	flag.Parse()
	if c.home == "" {
		c.home = ".ser-home"
	}
	if c.ortLib == "" {
		c.ortLib = models.ORTLibPath(c.home)
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// under is path under dir, unless path is absolute.
func under(dir, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

func readPairs(path string, n int) ([]data.Pair, error) {
	all, _, err := data.ReadAll([]string{path}, data.Options{})
	if err != nil {
		return nil, err
	}
	var out []data.Pair
	for _, p := range all {
		if p.Problem() == "" && len(out) < n {
			out = append(out, p)
		}
	}
	return out, nil
}

func run(c config) error {
	m, err := models.Find(c.home, c.model)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "ser-bench-serve")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// the head: trained on another split, through the home's feature cache
	train, err := readPairs(under(c.shared, c.trainOn), 1<<30)
	if err != nil {
		return err
	}
	homeCache := features.HomeCache(c.home, m)
	ft, err := c.features(m, "", homeCache)
	if err != nil {
		return err
	}
	x, _, err := ft.Pairs(context.Background(), train)
	if err != nil {
		return err
	}
	h, err := head.Train(context.Background(), head.Problem{Train: head.Data{X: x}, Backbone: ft.Backbone(), Form: ft.Form()}, head.TrainOptions{Seed: 1})
	ft.Close()
	if err != nil {
		return err
	}
	headPath := filepath.Join(tmp, "rm.head")
	if err := h.Save(headPath); err != nil {
		return err
	}

	// the items, and ser score's rewards for them (a process, cold: an empty cache)
	pairs, err := readPairs(under(c.shared, c.testSplit), c.pairs)
	if err != nil {
		return err
	}
	items := make([]serve.Item, 0, 2*len(pairs))
	for _, p := range pairs {
		items = append(items, serve.Item{Prompt: p.Prompt, Response: p.Chosen}, serve.Item{Prompt: p.Prompt, Response: p.Rejected})
	}
	bin := c.serBin
	if bin == "" {
		bin = filepath.Join(tmp, "ser")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/ser").CombinedOutput(); err != nil {
			return fmt.Errorf("building ser: %v\n%s", err, out)
		}
	}
	fmt.Printf("ser serve load benchmark: backbone %s (%s, dim %d, max %d tokens) on %s, %s head on %s features; %d HH-RLHF pairs (%s) = %d items; %d CPUs, GOMAXPROCS %d\n",
		m.Name, m.Fingerprint(), m.Dim, m.MaxTokens, c.device, h.Kind, h.Features, len(pairs), c.testSplit, len(items), runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Printf("clients %d, %d items per request, %.0f%% of requests cancelled by their client after 1-20 ms and sent again; server --max-batch %d --max-wait %s; %d rounds, medians\n\n",
		c.clients, c.perRequest, 100*c.cancel, c.maxBatch, c.maxWait, c.rounds)

	// ser score's rewards (a process, an empty cache) are the reference
	ref, _, err := serScore(c, bin, tmp, filepath.Join(tmp, "ref.feat"), headPath, items)
	if err != nil {
		return err
	}
	// the control: ser score's code with batches of another size, no server
	_, control, err := scorePath(c, m, filepath.Join(tmp, "control.feat"), h, items, ref, 37, false)
	if err != nil {
		return err
	}
	fmt.Printf("control: ser score's code in batches of 37 rows instead of 512 differs from ser score by at most %.3g per reward (the backbone's own sensitivity to batch composition)\n\n", control)
	warmCache := filepath.Join(tmp, "warm.feat")
	if err := fill(c, m, h.Features, warmCache, items); err != nil {
		return err
	}
	// rounds of: ser score (process), the score path and ser serve, cold
	// (fresh caches, a fresh server) then warm (a filled cache; the server's memory)
	secs := map[string][]float64{}
	var cold, warm []*pass
	var page string
	for r := 0; r < c.rounds; r++ {
		fresh := func(name string) string { return filepath.Join(tmp, fmt.Sprintf("%s-%d.feat", name, r)) }
		_, t, err := serScore(c, bin, tmp, fresh("process"), headPath, items, ref)
		if err != nil {
			return err
		}
		secs["process cold"] = append(secs["process cold"], t)
		if t, _, err = scorePath(c, m, fresh("path"), h, items, ref, 512, true); err != nil {
			return err
		}
		secs["path cold"] = append(secs["path cold"], t)
		srv, err := startServer(c, m, fresh("serve"), headPath)
		if err != nil {
			return err
		}
		pc, err := load(c, srv.url, items, ref, uint64(2*r))
		if err != nil {
			return err
		}
		pw, err := load(c, srv.url, items, ref, uint64(2*r+1))
		if err != nil {
			return err
		}
		if page, err = get(srv.url + "/metrics"); err != nil {
			return err
		}
		srv.close()
		cold, warm = append(cold, pc), append(warm, pw)
		secs["serve cold"] = append(secs["serve cold"], pc.secs)
		secs["serve warm"] = append(secs["serve warm"], pw.secs)
		if t, _, err = scorePath(c, m, warmCache, h, items, ref, 512, true); err != nil {
			return err
		}
		secs["path warm"] = append(secs["path warm"], t)
		if _, t, err = serScore(c, bin, tmp, warmCache, headPath, items, ref); err != nil {
			return err
		}
		secs["process warm"] = append(secs["process warm"], t)
	}
	n := float64(len(items))
	rate := func(k string) float64 { return n / median(secs[k]) }
	ratio := func(a, b string) float64 { // the median of the rounds' ratios
		var q []float64
		for i := range secs[a] {
			q = append(q, secs[b][i]/secs[a][i])
		}
		return 100 * median(q)
	}
	fmt.Printf("items/s              %10s %10s\n", "cold", "warm")
	fmt.Printf("ser score (process)  %10.0f %10.0f   (start-up included: the user's command)\n", rate("process cold"), rate("process warm"))
	fmt.Printf("score path           %10.0f %10.0f   (ser score's code in this process, sessions open)\n", rate("path cold"), rate("path warm"))
	fmt.Printf("ser serve            %10.0f %10.0f   (%d clients over loopback HTTP, JSON both ways)\n", rate("serve cold"), rate("serve warm"), c.clients)
	fmt.Printf("serve / ser score    %9.1f%% %9.1f%%\n", ratio("serve cold", "process cold"), ratio("serve warm", "process warm"))
	fmt.Printf("serve / score path   %9.1f%% %9.1f%%\n\n", ratio("serve cold", "path cold"), ratio("serve warm", "path warm"))
	for _, r := range []struct {
		name string
		p    []*pass
	}{{"cold", cold}, {"warm", warm}} {
		all := &pass{}
		agree, pairs := 0, 0
		for _, p := range r.p {
			for i := 0; i+1 < len(ref); i += 2 { // chosen, rejected: the same preference as ser score's?
				if (p.served[i] > p.served[i+1]) == (ref[i] > ref[i+1]) {
					agree++
				}
				pairs++
			}
			all.lat = append(all.lat, p.lat...)
			all.items += p.items
			all.exact += p.exact
			all.maxDiff = math.Max(all.maxDiff, p.maxDiff)
			all.cancelled += p.cancelled
			all.busy += p.busy
		}
		fmt.Printf("%s: latency p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d answered requests; %d answers checked against ser score's: %d equal bit for bit, max |diff| %.3g (tolerance %g); the preference of %d of %d pairs as ser score's; %d requests cancelled by their client and sent again, %d answered 429; no item lost or answered twice\n",
			r.name, all.pct(50), all.pct(99), all.pct(100), len(all.lat), all.items, all.exact, all.maxDiff, tolerance, agree, pairs, all.cancelled, all.busy)
	}
	if err := openRLHF(c, m, tmp, headPath, items, ref); err != nil {
		return err
	}
	fmt.Printf("\nthe last round's server metrics after its two passes:\n")
	for _, line := range strings.Split(page, "\n") {
		for _, k := range []string{"ser_items_scored_total", "ser_items_abandoned_total", "ser_vector_memory_hits_total", "ser_vector_memory_misses_total", "ser_batch_items_count", "ser_batch_items_sum", "ser_requests_total"} {
			if strings.HasPrefix(line, k) {
				fmt.Println("  " + line)
			}
		}
	}
	return nil
}

// serScore runs `ser score` on the items as a process, reading cachePath,
// and returns its rewards and wall time; they must equal check's when given.
func serScore(c config, bin, tmp, cachePath, headPath string, items []serve.Item, check ...[]float64) ([]float64, float64, error) {
	var in bytes.Buffer
	enc := json.NewEncoder(&in)
	for _, it := range items {
		enc.Encode(map[string]string{"prompt": it.Prompt, "response": it.Response})
	}
	inPath, outPath := filepath.Join(tmp, "items.jsonl"), filepath.Join(tmp, "scored.jsonl")
	if err := os.WriteFile(inPath, in.Bytes(), 0o644); err != nil {
		return nil, 0, err
	}
	start := time.Now()
	cmd := exec.Command(bin, "--home", c.home, "--ort-lib", c.ortLib, "--device", c.device, "--quiet", "score", "--head", headPath, "--model", c.model, "--cache", cachePath, "--in", inPath, "--out", outPath)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, 0, fmt.Errorf("ser score: %v\n%s", err, out)
	}
	secs := time.Since(start).Seconds()
	raw, err := os.ReadFile(outPath)
	if err != nil {
		return nil, 0, err
	}
	var ref []float64
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var v struct{ Reward *float64 }
		if err := json.Unmarshal([]byte(line), &v); err != nil || v.Reward == nil {
			return nil, 0, fmt.Errorf("ser score wrote %.80q", line)
		}
		ref = append(ref, *v.Reward)
	}
	if len(ref) != len(items) {
		return nil, 0, fmt.Errorf("ser score wrote %d rows for %d", len(ref), len(items))
	}
	for _, want := range check {
		for i := range want {
			if math.Abs(ref[i]-want[i]) > tolerance {
				return nil, 0, fmt.Errorf("ser score with cache %s, item %d: %v, first run %v", cachePath, i, ref[i], want[i])
			}
		}
	}
	return ref, secs, nil
}

// scorePath times ser score's path in this process (a fresh featurizer on
// cachePath, batches of rows rows; ser score's are 512) and returns its time
// and largest |reward - ref|, failing above tolerance when check is set.
func scorePath(c config, m *models.Manifest, cachePath string, h *head.Head, items []serve.Item, ref []float64, rows int, check bool) (float64, float64, error) {
	f, err := c.features(m, h.Features, cachePath)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	if _, err := f.Vectors(context.Background(), []string{"warm-up"}); err != nil { // sessions open, as the server's Warm does
		return 0, 0, err
	}
	start := time.Now()
	maxDiff := 0.0
	for i := 0; i < len(items); i += rows {
		part := items[i:min(i+rows, len(items))]
		pairs := make([]data.Pair, len(part))
		for k, it := range part {
			pairs[k] = data.Pair{Prompt: it.Prompt, Chosen: it.Response, Rejected: it.Response}
		}
		vecs, err := f.Vectors(context.Background(), f.Texts(pairs))
		if err != nil {
			return 0, 0, err
		}
		r := h.Rewards(f.PairsOf(vecs, len(pairs)).A)
		for k := range r {
			d := math.Abs(r[k] - ref[i+k])
			maxDiff = math.Max(maxDiff, d)
			if check && d > tolerance {
				return 0, 0, fmt.Errorf("score path, item %d: %v, ser score %v", i+k, r[k], ref[i+k])
			}
		}
	}
	return time.Since(start).Seconds(), maxDiff, nil
}

// fill embeds the texts the items' features need (under the head's form)
// into a feature cache.
func fill(c config, m *models.Manifest, form, cachePath string, items []serve.Item) error {
	f, err := c.features(m, form, cachePath)
	if err != nil {
		return err
	}
	defer f.Close()
	pairs := make([]data.Pair, len(items))
	for i, it := range items {
		pairs[i] = data.Pair{Prompt: it.Prompt, Chosen: it.Response, Rejected: it.Response}
	}
	_, err = f.Fill(context.Background(), f.Texts(pairs), 0, 1)
	return err
}

func median(x []float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

type server struct {
	url  string
	s    *serve.Server
	f    *features.Featurizer
	http *http.Server
}

func startServer(c config, m *models.Manifest, cachePath, headPath string) (*server, error) {
	f, err := c.features(m, "", cachePath)
	if err != nil {
		return nil, err
	}
	s, err := serve.New(f, serve.Options{HeadPath: headPath, MaxBatch: c.maxBatch, MaxWait: c.maxWait, QueueSize: 1 << 16})
	if err != nil {
		return nil, err
	}
	if err := s.Warm(context.Background()); err != nil {
		return nil, err
	}
	ln, err := s.Listen("127.0.0.1:0") // loopback only
	if err != nil {
		return nil, err
	}
	hs := s.HTTPServer(ln.Addr().String())
	go hs.Serve(ln)
	return &server{url: "http://" + ln.Addr().String(), s: s, f: f, http: hs}, nil
}

func (s *server) close() {
	s.http.Shutdown(context.Background())
	s.s.Close()
	s.f.Close()
}

// tolerance bounds |serve - score| for one reward (-tolerance). Both run the
// same head on the same backbone, but in batches of other compositions, and a
// backbone's kernels round differently at another padded length and batch
// size: by about 3e-7 for USE-lite in fp32 on the CPU, by a few 1e-3 for an
// fp16 LLM on a GPU (the control line of the output measures it without the
// server). A reward given to the wrong item is off by about the rewards'
// spread (0.5-1), far beyond either.
var tolerance = 1e-4

type pass struct {
	secs            float64
	lat             []float64 // ms, of answered requests
	items, exact    int
	maxDiff         float64
	cancelled, busy int
	answered        []int32
	served          []float64 // each item's reward as answered
	mu              sync.Mutex
	cancelN, busyN  atomic.Int64
	mismatch        error
}

func (p *pass) pct(q float64) float64 {
	if len(p.lat) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), p.lat...)
	sort.Float64s(s)
	i := int(math.Ceil(q/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// load sends every item through concurrent clients until each is answered,
// and checks the answers.
func load(c config, url string, items []serve.Item, ref []float64, seed uint64) (*pass, error) {
	p := &pass{answered: make([]int32, len(items)), served: make([]float64, len(items))}
	work := make(chan []int, len(items))
	for i := 0; i < len(items); i += c.perRequest {
		var idx []int
		for k := i; k < min(i+c.perRequest, len(items)); k++ {
			idx = append(idx, k)
		}
		work <- idx
	}
	var left atomic.Int64
	left.Store(int64(len(work)))
	deadline := time.Now().Add(time.Duration(c.maxSeconds * float64(time.Second)))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c.clients}}
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < c.clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for left.Load() > 0 && time.Now().Before(deadline) {
				var idx []int
				select {
				case idx = <-work:
				case <-time.After(10 * time.Millisecond):
					continue
				}
				again, err := p.request(client, url, items, ref, idx, rng, c.cancel, w%2 == 0)
				if err != nil {
					p.mu.Lock()
					p.mismatch = errors.Join(p.mismatch, err)
					p.mu.Unlock()
				}
				if again {
					work <- idx
					continue
				}
				left.Add(-1)
			}
		}(w)
	}
	wg.Wait()
	p.secs = time.Since(start).Seconds()
	p.cancelled, p.busy = int(p.cancelN.Load()), int(p.busyN.Load())
	if p.mismatch != nil {
		return nil, p.mismatch
	}
	for i, n := range p.answered {
		if n != 1 {
			return nil, fmt.Errorf("item %d answered %d times (deadline %.0f s)", i, n, c.maxSeconds)
		}
	}
	return p, nil
}

// request sends items idx once; again says they must be sent again (the
// client gave up, or the queue was full).
func (p *pass) request(client *http.Client, url string, items []serve.Item, ref []float64, idx []int, rng *rand.Rand, cancel float64, openRLHF bool) (again bool, err error) {
	var body any
	path := "/v1/reward"
	if openRLHF {
		var q, pr []string
		for _, i := range idx {
			q, pr = append(q, items[i].Prompt+items[i].Response), append(pr, items[i].Prompt)
		}
		body, path = map[string]any{"query": q, "prompts": pr}, "/get_reward"
	} else {
		var its []map[string]string
		for _, i := range idx {
			its = append(its, map[string]string{"prompt": items[i].Prompt, "response": items[i].Response})
		}
		body = map[string]any{"items": its}
	}
	raw, _ := json.Marshal(body)
	ctx := context.Background()
	if rng.Float64() < cancel {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeout(ctx, time.Duration(1+rng.IntN(20))*time.Millisecond)
		defer stop()
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", url+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			p.cancelN.Add(1)
			return true, nil
		}
		return false, err
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		if ctx.Err() != nil {
			p.cancelN.Add(1)
			return true, nil
		}
		return false, err
	}
	ms := float64(time.Since(start).Microseconds()) / 1000
	if resp.StatusCode == http.StatusTooManyRequests {
		p.busyN.Add(1)
		time.Sleep(100 * time.Millisecond)
		return true, nil
	}
	if resp.StatusCode != 200 {
		return false, fmt.Errorf("%s %s: %s", path, resp.Status, out)
	}
	var v struct{ Rewards []float64 }
	if err := json.Unmarshal(out, &v); err != nil || len(v.Rewards) != len(idx) {
		return false, fmt.Errorf("%s: %d rewards for %d items (%v): %.200s", path, len(v.Rewards), len(idx), err, out)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lat = append(p.lat, ms)
	for k, i := range idx {
		p.answered[i]++
		p.served[i] = v.Rewards[k]
		d := math.Abs(v.Rewards[k] - ref[i])
		p.maxDiff = math.Max(p.maxDiff, d)
		if d == 0 {
			p.exact++
		}
		if d > tolerance {
			return false, fmt.Errorf("item %d: served %v, ser score %v", i, v.Rewards[k], ref[i])
		}
		p.items++
	}
	return false, nil
}

func get(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// openRLHF drives a fresh server with OpenRLHF's two client shapes (see
// bench/openrlhf), at the server's defaults but for --max-batch: every item
// as one rollout batch in one request (cold: nothing seen), then one request
// per sample, 64 at a time (warm). The queries are written as a Llama-3
// policy's tokenizer decodes them (its chat template, the response, the end
// of its turn), with the prompts apart: the rewards must be ser score's for
// the same conversations.
func openRLHF(c config, m *models.Manifest, tmp, headPath string, items []serve.Item, ref []float64) error {
	f, err := c.features(m, "", filepath.Join(tmp, "openrlhf.feat"))
	if err != nil {
		return err
	}
	s, err := serve.New(f, serve.Options{HeadPath: headPath, MaxBatch: c.maxBatch})
	if err != nil {
		return err
	}
	if err := s.Warm(context.Background()); err != nil {
		return err
	}
	ln, err := s.Listen("127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := s.HTTPServer(ln.Addr().String())
	go hs.Serve(ln)
	defer func() { hs.Shutdown(context.Background()); s.Close(); f.Close() }()
	queries, prompts := make([]string, len(items)), make([]string, len(items))
	for i, it := range items {
		turns, _ := data.ParsePrompt(it.Prompt, data.FormatAuto)
		var b strings.Builder
		b.WriteString("<|begin_of_text|>")
		for _, t := range turns {
			fmt.Fprintf(&b, "<|start_header_id|>%s<|end_header_id|>\n\n%s<|eot_id|>", t.Role, t.Content)
		}
		b.WriteString("<|start_header_id|>assistant<|end_header_id|>\n\n")
		prompts[i] = b.String()
		queries[i] = prompts[i] + it.Response + "<|eot_id|>"
	}
	cl := &openrlhf.Client{URL: "http://" + ln.Addr().String() + "/get_reward"}
	check := func(name string, got []float64, st openrlhf.Stats, err error) error {
		if err != nil {
			return fmt.Errorf("OpenRLHF %s: %w", name, err)
		}
		worst := 0.0
		for i := range ref {
			worst = math.Max(worst, math.Abs(got[i]-ref[i]))
		}
		if worst > tolerance {
			return fmt.Errorf("OpenRLHF %s: a reward %.3g from ser score's", name, worst)
		}
		fmt.Printf("OpenRLHF %-40s %6.0f items/s  %d requests, %d tries failed, max |diff| from ser score %.3g\n", name, float64(len(items))/st.Seconds, st.Requests, st.FailedTries, worst)
		return nil
	}
	fmt.Printf("\nOpenRLHF's clients (bench/openrlhf), Llama-3-templated queries with their prompts, at the server's defaults (--max-batch %d):\n", c.maxBatch)
	r, st, err := cl.Batch(context.Background(), queries, prompts)
	if err := check(fmt.Sprintf("v0.9.0: %d queries in one request, cold", len(queries)), r, st, err); err != nil {
		return err
	}
	r, st, err = cl.PerSample(context.Background(), queries, prompts, 64)
	return check("v0.9.1+: one request a sample, 64 at once, warm", r, st, err)
}
