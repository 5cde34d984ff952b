package cache

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
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
}

// FillOptions tune Fill; the zero value is sensible.
type FillOptions struct {
	InFlight int // batches embedded at once, so that no session idles (default 4)
	// Shard and Of select batches Shard, Shard+Of, ... of the plan (Of <= 1: all).
	Shard, Of int
	// Progress is called after each batch is stored.
	Progress func(Progress)
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
	var totalTokens int64
	for _, batch := range todo {
		for _, i := range batch {
			totalTokens += int64(len(ids[i]))
		}
	}
	var done, doneTokens atomic.Int64
	work := make(chan []int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for g := 0; g < opt.InFlight; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range work {
				rows := make([][]int32, len(batch))
				keys := make([]Key, len(batch))
				var tokens int64
				for j, i := range batch {
					rows[j], keys[j] = ids[i], all[i].key
					tokens += int64(len(ids[i]))
				}
				vecs, err := e.EmbedTokens(ctx, rows)
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
					st.Tokens += tokens
					st.Batches++
				}
				mu.Unlock()
				if err == nil && opt.Progress != nil {
					opt.Progress(Progress{Texts: int(done.Add(int64(added))), TotalTexts: total,
						Tokens: doneTokens.Add(tokens), TotalTokens: totalTokens})
				}
			}
		}()
	}
	var cancelled error
	for _, batch := range todo {
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop {
			break
		}
		select {
		case work <- batch:
			continue
		case <-ctx.Done():
			cancelled = ctx.Err()
		}
		break
	}
	close(work)
	wg.Wait()
	if firstErr == nil {
		firstErr = cancelled
	}
	return st, firstErr
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
