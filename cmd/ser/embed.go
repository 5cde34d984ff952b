package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/cache"
	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/head"
	"github.com/ser-rl/ser/internal/atomic"
	"github.com/ser-rl/ser/internal/progress"
	"github.com/ser-rl/ser/models"
)

func embedCommand() *cli.Command {
	return &cli.Command{
		Name:  "embed",
		Usage: "fill the feature cache for a dataset (resumable: what is cached is not embedded again)",
		Flags: append(dataFlags("preference data to embed"),
			&cli.StringFlag{Name: "model", Usage: "backbone name or folder", Value: models.DefaultName},
			&cli.StringFlag{Name: "features", Usage: "separate, joint or both (default: the backbone's)"},
			&cli.StringFlag{Name: "cache", Usage: "feature cache file (default: the backbone's, under the home)"},
			&cli.StringFlag{Name: "shard", Usage: "i/N: embed only batches i, i+N, ... of the dataset's batching plan (0-based), for N machines with the same --device kind; merge with ser cache merge"},
			&cli.StringFlag{Name: "out", Usage: "also write the dataset's features as a NumPy array FILE.npy [pairs, texts per pair, dim] and FILE.ids.json"},
		),
		Action: func(c *cli.Context) error {
			m, err := manifest(c, c.String("model"))
			if err != nil {
				return err
			}
			form := c.String("features")
			if form == "" {
				form = m.FeatureForm()
			}
			if err := head.CheckForm(form); err != nil {
				return err
			}
			pairs, err := readData(c, "data")
			if err != nil {
				return err
			}
			texts := head.Texts(form, m, pairs)
			shard, of, err := parseShard(c.String("shard"))
			if err != nil {
				return err
			}
			if of > 1 && c.String("out") != "" {
				return fmt.Errorf("--out needs the whole dataset; merge the shards first")
			}
			cc, err := openCache(c, m, true)
			if err != nil {
				return err
			}
			defer cc.Close()
			if cc.Corrupt > 0 {
				notef(c, "feature cache: %d corrupt records left out; their texts are embedded again", cc.Corrupt)
			}
			missing := cc.Missing(texts)
			if missing == 0 && of <= 1 {
				notef(c, "%d pairs: all %d distinct texts already in the feature cache; no backbone work", len(pairs), distinct(texts))
			} else {
				b, err := openBackbone(c, m)
				if err != nil {
					return err
				}
				defer b.Close()
				bar := progress.New(stderr(c), "embed", "texts", missing, c.Bool("quiet"))
				start := time.Now()
				st, err := cache.Fill(cc, b, texts, cache.FillOptions{Shard: shard, Of: of, Progress: bar.Set})
				bar.Done()
				if err != nil {
					return err
				}
				el := time.Since(start).Seconds()
				notef(c, "%d pairs: %d distinct texts, %d were cached, embedded %d (%d tokens) in %.2fs: %.1f texts/s, %.0f tokens/s (%s, %s)",
					len(pairs), st.Unique, st.Cached, st.Embedded, st.Tokens, el, float64(st.Embedded)/el, float64(st.Tokens)/el, m.Name, b.Options().Device)
			}
			if out := c.String("out"); out != "" {
				return exportNPY(out, form, m, cc, pairs)
			}
			return nil
		},
	}
}

func distinct(texts []string) int {
	seen := map[string]bool{}
	for _, t := range texts {
		seen[t] = true
	}
	return len(seen)
}

func parseShard(s string) (int, int, error) {
	if s == "" {
		return 0, 1, nil
	}
	var i, n int
	if _, err := fmt.Sscanf(s, "%d/%d", &i, &n); err != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("--shard %q: want i/N with 0 <= i < N", s)
	}
	return i, n, nil
}

// exportNPY writes the pairs' backbone vectors as [pairs, texts per pair, dim]
// and, beside it, which pair each row is and what its columns hold.
func exportNPY(path, form string, m *models.Manifest, cc *cache.Cache, pairs []data.Pair) error {
	fp := m.Fingerprint()
	texts := head.Texts(form, m, pairs)
	keys := make([]cache.Key, len(texts))
	for i, t := range texts {
		keys[i] = cache.KeyOf(fp, t)
	}
	vecs, err := cc.Matrix(keys)
	if err != nil {
		return err
	}
	per := len(texts) / len(pairs)
	if err := cache.WriteNPY(path, []int{len(pairs), per, m.Dim}, vecs); err != nil {
		return err
	}
	cols := map[string][]string{
		head.Separate: {"prompt", "chosen", "rejected"},
		head.Joint:    {"template(prompt, chosen)", "template(prompt, rejected)"},
		head.Both:     {"prompt", "chosen", "rejected", "template(prompt, chosen)", "template(prompt, rejected)"},
	}[form]
	type row struct {
		File     string `json:"file"`
		Line     int    `json:"line"`
		Subset   string `json:"subset,omitempty"`
		Labelled bool   `json:"labelled"`
	}
	rows := make([]row, len(pairs))
	for i, p := range pairs {
		rows[i] = row{p.File, p.Line, p.Subset, p.Labelled}
	}
	ids, err := json.MarshalIndent(map[string]any{"backbone": m.Name, "fingerprint": fp, "features": form, "columns": cols, "rows": rows}, "", " ")
	if err != nil {
		return err
	}
	return atomic.WriteFile(strings.TrimSuffix(path, ".npy")+".ids.json", ids)
}
