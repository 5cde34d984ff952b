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
	"os"
	"strings"

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
	// Progress, when set, is told how far embedding is.
	Progress func(cache.Progress)
	// OnOpen, when set, is called when the backbone is opened (so that a
	// caller can say on stderr that embedding starts).
	OnOpen func(*onnx.Backbone)
}

// Featurizer gives pairs their features. Its methods are not safe for
// concurrent use; Close releases the backbone and the cache.
type Featurizer struct {
	opt  Options
	m    *models.Manifest
	form string
	b    *onnx.Backbone
	read *cache.Cache // read-only, for Vectors
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
	return &Featurizer{opt: o, m: o.Manifest, form: o.Form}, nil
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
// head.Columns for each pair in turn (with repeats; the cache stores each once).
func (f *Featurizer) Texts(pairs []data.Pair) []string { return Texts(f.form, f.m, pairs) }

// Texts lists the texts a form needs for pairs (see Featurizer.Texts).
func Texts(form string, m *models.Manifest, pairs []data.Pair) []string {
	cols := head.Columns(form)
	out := make([]string, 0, len(pairs)*len(cols))
	for i := range pairs {
		p := &pairs[i]
		for _, c := range cols {
			out = append(out, text(c, m, p))
		}
	}
	return out
}

// text is the text of one column of a pair.
func text(c head.Column, m *models.Manifest, p *data.Pair) string {
	switch c {
	case head.ColPrompt:
		return p.Prompt
	case head.ColFirst:
		return p.Chosen
	case head.ColSecond:
		return p.Rejected
	case head.ColJointFirst:
		return m.FormatPair(p.Prompt, p.Chosen)
	default: // head.ColJointSecond
		return m.FormatPair(p.Prompt, p.Rejected)
	}
}

// Fill embeds into the cache the texts it lacks (all of them with a shard
// split: batches Shard, Shard+Of, ... of the canonical plan), opening the
// backbone only when there is work. It returns what it did.
func (f *Featurizer) Fill(ctx context.Context, texts []string, shard, of int) (cache.FillStats, error) {
	cc, err := cache.Open(f.opt.CachePath, f.m.Fingerprint(), f.m.Dim, cache.Format(f.m.FeatureStorage), true)
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
	return cache.Fill(ctx, cc, b, texts, cache.FillOptions{Shard: shard, Of: of, Progress: f.opt.Progress})
}

// Corrupt reports how many corrupt records the cache file holds (they are
// left out and their texts embedded again).
func (f *Featurizer) Corrupt() int {
	cc, err := cache.Open(f.opt.CachePath, f.m.Fingerprint(), f.m.Dim, cache.Format(f.m.FeatureStorage), false)
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
	if cc, err := cache.Open(f.opt.CachePath, f.m.Fingerprint(), f.m.Dim, cache.Format(f.m.FeatureStorage), false); err == nil {
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
	cc, err := cache.Open(f.opt.CachePath, f.m.Fingerprint(), f.m.Dim, cache.Format(f.m.FeatureStorage), true)
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

// Vectors returns the texts' vectors, len(texts)*Dim floats: those in the
// cache from it, the others from the backbone; nothing is written to the
// cache (a scorer or a server must not hold the writer's lock).
func (f *Featurizer) Vectors(ctx context.Context, texts []string) ([]float32, error) {
	d := f.m.Dim
	out := make([]float32, len(texts)*d)
	if f.read == nil {
		if cc, err := cache.Open(f.opt.CachePath, f.m.Fingerprint(), f.m.Dim, cache.Format(f.m.FeatureStorage), false); err == nil {
			f.read = cc
		}
	}
	fp := f.m.Fingerprint()
	var todo []string
	where := make([]int, len(texts)) // index into todo of an uncached text, else -1
	first := map[string]int{}        // a text repeated (a prompt, a single response) is embedded once
	for i, t := range texts {
		where[i] = -1
		if f.read != nil && f.read.Get(cache.KeyOf(fp, t), out[i*d:(i+1)*d]) {
			continue
		}
		k, ok := first[t]
		if !ok {
			k = len(todo)
			first[t] = k
			todo = append(todo, t)
		}
		where[i] = k
	}
	if len(todo) == 0 {
		return out, nil
	}
	b, err := f.backbone()
	if err != nil {
		return nil, err
	}
	v, err := b.Embed(ctx, todo)
	if err != nil {
		return nil, err
	}
	for i, k := range where {
		if k >= 0 {
			copy(out[i*d:(i+1)*d], v[k*d:(k+1)*d])
		}
	}
	return out, nil
}

// PairsOf assembles the features of pairs whose texts' vectors (laid out as
// Texts lists them) are given.
func (f *Featurizer) PairsOf(vecs []float32, n int) *head.Pairs {
	return head.Assemble(f.form, f.m.Dim, n, vecs)
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
	cc, err := cache.Open(f.opt.CachePath, f.m.Fingerprint(), f.m.Dim, cache.Format(f.m.FeatureStorage), false)
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
