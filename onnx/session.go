package onnx

import (
	"fmt"
	"path/filepath"
	"strings"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/ser-rl/ser/internal/safefile"
	"github.com/ser-rl/ser/models"
	"github.com/ser-rl/ser/onnx/onnxpb"
)

// Session is one ONNX Runtime session of a backbone's graph. It is not safe
// for concurrent use; a Backbone runs one goroutine per Session.
type Session struct {
	m       *models.Manifest
	s       *ort.DynamicAdvancedSession
	inputs  []string
	outType ort.TensorElementDataType
	outRank int
	padLeft bool
	buckets bool
	// poolInGraph: the graph pools (onnxpb.AppendPooling): it takes each
	// token's weight as one more input and gives [rows, dim] float32
	poolInGraph bool
	// a reward model whose graph gives its logits beside the hidden states:
	// the logits output's name and type (rows are [pooled | logits])
	logitsOut  string
	logitsType ort.TensorElementDataType

	empty []float32 // sparse graphs: the vector of an empty text, made on first need

	// reused buffers
	i64a, i64b, i64c, i64d []int64
	f32, pooled, logits    []float32
	weights                []float32
	raw, raw2              []byte
}

// SessionOptions configure one session.
type SessionOptions struct {
	Device  Device
	Threads int  // intra-op threads; 0 lets ONNX Runtime choose
	PadLeft bool // dense inputs: pad on the left (as decoder LLM servers do) instead of the right
	// Buckets pads a dense batch to its rows' length bucket (BucketLen)
	// rather than to its longest row, so that a text's padded shape depends
	// on its own length only (Backbone.Batches then puts one bucket in a
	// batch): on a GPU, where fp16 kernels round differently at other
	// shapes, a text's vector no longer moves with its batch-mates.
	Buckets bool
	// PoolInGraph makes the graph pool a dense [batch, tokens, dim] output
	// itself (see onnxpb.AppendPooling): on a GPU only [batch, dim] floats
	// then leave the device, instead of every token's hidden state, and the
	// pooling runs there. The model's bytes are read and extended in memory;
	// its external data, if any, is read from its folder as before.
	PoolInGraph bool

	// pooledGraph, when set, is the model already extended to pool (Open
	// reads and extends it once for all of a backbone's sessions).
	pooledGraph []byte
}

// The names the pooling added to a graph goes by.
const (
	poolWeights = "ser.pool.weights"
	poolOutput  = "ser.pool.pooled"
)

// BucketLen is the length a row of n tokens is padded to under buckets:
// multiples of 16 up to 128, of 64 up to 1,024, then of 256 (at most a
// quarter of padding beyond 64 tokens), and never beyond maxTokens (a
// graph's positions may end there).
func BucketLen(n, maxTokens int) int {
	b := (n + 255) / 256 * 256
	switch {
	case n <= 128:
		b = max(16, (n+15)/16*16)
	case n <= 1024:
		b = (n + 63) / 64 * 64
	}
	if maxTokens > 0 {
		b = min(b, max(n, maxTokens))
	}
	return b
}

// NewSession opens the manifest's graph. Init must have been called.
func NewSession(m *models.Manifest, opts SessionOptions) (*Session, error) {
	path := m.Path(m.Model)
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	s := &Session{m: m, padLeft: opts.PadLeft || m.PadLeft, buckets: opts.Buckets}
	have := map[string]bool{}
	for _, in := range ins {
		have[in.Name] = true
	}
	switch m.Input {
	case models.InputSparse:
		s.inputs = []string{"indices", "values"}
	case models.InputDense:
		s.inputs = []string{"input_ids", "attention_mask"}
		for _, opt := range []string{"token_type_ids", "position_ids"} {
			if have[opt] {
				s.inputs = append(s.inputs, opt)
			}
		}
	}
	fed := map[string]bool{}
	for _, name := range s.inputs {
		fed[name] = true
		if !have[name] {
			return nil, fmt.Errorf("onnx: %s has no input %q, which input kind %q needs (its inputs: %s)", path, name, m.Input, names(ins))
		}
	}
	for _, in := range ins {
		if !fed[in.Name] {
			return nil, fmt.Errorf("onnx: %s needs input %q, which ser does not feed (export the model without it: no past_key_values, no cache)", path, in.Name)
		}
	}
	found := false
	for _, o := range outs {
		if o.Name != m.Output {
			continue
		}
		found = true
		s.outType = o.DataType
		s.outRank = len(o.Dimensions)
		if d := o.Dimensions; len(d) > 0 && d[len(d)-1] > 0 && int(d[len(d)-1]) != m.HiddenDim() {
			return nil, fmt.Errorf("onnx: %s: output %q has width %d, the manifest says %d", path, o.Name, d[len(d)-1], m.HiddenDim())
		}
	}
	if !found {
		return nil, fmt.Errorf("onnx: %s has no output %q (its outputs: %s)", path, m.Output, names(outs))
	}
	outputs := []string{m.Output}
	if r := m.Reward; r != nil && r.Output != m.Output {
		for _, o := range outs {
			if o.Name != r.Output {
				continue
			}
			if d := o.Dimensions; len(d) != 2 || (d[1] > 0 && int(d[1]) != r.Labels) {
				return nil, fmt.Errorf("onnx: %s: output %q is %v; the manifest says [batch, %d]", path, o.Name, d, r.Labels)
			}
			s.logitsOut, s.logitsType = o.Name, o.DataType
		}
		if s.logitsOut == "" {
			return nil, fmt.Errorf("onnx: %s has no output %q (its outputs: %s)", path, r.Output, names(outs))
		}
		switch s.logitsType {
		case ort.TensorElementDataTypeFloat, ort.TensorElementDataTypeFloat16, ort.TensorElementDataTypeBFloat16:
		default:
			return nil, fmt.Errorf("onnx: %s: output %q is %s; float32, float16 and bfloat16 are read", path, r.Output, s.logitsType)
		}
		outputs = append(outputs, s.logitsOut)
	}
	switch s.outType {
	case ort.TensorElementDataTypeFloat, ort.TensorElementDataTypeFloat16, ort.TensorElementDataTypeBFloat16:
	default:
		return nil, fmt.Errorf("onnx: %s: output %q is %s; float32, float16 and bfloat16 are read", path, m.Output, s.outType)
	}
	wantRank := 3
	if m.Pooling == models.PoolNone {
		wantRank = 2
	}
	if s.outRank != wantRank {
		return nil, fmt.Errorf("onnx: %s: output %q has rank %d; pooling %q needs rank %d", path, m.Output, s.outRank, m.Pooling, wantRank)
	}
	if m.Input == models.InputSparse && m.Pooling != models.PoolNone {
		return nil, fmt.Errorf("onnx: %s: sparse-id graphs must pool inside the graph (pooling none)", path)
	}
	so, err := sessionOptions(opts.Device, opts.Threads)
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	if opts.PoolInGraph && s.outRank == 3 {
		s.s, err = s.pooledSession(path, opts.pooledGraph, outputs, so)
	} else {
		s.s, err = ort.NewDynamicAdvancedSession(path, s.inputs, outputs, so)
	}
	if err != nil {
		if opts.Device.CUDA {
			return nil, cudaError(err)
		}
		return nil, fmt.Errorf("onnx: open %s: %w", path, err)
	}
	return s, nil
}

// maxGraphBytes bounds the model file read to pool in the graph: a
// protobuf message is at most 2 GiB (larger models keep their weights as
// external data, and their .onnx file is small).
const maxGraphBytes = 2 << 30

// pooledGraph reads the model at path and extends it to pool its output
// hidden with the weights runDense computes.
func pooledGraph(path, hidden string) ([]byte, error) {
	raw, err := safefile.ReadRegular(path, maxGraphBytes)
	if err != nil {
		return nil, fmt.Errorf("onnx: reading %s to pool in the graph: %w", path, err)
	}
	ext, err := onnxpb.AppendPooling(raw, onnxpb.Pooling{Hidden: hidden, Weights: poolWeights, Pooled: poolOutput})
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: pooling in the graph: %w", path, err)
	}
	return ext, nil
}

// pooledSession opens the graph extended to pool its output (outputs[0]);
// ext is that graph when already made (nil: made here). The session's
// first output is then the pooled [rows, dim] float32.
func (s *Session) pooledSession(path string, ext []byte, outputs []string, so *ort.SessionOptions) (*ort.DynamicAdvancedSession, error) {
	if ext == nil {
		var err error
		if ext, err = pooledGraph(path, outputs[0]); err != nil {
			return nil, err
		}
	}
	// a model read from memory finds its external data here
	if err := so.AddSessionConfigEntry("session.model_external_initializers_file_folder_path", filepath.Dir(path)); err != nil {
		return nil, err
	}
	outs := append([]string{poolOutput}, outputs[1:]...)
	ss, err := ort.NewDynamicAdvancedSessionWithONNXData(ext, append(append([]string(nil), s.inputs...), poolWeights), outs, so)
	if err != nil {
		return nil, err
	}
	s.poolInGraph = true
	return ss, nil
}

// poolWeightsOf fills w [b, t] with each token's weight in pooling kind: 1/n
// on a row's n kept tokens (mean), or 1 on its first (cls) or last kept
// token, 0 elsewhere (and on an empty row everywhere), as pool reads them.
func poolWeightsOf(kind string, mask []int64, b, t int, w []float32) {
	clear(w)
	for i := 0; i < b; i++ {
		m, row := mask[i*t:(i+1)*t], w[i*t:(i+1)*t]
		first, last, n := -1, -1, 0
		for j, v := range m {
			if v != 0 {
				if first < 0 {
					first = j
				}
				last, n = j, n+1
			}
		}
		switch {
		case n == 0:
		case kind == models.PoolCLS:
			row[first] = 1
		case kind == models.PoolLast:
			row[last] = 1
		default:
			for j, v := range m {
				if v != 0 {
					row[j] = 1 / float32(n)
				}
			}
		}
	}
}

func names(infos []ort.InputOutputInfo) string {
	var n []string
	for _, i := range infos {
		n = append(n, i.Name)
	}
	return strings.Join(n, ", ")
}

// Close releases the session.
func (s *Session) Close() error { return s.s.Destroy() }

// Run embeds a batch of token-id rows into dst, len(batch)*Dim floats, row by
// row. Rows must already be truncated to the manifest's MaxTokens.
func (s *Session) Run(batch [][]int32, dst []float32) error {
	if len(dst) != len(batch)*s.m.Dim {
		return fmt.Errorf("onnx: Run: dst has %d floats for %d rows of %d", len(dst), len(batch), s.m.Dim)
	}
	if s.m.Input == models.InputSparse {
		return s.runSparse(batch, dst)
	}
	return s.runDense(batch, dst)
}

// runSparse feeds USE-lite's sparse input. The graph sizes its dense batch
// from the largest row index present, so an empty row at the end would be
// lost: empty rows are left out and get the empty-text vector instead (the
// vector the graph gives an all-padding row, as the reference does for an
// empty text that is not last in its batch).
func (s *Session) runSparse(batch [][]int32, dst []float32) error {
	dim := s.m.Dim
	var rows []int
	for i, r := range batch {
		if len(r) > 0 {
			rows = append(rows, i)
		}
	}
	if len(rows) < len(batch) {
		if err := s.ensureEmpty(); err != nil {
			return err
		}
		for i, r := range batch {
			if len(r) == 0 {
				copy(dst[i*dim:(i+1)*dim], s.empty)
			}
		}
		if len(rows) == 0 {
			return nil
		}
	}
	n := 0
	for _, i := range rows {
		n += len(batch[i])
	}
	idx := grow64(&s.i64a, 2*n)
	val := grow64(&s.i64b, n)
	k := 0
	for r, i := range rows {
		for p, id := range batch[i] {
			idx[2*k], idx[2*k+1] = int64(r), int64(p)
			val[k] = int64(id)
			k++
		}
	}
	out := dst
	if len(rows) < len(batch) {
		out = growF32(&s.f32, len(rows)*dim)
	}
	if err := s.run([]int64{int64(n), 2}, idx, []int64{int64(n)}, val, nil, ort.NewShape(int64(len(rows)), int64(dim)), out, nil); err != nil {
		return err
	}
	if len(rows) < len(batch) {
		for r, i := range rows {
			copy(dst[i*dim:(i+1)*dim], out[r*dim:(r+1)*dim])
		}
	}
	return nil
}

func (s *Session) ensureEmpty() error {
	if s.empty != nil {
		return nil
	}
	dim := s.m.Dim
	out := make([]float32, 2*dim)
	// one token in row 1 makes the graph build two rows; row 0 is all padding
	if err := s.run([]int64{1, 2}, []int64{1, 0}, []int64{1}, []int64{int64(s.m.PadID)}, nil, ort.NewShape(2, int64(dim)), out, nil); err != nil {
		return fmt.Errorf("onnx: embedding the empty text: %w", err)
	}
	s.empty = out[:dim]
	return nil
}

// runDense feeds input_ids and attention_mask [rows, longest] (and
// token_type_ids, position_ids when the graph has them) and pools the output.
func (s *Session) runDense(batch [][]int32, dst []float32) error {
	b := len(batch)
	t := 1
	for _, r := range batch {
		t = max(t, len(r))
	}
	if s.buckets {
		t = BucketLen(t, s.m.MaxTokens)
	}
	ids := grow64(&s.i64a, b*t)
	mask := grow64(&s.i64b, b*t)
	for i, r := range batch {
		off := 0
		if s.padLeft {
			off = t - len(r)
		}
		row, mrow := ids[i*t:(i+1)*t], mask[i*t:(i+1)*t]
		for j := range row {
			row[j], mrow[j] = int64(s.m.PadID), 0
		}
		for j, id := range r {
			row[off+j], mrow[off+j] = int64(id), 1
		}
	}
	var extra [][]int64
	for _, name := range s.inputs[2:] {
		switch name {
		case "token_type_ids":
			tt := grow64(&s.i64c, b*t)
			clear(tt)
			extra = append(extra, tt)
		case "position_ids":
			pos := grow64(&s.i64d, b*t)
			for i := 0; i < b; i++ { // count kept tokens, as HF does for left padding
				c := int64(0)
				for j := 0; j < t; j++ {
					if mask[i*t+j] == 1 {
						pos[i*t+j] = c
						c++
					} else {
						pos[i*t+j] = 1 // what HF's masked_fill puts under padding; never read
					}
				}
			}
			extra = append(extra, pos)
		}
	}
	dim := s.m.HiddenDim()
	out := dst
	if s.logitsOut != "" { // rows are [pooled | logits]: pool apart, then join
		out = growF32(&s.pooled, b*dim)
	}
	switch {
	case s.poolInGraph:
		w := growF32(&s.weights, b*t)
		poolWeightsOf(s.m.Pooling, mask, b, t, w)
		if err := s.run([]int64{int64(b), int64(t)}, ids, []int64{int64(b), int64(t)}, mask, extra, ort.NewShape(int64(b), int64(dim)), out, w); err != nil {
			return err
		}
	case s.outRank == 2:
		if err := s.run([]int64{int64(b), int64(t)}, ids, []int64{int64(b), int64(t)}, mask, extra, ort.NewShape(int64(b), int64(dim)), out, nil); err != nil {
			return err
		}
	default:
		// [b, t, dim] stays as the graph wrote it (16-bit values are not
		// widened here): pooling reads only the rows it needs.
		hidden := hiddenOutput{typ: s.outType, t: t, dim: dim}
		if s.outType == ort.TensorElementDataTypeFloat {
			hidden.f32 = growF32(&s.f32, b*t*dim)
			if err := s.run([]int64{int64(b), int64(t)}, ids, []int64{int64(b), int64(t)}, mask, extra, ort.NewShape(int64(b), int64(t), int64(dim)), hidden.f32, nil); err != nil {
				return err
			}
		} else {
			if err := s.run([]int64{int64(b), int64(t)}, ids, []int64{int64(b), int64(t)}, mask, extra, ort.NewShape(int64(b), int64(t), int64(dim)), nil, nil); err != nil {
				return err
			}
			hidden.raw = s.raw[:2*b*t*dim]
		}
		pool(s.m.Pooling, hidden, mask, b, t, dim, out)
	}
	if s.logitsOut != "" {
		k, w := s.m.Reward.Labels, s.m.Dim
		for i := 0; i < b; i++ {
			copy(dst[i*w:i*w+dim], out[i*dim:(i+1)*dim])
			copy(dst[i*w+dim:(i+1)*w], s.logits[i*k:(i+1)*k])
		}
	}
	return nil
}

// run executes the graph. out receives the output, converted to float32; a
// 16-bit output with out nil is left in s.raw as the graph wrote it. With
// weights (a graph that pools), they are fed as [shapeB..., 1] after the
// other inputs, and the output is float32.
func (s *Session) run(shapeA, a, shapeB, b []int64, extra [][]int64, outShape ort.Shape, out, weights []float32) error {
	var vals []ort.Value
	defer func() {
		for _, v := range vals {
			v.Destroy()
		}
	}()
	ta, err := ort.NewTensor(ort.Shape(shapeA), a)
	if err != nil {
		return err
	}
	vals = append(vals, ta)
	tb, err := ort.NewTensor(ort.Shape(shapeB), b)
	if err != nil {
		return err
	}
	vals = append(vals, tb)
	for _, e := range extra {
		te, err := ort.NewTensor(ort.Shape(shapeB), e)
		if err != nil {
			return err
		}
		vals = append(vals, te)
	}
	typ := s.outType
	if weights != nil {
		tw, err := ort.NewTensor(ort.NewShape(shapeB[0], shapeB[1], 1), weights)
		if err != nil {
			return err
		}
		vals = append(vals, tw)
		typ = ort.TensorElementDataTypeFloat
	}
	inputs := append([]ort.Value(nil), vals...)
	var o ort.Value
	n := int(outShape.FlattenedSize())
	switch typ {
	case ort.TensorElementDataTypeFloat:
		o, err = ort.NewTensor(outShape, out[:n])
	default: // 16-bit floats land in bytes
		raw := growBytes(&s.raw, 2*n)
		o, err = ort.NewCustomDataTensor(outShape, raw, typ)
	}
	if err != nil {
		return err
	}
	vals = append(vals, o)
	outs := []ort.Value{o}
	var k int
	if s.logitsOut != "" { // the reward model's logits [rows, labels], beside
		k = s.m.Reward.Labels * int(outShape[0])
		shape := ort.NewShape(outShape[0], int64(s.m.Reward.Labels))
		var l ort.Value
		if s.logitsType == ort.TensorElementDataTypeFloat {
			l, err = ort.NewTensor(shape, growF32(&s.logits, k))
		} else {
			l, err = ort.NewCustomDataTensor(shape, growBytes(&s.raw2, 2*k), s.logitsType)
		}
		if err != nil {
			return err
		}
		vals = append(vals, l)
		outs = append(outs, l)
	}
	if err := s.s.Run(inputs, outs); err != nil {
		return err
	}
	if out != nil && typ != ort.TensorElementDataTypeFloat {
		widen16(typ, s.raw[:2*n], out[:n])
	}
	if k > 0 && s.logitsType != ort.TensorElementDataTypeFloat {
		widen16(s.logitsType, s.raw2[:2*k], growF32(&s.logits, k))
	}
	return nil
}

func grow64(buf *[]int64, n int) []int64 {
	if cap(*buf) < n {
		*buf = make([]int64, n)
	}
	return (*buf)[:n]
}

func growF32(buf *[]float32, n int) []float32 {
	if cap(*buf) < n {
		*buf = make([]float32, n)
	}
	return (*buf)[:n]
}

func growBytes(buf *[]byte, n int) []byte {
	if cap(*buf) < n {
		*buf = make([]byte, n)
	}
	return (*buf)[:n]
}
