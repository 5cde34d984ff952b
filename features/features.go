// Package features turns preference pairs into a reward head's inputs for one
// backbone: which texts each pair needs under a feature form (the column
// layout lives in head.Columns; this package says which text fills each
// column), and their vectors, read from the feature cache, with only the
// texts the cache lacks embedded, through a backbone opened on first need.
//
// A Featurizer is the pipeline over a backbone set up once, as hugot's
// pipelines sit over a session: commands, the server and benchmarks build
// one from Options and ask it for pairs' features.
package features

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"gonum.org/v1/gonum/mat"

	"github.com/ser-rl/ser/cache"
	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/head"
	"github.com/ser-rl/ser/internal/safefile"
	"github.com/ser-rl/ser/models"
	"github.com/ser-rl/ser/onnx"
)

// Options configure a Featurizer.
type Options struct {
	Manifest *models.Manifest
	Form     string // head.Separate, head.Joint or head.Both; "" is the manifest's
	// CachePath is the feature cache file (see cache.File).
	CachePath string
	// ORTLib is the ONNX Runtime library, loaded when something must be
	// embedded; Backbone configures the sessions.
	ORTLib   string
	Backbone onnx.Options
	// Progress, when set, is told how far embedding is; Plan, when set, what
	// is to be embedded, before any batch runs. With either, a sample of
	// batches spread over the plan runs first (cache.FillOptions.Sample), so
	// that the time left can be told from the start.
	Progress func(cache.Progress)
	Plan     func(cache.Plan)
	// LockWait, when set, is called when the cache must be written and
	// another process is writing it: Fill and Pairs then wait for it (until
	// ctx ends) instead of failing with cache.ErrLocked.
	LockWait func(path string)
	// OnOpen, when set, is called when the backbone is opened (so that a
	// caller can say on stderr that embedding starts).
	OnOpen func(*onnx.Backbone)
	// PromptFormat is how prompts are written (data.FormatAuto detects each:
	// HH-RLHF transcripts, chat formats, or a plain message); they are read
	// as conversations and written in the backbone's form. data.FormatRaw
	// takes prompts as the backbone's text as they are.
	PromptFormat string
	// Memory, when positive, is the bytes of recent texts' vectors that
	// Vectors keeps in memory (keyed by the texts' sha256), ahead of the
	// cache: a server sees the same prompts again and again.
	Memory int64
}

// Featurizer gives pairs their features. Its methods are not safe for
// concurrent use; Close releases the backbone and the cache.
type Featurizer struct {
	opt    Options
	m      *models.Manifest
	form   string
	b      *onnx.Backbone
	read   *cache.Cache // read-only, for Vectors
	memory *lru         // Options.Memory's vectors, or nil
	// the distinct texts Vectors found in memory, and those it did not
	hits, misses atomic.Int64
}

// New checks the options; nothing is opened until needed.
func New(o Options) (*Featurizer, error) {
	if o.Manifest == nil {
		return nil, errors.New("features: no backbone manifest")
	}
	if o.Form == "" {
		o.Form = o.Manifest.FeatureForm()
	}
	if err := head.CheckForm(o.Form); err != nil {
		return nil, err
	}
	if o.CachePath == "" {
		return nil, errors.New("features: no cache path")
	}
	f := &Featurizer{opt: o, m: o.Manifest, form: o.Form}
	f.SetMemory(o.Memory)
	return f, nil
}

// SetMemory keeps up to bytes of recent texts' vectors in memory (see
// Options.Memory); 0 keeps none. What was kept is dropped.
func (f *Featurizer) SetMemory(bytes int64) {
	f.memory = nil
	if bytes > 0 {
		f.memory = newLRU(int(max(1, bytes/int64(4*f.m.Dim+lruOverhead))))
	}
}

// MemoryStats returns how many distinct texts Vectors found in memory, and
// how many it read from the cache or embedded instead (with a memory only).
// It is safe to call while another goroutine uses the Featurizer.
func (f *Featurizer) MemoryStats() (hits, misses int64) { return f.hits.Load(), f.misses.Load() }

// HomeCache is the feature cache of backbone m under a ser home: where
// every command reads and fills it unless told otherwise.
func HomeCache(home string, m *models.Manifest) string {
	return cache.File(filepath.Join(home, "cache", "features"), m.Fingerprint(), cache.Format(m.FeatureStorage))
}

// open opens the featurizer's cache file, for reading or (one writer at a
// time) for writing.
func (f *Featurizer) open(writable bool) (*cache.Cache, error) {
	return cache.Open(f.opt.CachePath, f.m.Fingerprint(), f.m.Dim, cache.Format(f.m.FeatureStorage), writable)
}

// openWriter opens the cache for writing, waiting for another writer to
// finish when Options.LockWait is set.
func (f *Featurizer) openWriter(ctx context.Context) (*cache.Cache, error) {
	if f.opt.LockWait == nil {
		return f.open(true)
	}
	return cache.OpenWait(ctx, f.opt.CachePath, f.m.Fingerprint(), f.m.Dim, cache.Format(f.m.FeatureStorage),
		func() { f.opt.LockWait(f.opt.CachePath) })
}

// Form is the feature form in use.
func (f *Featurizer) Form() string { return f.form }

// Manifest is the backbone's manifest.
func (f *Featurizer) Manifest() *models.Manifest { return f.m }

// Backbone names the features for head files.
func (f *Featurizer) Backbone() head.Backbone { return BackboneOf(f.m) }

// BackboneOf names a manifest's features, as heads record them.
func BackboneOf(m *models.Manifest) head.Backbone {
	return head.Backbone{Name: m.Name, Fingerprint: m.Fingerprint(), Dim: m.Dim}
}

// Close releases what the Featurizer opened.
func (f *Featurizer) Close() error {
	var errs []error
	if f.b != nil {
		errs = append(errs, f.b.Close())
		f.b = nil
	}
	if f.read != nil {
		errs = append(errs, f.read.Close())
		f.read = nil
	}
	return errors.Join(errs...)
}

// backbone opens the backbone on first need.
func (f *Featurizer) backbone() (*onnx.Backbone, error) {
	if f.b != nil {
		return f.b, nil
	}
	if err := onnx.Init(f.opt.ORTLib); err != nil {
		return nil, err
	}
	b, err := onnx.Open(f.m, f.opt.Backbone)
	if err != nil {
		return nil, err
	}
	f.b = b
	if f.opt.OnOpen != nil {
		f.opt.OnOpen(b)
	}
	return b, nil
}

// Texts lists the texts whose vectors the pairs need, column by column of
// head.Columns for each pair in turn (with repeats; the cache stores each
// once): every path (readers, score, the server) makes a pair's texts here,
// so one conversation gives one text.
func (f *Featurizer) Texts(pairs []data.Pair) []string {
	cols := head.Columns(f.form)
	out := make([]string, 0, len(pairs)*len(cols))
	for i := range pairs {
		p := &pairs[i]
		for _, c := range cols {
			out = append(out, f.text(c, p.Prompt, nil, p.Chosen, p.Rejected, ""))
		}
	}
	return out
}

// text is the text of one column for a prompt and its two responses (a and
// b), or (joint, when given) the whole conversation's text as a trainer
// sent it: the prompt read as a conversation and written in the backbone's
// form (models.Manifest.PromptText, FormatPair), or, when turns is not nil,
// the conversation given as turns written so (TurnsText, TurnsPair: a chat
// row's messages keep their turns whatever --template says); a response
// trimmed as the readers trim one.
func (f *Featurizer) text(c head.Column, prompt string, turns []data.Turn, a, b, joint string) string {
	switch c {
	case head.ColPrompt:
		if turns != nil {
			return f.m.TurnsText(turns)
		}
		return f.m.PromptText(prompt, f.opt.PromptFormat)
	case head.ColFirst:
		return f.response(a)
	case head.ColSecond:
		return f.response(b)
	}
	if joint != "" {
		return joint
	}
	if c == head.ColJointSecond {
		a = b
	}
	if turns != nil {
		return f.m.TurnsPair(turns, f.response(a))
	}
	return f.m.FormatPair(prompt, f.response(a), f.opt.PromptFormat)
}

// PromptFormat is Options.PromptFormat: how prompts are read
// (data.FormatAuto: each as its markers say).
func (f *Featurizer) PromptFormat() string { return f.opt.PromptFormat }

// response is a response's text: trimmed, as the readers trim one (a
// manifest of the older form, or raw prompts, read it as it is).
func (f *Featurizer) response(s string) string {
	if f.m.Conversation == "" || f.opt.PromptFormat == data.FormatRaw {
		return s
	}
	return strings.TrimSpace(s)
}

// Fill embeds into the cache the texts it lacks (all of them with a shard
// split: batches Shard, Shard+Of, ... of the canonical plan), opening the
// backbone only when there is work. It returns what it did.
func (f *Featurizer) Fill(ctx context.Context, texts []string, shard, of int) (cache.FillStats, error) {
	cc, err := f.openWriter(ctx)
	if err != nil {
		return cache.FillStats{}, err
	}
	defer cc.Close()
	return f.fill(ctx, cc, texts, shard, of)
}

func (f *Featurizer) fill(ctx context.Context, cc *cache.Cache, texts []string, shard, of int) (cache.FillStats, error) {
	if cc.Missing(texts) == 0 && of <= 1 {
		st := cache.FillStats{Texts: len(texts), Unique: distinct(texts)}
		st.Cached = st.Unique
		return st, nil
	}
	b, err := f.backbone()
	if err != nil {
		return cache.FillStats{}, err
	}
	opt := cache.FillOptions{Shard: shard, Of: of, Progress: f.opt.Progress, Plan: f.opt.Plan}
	if opt.Progress != nil || opt.Plan != nil {
		opt.Sample, opt.SampleInFlight = SampleBatches, b.Options().Sessions
	}
	return cache.Fill(ctx, cc, b, texts, opt)
}

// SampleBatches is how many batches, spread over the plan, run first when
// progress is reported: about 3% of HH-RLHF's 553, whose time (on 2 cores,
// quiet: about 2 s) gives the estimate of the whole.
const SampleBatches = 16

// Corrupt reports how many corrupt records the cache file holds (they are
// left out and their texts embedded again).
func (f *Featurizer) Corrupt() int {
	cc, err := f.open(false)
	if err != nil {
		return 0
	}
	defer cc.Close()
	return cc.Corrupt
}

func distinct(texts []string) int {
	seen := make(map[string]bool, len(texts))
	for _, t := range texts {
		seen[t] = true
	}
	return len(seen)
}

// Pairs returns the pairs' features: from the cache, after embedding into it
// what it lacks. Reading takes no lock; only when texts are missing is the
// cache opened for writing (one writer at a time).
func (f *Featurizer) Pairs(ctx context.Context, pairs []data.Pair) (*head.Pairs, cache.FillStats, error) {
	texts := f.Texts(pairs)
	if cc, err := f.open(false); err == nil {
		if cc.Missing(texts) == 0 {
			defer cc.Close()
			x, err := f.assemble(cc, texts, len(pairs))
			st := cache.FillStats{Texts: len(texts), Unique: distinct(texts)}
			st.Cached = st.Unique
			return x, st, err
		}
		cc.Close()
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, cache.FillStats{}, err
	}
	cc, err := f.openWriter(ctx)
	if err != nil {
		return nil, cache.FillStats{}, err
	}
	defer cc.Close()
	st, err := f.fill(ctx, cc, texts, 0, 1)
	if err != nil {
		return nil, st, err
	}
	x, err := f.assemble(cc, texts, len(pairs))
	return x, st, err
}

func (f *Featurizer) assemble(cc *cache.Cache, texts []string, n int) (*head.Pairs, error) {
	vecs, err := cc.Matrix(f.keys(texts))
	if err != nil {
		return nil, err
	}
	return head.Assemble(f.form, f.m.Dim, n, vecs), nil
}

func (f *Featurizer) keys(texts []string) []cache.Key {
	fp := f.m.Fingerprint()
	keys := make([]cache.Key, len(texts))
	for i, t := range texts {
		keys[i] = cache.KeyOf(fp, t)
	}
	return keys
}

// Vectors returns the texts' vectors, len(texts)*Dim floats: from memory
// (Options.Memory), else the cache, else the backbone, each distinct text
// embedded once; nothing is written to the cache (a scorer or a server must
// not hold the writer's lock). Ending ctx stops the embedding between
// batches.
func (f *Featurizer) Vectors(ctx context.Context, texts []string) ([]float32, error) {
	d := f.m.Dim
	out := make([]float32, len(texts)*d)
	if f.read == nil {
		cc, err := f.open(false)
		switch {
		case err == nil:
			f.read = cc
		case !errors.Is(err, os.ErrNotExist): // there, but not a cache of this backbone (or not a file)
			return nil, err
		}
	}
	fp := f.m.Fingerprint()
	firstAt := make(map[string]int, len(texts)) // a text's first place: a repeated text (a prompt) is looked up once
	var repeats [][2]int                        // (place, first place)
	var todo []string                           // texts to embed
	var todoAt []int                            // their places
	var remember []int                          // places whose vectors go into memory
	for i, t := range texts {
		if j, ok := firstAt[t]; ok {
			repeats = append(repeats, [2]int{i, j})
			continue
		}
		firstAt[t] = i
		v := out[i*d : (i+1)*d]
		if f.memory != nil {
			if m, ok := f.memory.get(t); ok {
				copy(v, m)
				f.hits.Add(1)
				continue
			}
			f.misses.Add(1)
		}
		if f.read != nil && f.read.Get(cache.KeyOf(fp, t), v) {
			remember = append(remember, i)
			continue
		}
		todo, todoAt = append(todo, t), append(todoAt, i)
	}
	if len(todo) > 0 {
		b, err := f.backbone()
		if err != nil {
			return nil, err
		}
		v, err := b.Embed(ctx, todo)
		if err != nil {
			return nil, err
		}
		for k, i := range todoAt {
			copy(out[i*d:(i+1)*d], v[k*d:(k+1)*d])
		}
		remember = append(remember, todoAt...)
	}
	if f.memory != nil {
		for _, i := range remember {
			f.memory.put(texts[i], out[i*d:(i+1)*d])
		}
	}
	for _, r := range repeats {
		copy(out[r[0]*d:(r[0]+1)*d], out[r[1]*d:(r[1]+1)*d])
	}
	return out, nil
}

// PairsOf assembles the features of pairs whose texts' vectors (laid out as
// Texts lists them) are given.
func (f *Featurizer) PairsOf(vecs []float32, n int) *head.Pairs {
	return head.Assemble(f.form, f.m.Dim, n, vecs)
}

// Item is one response to score: a prompt and a response, or (for joint
// features) the whole formatted text as a trainer sent it, in Joint. Turns,
// when not nil, is the prompt as a conversation's turns (a chat row's
// messages), used instead of Prompt.
type Item struct {
	Prompt, Response string
	Joint            string
	Turns            []data.Turn
}

// Items returns the features of items, one row each, as a head of the
// featurizer's form reads a single response (head.Pairs.A), through
// Vectors.
func (f *Featurizer) Items(ctx context.Context, items []Item) (*mat.Dense, error) {
	cols := head.Columns(f.form)
	texts := make([]string, 0, len(items)*len(cols))
	for i := range items {
		for _, c := range cols {
			it := &items[i]
			texts = append(texts, f.text(c, it.Prompt, it.Turns, it.Response, it.Response, it.Joint)) // both response columns hold its response
		}
	}
	vecs, err := f.Vectors(ctx, texts)
	if err != nil {
		return nil, err
	}
	return head.Assemble(f.form, f.m.Dim, len(items), vecs).A, nil
}

// NonFiniteError is an item whose reward is NaN or infinite: the backbone's
// vector for one of its texts holds NaN or Inf.
type NonFiniteError struct{ Index int }

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("item %d: the reward is not a finite number (the backbone's vector for its text holds NaN or Inf)", e.Index)
}

// Rewards returns h's calibrated rewards of items; the first item whose
// reward is not finite is a *NonFiniteError. h must have been trained on
// this featurizer's features.
func (f *Featurizer) Rewards(ctx context.Context, h *head.Head, items []Item) ([]float64, error) {
	if h.Features != f.form {
		return nil, fmt.Errorf("features: a head of %s features on a featurizer of %s features", h.Features, f.form)
	}
	x, err := f.Items(ctx, items)
	if err != nil {
		return nil, err
	}
	r := h.Rewards(x)
	for i, v := range r {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return r, &NonFiniteError{Index: i}
		}
	}
	return r, nil
}

// ExportNPY writes the pairs' backbone vectors, which must be cached, as a
// NumPy array [pairs, texts per pair, dim] and, beside it (FILE.ids.json),
// which pair each row is, what each column holds, and the array's sha256
// (npy_sha256): each file is written atomically, the array first, so a
// reader can tell an .ids.json that does not belong to the array beside it.
func (f *Featurizer) ExportNPY(path string, pairs []data.Pair) error {
	if len(pairs) == 0 {
		return fmt.Errorf("%s: no pairs to export", path)
	}
	cc, err := f.open(false)
	if err != nil {
		return err
	}
	defer cc.Close()
	texts := f.Texts(pairs)
	vecs, err := cc.Matrix(f.keys(texts))
	if err != nil {
		return err
	}
	cols := head.Columns(f.form)
	if err := cache.WriteNPY(path, []int{len(pairs), len(cols), f.m.Dim}, vecs); err != nil {
		return err
	}
	sum, _, err := models.FileSHA256(path)
	if err != nil {
		return err
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.String()
	}
	type row struct {
		File     string `json:"file"`
		Line     int    `json:"line"`
		ID       string `json:"id,omitempty"`
		Subset   string `json:"subset,omitempty"`
		Labelled bool   `json:"labelled"`
	}
	rows := make([]row, len(pairs))
	for i, p := range pairs {
		rows[i] = row{p.File, p.Line, p.ID, p.Subset, p.Labelled}
	}
	ids, err := json.MarshalIndent(map[string]any{"backbone": f.m.Name, "fingerprint": f.m.Fingerprint(), "features": f.form,
		"columns": names, "rows": rows, "npy_sha256": sum}, "", " ")
	if err != nil {
		return err
	}
	return safefile.WriteFile(strings.TrimSuffix(path, ".npy")+".ids.json", ids)
}
