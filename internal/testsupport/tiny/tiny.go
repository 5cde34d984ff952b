// Package tiny writes a tiny backbone the project makes itself: an ONNX graph
// with the inputs of a Hugging Face / torch.onnx export (input_ids,
// attention_mask, optionally token_type_ids and position_ids), a word-level
// tokenizer.json, and a manifest. Its output depends on the attention mask,
// the token order and the positions the way a decoder's does, so that padding
// and pooling mistakes change the vectors; Expect computes what a correct
// runtime must return.
package tiny

import (
	"encoding/json"
	"math"
	"strings"

	"github.com/ser-rl/ser/internal/safefile"
	"github.com/ser-rl/ser/models"
	"github.com/ser-rl/ser/onnx/onnxpb"
)

// Words is the vocabulary after [PAD] (0) and [UNK] (1).
var Words = []string{"the", "good", "bad", "answer", "is", "a", "reward", "model", "prompt", "response", "yes", "no", "maybe", "very"}

// Sizes of the graph.
const (
	Dim       = 8
	MaxPos    = 64
	vocabSize = 16
)

// Options pick the graph's variant.
type Options struct {
	Name        string
	Pooling     string          // models.PoolMean, PoolCLS, PoolLast
	Out         onnxpb.DataType // onnxpb.Float (default), Float16 or BFloat16
	TokenTypes  bool            // add a token_type_ids input
	PositionIDs bool            // add a position_ids input (as decoder exports have)
	External    bool            // store the weights as ONNX external data
	DataFile    string          // name of the external-data file (default model.onnx.data)
	AnyID       bool            // accept any id (taken modulo the table's 16 rows), for real tokenizers' vocabularies
	MaxTokens   int             // manifest's cap (default MaxPos)
	Truncate    string          // manifest's side
	// Labels, when positive, makes the graph a sequence classifier, as
	// transformers' *ForSequenceClassification exports are: its output is
	// "logits" [batch, Labels], a linear map of one token's hidden state:
	// with Pooling last, the last token whose id is not PadID (as
	// transformers finds it, from input_ids), else the first token (BERT's
	// CLS). Both keeps last_hidden_state as a second output.
	Labels int
	Both   bool
	PadID  int64
	// HiddenName names the hidden-states output (default
	// last_hidden_state; "logits" makes it look like a language model's head).
	HiddenName string
}

// classifier is the classifier's weights [Dim, labels], row-major.
func classifier(labels int) []float32 {
	w := make([]float32, Dim*labels)
	for i := range w {
		w[i] = float32(math.Cos(float64(i*5+3)) * 0.7)
	}
	return w
}

func table(rows, salt int) []float32 {
	v := make([]float32, rows*Dim)
	for i := range v {
		v[i] = float32(math.Sin(float64(i*7+salt)) * 0.5)
	}
	return v
}

// Write makes the backbone in dir and returns its manifest.
func Write(dir string, o Options) (*models.Manifest, error) {
	if o.Name == "" {
		o.Name = "tiny"
	}
	if o.MaxTokens == 0 {
		o.MaxTokens = MaxPos
	}
	m := &models.Manifest{
		Name: o.Name, Description: "tiny generated test backbone",
		Model: "model.onnx", Tokenizer: "tokenizer.json", TokenizerKind: "hf",
		Input: models.InputDense, Output: "last_hidden_state", Pooling: o.Pooling,
		Dim: Dim, PadID: 0, MaxTokens: o.MaxTokens, Truncate: o.Truncate,
		PairTemplate: "{prompt} {response}", Dir: dir,
	}
	if err := WriteModel(m.Path(m.Model), o); err != nil {
		return nil, err
	}
	if err := safefile.WriteFile(m.Path(m.Tokenizer), tokenizerJSON()); err != nil {
		return nil, err
	}
	files := []string{m.Model, m.Tokenizer}
	if o.External {
		files = append(files, dataFile(o))
	}
	for _, f := range files {
		sum, size, err := models.FileSHA256(m.Path(f))
		if err != nil {
			return nil, err
		}
		m.Files = append(m.Files, models.File{Name: f, SHA256: sum, Size: size})
	}
	return m, models.WriteManifest(m)
}

func dataFile(o Options) string {
	if o.DataFile != "" {
		return o.DataFile
	}
	return "model.onnx.data"
}

// WriteModel writes the graph alone to path (and its external data beside it).
//
// The graph: h = E[input_ids] (+ P[position_ids]) (+ T[token_type_ids]);
// out = cumsum over positions of h * mask, times mask; so a token's output
// sums the kept tokens up to it, padding rows are zero, and the last kept
// token holds the sum of all.
func WriteModel(path string, o Options) error {
	if o.Out == 0 {
		o.Out = onnxpb.Float
	}
	b := onnxpb.NewBuilder("tiny", "t/")
	dyn := []onnxpb.Dim{{Param: "batch"}, {Param: "tokens"}}
	b.Graph.Inputs = []onnxpb.ValueInfo{{Name: "input_ids", Type: onnxpb.Int64, Shape: dyn}, {Name: "attention_mask", Type: onnxpb.Int64, Shape: dyn}}
	emb := onnxpb.FloatTensor("embed", []int64{vocabSize, Dim}, table(vocabSize, 0))
	emb.External = o.External
	ids := "input_ids"
	if o.AnyID {
		ids = b.Op("Mod", []string{ids, b.Scalar64(vocabSize)})
	}
	h := b.Op("Gather", []string{b.Init(emb), ids}, onnxpb.Int("axis", 0))
	if o.PositionIDs {
		b.Graph.Inputs = append(b.Graph.Inputs, onnxpb.ValueInfo{Name: "position_ids", Type: onnxpb.Int64, Shape: dyn})
		p := b.Op("Gather", []string{b.Floats([]int64{MaxPos, Dim}, table(MaxPos, 1)), "position_ids"}, onnxpb.Int("axis", 0))
		h = b.Op("Add", []string{h, p})
	}
	if o.TokenTypes {
		b.Graph.Inputs = append(b.Graph.Inputs, onnxpb.ValueInfo{Name: "token_type_ids", Type: onnxpb.Int64, Shape: dyn})
		tt := b.Op("Gather", []string{b.Floats([]int64{2, Dim}, table(2, 2)), "token_type_ids"}, onnxpb.Int("axis", 0))
		h = b.Op("Add", []string{h, tt})
	}
	mask := b.Op("Unsqueeze", []string{b.Op("Cast", []string{"attention_mask"}, onnxpb.Int("to", int64(onnxpb.Float))), b.Ints64(-1)})
	h = b.Op("Mul", []string{h, mask})
	h = b.Op("CumSum", []string{h, b.Scalar64(1)})
	h = b.Op("Mul", []string{h, mask})
	hiddenName := "last_hidden_state"
	if o.HiddenName != "" {
		hiddenName = o.HiddenName
	}
	hiddenOut := onnxpb.ValueInfo{Name: hiddenName, Type: o.Out, Shape: []onnxpb.Dim{{Param: "batch"}, {Param: "tokens"}, {Size: Dim}}}
	b.Graph.Outputs = nil
	if o.Labels > 0 {
		var pooled string
		if o.Pooling == models.PoolLast { // the last token whose id is not the pad id
			nonPad := b.Op("Cast", []string{b.Op("Not", []string{b.Op("Equal", []string{"input_ids", b.Scalar64(o.PadID)})})}, onnxpb.Int("to", int64(onnxpb.Float)))
			t := b.Op("Gather", []string{b.Op("Shape", []string{"input_ids"}), b.Scalar64(1)}, onnxpb.Int("axis", 0))
			pos := b.Op("Cast", []string{b.Op("Range", []string{b.Scalar64(1), b.Op("Add", []string{t, b.Scalar64(1)}), b.Scalar64(1)})}, onnxpb.Int("to", int64(onnxpb.Float)))
			idx := b.Op("ArgMax", []string{b.Op("Mul", []string{nonPad, pos})}, onnxpb.Int("axis", 1), onnxpb.Int("keepdims", 1)) // [batch, 1]
			shape := b.Op("Concat", []string{b.Op("Shape", []string{idx}), b.Ints64(Dim)}, onnxpb.Int("axis", 0))
			idx3 := b.Op("Expand", []string{b.Op("Unsqueeze", []string{idx, b.Ints64(-1)}), shape})
			pooled = b.Op("Squeeze", []string{b.Op("GatherElements", []string{h, idx3}, onnxpb.Int("axis", 1)), b.Ints64(1)})
		} else { // the first token
			pooled = b.Op("Gather", []string{h, b.Scalar64(0)}, onnxpb.Int("axis", 1))
		}
		logits := b.Op("MatMul", []string{pooled, b.Floats([]int64{Dim, int64(o.Labels)}, classifier(o.Labels))})
		if o.Out != onnxpb.Float {
			logits = b.Op("Cast", []string{logits}, onnxpb.Int("to", int64(o.Out)))
		}
		b.OpTo("Identity", []string{logits}, []string{"logits"})
		b.Graph.Outputs = append(b.Graph.Outputs, onnxpb.ValueInfo{Name: "logits", Type: o.Out, Shape: []onnxpb.Dim{{Param: "batch"}, {Size: int64(o.Labels)}}})
	}
	if o.Out != onnxpb.Float {
		h = b.Op("Cast", []string{h}, onnxpb.Int("to", int64(o.Out)))
	}
	if o.Labels == 0 || o.Both {
		b.OpTo("Identity", []string{h}, []string{hiddenName})
		b.Graph.Outputs = append(b.Graph.Outputs, hiddenOut)
	}
	model := &onnxpb.Model{Producer: "ser internal/tiny", Graph: b.Graph, ExternalData: dataFile(o)}
	return model.WriteFile(path)
}

// IDs is how the tiny tokenizer splits text: on white space, unknown words to 1.
func IDs(text string) []int32 {
	var ids []int32
	for _, w := range strings.Fields(text) {
		id := int32(1)
		for i, v := range Words {
			if v == w {
				id = int32(i + 2)
			}
		}
		ids = append(ids, id)
	}
	return ids
}

// ExpectLogits is a sequence classifier's logits for ids (already
// truncated, without padding): the classifier applied to the pooled token's
// hidden state.
func ExpectLogits(o Options, ids []int32) []float32 {
	pooled := Expect(o, ids)
	w := classifier(o.Labels)
	out := make([]float32, o.Labels)
	for j := range out {
		var s float64
		for k := 0; k < Dim; k++ {
			s += float64(pooled[k]) * float64(w[k*o.Labels+j])
		}
		out[j] = float32(s)
	}
	return out
}

// Expect is the vector a correct runtime returns for ids (already truncated).
func Expect(o Options, ids []int32) []float32 {
	emb, pos, tt := table(vocabSize, 0), table(MaxPos, 1), table(2, 2)
	out := make([]float64, Dim)
	sum := make([]float64, Dim)
	for t, id := range ids {
		if o.AnyID {
			id %= vocabSize
		}
		for k := 0; k < Dim; k++ {
			x := float64(emb[int(id)*Dim+k])
			if o.PositionIDs {
				x += float64(pos[t*Dim+k])
			}
			if o.TokenTypes {
				x += float64(tt[k])
			}
			sum[k] += x
			switch {
			case o.Pooling == models.PoolCLS && t == 0, o.Pooling == models.PoolLast && t == len(ids)-1:
				out[k] = sum[k]
			case o.Pooling == models.PoolMean:
				out[k] += sum[k] / float64(len(ids))
			}
		}
	}
	v := make([]float32, Dim)
	for k := range v {
		v[k] = float32(out[k])
	}
	return v
}

func tokenizerJSON() []byte {
	vocab := map[string]int{"[PAD]": 0, "[UNK]": 1}
	for i, w := range Words {
		vocab[w] = i + 2
	}
	doc := map[string]any{
		"version":        "1.0",
		"truncation":     nil,
		"padding":        nil,
		"added_tokens":   []any{},
		"normalizer":     nil,
		"pre_tokenizer":  map[string]any{"type": "WhitespaceSplit"},
		"post_processor": nil,
		"decoder":        nil,
		"model":          map[string]any{"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"},
	}
	raw, _ := json.MarshalIndent(doc, "", " ")
	return raw
}
