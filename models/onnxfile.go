package models

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"google.golang.org/protobuf/encoding/protowire"
)

// GraphInfo is what ser reads of an ONNX file without running it: the
// graph's inputs and outputs, and the external-data files its tensors name.
type GraphInfo struct {
	Inputs, Outputs []ValueInfo
	// External lists the external-data locations, relative to the model
	// file's folder, in the order first met.
	External []string
}

// ValueInfo is a graph input or output: its name, element type (ONNX's
// TensorProto.DataType numbering) and rank (-1 when unknown).
type ValueInfo struct {
	Name     string
	ElemType int
	Rank     int
	// Last is the size of the last dimension when the graph fixes it (0
	// when it is symbolic or unknown).
	Last int64
}

// maxGraphDepth bounds the nesting of subgraphs (If, Loop) read.
const maxGraphDepth = 64

// ReadGraphInfo reads an ONNX model file. The file is mapped, not read into
// memory, so a model of many gigabytes costs no more than its graph's
// structure; a file that is not a well-formed ModelProto is an error.
func ReadGraphInfo(path string) (*GraphInfo, error) {
	if fi, err := os.Stat(path); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() { // before opening: opening a FIFO waits for a writer
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if fi.Size() == 0 {
		return nil, fmt.Errorf("%s: empty", path)
	}
	if fi.Size() > 1<<40 {
		return nil, fmt.Errorf("%s: %d bytes is not a model file", path, fi.Size())
	}
	buf, err := syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer syscall.Munmap(buf)
	g := &GraphInfo{}
	seen := map[string]bool{}
	found := false
	err = eachField(buf, func(f field) error {
		switch {
		case f.is(7, protowire.BytesType): // graph
			found = true
			return g.graph(f.bytes, seen, 0, true)
		case f.is(25, protowire.BytesType): // functions
			return eachField(f.bytes, func(f field) error {
				if f.is(7, protowire.BytesType) { // node
					return g.node(f.bytes, seen, 1)
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: not a valid ONNX model: %w", path, err)
	}
	if !found {
		return nil, fmt.Errorf("%s: not a valid ONNX model: no graph", path)
	}
	return g, nil
}

var errProto = errors.New("malformed protobuf")

// field is one field of a protobuf message: its number and type, and its
// value: the bytes of a length-delimited field, the number of a varint.
type field struct {
	num   protowire.Number
	typ   protowire.Type
	bytes []byte
	n     uint64
}

func (f field) is(num protowire.Number, typ protowire.Type) bool { return f.num == num && f.typ == typ }

// eachField calls fn for each field of a message.
func eachField(b []byte, fn func(field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errProto
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.BytesType:
			f.bytes, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			f.n, n = protowire.ConsumeVarint(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return errProto
		}
		b = b[n:]
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

func (g *GraphInfo) graph(b []byte, seen map[string]bool, depth int, top bool) error {
	if depth > maxGraphDepth {
		return fmt.Errorf("subgraphs nested deeper than %d", maxGraphDepth)
	}
	return eachField(b, func(f field) error {
		if f.typ != protowire.BytesType {
			return nil
		}
		switch f.num {
		case 1: // node
			return g.node(f.bytes, seen, depth)
		case 5: // initializer
			return g.tensor(f.bytes, seen)
		case 15: // sparse_initializer
			return g.sparse(f.bytes, seen)
		case 11, 12: // input, output
			if !top {
				return nil
			}
			vi, err := valueInfo(f.bytes)
			if err != nil {
				return err
			}
			if f.num == 11 {
				g.Inputs = append(g.Inputs, vi)
			} else {
				g.Outputs = append(g.Outputs, vi)
			}
		}
		return nil
	})
}

func (g *GraphInfo) node(b []byte, seen map[string]bool, depth int) error {
	return eachField(b, func(f field) error {
		if !f.is(5, protowire.BytesType) { // attribute
			return nil
		}
		return eachField(f.bytes, func(f field) error {
			if f.typ != protowire.BytesType {
				return nil
			}
			switch f.num {
			case 5, 10: // t, tensors
				return g.tensor(f.bytes, seen)
			case 22, 23: // sparse_tensor, sparse_tensors
				return g.sparse(f.bytes, seen)
			case 6, 11: // g, graphs
				return g.graph(f.bytes, seen, depth+1, false)
			}
			return nil
		})
	})
}

func (g *GraphInfo) sparse(b []byte, seen map[string]bool) error {
	return eachField(b, func(f field) error {
		if f.is(1, protowire.BytesType) || f.is(2, protowire.BytesType) { // values, indices
			return g.tensor(f.bytes, seen)
		}
		return nil
	})
}

// tensor notes the location of a tensor stored as external data.
func (g *GraphInfo) tensor(b []byte, seen map[string]bool) error {
	return eachField(b, func(f field) error {
		if !f.is(13, protowire.BytesType) { // external_data
			return nil
		}
		var key, value string
		err := eachField(f.bytes, func(f field) error {
			switch {
			case f.is(1, protowire.BytesType):
				key = string(f.bytes)
			case f.is(2, protowire.BytesType):
				value = string(f.bytes)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if key == "location" && !seen[value] {
			seen[value] = true
			g.External = append(g.External, value)
		}
		return nil
	})
}

func valueInfo(b []byte) (ValueInfo, error) {
	vi := ValueInfo{Rank: -1, ElemType: -1}
	err := eachField(b, func(f field) error {
		switch {
		case f.is(1, protowire.BytesType):
			vi.Name = string(f.bytes)
		case f.is(2, protowire.BytesType): // type
			return eachField(f.bytes, func(f field) error {
				if !f.is(1, protowire.BytesType) { // tensor_type
					return nil
				}
				return eachField(f.bytes, func(f field) error {
					switch {
					case f.is(1, protowire.VarintType): // elem_type
						vi.ElemType = int(f.n)
					case f.is(2, protowire.BytesType): // shape
						vi.Rank = 0
						return eachField(f.bytes, func(f field) error {
							if f.num != 1 || f.typ != protowire.BytesType { // dim
								return nil
							}
							vi.Rank++
							vi.Last = 0
							return eachField(f.bytes, func(f field) error {
								if f.is(1, protowire.VarintType) && int64(f.n) > 0 { // dim_value
									vi.Last = int64(f.n)
								}
								return nil
							})
						})
					}
					return nil
				})
			})
		}
		return nil
	})
	return vi, err
}
