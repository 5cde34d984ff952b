package cache_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ser-rl/ser/cache"
)

const dim = 4

// fake embeds a text as (len, first byte, last byte, calls) and counts its work.
type fake struct {
	mu           sync.Mutex
	calls, texts int
}

func (f *fake) Tokenize(texts []string) ([][]int32, error) {
	ids := make([][]int32, len(texts))
	for i, t := range texts {
		for _, r := range t {
			ids[i] = append(ids[i], int32(r))
		}
	}
	return ids, nil
}

func (f *fake) Batches(ids [][]int32) [][]int {
	var out [][]int
	for i := 0; i < len(ids); i += 7 {
		var b []int
		for j := i; j < min(i+7, len(ids)); j++ {
			b = append(b, j)
		}
		out = append(out, b)
	}
	return out
}

func (f *fake) EmbedTokens(_ context.Context, ids [][]int32) ([]float32, error) {
	f.mu.Lock()
	f.calls++
	f.texts += len(ids)
	f.mu.Unlock()
	out := make([]float32, len(ids)*dim)
	for i, r := range ids {
		out[i*dim] = float32(len(r))
		if len(r) > 0 {
			out[i*dim+1], out[i*dim+2] = float32(r[0]), float32(r[len(r)-1])
		}
		out[i*dim+3] = 1
	}
	return out, nil
}

func texts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("text number %d %s", i, strings.Repeat("x", i%17))
	}
	return out
}

func TestFillAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.feat")
	c, err := cache.Open(path, "fp1", dim, cache.Float32, true)
	if err != nil {
		t.Fatal(err)
	}
	f := &fake{}
	in := append(texts(1000), texts(10)...) // 10 repeats
	st, err := cache.Fill(context.Background(), c, f, in, cache.FillOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Unique != 1000 || st.Embedded != 1000 || f.texts != 1000 || c.Len() != 1000 {
		t.Fatalf("first fill: %+v, fake embedded %d, cache holds %d", st, f.texts, c.Len())
	}
	st, _ = cache.Fill(context.Background(), c, f, in, cache.FillOptions{})
	if st.Embedded != 0 || st.Cached != 1000 || f.texts != 1000 {
		t.Fatalf("second fill did backbone work: %+v", st)
	}
	c.Close()

	r, err := cache.Open(path, "fp1", dim, cache.Float32, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	keys := make([]cache.Key, len(in))
	for i, s := range in {
		keys[i] = cache.KeyOf("fp1", s)
	}
	m, err := r.Matrix(keys)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := f.EmbedTokens(context.Background(), mustTok(f, in))
	for i := range want {
		if m[i] != want[i] {
			t.Fatalf("matrix[%d] = %g, want %g", i, m[i], want[i])
		}
	}
	if _, err := r.Matrix([]cache.Key{cache.KeyOf("fp2", in[0])}); err == nil {
		t.Error("a key of another fingerprint was found")
	}
}

func mustTok(f *fake, in []string) [][]int32 {
	ids, _ := f.Tokenize(in)
	return ids
}

// TestTornTail appends half a record, as a crash during a write leaves it:
// the next writer cuts it off and keeps every complete record.
func TestTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.feat")
	c, _ := cache.Open(path, "fp", dim, cache.Float32, true)
	f := &fake{}
	cache.Fill(context.Background(), c, f, texts(100), cache.FillOptions{})
	c.Close()
	fi, _ := os.Stat(path)
	fh, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	fh.Write([]byte("torn record bytes"))
	fh.Close()

	c, err := cache.Open(path, "fp", dim, cache.Float32, true)
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 100 {
		t.Fatalf("after a torn tail: %d records, want 100", c.Len())
	}
	if fi2, _ := os.Stat(path); fi2.Size() != fi.Size() {
		t.Errorf("torn tail not cut: %d bytes, want %d", fi2.Size(), fi.Size())
	}
	st, _ := cache.Fill(context.Background(), c, f, texts(120), cache.FillOptions{})
	if st.Embedded != 20 || c.Len() != 120 {
		t.Errorf("after the cut: %+v, %d records", st, c.Len())
	}
	c.Close()
}

// TestCorruptRecord flips a byte inside a stored vector: the record is never
// returned, and Fill embeds its text again.
func TestCorruptRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.feat")
	c, _ := cache.Open(path, "fp", dim, cache.Float32, true)
	f := &fake{}
	in := texts(50)
	cache.Fill(context.Background(), c, f, in, cache.FillOptions{})
	c.Close()
	raw, _ := os.ReadFile(path)
	raw[64+10*(16+4+4*dim)+30] ^= 0x40 // inside record 10's vector
	os.WriteFile(path, raw, 0o644)

	c, _ = cache.Open(path, "fp", dim, cache.Float32, true)
	defer c.Close()
	if c.Corrupt != 1 || c.Len() != 49 {
		t.Fatalf("corrupt %d, len %d; want 1 and 49", c.Corrupt, c.Len())
	}
	st, _ := cache.Fill(context.Background(), c, f, in, cache.FillOptions{})
	if st.Embedded != 1 || c.Len() != 50 {
		t.Errorf("re-embedding: %+v", st)
	}
	keys := make([]cache.Key, len(in))
	for i, s := range in {
		keys[i] = cache.KeyOf("fp", s)
	}
	if _, err := c.Matrix(keys); err != nil {
		t.Error(err)
	}
}

func TestOpenChecks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.feat")
	c, err := cache.Open(path, "fp", dim, cache.Float32, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Open(path, "fp", dim, cache.Float32, true); err == nil || !strings.Contains(err.Error(), "another ser process") {
		t.Errorf("second writer: %v", err)
	}
	cache.Fill(context.Background(), c, &fake{}, texts(3), cache.FillOptions{})
	c.Close()
	if _, err := cache.Open(path, "fp", dim+1, cache.Float32, false); err == nil {
		t.Error("a cache of another width was opened")
	}
	if _, err := cache.Open(path, "other", dim, cache.Float32, false); err == nil {
		t.Error("a cache of another backbone was opened")
	}
	r, err := cache.Open(filepath.Join(t.TempDir(), "none.feat"), "fp", dim, cache.Float32, false)
	if err == nil {
		r.Close()
		t.Error("a missing cache opened read-only")
	}
}

// BenchmarkMatrix reads a 20,000 x 512 matrix out of a warm cache, stored as
// float32 (41 MB) and as float16 (20 MB); the figure to read is MB/s of
// float32 values delivered.
func BenchmarkMatrix(b *testing.B) {
	const n, d = 20000, 512
	for _, format := range []cache.Format{cache.Float32, cache.Float16} {
		b.Run(string(format), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "c.feat")
			c, _ := cache.Open(path, "fp", d, format, true)
			keys := make([]cache.Key, n)
			vecs := make([]float32, n*d)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range keys {
				keys[i] = cache.KeyOf("fp", fmt.Sprint(i))
			}
			for i := range vecs {
				vecs[i] = float32(rng.NormFloat64() * 0.05) // a unit vector's entries, as a sentence encoder's
			}
			if err := c.Put(keys, vecs); err != nil {
				b.Fatal(err)
			}
			c.Close()
			r, _ := cache.Open(path, "fp", d, format, false)
			defer r.Close()
			b.SetBytes(n * d * 4)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := r.Matrix(keys); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPut measures the cache's overhead per text: hashing the key,
// encoding and checksumming a 512-d record, one write and fsync per 256.
func BenchmarkPut(b *testing.B) {
	const chunk, d = 256, 512
	c, _ := cache.Open(filepath.Join(b.TempDir(), "c.feat"), "fp", d, cache.Float32, true)
	defer c.Close()
	vecs := make([]float32, chunk*d)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		keys := make([]cache.Key, chunk)
		for j := range keys {
			keys[j] = cache.KeyOf("fp", fmt.Sprintf("text %d %d", i, j))
		}
		if err := c.Put(keys, vecs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*chunk), "ns/text")
}

// TestFileByFingerprint: cache files are named by the backbone's fingerprint
// alone (a name can hold "../"), and a file an older ser named
// NAME-FINGERPRINT.feat is taken over.
func TestFileByFingerprint(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "default-0123456789abcdef.feat")
	if err := os.WriteFile(old, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := cache.File(dir, "0123456789abcdef", cache.Float32)
	if p != filepath.Join(dir, "0123456789abcdef.feat") {
		t.Fatalf("path %s", p)
	}
	if raw, err := os.ReadFile(p); err != nil || string(raw) != "x" {
		t.Fatalf("the older file was not taken over: %v", err)
	}
}

// TestRefusesOtherFiles: a --cache that names someone else's file, however
// small, is refused, never overwritten; so is anything but a regular file.
func TestRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	notes := filepath.Join(dir, "notes.txt")
	os.WriteFile(notes, []byte("my notes\n"), 0o644)
	if _, err := cache.Open(notes, "fp", dim, cache.Float32, true); err == nil || !strings.Contains(err.Error(), "not a ser feature cache") {
		t.Fatalf("err %v", err)
	}
	if raw, _ := os.ReadFile(notes); string(raw) != "my notes\n" {
		t.Fatalf("notes.txt became %q", raw)
	}
	other := filepath.Join(dir, "other.feat")
	c, err := cache.Open(other, "fp-a", dim, cache.Float32, true)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := cache.Open(other, "fp-b", dim, cache.Float32, true); err == nil || !strings.Contains(err.Error(), "header") {
		t.Fatalf("another backbone's cache opened: %v", err)
	}
	if _, err := cache.Open(dir, "fp", dim, cache.Float32, false); err == nil {
		t.Fatal("a folder opened as a cache")
	}
}

// TestFloat16 fills a float16 cache and reads it back: every value is its
// float16 rounding, the file holds 2 bytes a value, a float32 cache of the
// same backbone is another file that refuses the other's header, and a value
// beyond float16's range is refused with nothing written.
func TestFloat16(t *testing.T) {
	dir := t.TempDir()
	path := cache.File(dir, "fp", cache.Float16)
	if path == cache.File(dir, "fp", cache.Float32) {
		t.Fatal("float16 and float32 caches share a file name")
	}
	c, err := cache.Open(path, "fp", dim, cache.Float16, true)
	if err != nil {
		t.Fatal(err)
	}
	f := &fake{}
	in := texts(300)
	if _, err := cache.Fill(context.Background(), c, f, in, cache.FillOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []float32{70000, -65520, float32(math.NaN()), float32(math.Inf(1))} {
		if err := c.Put([]cache.Key{cache.KeyOf("fp", "bad")}, append(make([]float32, dim-1), bad)); err == nil || !strings.Contains(err.Error(), "float16 cannot hold") {
			t.Errorf("a value of %v in a float16 cache: %v", bad, err)
		}
	}
	c.Close()
	if fi, _ := os.Stat(path); fi.Size() != int64(64+300*(20+2*dim)) {
		t.Errorf("file of %d bytes, want %d", fi.Size(), 64+300*(20+2*dim))
	}
	if _, err := cache.Open(path, "fp", dim, cache.Float32, false); err == nil || !strings.Contains(err.Error(), "header") {
		t.Errorf("a float16 cache opened as float32: %v", err)
	}
	r, err := cache.Open(path, "fp", dim, cache.Float16, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Len() != 300 || r.Format() != cache.Float16 {
		t.Fatalf("%d records, format %s", r.Len(), r.Format())
	}
	keys := make([]cache.Key, len(in))
	for i, s := range in {
		keys[i] = cache.KeyOf("fp", s)
	}
	got, err := r.Matrix(keys)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := f.EmbedTokens(context.Background(), mustTok(f, in))
	for i := range want {
		if got[i] != cache.HalfToFloat(cache.FloatToHalf(want[i])) {
			t.Fatalf("value %d: %v, want %v (float16 of %v)", i, got[i], cache.HalfToFloat(cache.FloatToHalf(want[i])), want[i])
		}
	}
}

// TestTornTailFloat16: a crash in the middle of a float16 record loses that
// record only.
func TestTornTailFloat16(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.feat")
	c, _ := cache.Open(path, "fp", dim, cache.Float16, true)
	if _, err := cache.Fill(context.Background(), c, &fake{}, texts(50), cache.FillOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	fh, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	fh.Write(make([]byte, 20+dim)) // half a record
	fh.Close()
	c, err := cache.Open(path, "fp", dim, cache.Float16, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Len() != 50 {
		t.Fatalf("%d records after a torn tail, want 50", c.Len())
	}
	if fi, _ := os.Stat(path); fi.Size() != int64(64+50*(20+2*dim)) {
		t.Errorf("torn tail not cut: %d bytes", fi.Size())
	}
}
