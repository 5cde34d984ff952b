package data

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// Bounds on what a Parquet file may ask the reader to allocate. parquet-go
// sizes buffers by the sizes the file declares (a 1.6 KB file declaring a
// page of 2^31-1 bytes asks for gigabytes), so the footer and every page
// header are checked against them, and against the file's real extent, before
// parquet-go reads anything.
const (
	maxParquetPage   = 256 << 20 // bytes of one uncompressed page
	maxPageValues    = 1 << 24   // values in one page
	maxThriftDepth   = 64        // nesting of thrift structs
	maxFooterBytes   = 64 << 20
	pageHeaderWindow = 1 << 20 // bytes read to decode one page header
)

// openParquet checks a Parquet file's footer and page headers, then opens it
// with parquet-go, turning its panics into errors.
func openParquet(f *os.File, path string) (pf *parquet.File, err error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	bad := func(format string, a ...any) error {
		return &Error{File: path, Msg: "not a readable Parquet file: " + fmt.Sprintf(format, a...)}
	}
	if size < 12 {
		return nil, bad("%d bytes", size)
	}
	tail := make([]byte, 8)
	if _, err := f.ReadAt(tail, size-8); err != nil {
		return nil, bad("%v", err)
	}
	if string(tail[4:]) != "PAR1" {
		return nil, bad("no PAR1 at the end")
	}
	n := int64(binary.LittleEndian.Uint32(tail))
	if n <= 0 || n > size-12 || n > maxFooterBytes {
		return nil, bad("footer of %d bytes in a file of %d", n, size)
	}
	footer := make([]byte, n)
	if _, err := f.ReadAt(footer, size-8-n); err != nil {
		return nil, bad("%v", err)
	}
	if err := checkThrift(footer); err != nil {
		return nil, bad("footer: %v", err)
	}
	var meta format.FileMetaData
	if err := decodeThrift(footer, &meta); err != nil {
		return nil, bad("footer: %v", err)
	}
	for g, rg := range meta.RowGroups {
		for c, col := range rg.Columns {
			if err := checkChunk(f, size, &col.MetaData); err != nil {
				return nil, bad("row group %d, column %d: %v", g, c, err)
			}
		}
	}
	defer func() {
		if r := recover(); r != nil {
			pf, err = nil, bad("%v", r)
		}
	}()
	pf, err = parquet.OpenFile(f, size)
	if err != nil {
		return nil, bad("%v", err)
	}
	return pf, nil
}

// decodeThrift decodes a compact-protocol struct, turning a panic into an error.
func decodeThrift(b []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return thrift.Unmarshal(new(thrift.CompactProtocol), b, v)
}

// checkChunk walks the page headers of one column chunk: each must lie
// inside the chunk and the file, and ask for no more than the bounds.
func checkChunk(f *os.File, size int64, md *format.ColumnMetaData) error {
	start := md.DataPageOffset
	if md.DictionaryPageOffset > 0 && md.DictionaryPageOffset < start {
		start = md.DictionaryPageOffset
	}
	end := start + md.TotalCompressedSize
	if start < 4 || md.TotalCompressedSize < 0 || end > size-8 || end < start {
		return fmt.Errorf("chunk at %d of %d bytes lies outside the file", start, md.TotalCompressedSize)
	}
	if md.NumValues < 0 {
		return fmt.Errorf("num_values %d", md.NumValues)
	}
	buf := make([]byte, min(pageHeaderWindow, end-start))
	for pos := start; pos < end; {
		w := buf[:min(int64(len(buf)), end-pos)]
		if _, err := f.ReadAt(w, pos); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		used, err := thriftStructLen(w)
		if err != nil {
			return fmt.Errorf("page header at %d: %v", pos, err)
		}
		var h format.PageHeader
		if err := decodeThrift(w[:used], &h); err != nil {
			return fmt.Errorf("page header at %d: %v", pos, err)
		}
		switch {
		case h.CompressedPageSize < 0 || pos+int64(used)+int64(h.CompressedPageSize) > end:
			return fmt.Errorf("page at %d: compressed size %d runs past the chunk", pos, h.CompressedPageSize)
		case h.UncompressedPageSize < 0 || h.UncompressedPageSize > maxParquetPage:
			return fmt.Errorf("page at %d: uncompressed size %d (at most %d)", pos, h.UncompressedPageSize, maxParquetPage)
		}
		for _, nv := range []int32{h.DataPageHeader.V.NumValues, h.DictionaryPageHeader.V.NumValues, h.DataPageHeaderV2.V.NumValues,
			h.DataPageHeaderV2.V.NumRows, h.DataPageHeaderV2.V.NumNulls} {
			if nv < 0 || nv > maxPageValues {
				return fmt.Errorf("page at %d: %d values (at most %d)", pos, nv, maxPageValues)
			}
		}
		pos += int64(used) + int64(h.CompressedPageSize)
	}
	return nil
}

// checkThrift validates a compact-protocol struct that fills b: every
// length and count fits in what is left of b, and nesting is bounded, so
// that decoding it allocates no more than b's size warrants.
func checkThrift(b []byte) error {
	n, err := thriftStructLen(b)
	if err != nil {
		return err
	}
	if n > len(b) {
		return fmt.Errorf("truncated")
	}
	return nil
}

// thriftStructLen returns the length of the compact-protocol struct that
// starts b, validating it as checkThrift does.
func thriftStructLen(b []byte) (int, error) {
	r := &thriftWalker{b: b}
	if err := r.structure(0); err != nil {
		return 0, err
	}
	return r.pos, nil
}

type thriftWalker struct {
	b   []byte
	pos int
}

var errThrift = errors.New("malformed thrift")

func (r *thriftWalker) byte() (byte, error) {
	if r.pos >= len(r.b) {
		return 0, errThrift
	}
	c := r.b[r.pos]
	r.pos++
	return c, nil
}

func (r *thriftWalker) uvarint() (uint64, error) {
	v, n := binary.Uvarint(r.b[r.pos:])
	if n <= 0 {
		return 0, errThrift
	}
	r.pos += n
	return v, nil
}

func (r *thriftWalker) skip(n uint64) error {
	if n > uint64(len(r.b)-r.pos) {
		return fmt.Errorf("a length of %d runs past the %d bytes left", n, len(r.b)-r.pos)
	}
	r.pos += int(n)
	return nil
}

func (r *thriftWalker) structure(depth int) error {
	if depth > maxThriftDepth {
		return fmt.Errorf("structs nested deeper than %d", maxThriftDepth)
	}
	for {
		h, err := r.byte()
		if err != nil {
			return err
		}
		if h == 0 {
			return nil
		}
		if h>>4 == 0 { // long form: the field id follows as a zigzag varint
			if _, err := r.uvarint(); err != nil {
				return err
			}
		}
		if err := r.value(h&0x0f, depth); err != nil {
			return err
		}
	}
}

func (r *thriftWalker) value(t byte, depth int) error {
	switch t {
	case 1, 2: // bool in a field: the type is the value
		return nil
	case 3:
		return r.skip(1)
	case 4, 5, 6:
		_, err := r.uvarint()
		return err
	case 7:
		return r.skip(8)
	case 8:
		n, err := r.uvarint()
		if err != nil {
			return err
		}
		return r.skip(n)
	case 9, 10:
		h, err := r.byte()
		if err != nil {
			return err
		}
		n := uint64(h >> 4)
		if n == 15 {
			if n, err = r.uvarint(); err != nil {
				return err
			}
		}
		return r.elements(n, h&0x0f, depth)
	case 11:
		n, err := r.uvarint()
		if err != nil || n == 0 {
			return err
		}
		kv, err := r.byte()
		if err != nil {
			return err
		}
		if n > uint64(len(r.b)-r.pos) {
			return fmt.Errorf("a map of %d entries in %d bytes", n, len(r.b)-r.pos)
		}
		for i := uint64(0); i < n; i++ {
			if err := r.element(kv>>4, depth); err != nil {
				return err
			}
			if err := r.element(kv&0x0f, depth); err != nil {
				return err
			}
		}
		return nil
	case 12:
		return r.structure(depth + 1)
	case 13:
		return r.skip(16)
	}
	return fmt.Errorf("unknown thrift type %d", t)
}

// elements walks n list elements of type t; each takes at least one byte.
func (r *thriftWalker) elements(n uint64, t byte, depth int) error {
	if n > uint64(len(r.b)-r.pos) {
		return fmt.Errorf("a list of %d elements in %d bytes", n, len(r.b)-r.pos)
	}
	for i := uint64(0); i < n; i++ {
		if err := r.element(t, depth); err != nil {
			return err
		}
	}
	return nil
}

// element is a value inside a list or map, where a bool takes a byte.
func (r *thriftWalker) element(t byte, depth int) error {
	if t == 1 || t == 2 {
		return r.skip(1)
	}
	return r.value(t, depth)
}

// readParquetRow reads one row, turning a panic inside parquet-go into an
// error that names the row group.
func (r *Reader) readParquetRow(row *map[string]any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("parquet-go failed: %v", p)
		}
	}()
	return r.pq.Read(row)
}

// rowGroupOf says which row group the 1-based row falls in.
func (r *Reader) rowGroupOf(row int) int {
	n := int64(0)
	for g, rg := range r.pf.Metadata().RowGroups {
		n += rg.NumRows
		if int64(row) <= n {
			return g
		}
	}
	return len(r.pf.Metadata().RowGroups) - 1
}
