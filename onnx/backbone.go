package onnx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/ser-rl/ser/models"
	"github.com/ser-rl/ser/tokenize"
)

// Options configure a Backbone. The zero value runs on the CPU with one
// single-threaded session per core (two single-threaded sessions were measured
// faster than one two-threaded session on two cores), or one session with
// every core for graphs over 1 GiB, whose copies would not fit twice.
type Options struct {
	Device      string // "cpu", "cuda" or "cuda:N"
	Sessions    int    // sessions run in parallel
	Threads     int    // intra-op threads per session
	BatchTokens int    // padded tokens per batch (rows x longest row); default 4096 on CPU, 32768 on CUDA
	MaxBatch    int    // rows per batch; default 64 on CPU, 256 on CUDA
	PadLeft     bool   // dense inputs: pad on the left
	// Buckets pads each batch to its rows' length bucket (see
	// SessionOptions.Buckets), so that a text's vector does not depend on
	// its batch-mates' lengths. On by default on CUDA (LengthBuckets
	// "on"/"off" overrides), off on the CPU, whose fp32 kernels do not move.
	Buckets       bool
	LengthBuckets string
	// PoolIn is where a dense graph's [batch, tokens, dim] output is pooled:
	// "graph" (ONNX Runtime pools, on the device: SessionOptions.PoolInGraph),
	// "host" (Go reads the tokens it needs), or "" for graph on CUDA and host
	// on the CPU, where reading only the kept rows of a 16-bit output is the
	// cheaper.
	PoolIn string
	// NoWarmup skips the one-row batch each session runs when it opens on
	// CUDA, which takes library handles and first allocations out of the
	// first real batch (and out of throughput figures).
	NoWarmup bool
}

// Backbone turns texts into feature vectors. It is safe for concurrent use.
type Backbone struct {
	M   *models.Manifest
	tok tokenize.Tokenizer
	opt Options

	jobs      chan job
	wg        sync.WaitGroup
	sess      []*Session
	closeOnce sync.Once
}

type job struct {
	rows [][]int32
	dst  []float32
	done chan<- error
}

// Open loads the backbone's tokenizer and opens its sessions. Init must have
// been called.
func Open(m *models.Manifest, opts Options) (*Backbone, error) {
	dev, err := ParseDevice(opts.Device)
	if err != nil {
		return nil, err
	}
	tok, err := tokenize.Load(m.TokenizerKind, m.Path(m.Tokenizer))
	if err != nil {
		return nil, err
	}
	cpus := runtime.NumCPU()
	if opts.Sessions <= 0 {
		opts.Sessions = cpus
		if dev.CUDA || graphSize(m) > 1<<30 {
			opts.Sessions = 1
		}
	}
	if opts.Threads <= 0 {
		opts.Threads = max(1, cpus/opts.Sessions)
	}
	if opts.BatchTokens <= 0 {
		opts.BatchTokens = 4096
		if dev.CUDA {
			opts.BatchTokens = 32768
		}
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 64
		if dev.CUDA {
			opts.MaxBatch = 256
		}
	}
	switch opts.LengthBuckets {
	case "on":
		opts.Buckets = true
	case "off":
		opts.Buckets = false
	case "":
		opts.Buckets = opts.Buckets || (dev.CUDA && m.Input == models.InputDense)
	default:
		return nil, fmt.Errorf("onnx: length buckets %q: want on or off", opts.LengthBuckets)
	}
	var inGraph bool
	switch opts.PoolIn {
	case "graph":
		inGraph = true
	case "host":
	case "":
		inGraph = dev.CUDA
	default:
		return nil, fmt.Errorf("onnx: pool in %q: want graph or host", opts.PoolIn)
	}
	so := SessionOptions{Device: dev, Threads: opts.Threads, PadLeft: opts.PadLeft, Buckets: opts.Buckets, PoolInGraph: inGraph}
	if inGraph && opts.Sessions > 1 && m.Input == models.InputDense && m.Pooling != models.PoolNone {
		// the model read and extended once, for every session
		if so.pooledGraph, err = pooledGraph(m.Path(m.Model), m.Output); err != nil {
			return nil, err
		}
	}
	b := &Backbone{M: m, tok: tok, opt: opts, jobs: make(chan job)}
	for i := 0; i < opts.Sessions; i++ {
		s, err := NewSession(m, so)
		if err != nil {
			b.Close()
			return nil, err
		}
		b.sess = append(b.sess, s)
		if dev.CUDA && !opts.NoWarmup {
			if err := s.Run([][]int32{{1, 1, 1, 1}}, make([]float32, m.Dim)); err != nil {
				b.Close()
				return nil, fmt.Errorf("onnx: warm-up batch on %s: %w", dev, err)
			}
		}
		b.wg.Add(1)
		go b.worker(s, b.jobs)
	}
	return b, nil
}

func graphSize(m *models.Manifest) int64 {
	var n int64
	for _, f := range m.Files {
		if fi, err := os.Stat(m.Path(f.Name)); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// Options returns the settings in effect.
func (b *Backbone) Options() Options { return b.opt }

// Close stops the workers and releases the sessions.
func (b *Backbone) Close() error {
	b.closeOnce.Do(func() { close(b.jobs) })
	b.wg.Wait()
	var errs []error
	for _, s := range b.sess {
		errs = append(errs, s.Close())
	}
	b.sess = nil
	return errors.Join(errs...)
}

func (b *Backbone) worker(s *Session, jobs <-chan job) {
	defer b.wg.Done()
	for j := range jobs {
		j.done <- runSplitting(s.Run, j.rows, j.dst, b.M.Dim)
	}
}

// runSplitting runs a batch; a batch that runs out of device memory is split
// in two and each half retried, down to single rows.
func runSplitting(run func([][]int32, []float32) error, rows [][]int32, dst []float32, dim int) error {
	err := run(rows, dst)
	if err == nil || len(rows) < 2 || !isOOM(err) {
		return err
	}
	h := len(rows) / 2
	if err := runSplitting(run, rows[:h], dst[:h*dim], dim); err != nil {
		return err
	}
	return runSplitting(run, rows[h:], dst[h*dim:], dim)
}

func isOOM(err error) bool {
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"out of memory", "failed to allocate memory", "bfcarena", "cudamalloc", "cuda failure 2"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// Tokenize encodes texts in parallel and truncates each to the manifest's
// MaxTokens, keeping the end it names; a text far longer than that is
// clipped first (tokenize.Clip), so its length costs no more than the
// tokens kept.
func (b *Backbone) Tokenize(texts []string) ([][]int32, error) {
	ids := make([][]int32, len(texts))
	workers := min(runtime.NumCPU(), max(1, len(texts)/16))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(texts); i += workers {
				t, err := b.tok.Encode(tokenize.Clip(texts[i], b.M.MaxTokens, b.M.Truncate))
				if err != nil {
					errs[w] = fmt.Errorf("text %d: %w", i, err)
					return
				}
				ids[i] = tokenize.Truncate(t, b.M.MaxTokens, b.M.Truncate)
			}
		}(w)
	}
	wg.Wait()
	return ids, errors.Join(errs...)
}

// Embed returns the feature vectors of texts, len(texts)*Dim floats in order.
// A cancelled ctx stops it between batches.
func (b *Backbone) Embed(ctx context.Context, texts []string) ([]float32, error) {
	ids, err := b.Tokenize(texts)
	if err != nil {
		return nil, err
	}
	return b.EmbedTokens(ctx, ids)
}

// Batches plans how rows of token ids are batched: sorted by length and cut
// into batches of at most BatchTokens padded tokens and MaxBatch rows, so that
// rows of like length share a batch (with Buckets, rows of one length
// bucket). It returns row indices per batch.
func (b *Backbone) Batches(ids [][]int32) [][]int {
	order := make([]int, len(ids))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(x, y int) bool { return len(ids[order[x]]) < len(ids[order[y]]) })
	var out [][]int
	var cur []int
	for _, i := range order {
		longest := max(1, len(ids[i])) // ascending: the newest row is the longest
		other := false                 // a new bucket starts a new batch
		if b.opt.Buckets {
			longest = BucketLen(longest, b.M.MaxTokens)
			other = len(cur) > 0 && BucketLen(max(1, len(ids[cur[0]])), b.M.MaxTokens) != longest
		}
		if len(cur) > 0 && (other || (len(cur)+1)*longest > b.opt.BatchTokens || len(cur) == b.opt.MaxBatch) {
			out = append(out, cur)
			cur = nil
		}
		cur = append(cur, i)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// EmbedTokens embeds rows of token ids (already truncated), batched as
// Batches plans; the batches run on all sessions at once, the longest first. When ctx is
// cancelled no further batch starts; the batches running finish, and the
// error is ctx's.
func (b *Backbone) EmbedTokens(ctx context.Context, ids [][]int32) ([]float32, error) {
	dim := b.M.Dim
	out := make([]float32, len(ids)*dim)

	type pending struct {
		idx  []int
		dst  []float32
		done chan error
	}
	var all []pending
	var errs []error
	plan := b.Batches(ids)
	slices.Reverse(plan) // longest first: the sessions finish together, none idles on a long last batch
	for _, idx := range plan {
		rows := make([][]int32, len(idx))
		for k, i := range idx {
			rows[k] = ids[i]
		}
		p := pending{idx: idx, dst: make([]float32, len(idx)*dim), done: make(chan error, 1)}
		select {
		case b.jobs <- job{rows: rows, dst: p.dst, done: p.done}:
			all = append(all, p)
			continue
		case <-ctx.Done():
		}
		errs = append(errs, ctx.Err())
		break
	}
	for _, p := range all {
		if err := <-p.done; err != nil {
			errs = append(errs, err)
			continue
		}
		for k, i := range p.idx {
			copy(out[i*dim:(i+1)*dim], p.dst[k*dim:(k+1)*dim])
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
