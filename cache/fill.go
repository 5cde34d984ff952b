package cache

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Embedder is what Fill needs of a backbone (an *onnx.Backbone). Fill calls
// EmbedTokens from several goroutines at once, one planned batch at a time.
type Embedder interface {
	Tokenize(texts []string) ([][]int32, error)
	// Batches plans the batches of rows of ids (indices), stable for rows of
	// equal length.
	Batches(ids [][]int32) [][]int
	EmbedTokens(ctx context.Context, ids [][]int32) ([]float32, error)
}

// FillStats says what Fill did.
type FillStats struct {
	Texts    int   // texts asked for
	Unique   int   // distinct texts
	Cached   int   // distinct texts already in the cache
	Embedded int   // distinct texts embedded now
	Tokens   int64 // tokens fed to the backbone
	Batches  int   // batches run
}

// Progress is how far a Fill is: texts and tokens embedded of those to embed.
// Texts run short to long within the plan, so tokens tell the time left.
type Progress struct {
	Texts, TotalTexts   int
	Tokens, TotalTokens int64
	// Batch is the batch just stored, an index into Plan.Batches, and
	// Seconds how long the backbone took over it (for a sampled batch, which
	// runs with none waiting for a session, the batch's own time).
	Batch   int
	Seconds float64
}

// Plan is what a Fill is about to do, told (FillOptions.Plan) after the
// texts are tokenized and before any batch runs.
type Plan struct {
	Texts   int   // texts asked for (with repeats)
	Unique  int   // distinct texts
	Cached  int   // distinct texts already in the cache (with a shard, of its batches)
	ToEmbed int   // distinct texts to embed now
	Tokens  int64 // tokens of the distinct texts, as the backbone keeps them
	// TokensToEmbed is the tokens the backbone will run: those of every
	// row of the batches to run (a batch holding a missing text runs whole).
	TokensToEmbed int64
	// Batches are the batches to run, in the canonical plan's order (short
	// texts first); Sample are the indices of those that run first, in the
	// order they start (see FillOptions.Sample).
	Batches []Batch
	Sample  []int
}

// Batch is the shape of one planned batch.
type Batch struct {
	Rows   int   // rows run
	Tokens int64 // their tokens
}

// FillOptions tune Fill; the zero value is sensible.
type FillOptions struct {
	InFlight int // batches embedded at once, so that no session idles (default 4)
	// Shard and Of select batches Shard, Shard+Of, ... of the plan (Of <= 1: all).
	Shard, Of int
	// Plan, when set, is told the plan before any batch runs.
	Plan func(Plan)
	// Progress is called after each batch is stored.
	Progress func(Progress)
	// Sample, when positive, runs that many of the batches first, spread
	// evenly over the plan (which runs short texts to long), the longest
	// first, SampleInFlight at a time (default 1: the embedder's sessions,
	// so that no sampled batch waits for one and each one's Seconds is its
	// own cost), and waits for them before the rest starts: the time they
	// take represents the whole, so the time left can be told from the
	// start rather than from the shortest texts. Only the order changes:
	// each batch is the plan's, and is stored as it completes.
	Sample, SampleInFlight int
}

// sampleOf picks k of n batches spread evenly over them: the middle of
// each of k equal runs.
func sampleOf(n, k int) []int {
	k = min(k, n)
	out := make([]int, k)
	for i := range out {
		out[i] = (2*i + 1) * n / (2 * k)
	}
	return out
}

// Fill embeds the texts that are not yet in the cache and appends their
// vectors, one batch at a time (a crash loses at most the batches in flight).
//
// Batches follow one canonical plan for the whole set of distinct texts:
// ordered by key, then stably by token count, then cut by the embedder's
// Batches. A batch holding any missing text runs whole. So a vector never
// depends on which other texts were missing, which shard ran it, or how
// often the run was interrupted: ONNX Runtime's kernels round differently for
// different batch shapes (seen: 3e-8), and with one plan every text is always
// embedded in the same batch.
//
// When ctx is cancelled no further batch starts; the batches running are
// stored, and the error is ctx's.
func Fill(ctx context.Context, c *Cache, e Embedder, texts []string, opt FillOptions) (FillStats, error) {
	if opt.InFlight <= 0 {
		opt.InFlight = 4
	}
	if opt.Of <= 1 {
		opt.Shard, opt.Of = 0, 1
	}
	if opt.Shard < 0 || opt.Shard >= opt.Of {
		return FillStats{}, fmt.Errorf("cache: shard %d of %d", opt.Shard, opt.Of)
	}
	st := FillStats{Texts: len(texts)}
	all, missing := c.distinct(texts)
	st.Unique = len(all)
	if missing == 0 {
		st.Cached = st.Unique
		return st, nil
	}
	sort.Slice(all, func(i, j int) bool { return bytes.Compare(all[i].key[:], all[j].key[:]) < 0 })
	uniq := make([]string, len(all))
	for i, it := range all {
		uniq[i] = it.text
	}
	ids, err := e.Tokenize(uniq)
	if err != nil {
		return st, err
	}
	var todo [][]int
	total := 0
	for b, batch := range e.Batches(ids) {
		if b%opt.Of != opt.Shard {
			continue
		}
		need := 0
		for _, i := range batch {
			if !c.Has(all[i].key) {
				need++
			}
		}
		st.Cached += len(batch) - need
		if need > 0 {
			todo = append(todo, batch)
			total += need
		}
	}
	plan := Plan{Texts: st.Texts, Unique: st.Unique, Cached: st.Cached, ToEmbed: total, Batches: make([]Batch, len(todo))}
	for _, t := range ids {
		plan.Tokens += int64(len(t))
	}
	for k, batch := range todo {
		plan.Batches[k].Rows = len(batch)
		for _, i := range batch {
			plan.Batches[k].Tokens += int64(len(ids[i]))
		}
		plan.TokensToEmbed += plan.Batches[k].Tokens
	}
	// the order batches run in: a sample spread over the plan, then the rest
	order := make([]int, 0, len(todo))
	if opt.Sample > 0 && len(todo) > 0 {
		plan.Sample = sampleOf(len(todo), opt.Sample)
		slices.Reverse(plan.Sample) // the longest first: the sessions end the sample together
	}
	first := map[int]bool{}
	for _, k := range plan.Sample {
		first[k] = true
		order = append(order, k)
	}
	for k := range todo {
		if !first[k] {
			order = append(order, k)
		}
	}
	if opt.Plan != nil {
		opt.Plan(plan)
	}
	var done, doneTokens atomic.Int64
	var mu sync.Mutex
	var firstErr error
	// run embeds and stores the batches todo[k] for k in ks, inFlight at a time.
	run := func(ks []int, inFlight int) error {
		work := make(chan int)
		var wg sync.WaitGroup
		for g := 0; g < inFlight; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range work {
					batch := todo[k]
					rows := make([][]int32, len(batch))
					keys := make([]Key, len(batch))
					for j, i := range batch {
						rows[j], keys[j] = ids[i], all[i].key
					}
					t0 := time.Now()
					vecs, err := e.EmbedTokens(ctx, rows)
					secs := time.Since(t0).Seconds()
					mu.Lock()
					added := 0
					if err == nil && firstErr == nil {
						before := c.Len()
						err = c.Put(keys, vecs)
						added = c.Len() - before
					}
					if err != nil && firstErr == nil {
						firstErr = err
					}
					if err == nil {
						st.Embedded += added
						st.Tokens += plan.Batches[k].Tokens
						st.Batches++
					}
					mu.Unlock()
					if err == nil && opt.Progress != nil {
						opt.Progress(Progress{Texts: int(done.Add(int64(added))), TotalTexts: total,
							Tokens: doneTokens.Add(plan.Batches[k].Tokens), TotalTokens: plan.TokensToEmbed, Batch: k, Seconds: secs})
					}
				}
			}()
		}
		var cancelled error
		for _, k := range ks {
			mu.Lock()
			stop := firstErr != nil
			mu.Unlock()
			if stop {
				break
			}
			select {
			case work <- k:
				continue
			case <-ctx.Done():
				cancelled = ctx.Err()
			}
			break
		}
		close(work)
		wg.Wait()
		if firstErr != nil {
			return firstErr
		}
		return cancelled
	}
	ns := len(plan.Sample)
	err = run(order[:ns], max(1, opt.SampleInFlight))
	if err == nil {
		err = run(order[ns:], opt.InFlight)
	}
	return st, err
}

// keyed is a distinct text and its key.
type keyed struct {
	key  Key
	text string
}

// distinct returns the texts without repeats, keyed, and how many are not stored.
func (c *Cache) distinct(texts []string) (all []keyed, missing int) {
	seen := map[Key]bool{}
	for _, t := range texts {
		k := KeyOf(c.fingerprint, t)
		if seen[k] {
			continue
		}
		seen[k] = true
		all = append(all, keyed{k, t})
		if !c.Has(k) {
			missing++
		}
	}
	return all, missing
}

// Missing counts the distinct texts whose vectors are not stored.
func (c *Cache) Missing(texts []string) int {
	_, n := c.distinct(texts)
	return n
}
