package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/models"
)

func embedCommand() *cli.Command {
	return &cli.Command{
		Name: "embed",
		UsageText: `ser embed --data datasets/hh-rlhf
ser --device cuda embed --model ./llama-3-8b --data uf.parquet --out uf.npy
ser embed --data big.jsonl --shard 0/8 --cache shard0.feat   # then: ser cache merge shard*.feat`,
		Usage: "fill the feature cache for a dataset (resumable: what is cached is not embedded again)",
		Flags: append(dataFlags("preference data to embed"),
			&cli.StringFlag{Name: "model", Usage: "backbone name or folder", Value: models.DefaultName},
			&cli.StringFlag{Name: "features", Usage: "separate, joint or both (default: the backbone's)"},
			&cli.StringFlag{Name: "cache", Usage: "feature cache file (default: the backbone's, under the home)"},
			&cli.StringFlag{Name: "shard", Usage: "i/N: embed only batches i, i+N, ... of the dataset's batching plan (0-based), for N machines with the same --device kind; merge with ser cache merge"},
			&cli.StringFlag{Name: "out", Usage: "also write the dataset's features as a NumPy array FILE.npy [pairs, texts per pair, dim] and FILE.ids.json"},
		),
		Action: func(c *cli.Context) error {
			if err := need(c, "data"); err != nil {
				return err
			}
			m, err := manifest(c, c.String("model"))
			if err != nil {
				return err
			}
			shard, of, err := parseShard(c.String("shard"))
			if err != nil {
				return err
			}
			if of > 1 && c.String("out") != "" {
				return fmt.Errorf("--out needs the whole dataset; merge the shards first")
			}
			if out := c.String("out"); out != "" {
				ids := strings.TrimSuffix(out, ".npy") + ".ids.json"
				if err := checkOutputs([]file{{"--out", out}, {"--out (its .ids.json)", ids}},
					append(append(flagFiles(c, "data"), file{"--cache", c.String("cache")}), backboneFiles(c, m)...)); err != nil {
					return err
				}
			}
			f, bar, err := featurizer(c, m, c.String("features"))
			if err != nil {
				return err
			}
			defer f.Close()
			pairs, err := readData(c, "data")
			if err != nil {
				return err
			}
			if n := f.Corrupt(); n > 0 {
				notef(c, "feature cache: %d corrupt records left out; their texts are embedded again", n)
			}
			start := time.Now()
			st, err := f.Fill(c.Context, f.Texts(pairs), shard, of)
			bar.Done()
			if err != nil {
				return runtimeHint(err)
			}
			if st.Embedded == 0 && st.Cached == st.Unique && of <= 1 {
				notef(c, "%d pairs: all %d distinct texts already in the feature cache; no backbone work", len(pairs), st.Unique)
			} else {
				el := time.Since(start).Seconds()
				notef(c, "%d pairs: %d distinct texts, %d were cached, embedded %d (%d tokens) in %.2fs: %.1f texts/s, %.0f tokens/s (%s, %s)",
					len(pairs), st.Unique, st.Cached, st.Embedded, st.Tokens, el, float64(st.Embedded)/el, float64(st.Tokens)/el, m.Name, globalString(c, "device"))
			}
			if out := c.String("out"); out != "" {
				return f.ExportNPY(out, pairs)
			}
			return nil
		},
	}
}

func parseShard(s string) (int, int, error) {
	if s == "" {
		return 0, 1, nil
	}
	bad := fmt.Errorf("--shard %q: want i/N with 0 <= i < N", s)
	a, b, ok := strings.Cut(s, "/")
	if !ok || strings.Trim(a+b, "0123456789") != "" {
		return 0, 0, bad
	}
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b) // "2/3" is not a number: 0/2/3 is refused, not read as 0/2
	if err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, bad
	}
	return i, n, nil
}
