package tokenize

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Word cache limits: words shorter than cacheWordBytes are cached (as HF
// caches those under 256 bytes), at most cacheWords of them; once full, the
// cache stops growing rather than evicting, so its memory is bounded and
// lookups take no lock.
const (
	cacheWordBytes = 256
	cacheWords     = 1 << 17
)

// wordCache maps words to their ids, for many goroutines at once.
type wordCache struct {
	m sync.Map // string -> []int32
	n atomic.Int64
}

func (c *wordCache) get(word string) ([]int32, bool) {
	if len(word) >= cacheWordBytes {
		return nil, false
	}
	v, ok := c.m.Load(word)
	if !ok {
		return nil, false
	}
	return v.([]int32), true
}

// put stores a copy of ids under a copy of word.
func (c *wordCache) put(word string, ids []int32) {
	if len(word) >= cacheWordBytes || c.n.Load() >= cacheWords {
		return
	}
	if _, loaded := c.m.LoadOrStore(strings.Clone(word), append([]int32(nil), ids...)); !loaded {
		c.n.Add(1)
	}
}
