package cache

import (
	"sort"
	"sync"
	"sync/atomic"
)

// Embedder is what Fill needs of a backbone (an *onnx.Backbone). Fill calls
// EmbedTokens from several goroutines at once.
type Embedder interface {
	Tokenize(texts []string) ([][]int32, error)
	EmbedTokens(ids [][]int32) ([]float32, error)
}

// FillStats says what Fill did.
type FillStats struct {
	Texts    int   // texts asked for
	Unique   int   // distinct texts
	Cached   int   // distinct texts already in the cache
	Embedded int   // distinct texts embedded now
	Tokens   int64 // tokens fed to the backbone
}

// FillOptions tune Fill; the zero value is sensible.
type FillOptions struct {
	Chunk    int // texts per append: a crash loses at most InFlight chunks (default 256)
	InFlight int // chunks embedded at once, so that no session idles at a chunk's end (default 2)
	Window   int // texts tokenized and sorted by length at a time (default 65536)
	// Progress is called after each chunk is stored, with distinct texts done and to do.
	Progress func(done, total int)
}

// Fill embeds the texts that are not yet in the cache and appends their
// vectors, a chunk at a time. Texts are tokenized a window at a time and
// sorted by token count, so that each chunk holds texts of like length.
func Fill(c *Cache, e Embedder, texts []string, opt FillOptions) (FillStats, error) {
	if opt.Chunk <= 0 {
		opt.Chunk = 256
	}
	if opt.InFlight <= 0 {
		opt.InFlight = 2
	}
	if opt.Window <= 0 {
		opt.Window = 65536
	}
	st := FillStats{Texts: len(texts)}
	seen := map[Key]bool{}
	var todo []string
	var keys []Key
	for _, t := range texts {
		k := KeyOf(c.fingerprint, t)
		if seen[k] {
			continue
		}
		seen[k] = true
		st.Unique++
		if c.Has(k) {
			st.Cached++
			continue
		}
		todo = append(todo, t)
		keys = append(keys, k)
	}
	total := len(todo)
	var done atomic.Int64
	for w := 0; w < len(todo); w += opt.Window {
		end := min(w+opt.Window, len(todo))
		ids, err := e.Tokenize(todo[w:end])
		if err != nil {
			return st, err
		}
		order := make([]int, len(ids))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return len(ids[order[a]]) < len(ids[order[b]]) })

		chunks := make(chan []int)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		for g := 0; g < opt.InFlight; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ch := range chunks {
					rows := make([][]int32, len(ch))
					ks := make([]Key, len(ch))
					var tokens int64
					for j, i := range ch {
						rows[j], ks[j] = ids[i], keys[w+i]
						tokens += int64(len(ids[i]))
					}
					vecs, err := e.EmbedTokens(rows)
					mu.Lock()
					if err == nil && firstErr == nil {
						err = c.Put(ks, vecs)
					}
					if err != nil && firstErr == nil {
						firstErr = err
					}
					if err == nil {
						st.Embedded += len(ch)
						st.Tokens += tokens
					}
					mu.Unlock()
					if err == nil && opt.Progress != nil {
						opt.Progress(int(done.Add(int64(len(ch)))), total)
					}
				}
			}()
		}
		for s := 0; s < len(order); s += opt.Chunk {
			mu.Lock()
			stop := firstErr != nil
			mu.Unlock()
			if stop {
				break
			}
			chunks <- order[s:min(s+opt.Chunk, len(order))]
		}
		close(chunks)
		wg.Wait()
		if firstErr != nil {
			return st, firstErr
		}
	}
	return st, nil
}

// Missing counts the distinct texts whose vectors are not stored.
func (c *Cache) Missing(texts []string) int {
	seen := map[Key]bool{}
	n := 0
	for _, t := range texts {
		k := KeyOf(c.fingerprint, t)
		if seen[k] {
			continue
		}
		seen[k] = true
		if !c.Has(k) {
			n++
		}
	}
	return n
}

// InShard reports whether text belongs to shard i of n: texts are dealt by
// their key, so the split is deterministic, balanced, and a text repeated
// across datasets always lands in the same shard.
func InShard(fingerprint, text string, i, n int) bool {
	if n <= 1 {
		return true
	}
	k := KeyOf(fingerprint, text)
	var h uint64
	for _, b := range k[:8] {
		h = h<<8 | uint64(b)
	}
	return h%uint64(n) == uint64(i)
}
