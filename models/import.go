package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ser-rl/ser/data"

	"github.com/ser-rl/ser/internal/safefile"
	"github.com/ser-rl/ser/tokenize"
)

// ImportOptions set what Import would otherwise read from the folder; the
// zero value reads everything.
type ImportOptions struct {
	Name         string  // default: the folder's name
	Model        string  // the ONNX file; default model.onnx, else the folder's only .onnx file
	Tokenizer    string  // default tokenizer.json
	Output       string  // the graph output read; default last_hidden_state, else the only output
	Pooling      string  // default: last for decoders, mean for encoders, none for [batch, dim] outputs
	Dim          int     // default: config.json's hidden size
	PadID        *int    // default: config.json's pad_token_id, else the tokenizer's pad token, else EOS
	MaxTokens    int     // default: the model's context, at most DefaultMaxTokens; < 0 is an error
	Truncate     string  // default: tail for decoders (the response is at the end), head for encoders
	PairTemplate *string // default: rendered from the tokenizer's chat template
	Features     string  // default: joint for decoders and reward models, separate for encoders
	// Label picks the logits column that is the reward, for a sequence
	// classifier with more than one (default: the only one).
	Label *int
	// PadLeft pads batches on the left (default: for a decoder reward model
	// whose config.json has no pad_token_id, which then reads each row's
	// last position).
	PadLeft *bool
	// FeatureStorage: "float32" (default) or "float16" (half the cache's
	// bytes; see Manifest.FeatureStorage)
	FeatureStorage string
	// TemplateLimits bound the chat template's rendering (zero: defaults).
	TemplateLimits TemplateLimits
}

// NeedError is an Import that needs an ImportOptions field set: Option
// names the field.
type NeedError struct {
	Option string
	Msg    string
}

func (e *NeedError) Error() string {
	return fmt.Sprintf("%s: set the %s", e.Msg, strings.ToLower(e.Option))
}

// DefaultMaxTokens caps an imported model's max_tokens unless set: a
// reward model rarely needs a longer context, and a batch's memory grows
// with it.
const DefaultMaxTokens = 4096

// Limits on the JSON files Import reads.
const maxConfigBytes = 64 << 20

// decoderTypes and encoderTypes are config.json model_type values whose
// pooling Import knows: the last kept token for decoders, the mean for
// encoders.
var (
	decoderTypes = []string{"llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2",
		"gemma3", "gemma3_text", "phi", "phi3", "phimoe", "gpt2", "gpt_neox", "gptj", "gpt_bigcode", "falcon", "mpt",
		"olmo", "olmo2", "starcoder2", "stablelm", "cohere", "cohere2", "deepseek_v2", "deepseek_v3", "granite",
		"internlm2", "exaone", "smollm3", "opt", "bloom", "glm", "glm4"}
	encoderTypes = []string{"bert", "roberta", "xlm-roberta", "distilbert", "deberta", "deberta-v2", "electra", "mpnet",
		"albert", "camembert", "modernbert", "nomic_bert", "xlm", "ernie", "megatron-bert"}
)

// Import makes a backbone manifest for a Hugging Face model folder exported
// to ONNX (as optimum writes it: model.onnx and its external data,
// config.json, tokenizer.json, tokenizer_config.json with the chat
// template). It reads the graph's inputs and outputs and external-data files,
// hashes every file, takes dim and pad id from config.json, pooling from the
// architecture, and renders the pair template from the chat template for a
// one-turn (prompt, response) conversation. It returns the manifest (not yet
// written: see WriteManifest) and notes on what it chose.
//
// The chat template is rendered in a child process under o.TemplateLimits;
// ctx ending stops it.
func Import(ctx context.Context, dir string, o ImportOptions) (*Manifest, []string, error) {
	var notes []string
	note := func(format string, a ...any) { notes = append(notes, fmt.Sprintf(format, a...)) }
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, nil, err
	}
	if !fi.IsDir() {
		return nil, nil, fmt.Errorf("%s: not a folder", dir)
	}
	m := &Manifest{Dir: dir, Input: InputDense, TokenizerKind: "hf", Description: "imported by ser models import"}
	m.Name = o.Name
	if m.Name == "" {
		m.Name = sanitizeName(filepath.Base(absPath(dir)))
	}

	// The graph.
	if m.Model = o.Model; m.Model == "" {
		if m.Model, err = findModel(dir); err != nil {
			return nil, nil, err
		}
	}
	real, _, err := m.resolve(m.Model)
	if err != nil {
		return nil, nil, err
	}
	g, err := ReadGraphInfo(real)
	if err != nil {
		return nil, nil, err
	}
	if err := checkInputs(m.Path(m.Model), g); err != nil {
		return nil, nil, err
	}

	// config.json and tokenizer_config.json.
	var cfg modelConfig
	if err := readJSONFile(filepath.Join(dir, "config.json"), &cfg); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	} else if err != nil {
		note("no config.json: dim, pad id and pooling come from flags")
	}
	var tcfg tokenizerConfig
	if err := readJSONFile(filepath.Join(dir, "tokenizer_config.json"), &tcfg); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}

	// A reward model (a sequence classifier's logits), and the output the
	// vectors come from.
	if m.Reward, err = rewardOutput(m.Path(m.Model), g, &cfg, o); err != nil {
		return nil, nil, err
	}
	var out ValueInfo
	if m.Reward != nil && !hasOutput(g, "last_hidden_state") && o.Output == "" {
		out = ValueInfo{Name: m.Reward.Output, Rank: 2} // the logits alone
		note("a reward model: its logits [batch, %d] are its vectors, column %d its reward (export with a last_hidden_state output too for features heads can use)", m.Reward.Labels, m.Reward.Label)
	} else if out, err = pickOutput(m.Path(m.Model), g, o.Output); err != nil {
		return nil, nil, err
	} else if m.Reward != nil {
		note("a reward model: its vectors are the pooled %s and its logits (column %d its reward)", out.Name, m.Reward.Label)
	}
	if m.Reward == nil && out.Rank == 3 && out.Name == "logits" {
		return nil, nil, fmt.Errorf("%s: output logits is [batch, tokens, vocabulary]: a language model's head. Export the base model (optimum-cli export onnx --task feature-extraction) for features, or the reward model (--task text-classification)", m.Path(m.Model))
	}
	m.Output = out.Name

	if m.Tokenizer = o.Tokenizer; m.Tokenizer == "" {
		m.Tokenizer = "tokenizer.json"
	}
	tokPath, _, err := m.resolve(m.Tokenizer)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (optimum exports it beside the model)", err)
	}
	tok, err := tokenize.LoadHF(tokPath)
	if err != nil {
		return nil, nil, err
	}

	// Files: the model, its external data, the tokenizer.
	names := []string{m.Model}
	for _, loc := range g.External {
		name, err := externalName(m.Model, loc)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", m.Path(m.Model), err)
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	names = append(names, m.Tokenizer)
	for _, name := range names {
		real, _, err := m.resolve(name)
		if err != nil {
			return nil, nil, err
		}
		sum, size, err := FileSHA256(real)
		if err != nil {
			return nil, nil, err
		}
		m.Files = append(m.Files, File{Name: name, SHA256: sum, Size: size})
	}
	if len(g.External) > 0 {
		note("external data: %s", strings.Join(names[1:len(names)-1], ", "))
	}

	// Width, architecture, pooling.
	switch m.Dim = o.Dim; {
	case m.Reward != nil && m.Output == m.Reward.Output:
		if o.Dim != 0 || (o.Pooling != "" && o.Pooling != PoolNone) {
			note("a reward model's logits alone are its vectors: --dim and --pooling do not apply (dim %d, pooling none)", m.Reward.Labels)
		}
		m.Dim = m.Reward.Labels
	case m.Dim == 0:
		if m.Dim = cfg.hiddenSize(); m.Dim == 0 {
			return nil, nil, &NeedError{"Dim", fmt.Sprintf("%s: no hidden_size (or d_model, n_embd) in config.json", dir)}
		}
	}
	if m.Reward != nil && m.Output != m.Reward.Output {
		m.Dim += m.Reward.Labels // the pooled hidden states, then the logits
	}
	kind := cfg.kind()
	switch m.Pooling = o.Pooling; {
	case m.Reward != nil && m.Output == m.Reward.Output:
		m.Pooling = PoolNone
	case m.Pooling != "":
	case out.Rank == 2:
		m.Pooling = PoolNone
	case kind == "decoder":
		m.Pooling = PoolLast
	case kind == "encoder":
		m.Pooling = PoolMean
	default:
		return nil, nil, &NeedError{"Pooling", fmt.Sprintf("%s: cannot tell from config.json (model_type %q, architectures %v) whether this is a decoder (pooling last) or an encoder (mean)", dir, cfg.ModelType, cfg.Architectures)}
	}
	if m.Features = o.Features; m.Features == "" {
		m.Features = "separate"
		if m.Pooling == PoolLast || m.Reward != nil { // a reward model reads the conversation whole
			m.Features = "joint"
		}
	}
	if o.FeatureStorage != "float32" {
		m.FeatureStorage = o.FeatureStorage // validated with the manifest
	}
	if m.Reward != nil && kind == "" && (o.Truncate == "" || o.PadLeft == nil) {
		return nil, nil, &NeedError{"Kind", fmt.Sprintf("%s: a reward model whose kind config.json does not say (model_type %q, architectures %v): a decoder reads the response at the end of a text and often a row's last position", dir, cfg.ModelType, cfg.Architectures)}
	}
	if m.Truncate = o.Truncate; m.Truncate == "" {
		m.Truncate = "head"
		if m.Pooling == PoolLast || (m.Reward != nil && kind == "decoder") {
			m.Truncate = "tail"
		}
	}
	if m.MaxTokens = o.MaxTokens; m.MaxTokens == 0 {
		m.MaxTokens = DefaultMaxTokens
		if n := cfg.context(); n > 0 && n < m.MaxTokens {
			m.MaxTokens = n
		}
		// transformers writes a huge number (1e30) for "no limit"; a length
		// that is not a positive whole number is no limit of the model's
		var n float64
		raw := strings.TrimSpace(string(tcfg.ModelMaxLength))
		switch err := json.Unmarshal(tcfg.ModelMaxLength, &n); {
		case raw == "" || raw == "null":
		case err != nil || n < 1 || n != math.Trunc(n):
			note("tokenizer_config.json: model_max_length %.40s is not a positive whole number: ignored (max_tokens %d)", raw, m.MaxTokens)
		case n < float64(m.MaxTokens):
			m.MaxTokens = int(n)
		}
	}

	// Pad id, and side. transformers' decoder classifiers find a row's last
	// token from config.json's pad id, baked into the export; without one
	// they read the last position.
	switch {
	case o.PadLeft != nil:
		m.PadLeft = *o.PadLeft
	case m.Reward != nil && kind == "decoder" && !cfg.PadTokenID.ok:
		m.PadLeft = true
		note("a decoder reward model without pad_token_id in config.json: it reads each row's last position, so batches are padded on the left")
	}
	if m.Reward != nil && kind == "decoder" && cfg.PadTokenID.ok && o.PadID != nil && *o.PadID != cfg.PadTokenID.first {
		return nil, nil, fmt.Errorf("--pad-id %d: this reward model finds each row's last token by config.json's pad_token_id %d, which its export compares ids with: pad with that (leave --pad-id out)", *o.PadID, cfg.PadTokenID.first)
	}
	switch {
	case o.PadID != nil:
		m.PadID = *o.PadID
	case cfg.PadTokenID.ok:
		m.PadID = cfg.PadTokenID.first
	default:
		if id, ok := tok.TokenID(tcfg.PadToken.Content); ok && tcfg.PadToken.Content != "" {
			m.PadID = int(id)
		} else if cfg.EOSTokenID.ok {
			m.PadID = cfg.EOSTokenID.first
			note("no pad token: padding with EOS (%d), which the attention mask hides", m.PadID)
		} else if id, ok := tok.TokenID(tcfg.EOSToken.Content); ok && tcfg.EOSToken.Content != "" {
			m.PadID = int(id)
			note("no pad token: padding with EOS (%d), which the attention mask hides", m.PadID)
		} else {
			note("no pad or EOS token: padding with id 0, which the attention mask hides")
		}
	}

	// Pair template.
	tpl, err := tcfg.template(dir)
	if err != nil && o.PairTemplate == nil {
		return nil, nil, fmt.Errorf("chat template: %w", err)
	}
	m.Conversation = ConversationHH
	if o.PairTemplate != nil {
		m.PairTemplate, m.Conversation = *o.PairTemplate, "" // the user's template, with prompts as they are
	} else if tpl != "" {
		if m.PairTemplate, err = renderPairTemplate(ctx, tpl, tcfg, o.TemplateLimits); err != nil {
			return nil, nil, err
		}
		var stripped string
		if m.PairTemplate, stripped, err = dropDoubleSpecial(m.PairTemplate, tok); err != nil {
			return nil, nil, err
		}
		if stripped != "" {
			note("pair template: left out the leading %q, which the tokenizer adds itself", stripped)
		}
		turns, err := deriveChatTurns(ctx, tpl, tcfg, o.TemplateLimits)
		switch {
		case errors.Is(err, context.Canceled):
			return nil, nil, err
		case err != nil:
			m.Conversation = "" // prompts go into the one-turn pair template as they are
			note("chat template: %v; conversations of several turns are written as one user message", err)
		default:
			if stripped != "" { // the BOS the tokenizer adds itself, left out of the turns as of the pair template
				turns.Start = strings.TrimPrefix(turns.Start, stripped)
				turns.SystemStart = strings.TrimPrefix(turns.SystemStart, stripped)
			}
			m.Conversation, m.ChatTurns = ConversationChat, turns
		}
	} else {
		m.PairTemplate = DefaultPairTemplate
		note("no chat template: conversations are written as HH-RLHF writes them (\"Human: ...\", \"Assistant: ...\")")
	}
	if !strings.Contains(m.PairTemplate, "{prompt}") || !strings.Contains(m.PairTemplate, "{response}") {
		return nil, nil, fmt.Errorf("pair template %q does not hold both {prompt} and {response}", m.PairTemplate)
	}
	if old, err := ReadManifest(dir); err == nil && (old.Licence != "" || old.Description != m.Description) {
		m.Licence, m.Description = old.Licence, old.Description // the user's words: not the import's to change
		note("kept the licence and description of the manifest there")
	}
	if err := m.Validate(); err != nil {
		return nil, nil, err
	}
	if _, err := m.encode(); err != nil {
		return nil, nil, err
	}
	return m, notes, nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// sanitizeName makes a folder name a backbone name.
func sanitizeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	name := strings.TrimLeft(string(b), ".")
	if len(name) > 100 {
		name = name[:100]
	}
	if name == "" {
		name = "imported"
	}
	return name
}

func findModel(dir string) (string, error) {
	if _, err := os.Stat(filepath.Join(dir, "model.onnx")); err == nil {
		return "model.onnx", nil
	}
	found, _ := filepath.Glob(filepath.Join(dir, "*.onnx"))
	switch len(found) {
	case 1:
		return filepath.Base(found[0]), nil
	case 0:
		return "", &NeedError{"Model", fmt.Sprintf("%s: no .onnx file (export the model with optimum-cli export onnx)", dir)}
	}
	return "", &NeedError{"Model", fmt.Sprintf("%s: %d .onnx files", dir, len(found))}
}

// checkInputs requires the inputs ser feeds (input_ids, attention_mask, and
// optionally token_type_ids and position_ids) and no others.
func checkInputs(path string, g *GraphInfo) error {
	have := map[string]bool{}
	for _, in := range g.Inputs {
		have[in.Name] = true
		switch in.Name {
		case "input_ids", "attention_mask", "token_type_ids", "position_ids":
		default:
			return fmt.Errorf("%s: input %q is not one ser feeds (input_ids, attention_mask, token_type_ids, position_ids): export the base model without a cache (no past_key_values)", path, in.Name)
		}
	}
	for _, need := range []string{"input_ids", "attention_mask"} {
		if !have[need] {
			return fmt.Errorf("%s: no input %q", path, need)
		}
	}
	return nil
}

func pickOutput(path string, g *GraphInfo, want string) (ValueInfo, error) {
	var names []string
	for _, o := range g.Outputs {
		names = append(names, o.Name)
		if o.Name == want || (want == "" && o.Name == "last_hidden_state") {
			return o, nil
		}
	}
	if want == "" && len(g.Outputs) == 1 {
		return g.Outputs[0], nil
	}
	if want != "" {
		return ValueInfo{}, fmt.Errorf("%s: no output %q (its outputs: %s)", path, want, strings.Join(names, ", "))
	}
	return ValueInfo{}, &NeedError{"Output", fmt.Sprintf("%s: no output last_hidden_state, and %d outputs (%s)", path, len(g.Outputs), strings.Join(names, ", "))}
}

// rewardOutput recognises a sequence classifier (transformers'
// *ForSequenceClassification, exported with --task text-classification):
// an output "logits" of shape [batch, labels]. Its labels come from the
// graph's shape, else config.json (num_labels, id2label); with more than one
// the reward's column must be picked (o.Label). nil when the graph is no
// classifier.
func rewardOutput(path string, g *GraphInfo, cfg *modelConfig, o ImportOptions) (*Reward, error) {
	var logits *ValueInfo
	for i := range g.Outputs {
		if g.Outputs[i].Name == "logits" {
			logits = &g.Outputs[i]
		}
	}
	if logits == nil || logits.Rank == 3 {
		if o.Label != nil {
			return nil, fmt.Errorf("%s: --label: the graph has no logits [batch, labels] output (not a sequence classifier)", path)
		}
		return nil, nil // no classifier, or a language model's head (refused by the caller)
	}
	if logits.Rank != 2 {
		return nil, fmt.Errorf("%s: output logits has rank %d; a reward model's logits are [batch, labels]", path, logits.Rank)
	}
	switch logits.ElemType {
	case 1, 10, 16: // float, float16, bfloat16
	default:
		return nil, fmt.Errorf("%s: output logits has element type %s; float32, float16 and bfloat16 are read", path, elemTypeName(logits.ElemType))
	}
	k := int(logits.Last)
	if k == 0 {
		k = cfg.labels()
	}
	switch {
	case k > MaxLabels:
		return nil, fmt.Errorf("%s: output logits has %d columns, over the %d a reward model may have", path, k, MaxLabels)
	case k < 1:
		return nil, &NeedError{"Labels", fmt.Sprintf("%s: the width of output logits is not fixed in the graph, and config.json gives no num_labels or id2label", path)}
	}
	label := 0
	switch {
	case o.Label != nil:
		label = *o.Label
		if label < 0 || label >= k {
			return nil, fmt.Errorf("%s: --label %d: the logits have %d columns (0 to %d)", path, label, k, k-1)
		}
	case k > 1:
		return nil, fmt.Errorf("%s: output logits has %d labels (%s): a reward model gives one; pick the reward's column with --label N (0 to %d)", path, k, cfg.labelNames(k), k-1)
	}
	return &Reward{Output: "logits", Labels: k, Label: label}, nil
}

// elemTypeName names an ONNX element type (TensorProto.DataType).
func elemTypeName(t int) string {
	names := map[int]string{1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string", 9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 16: "bfloat16"}
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("%d", t)
}

func hasOutput(g *GraphInfo, name string) bool {
	for _, o := range g.Outputs {
		if o.Name == name {
			return true
		}
	}
	return false
}

// modelConfig is the part of config.json Import reads.
type modelConfig struct {
	ModelType        string            `json:"model_type"`
	Architectures    []string          `json:"architectures"`
	IsEncoderDecoder bool              `json:"is_encoder_decoder"`
	HiddenSize       int               `json:"hidden_size"`
	DModel           int               `json:"d_model"`
	NEmbd            int               `json:"n_embd"`
	MaxPositions     int               `json:"max_position_embeddings"`
	NPositions       int               `json:"n_positions"`
	PadTokenID       tokenIDs          `json:"pad_token_id"`
	EOSTokenID       tokenIDs          `json:"eos_token_id"`
	NumLabels        int               `json:"num_labels"`
	ID2Label         map[string]string `json:"id2label"`
	TextConfig       *struct {
		HiddenSize   int `json:"hidden_size"`
		MaxPositions int `json:"max_position_embeddings"`
	} `json:"text_config"`
}

// tokenIDs is an id that config.json gives as a number, a list or null.
type tokenIDs struct {
	first int
	ok    bool
}

func (t *tokenIDs) UnmarshalJSON(raw []byte) error {
	var one *int
	if json.Unmarshal(raw, &one) == nil {
		if one != nil && *one >= 0 {
			t.first, t.ok = *one, true
		}
		return nil
	}
	var many []int
	if err := json.Unmarshal(raw, &many); err != nil {
		return fmt.Errorf("not a token id or list of ids")
	}
	if len(many) > 0 && many[0] >= 0 {
		t.first, t.ok = many[0], true
	}
	return nil
}

// labels is the classifier's width config.json gives (0 when none).
func (c *modelConfig) labels() int {
	if c.NumLabels > 0 {
		return c.NumLabels
	}
	return len(c.ID2Label)
}

// labelNames lists id2label's names for k columns, for messages.
func (c *modelConfig) labelNames(k int) string {
	var names []string
	for i := 0; i < k && i < 8; i++ {
		n, ok := c.ID2Label[fmt.Sprint(i)]
		if !ok {
			n = fmt.Sprintf("LABEL_%d", i)
		}
		names = append(names, fmt.Sprintf("%d %s", i, n))
	}
	if k > 8 {
		names = append(names, "...")
	}
	return strings.Join(names, ", ")
}

func (c *modelConfig) hiddenSize() int {
	for _, n := range []int{c.HiddenSize, c.DModel, c.NEmbd} {
		if n > 0 {
			return n
		}
	}
	if c.TextConfig != nil {
		return c.TextConfig.HiddenSize
	}
	return 0
}

func (c *modelConfig) context() int {
	for _, n := range []int{c.MaxPositions, c.NPositions} {
		if n > 0 {
			return n
		}
	}
	if c.TextConfig != nil {
		return c.TextConfig.MaxPositions
	}
	return 0
}

// kind is "decoder", "encoder" or "" (unknown).
func (c *modelConfig) kind() string {
	if c.IsEncoderDecoder {
		return ""
	}
	for _, a := range c.Architectures {
		if strings.HasSuffix(a, "ForCausalLM") || strings.HasSuffix(a, "LMHeadModel") || strings.HasSuffix(a, "ForConditionalGeneration") {
			return "decoder"
		}
		if strings.HasSuffix(a, "ForMaskedLM") {
			return "encoder"
		}
	}
	switch {
	case slices.Contains(decoderTypes, c.ModelType):
		return "decoder"
	case slices.Contains(encoderTypes, c.ModelType):
		return "encoder"
	}
	return ""
}

// tokenizerConfig is the part of tokenizer_config.json Import reads.
type tokenizerConfig struct {
	ChatTemplate   json.RawMessage `json:"chat_template"`
	BOSToken       specialToken    `json:"bos_token"`
	EOSToken       specialToken    `json:"eos_token"`
	PadToken       specialToken    `json:"pad_token"`
	UnkToken       specialToken    `json:"unk_token"`
	ModelMaxLength json.RawMessage `json:"model_max_length"` // a number, or anything transformers wrote there
}

// specialToken is a token given as a string or as {"content": ...}.
type specialToken struct{ Content string }

func (s *specialToken) UnmarshalJSON(raw []byte) error {
	if json.Unmarshal(raw, &s.Content) == nil {
		return nil
	}
	var obj struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return fmt.Errorf("not a token or {\"content\": token}")
	}
	s.Content = obj.Content
	return nil
}

// template returns the chat template: tokenizer_config.json's chat_template
// (a string, or a list of named templates, of which "default"), else the
// chat_template.jinja file newer exports write.
func (t *tokenizerConfig) template(dir string) (string, error) {
	var s string
	if json.Unmarshal(t.ChatTemplate, &s) == nil && s != "" {
		return s, nil
	}
	var named []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if json.Unmarshal(t.ChatTemplate, &named) == nil {
		for _, n := range named {
			if n.Name == "default" {
				return n.Template, nil
			}
		}
	}
	raw, err := readLimited(filepath.Join(dir, "chat_template.jinja"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err // there, but not a regular file of a sane size: not "no template"
	}
	return string(raw), nil
}

// renderPairTemplate renders a chat template for the conversation
// [user: {prompt}, assistant: {response}], without a generation prompt, as
// transformers' apply_chat_template does (trim_blocks, lstrip_blocks). Today's
// date, which some templates print, is the date those templates default to,
// so that an import is the same whatever the day.
func renderPairTemplate(ctx context.Context, tpl string, t tokenizerConfig, lim TemplateLimits) (string, error) {
	return renderConversation(ctx, tpl, t, lim, []data.Turn{{Role: "user", Content: "{prompt}"}, {Role: "assistant", Content: "{response}"}})
}

// dropDoubleSpecial removes from the start of a rendered template the
// special tokens that the tokenizer's post-processor adds by itself (a BOS
// that both the chat template and the tokenizer put first), so that the
// backbone does not read them twice. It returns the text removed.
func dropDoubleSpecial(tpl string, tok *tokenize.HF) (string, string, error) {
	empty, err := tok.Encode("")
	if err != nil || len(empty) == 0 {
		return tpl, "", err
	}
	probe := strings.NewReplacer("{prompt}", "x", "{response}", "y").Replace(tpl)
	ids, err := tok.Encode(probe)
	if err != nil {
		return tpl, "", err
	}
	lead := empty[0]
	if len(ids) < 2 || ids[0] != lead || ids[1] != lead {
		return tpl, "", nil
	}
	content, ok := tok.AddedContent(lead)
	if !ok || !strings.HasPrefix(tpl, content) {
		return tpl, "", nil
	}
	return strings.TrimPrefix(tpl, content), content, nil
}

func readLimited(path string) ([]byte, error) { return safefile.ReadRegular(path, maxConfigBytes) }

func readJSONFile(path string, v any) error {
	raw, err := readLimited(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%s: field %s: a JSON %s where another type belongs", path, te.Field, te.Value)
		}
		return fmt.Errorf("%s: %v", path, err)
	}
	return nil
}
