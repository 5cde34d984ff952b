package data_test

import (
	"bytes"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/ser-rl/ser/data"
)

func writeRaw(t *testing.T, name string, raw []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const pairLine = `{"prompt": "p", "chosen": "a", "rejected": "b"}` + "\n"

// TestLongLine: a line longer than the cap is a bad record read through
// without being kept: a small .gz of hundreds of megabytes of zeros neither
// fills memory nor stops --skip-bad from reading the lines after it.
func TestLongLine(t *testing.T) {
	path := write(t, t.TempDir(), "big.jsonl.gz", pairLine+strings.Repeat("0", 40<<20)+"\n"+pairLine)
	_, _, err := data.ReadAll([]string{path}, data.Options{})
	if err == nil || !strings.Contains(err.Error(), "longer than") || !strings.Contains(err.Error(), ":2:") {
		t.Fatalf("err %v", err)
	}
	pairs, stats, err := data.ReadAll([]string{path}, data.Options{SkipBad: true})
	if err != nil || len(pairs) != 2 || len(stats[0].Skipped) != 1 {
		t.Fatalf("skip-bad: %d pairs, %+v, %v", len(pairs), stats, err)
	}
	if _, _, err := data.ReadAll([]string{path}, data.Options{MaxLine: 64 << 20}); err == nil || !strings.Contains(err.Error(), "malformed JSON") {
		t.Fatalf("a raised cap reads the line: %v", err)
	}
}

// TestByteOrderMark: a UTF-8 BOM at the start of a file is not an error.
func TestByteOrderMark(t *testing.T) {
	path := write(t, t.TempDir(), "bom.jsonl", "\xef\xbb\xbf"+pairLine)
	pairs, _, err := data.ReadAll([]string{path}, data.Options{})
	if err != nil || len(pairs) != 1 {
		t.Fatalf("%d pairs, %v", len(pairs), err)
	}
}

// TestNotRegular: a FIFO named *.jsonl is refused at once, not waited on.
func TestNotRegular(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pipe.jsonl")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skip("no FIFOs:", err)
	}
	done := make(chan error, 1)
	go func() { _, _, err := data.ReadAll([]string{path}, data.Options{}); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("err %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reading a FIFO hangs")
	}
}

// TestTruncatedGzip: a .gz cut short says how many records came before the
// damage; --skip-bad keeps them.
func TestTruncatedGzip(t *testing.T) {
	var b bytes.Buffer
	for i := 0; i < 2000; i++ {
		b.WriteString(`{"prompt": "p` + strings.Repeat("x", i%50) + `", "chosen": "a", "rejected": "b"}` + "\n")
	}
	whole := write(t, t.TempDir(), "whole.jsonl.gz", b.String())
	z, _ := os.ReadFile(whole)
	path := writeRaw(t, "cut.jsonl.gz", z[:len(z)*2/3])
	_, _, err := data.ReadAll([]string{path}, data.Options{})
	if err == nil || !strings.Contains(err.Error(), "damaged") || !strings.Contains(err.Error(), "records were read before it") {
		t.Fatalf("err %v", err)
	}
	pairs, stats, err := data.ReadAll([]string{path}, data.Options{SkipBad: true})
	if err != nil || len(pairs) < 500 || len(pairs) >= 2000 || stats[0].Skipped["the rest of a damaged file"] != 1 {
		t.Fatalf("skip-bad kept %d pairs: %+v %v", len(pairs), stats, err)
	}
}

type hhRowH struct {
	Chosen   string `parquet:"chosen"`
	Rejected string `parquet:"rejected"`
}

func parquetBytes(t testing.TB, rows []hhRowH) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := parquet.Write(&b, rows); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestParquetInvalidUTF8: the same rule as for JSONL: a string that is not
// UTF-8 is a bad record, naming its field.
func TestParquetInvalidUTF8(t *testing.T) {
	path := writeRaw(t, "bad.parquet", parquetBytes(t, []hhRowH{{"\n\nHuman: hi\n\nAssistant: \xff\xfe", "\n\nHuman: hi\n\nAssistant: no"}}))
	_, _, err := data.ReadAll([]string{path}, data.Options{})
	if err == nil || !strings.Contains(err.Error(), "UTF-8") || !strings.Contains(err.Error(), `"chosen"`) {
		t.Fatalf("err %v", err)
	}
}

// TestParquetHugePage: a page header that asks for 2^31-1 bytes or values is
// refused before anything is allocated for it.
func TestParquetHugePage(t *testing.T) {
	raw := parquetBytes(t, []hhRowH{{"\n\nHuman: hi\n\nAssistant: a", "\n\nHuman: hi\n\nAssistant: b"}})
	var h format.PageHeader
	hdrLen := headerLen(t, raw[4:])
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), raw[4:4+hdrLen], &h); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(h *format.PageHeader){
		"uncompressed size": func(h *format.PageHeader) { h.UncompressedPageSize = math.MaxInt32 },
		"values": func(h *format.PageHeader) {
			switch {
			case h.DataPageHeader.Valid:
				h.DataPageHeader.V.NumValues = math.MaxInt32
			case h.DictionaryPageHeader.Valid:
				h.DictionaryPageHeader.V.NumValues = math.MaxInt32
			default:
				h.DataPageHeaderV2.V.NumValues = math.MaxInt32
			}
		},
	} {
		g := h
		edit(&g)
		enc, err := thrift.Marshal(new(thrift.CompactProtocol), &g)
		if err != nil {
			t.Fatal(err)
		}
		mutated := append(append(append([]byte(nil), raw[:4]...), enc...), raw[4+hdrLen:]...)
		path := writeRaw(t, "huge.parquet", mutated)
		_, _, err = data.ReadAll([]string{path}, data.Options{SkipBad: true})
		if err == nil {
			t.Errorf("%s: read", name)
		}
	}
}

func headerLen(t *testing.T, b []byte) int {
	t.Helper()
	for n := 1; n < len(b); n++ {
		var h format.PageHeader
		if thrift.Unmarshal(new(thrift.CompactProtocol), b[:n], &h) == nil && h.CompressedPageSize > 0 {
			return n
		}
	}
	t.Fatal("no page header")
	return 0
}

// TestParquetMutations reads 2,000 random 1-4-byte mutations of a valid file:
// an error or pairs, never a panic.
func TestParquetMutations(t *testing.T) {
	raw := parquetBytes(t, []hhRowH{{"\n\nHuman: hi\n\nAssistant: hello", "\n\nHuman: hi\n\nAssistant: go away"},
		{"\n\nHuman: a\n\nAssistant: b", "\n\nHuman: a\n\nAssistant: c"}})
	rng := rand.New(rand.NewPCG(1, 2))
	path := filepath.Join(t.TempDir(), "m.parquet")
	for i := 0; i < 2000; i++ {
		m := append([]byte(nil), raw...)
		for k := 0; k <= rng.IntN(4); k++ {
			m[rng.IntN(len(m))] = byte(rng.IntN(256))
		}
		os.WriteFile(path, m, 0o644)
		data.ReadAll([]string{path}, data.Options{SkipBad: true})
	}
}

// FuzzParquet reads mutated Parquet files: an error or pairs, never a panic.
func FuzzParquet(f *testing.F) {
	f.Add(parquetBytes(f, []hhRowH{{"\n\nHuman: hi\n\nAssistant: hello", "\n\nHuman: hi\n\nAssistant: go away"}})[4:])
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 1<<16 {
			return
		}
		file := append([]byte("PAR1"), raw...) // the input is the fuzzer's: not changed in place
		path := filepath.Join(dir, "f.parquet")
		os.WriteFile(path, file, 0o644)
		r, err := data.Open(path, data.Options{SkipBad: true})
		if err != nil {
			return
		}
		defer r.Close()
		for i := 0; i < 1000; i++ {
			if _, err := r.Next(); err != nil {
				var e *data.Error
				if !errors.Is(err, io.EOF) && !errors.As(err, &e) {
					t.Fatalf("an error without file and line: %v", err)
				}
				return
			}
		}
	})
}
