// Package cache stores backbone feature vectors on disk, content-addressed:
// a vector's key is a hash of the backbone's fingerprint (its files'
// checksums, its truncation and pooling) and the exact text fed to it, so a
// text shared by several datasets is embedded once.
//
// One cache is one file of fixed-size records appended in batches:
//
//	header   64 bytes: magic, dim (uint32), record size (uint32), fingerprint
//	record   key (16 bytes) | crc32c of key and vector (4 bytes) | dim values, little-endian
//
// The values are float32 (magic "SERFEAT1") or, for a Float16 cache, IEEE
// half precision (magic "SERFP16\x01"): half the bytes, for LLM-width
// features, at 11 significant bits (a relative rounding error below 2^-11).
//
// A record whose checksum fails (torn by a crash, or corrupted on disk) is
// never returned: it is left out of the index and its text is embedded again.
// A crash, kill -9 or full disk in the middle of an append leaves a torn tail,
// which the next writer cuts off; everything appended before stays. The file
// is memory-mapped for reading, so a whole dataset's matrix is a copy out of
// the page cache.
package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

const (
	headerSize = 64
	keySize    = 16
)

// Format is how a cache stores values: Float32 (the zero value) or Float16.
type Format string

// Formats.
const (
	Float32 Format = "float32"
	Float16 Format = "float16"
)

// CheckFormat reports a format that is neither.
func CheckFormat(f Format) error {
	switch f {
	case "", Float32, Float16:
		return nil
	}
	return fmt.Errorf("feature storage %q: want float32 or float16", f)
}

func (f Format) magic() string {
	if f == Float16 {
		return "SERFP16\x01"
	}
	return "SERFEAT1"
}

func (f Format) size() int {
	if f == Float16 {
		return 2
	}
	return 4
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Key addresses one vector.
type Key [keySize]byte

// KeyOf is the key of text under a backbone fingerprint.
func KeyOf(fingerprint, text string) Key {
	h := sha256.New()
	h.Write([]byte(fingerprint))
	h.Write([]byte{0})
	h.Write([]byte(text))
	var k Key
	copy(k[:], h.Sum(nil))
	return k
}

// Cache is one feature file. Reads are safe for concurrent use; Put must not
// run concurrently with itself.
type Cache struct {
	path        string
	fingerprint string
	dim         int
	format      Format
	recSize     int
	writable    bool

	f     *os.File
	mu    sync.RWMutex
	index map[Key]int64 // record offset
	mm    []byte        // the mapped file, up to a record boundary
	end   int64         // offset after the last record written or indexed

	Corrupt int // records left out because their checksum failed
}

// File is the cache file for a backbone under dir, named by its
// fingerprint and format alone (a backbone's name is the user's, and must not
// choose where files go): FINGERPRINT.feat, or FINGERPRINT.f16.feat. A
// float32 file that an older ser named NAME-FINGERPRINT.feat is renamed to it.
func File(dir, fingerprint string, format Format) string {
	if format == Float16 {
		return filepath.Join(dir, fingerprint+".f16.feat")
	}
	path := filepath.Join(dir, fingerprint+".feat")
	if _, err := os.Stat(path); os.IsNotExist(err) {
		if old, _ := filepath.Glob(filepath.Join(dir, "*-"+fingerprint+".feat")); len(old) == 1 {
			os.Rename(old[0], path)
		}
	}
	return path
}

// ErrLocked is the error of opening for writing a cache that another
// process is writing (Open), or of a wait for it that was cut short (OpenWait).
var ErrLocked = errors.New("another ser process is writing it")

// Open opens (creating, when writable) the cache file at path, storing values
// in format ("" is Float32). A writable cache takes an exclusive lock: one
// writer per file; when another process holds it, the error is ErrLocked.
func Open(path, fingerprint string, dim int, format Format, writable bool) (*Cache, error) {
	return open(context.Background(), path, fingerprint, dim, format, writable, nil)
}

// LockPoll is how often OpenWait tries the lock again.
const LockPoll = 200 * time.Millisecond

// OpenWait opens the cache for writing as Open does, but when another
// process is writing it, calls waiting once (when not nil) and waits for
// the lock until ctx ends (then the error is ctx's, wrapped with
// ErrLocked). A cache whose writer finishes is then read as it left it.
func OpenWait(ctx context.Context, path, fingerprint string, dim int, format Format, waiting func()) (*Cache, error) {
	return open(ctx, path, fingerprint, dim, format, true, func() {
		if waiting != nil {
			waiting()
		}
	})
}

func open(ctx context.Context, path, fingerprint string, dim int, format Format, writable bool, waiting func()) (*Cache, error) {
	if len(fingerprint) > headerSize-16 {
		return nil, fmt.Errorf("cache: fingerprint %q too long", fingerprint)
	}
	if err := CheckFormat(format); err != nil {
		return nil, fmt.Errorf("cache %s: %w", path, err)
	}
	if format == "" {
		format = Float32
	}
	c := &Cache{path: path, fingerprint: fingerprint, dim: dim, format: format, recSize: keySize + 4 + format.size()*dim,
		writable: writable, index: map[Key]int64{}}
	flag := os.O_RDONLY
	if writable {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		flag = os.O_RDWR | os.O_CREATE
	}
	// Opening a FIFO waits for a writer, and a device never ends: look first.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("cache %s: not a regular file", path)
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err == nil && !fi.Mode().IsRegular() { // swapped in since
		f.Close()
		return nil, fmt.Errorf("cache %s: not a regular file", path)
	}
	c.f = f
	if writable {
		if err := lock(ctx, f, waiting); err != nil {
			f.Close()
			return nil, fmt.Errorf("cache %s: %w", path, err)
		}
	}
	if err := c.load(); err != nil {
		f.Close()
		return nil, err
	}
	return c, nil
}

// lock takes f's exclusive lock; when another process holds it, it fails
// with ErrLocked, or (waiting not nil) calls waiting and tries again every
// LockPoll until it gets it or ctx ends.
func lock(ctx context.Context, f *os.File, waiting func()) error {
	for told := false; ; {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("locking it for writing: %w", err)
		}
		if waiting == nil {
			return fmt.Errorf("%w (%v)", ErrLocked, err)
		}
		if !told {
			waiting()
			told = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; stopped waiting for it: %w", ErrLocked, ctx.Err())
		case <-time.After(LockPoll):
		}
	}
}

func (c *Cache) header() []byte {
	h := make([]byte, headerSize)
	copy(h, c.format.magic())
	binary.LittleEndian.PutUint32(h[8:], uint32(c.dim))
	binary.LittleEndian.PutUint32(h[12:], uint32(c.recSize))
	copy(h[16:], c.fingerprint)
	return h
}

// load checks the header, cuts a torn tail (when writable) and indexes every
// record whose checksum holds.
func (c *Cache) load() error {
	fi, err := c.f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("cache %s: not a regular file", c.path)
	}
	size := fi.Size()
	if size < headerSize {
		if !c.writable {
			if size == 0 {
				return nil // an empty cache
			}
			return fmt.Errorf("cache %s: %d bytes, shorter than its header", c.path, size)
		}
		// new, or torn before the header was complete: start over; but a
		// file that does not begin as this cache's header is someone else's
		if size > 0 {
			start := make([]byte, size)
			if _, err := c.f.ReadAt(start, 0); err != nil {
				return err
			}
			if !bytes.Equal(start, c.header()[:size]) {
				return fmt.Errorf("cache %s: not a ser feature cache of this backbone (%d bytes that are not its header); refusing to overwrite it", c.path, size)
			}
		}
		if err := c.f.Truncate(0); err != nil {
			return err
		}
		if _, err := c.f.WriteAt(c.header(), 0); err != nil {
			return err
		}
		if err := c.f.Sync(); err != nil {
			return err
		}
		c.end = headerSize
		return nil
	}
	h := make([]byte, headerSize)
	if _, err := c.f.ReadAt(h, 0); err != nil {
		return err
	}
	if !bytes.Equal(h, c.header()) {
		return fmt.Errorf("cache %s: header is not that of a %d-d %s cache of backbone %s", c.path, c.dim, c.format, c.fingerprint)
	}
	n := (size - headerSize) / int64(c.recSize)
	c.end = headerSize + n*int64(c.recSize)
	if c.end != size && c.writable {
		if err := c.f.Truncate(c.end); err != nil { // a torn last record: cut it off
			return err
		}
	}
	if err := c.remap(); err != nil {
		return err
	}
	for off := int64(headerSize); off < c.end; off += int64(c.recSize) {
		rec := c.mm[off : off+int64(c.recSize)]
		if !c.valid(rec) {
			c.Corrupt++
			continue
		}
		var k Key
		copy(k[:], rec)
		c.index[k] = off
	}
	return nil
}

func (c *Cache) valid(rec []byte) bool {
	sum := binary.LittleEndian.Uint32(rec[keySize:])
	crc := crc32.Update(crc32.Checksum(rec[:keySize], castagnoli), castagnoli, rec[keySize+4:])
	return sum == crc
}

func (c *Cache) remap() error {
	if c.mm != nil {
		if err := syscall.Munmap(c.mm); err != nil {
			return err
		}
		c.mm = nil
	}
	if c.end <= headerSize {
		return nil
	}
	mm, err := syscall.Mmap(int(c.f.Fd()), 0, int(c.end), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("cache %s: mmap: %w", c.path, err)
	}
	c.mm = mm
	return nil
}

// Format is how the cache stores values.
func (c *Cache) Format() Format { return c.format }

// Dim is the length of one vector.
func (c *Cache) Dim() int { return c.dim }

// Len is the number of valid records.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.index)
}

// Has reports whether k's vector is stored.
func (c *Cache) Has(k Key) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.index[k]
	return ok
}

// Get copies k's vector into dst (len Dim) and reports whether it was there.
func (c *Cache) Get(k Key, dst []float32) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	off, ok := c.index[k]
	if !ok {
		return false
	}
	c.decode(c.mm[off+keySize+4:off+int64(c.recSize)], dst)
	return true
}

// decode copies a stored vector out. Float32 vectors sit at 4-byte aligned
// offsets (64 + k*record + 20), so on a little-endian machine the bytes are
// the floats.
func (c *Cache) decode(raw []byte, dst []float32) {
	if c.format == Float16 {
		if littleEndian { // float16 values sit at even offsets
			halvesToFloats(dst, unsafe.Slice((*uint16)(unsafe.Pointer(&raw[0])), len(dst)))
			return
		}
		for i := range dst {
			dst[i] = HalfToFloat(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		return
	}
	if littleEndian {
		copy(dst, unsafe.Slice((*float32)(unsafe.Pointer(&raw[0])), len(dst)))
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
}

var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// ErrMissing is wrapped by Matrix for keys not in the cache.
var ErrMissing = errors.New("not in the feature cache")

// Matrix returns the vectors of keys as one row-major matrix [len(keys), Dim].
// Large matrices are copied out by GOMAXPROCS goroutines, each a block of rows.
func (c *Cache) Matrix(keys []Key) ([]float32, error) {
	out := make([]float32, len(keys)*c.dim)
	c.mu.RLock()
	defer c.mu.RUnlock()
	workers := max(1, min(runtime.GOMAXPROCS(0), len(keys)*c.dim/(1<<18)))
	missing := make([]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w * len(keys) / workers; i < (w+1)*len(keys)/workers; i++ {
				off, ok := c.index[keys[i]]
				if !ok {
					missing[w]++
					continue
				}
				c.decode(c.mm[off+keySize+4:off+int64(c.recSize)], out[i*c.dim:(i+1)*c.dim])
			}
		}()
	}
	wg.Wait()
	if n := sumInts(missing); n > 0 {
		return nil, fmt.Errorf("cache %s: %d of %d vectors: %w (run `ser embed` on the data first)", c.path, n, len(keys), ErrMissing)
	}
	return out, nil
}

func sumInts(x []int) int {
	s := 0
	for _, v := range x {
		s += v
	}
	return s
}

// Put appends a batch of vectors (len(keys)*Dim floats) with one write and
// one fsync. Keys already stored are skipped.
func (c *Cache) Put(keys []Key, vecs []float32) error {
	if !c.writable {
		return fmt.Errorf("cache %s: opened read-only", c.path)
	}
	if len(vecs) != len(keys)*c.dim {
		return fmt.Errorf("cache: Put: %d floats for %d keys of %d", len(vecs), len(keys), c.dim)
	}
	if c.format == Float16 {
		for i, v := range vecs {
			if !fitsHalf(v) {
				return fmt.Errorf("cache %s: value %d of vector %d is %v, which float16 cannot hold (finite, |v| <= %v): store this backbone's features as float32", c.path, i%c.dim, i/c.dim, v, maxHalf)
			}
		}
	}
	buf := make([]byte, 0, len(keys)*c.recSize)
	var added []Key
	seen := map[Key]bool{}
	for i, k := range keys {
		if c.Has(k) || seen[k] {
			continue
		}
		seen[k] = true
		rec := make([]byte, c.recSize)
		copy(rec, k[:])
		for j, v := range vecs[i*c.dim : (i+1)*c.dim] {
			if c.format == Float16 {
				binary.LittleEndian.PutUint16(rec[keySize+4+2*j:], FloatToHalf(v))
			} else {
				binary.LittleEndian.PutUint32(rec[keySize+4+4*j:], math.Float32bits(v))
			}
		}
		crc := crc32.Update(crc32.Checksum(rec[:keySize], castagnoli), castagnoli, rec[keySize+4:])
		binary.LittleEndian.PutUint32(rec[keySize:], crc)
		buf = append(buf, rec...)
		added = append(added, k)
	}
	if len(added) == 0 {
		return nil
	}
	if _, err := c.f.WriteAt(buf, c.end); err != nil {
		c.f.Truncate(c.end) // leave no partial batch behind (a full disk)
		return fmt.Errorf("cache %s: %w", c.path, err)
	}
	if err := c.f.Sync(); err != nil {
		return fmt.Errorf("cache %s: %w", c.path, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, k := range added {
		c.index[k] = c.end + int64(i*c.recSize)
	}
	c.end += int64(len(buf))
	return c.remap()
}

// Each calls fn for every valid record, in file order.
func (c *Cache) Each(fn func(k Key, vec []float32) error) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	vec := make([]float32, c.dim)
	for off := int64(headerSize); off < c.end; off += int64(c.recSize) {
		rec := c.mm[off : off+int64(c.recSize)]
		var k Key
		copy(k[:], rec)
		if c.index[k] != off {
			continue // corrupt, or a duplicate
		}
		c.decode(rec[keySize+4:], vec)
		if err := fn(k, vec); err != nil {
			return err
		}
	}
	return nil
}

// Close unmaps and closes the file (releasing the writer's lock).
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mm != nil {
		syscall.Munmap(c.mm)
		c.mm = nil
	}
	return c.f.Close()
}
