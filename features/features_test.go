package features

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/ser-rl/ser/cache"
	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/head"
	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/models"
)

// fixture is a Featurizer on the default backbone with a fresh cache.
func fixture(t *testing.T, form string) (*Featurizer, string) {
	t.Helper()
	home := testenv.Home(t)
	m, err := models.Find(home, models.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "c.feat")
	f, err := New(Options{Manifest: m, Form: form, CachePath: p, ORTLib: testenv.ORTLib(t, home)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, home
}

var pairs = []data.Pair{
	{Prompt: "How do I keep bread fresh?", Chosen: "Keep it in a paper bag, or freeze slices.", Rejected: "Bread does not go stale.", Labelled: true},
	{Prompt: "How do I keep bread fresh?", Chosen: "Wrap it in a cloth.", Rejected: "Bread does not go stale.", Labelled: true},
	{Prompt: "Name a prime.", Chosen: "Seven.", Rejected: "Nine.", Labelled: true},
}

// TestPairsThenCache: Pairs embeds each distinct text once into the cache,
// and a second call reads them all back with no backbone work; Vectors gives
// the same vectors without writing to the cache.
func TestPairsThenCache(t *testing.T) {
	f, _ := fixture(t, head.Separate)
	x, st, err := f.Pairs(context.Background(), pairs)
	if err != nil {
		t.Fatal(err)
	}
	// texts: 2 prompts, 5 responses (one repeated)
	if st.Unique != 7 || st.Embedded != 7 || st.Cached != 0 {
		t.Fatalf("first call: %+v", st)
	}
	x2, st, err := f.Pairs(context.Background(), pairs)
	if err != nil || st.Embedded != 0 || st.Cached != 7 {
		t.Fatalf("second call: %+v %v", st, err)
	}
	if !matEqual(x.A, x2.A) || !matEqual(x.B, x2.B) {
		t.Fatal("the cache gave other features")
	}
	texts := f.Texts(pairs)
	v, err := f.Vectors(context.Background(), append(texts, "a text the cache lacks"))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.PairsOf(v[:len(texts)*f.m.Dim], len(pairs)); !matEqual(got.A, x.A) {
		t.Fatal("Vectors and Pairs disagree")
	}
	cc, _ := f.open(false)
	defer cc.Close()
	if cc.Len() != 7 {
		t.Fatalf("Vectors wrote to the cache: %d vectors", cc.Len())
	}
}

// TestMemory: with a memory, Vectors finds repeated texts there (a hit for
// each distinct text seen before, a miss for the others), the vectors are
// the same, and a memory of one vector's bytes holds one.
func TestMemory(t *testing.T) {
	f, _ := fixture(t, head.Separate)
	f.SetMemory(1 << 20)
	texts := []string{"alpha", "beta", "alpha"}
	a, err := f.Vectors(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	if h, m := f.MemoryStats(); h != 0 || m != 2 {
		t.Fatalf("first: %d hits, %d misses; want 0, 2 (distinct texts)", h, m)
	}
	b, _ := f.Vectors(context.Background(), texts)
	if h, m := f.MemoryStats(); h != 2 || m != 2 {
		t.Fatalf("second: %d hits, %d misses; want 2, 2", h, m)
	}
	d := f.m.Dim
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("memory gave another vector")
		}
	}
	for k := 0; k < d; k++ {
		if a[k] != a[2*d+k] {
			t.Fatal("a repeated text got another vector")
		}
	}
	f.SetMemory(1)
	if f.memory.cap != 1 {
		t.Fatalf("a memory of 1 byte holds %d vectors", f.memory.cap)
	}
	f.Vectors(context.Background(), []string{"alpha", "beta"})
	if f.memory.ll.Len() != 1 {
		t.Fatalf("%d vectors kept in a memory of one", f.memory.ll.Len())
	}
}

// TestItems: an item's features are its pair's with the response in both
// places (separate), or the formatted pair's (joint), where Joint, when
// given, is the text as it is.
func TestItems(t *testing.T) {
	for _, form := range []string{head.Separate, head.Joint} {
		f, _ := fixture(t, form)
		p := pairs[0]
		x, _, err := f.Pairs(context.Background(), []data.Pair{{Prompt: p.Prompt, Chosen: p.Chosen, Rejected: p.Chosen}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.Items(context.Background(), []Item{{Prompt: p.Prompt, Response: p.Chosen}, {Joint: f.m.FormatPair(p.Prompt, p.Chosen, data.FormatAuto), Prompt: p.Prompt, Response: p.Chosen}})
		if err != nil {
			t.Fatal(err)
		}
		_, d := got.Dims()
		for k := 0; k < d; k++ {
			if got.At(0, k) != x.A.At(0, k) || got.At(1, k) != x.A.At(0, k) {
				t.Fatalf("%s: an item's features are not its pair's", form)
			}
		}
	}
}

// TestRewardsNonFinite: a NaN vector in the cache makes its item's reward
// not finite, named by index; the head must be of the featurizer's form.
func TestRewardsNonFinite(t *testing.T) {
	f, _ := fixture(t, head.Separate)
	x, _, err := f.Pairs(context.Background(), pairs)
	if err != nil {
		t.Fatal(err)
	}
	h, err := head.Train(context.Background(), head.Problem{Train: head.Data{X: x}, Backbone: f.Backbone(), Form: head.Separate}, head.TrainOptions{Seed: 1, L2: 1})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := f.open(true)
	if err != nil {
		t.Fatal(err)
	}
	nan := make([]float32, f.m.Dim)
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	if err := cc.Put([]cache.Key{cache.KeyOf(f.m.Fingerprint(), "poisoned")}, nan); err != nil {
		t.Fatal(err)
	}
	cc.Close()
	f.read = nil // read the cache again
	_, err = f.Rewards(context.Background(), h, []Item{{Prompt: "p", Response: "fine"}, {Prompt: "p", Response: "poisoned"}})
	var nf *NonFiniteError
	if !errors.As(err, &nf) || nf.Index != 1 {
		t.Fatalf("err %v; want item 1 named", err)
	}
	h.Features = head.Joint
	if _, err := f.Rewards(context.Background(), h, []Item{{Prompt: "p", Response: "fine"}}); err == nil {
		t.Fatal("a joint head on separate features was used")
	}
}

func matEqual(a, b interface {
	Dims() (int, int)
	At(int, int) float64
}) bool {
	r, c := a.Dims()
	r2, c2 := b.Dims()
	if r != r2 || c != c2 {
		return false
	}
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			if a.At(i, j) != b.At(i, j) {
				return false
			}
		}
	}
	return true
}
