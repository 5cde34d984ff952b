package cache_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/ser-rl/ser/cache"
)

// recorder is fake that records the first text of each batch it embeds, in order.
type recorder struct {
	fake
	mu    sync.Mutex
	order []int32
}

func (r *recorder) EmbedTokens(ctx context.Context, ids [][]int32) ([]float32, error) {
	r.mu.Lock()
	r.order = append(r.order, ids[0][len(ids[0])-1])
	r.mu.Unlock()
	return r.fake.EmbedTokens(ctx, ids)
}

// TestFillPlanAndSample: the plan is told once, before any batch runs, with
// the counts and every batch's shape; the sampled batches run first (spread
// over the plan, the longest first), and the cache ends the same as a fill
// in plan order.
func TestFillPlanAndSample(t *testing.T) {
	in := append(texts(300), texts(20)...) // 20 repeats
	dir := t.TempDir()
	plain, err := cache.Open(filepath.Join(dir, "plain.feat"), "fp", dim, cache.Float32, true)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	// 40 texts cached beforehand
	if _, err := cache.Fill(context.Background(), plain, &fake{}, in[:40], cache.FillOptions{}); err != nil {
		t.Fatal(err)
	}
	sampled, err := cache.Open(filepath.Join(dir, "sampled.feat"), "fp", dim, cache.Float32, true)
	if err != nil {
		t.Fatal(err)
	}
	defer sampled.Close()
	if _, err := cache.Fill(context.Background(), sampled, &fake{}, in[:40], cache.FillOptions{}); err != nil {
		t.Fatal(err)
	}

	var plans []cache.Plan
	var progress []cache.Progress
	var mu sync.Mutex
	r := &recorder{}
	st, err := cache.Fill(context.Background(), sampled, r, in, cache.FillOptions{Sample: 4, SampleInFlight: 1, InFlight: 1,
		Plan: func(p cache.Plan) {
			r.mu.Lock()
			ran := len(r.order)
			r.mu.Unlock()
			if ran != 0 {
				t.Errorf("the plan was told after %d batches ran", ran)
			}
			plans = append(plans, p)
		},
		Progress: func(p cache.Progress) { mu.Lock(); progress = append(progress, p); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != 1 {
		t.Fatalf("plan told %d times", len(plans))
	}
	p := plans[0]
	var tokens int64
	for _, b := range p.Batches {
		tokens += b.Tokens
	}
	if p.Texts != 320 || p.Unique != 300 || p.ToEmbed != 260 || p.ToEmbed != st.Embedded || p.TokensToEmbed != tokens || p.TokensToEmbed != st.Tokens ||
		len(p.Batches) != st.Batches || p.Cached+p.ToEmbed > p.Unique {
		t.Errorf("plan %+v against stats %+v", p, st)
	}
	if len(p.Sample) != 4 {
		t.Fatalf("sample %v, want 4 batches", p.Sample)
	}
	for i := 1; i < len(p.Sample); i++ {
		if p.Sample[i] >= p.Sample[i-1] {
			t.Errorf("sample %v: want the later (longer) batches of the plan first", p.Sample)
		}
	}
	if p.Sample[0] < len(p.Batches)/2 || p.Sample[len(p.Sample)-1] > len(p.Batches)/2 {
		t.Errorf("sample %v of %d batches: not spread over the plan", p.Sample, len(p.Batches))
	}
	for k, i := range p.Sample {
		if progress[k].Batch != i {
			t.Errorf("batch %d ran %dth, want the sampled %d", progress[k].Batch, k+1, i)
		}
	}
	if last := progress[len(progress)-1]; last.Texts != p.ToEmbed || last.Tokens != p.TokensToEmbed {
		t.Errorf("last progress %+v, want every text and token of the plan", last)
	}
	// the same vectors as a fill in plan order
	if _, err := cache.Fill(context.Background(), plain, &fake{}, in, cache.FillOptions{}); err != nil {
		t.Fatal(err)
	}
	got, want := map[cache.Key][]float32{}, map[cache.Key][]float32{}
	for c, m := range map[*cache.Cache]map[cache.Key][]float32{sampled: got, plain: want} {
		c.Each(func(k cache.Key, v []float32) error { m[k] = append([]float32(nil), v...); return nil })
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("the sampled fill stored other vectors than the fill in plan order")
	}
}

// TestOpenWait: a second writer waits for the first, says so once, and
// opens the cache as the first left it; without waiting it gets ErrLocked;
// ending the wait's context ends the wait.
func TestOpenWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.feat")
	first, err := cache.Open(path, "fp", dim, cache.Float32, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Fill(context.Background(), first, &fake{}, texts(10), cache.FillOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Open(path, "fp", dim, cache.Float32, true); !errors.Is(err, cache.ErrLocked) {
		t.Fatalf("a second writer without waiting: %v, want ErrLocked", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	told := make(chan struct{}, 2)
	_, err = func() (*cache.Cache, error) {
		go func() { <-told; cancel() }()
		return cache.OpenWait(ctx, path, "fp", dim, cache.Float32, func() { told <- struct{}{} })
	}()
	if !errors.Is(err, cache.ErrLocked) || !errors.Is(err, context.Canceled) {
		t.Fatalf("a wait cut short: %v, want ErrLocked and context.Canceled", err)
	}

	waits := 0
	opened := make(chan *cache.Cache)
	go func() {
		c, err := cache.OpenWait(context.Background(), path, "fp", dim, cache.Float32, func() { waits++ })
		if err != nil {
			t.Error(err)
		}
		opened <- c
	}()
	select {
	case <-opened:
		t.Fatal("the second writer did not wait")
	case <-time.After(3 * cache.LockPoll):
	}
	first.Close()
	second := <-opened
	if second == nil {
		return
	}
	defer second.Close()
	if waits != 1 || second.Len() != 10 {
		t.Errorf("told of the wait %d times, cache holds %d vectors (want 1, 10)", waits, second.Len())
	}
}
