package features

import (
	"container/list"
	"crypto/sha256"
)

// lru keeps the vectors of recently seen texts, keyed by their sha256 so
// that a long text costs no more than a short one. It is the Featurizer's
// and, like it, not safe for concurrent use.
type lru struct {
	cap   int
	ll    *list.List
	items map[[32]byte]*list.Element
}

// lruOverhead is about what an entry costs beside its vector: the key twice,
// the list element, the map's share.
const lruOverhead = 160

type lruEntry struct {
	key [32]byte
	vec []float32
}

func newLRU(n int) *lru { return &lru{cap: n, ll: list.New(), items: map[[32]byte]*list.Element{}} }

func (c *lru) get(text string) ([]float32, bool) {
	if e, ok := c.items[sha256.Sum256([]byte(text))]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*lruEntry).vec, true
	}
	return nil, false
}

func (c *lru) put(text string, v []float32) {
	k := sha256.Sum256([]byte(text))
	if e, ok := c.items[k]; ok {
		c.ll.MoveToFront(e)
		e.Value.(*lruEntry).vec = append([]float32(nil), v...)
		return
	}
	c.items[k] = c.ll.PushFront(&lruEntry{k, append([]float32(nil), v...)})
	for c.ll.Len() > c.cap {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*lruEntry).key)
	}
}
