package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/ask"
	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/internal/safefile"
)

func askCommand() *cli.Command {
	var o ask.Options
	return &cli.Command{
		Name: "ask",
		UsageText: `ser ask --head rm.head.json --pool pool.jsonl --n 200 --out to-label.jsonl
ser ask --head rm.head.json --pool pool.jsonl --labelled seed.jsonl --rule dopt --n 200 --out to-label.jsonl
ser train --data seed.jsonl --data answers.jsonl --out rm2.head.json   # the answers, as {prompt, chosen, rejected} rows`,
		Usage: "choose the pool pairs whose human labels would teach the head most (uncertainty, D-optimal or random)",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "head", Usage: "(required, or --model a reward model) head file, or model:NAME for a reward model's own reward"},
			&cli.StringSliceFlag{Name: "pool", Usage: "(required) unlabelled pairs to choose from (files or folders; {prompt, response_a, response_b} rows, or any format the readers take: labels are ignored)"},
			&cli.StringSliceFlag{Name: "labelled", Usage: "pairs already labelled (for dopt: what they teach is not asked again)"},
			&cli.IntFlag{Name: "n", Value: 200, Destination: &o.N, Usage: "pairs to choose"},
			&cli.StringFlag{Name: "rule", Value: ask.DOptimal, Destination: &o.Rule, Usage: "dopt (greedy D-optimal on the head's last layer: informative and diverse), uncertainty (closest scores) or random"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Destination: &o.Seed, Usage: "breaks ties; draws random's sample and the order each pair's responses are shown in"},
			&cli.StringFlag{Name: "out", Usage: "(required) JSONL of the chosen pairs, in the order to show them (written atomically)"},
			&cli.StringFlag{Name: "model", Usage: "backbone (default: the one the head names); without --head, a reward model whose own reward is used"},
			&cli.StringFlag{Name: "cache", Usage: "feature cache (default: the backbone's)"},
			&cli.StringFlag{Name: "side-key", Usage: "hex key that draws which of a labelled pair's responses is written as A (default: a fresh random one, so that nobody can work out which is the source's choice; give one to repeat a run's rows)"},
			&cli.BoolFlag{Name: "keep-labels", Usage: "keep a labelled pool's label fields in the rows, and say which response it prefers (source_chosen); without it rows are blind, for any labelling tool"},
		}, withoutFlags(dataFlags(""), "data")...),
		Action: func(c *cli.Context) error {
			if err := needHead(c); err != nil {
				return err
			}
			if err := need(c, "pool", "out"); err != nil {
				return err
			}
			if err := o.Check(); err != nil {
				return err
			}
			var ins []file
			for _, f := range []string{"pool", "labelled"} {
				for _, p := range c.StringSlice(f) {
					ins = append(ins, file{"--" + f, p})
				}
			}
			ins = append(ins, file{"--head", c.String("head")}, file{"--cache", c.String("cache")})
			outs := []file{{"--out", c.String("out")}}
			if err := checkOutputs(outs, ins); err != nil {
				return err
			}
			var sideKey []byte
			if k := c.String("side-key"); k != "" {
				var err error
				if sideKey, err = hex.DecodeString(k); err != nil || len(sideKey) < 8 {
					return fmt.Errorf("--side-key: want the hex of 8 or more bytes")
				}
			}
			h, m, err := loadHead(c)
			if err != nil {
				return err
			}
			if err := checkOutputs(outs, backboneFiles(c, m)); err != nil {
				return err
			}
			pool, err := readFiles(c, c.StringSlice("pool"))
			if err != nil {
				return err
			}
			x, err := pairFeatures(c, m, h.Features, pool)
			if err != nil {
				return err
			}
			var lab []data.Pair
			if paths := c.StringSlice("labelled"); len(paths) > 0 {
				if lab, err = readFiles(c, paths); err != nil {
					return err
				}
				if o.Labelled, err = pairFeatures(c, m, h.Features, lab); err != nil {
					return err
				}
			}
			skip, why := ask.Eligible(pool, lab)
			for _, w := range sortedKeys(why) {
				notef(c, "left out %d pool pairs: %s", why[w], w)
			}
			o.Skip = skip
			picks, err := ask.Select(c.Context, h, x, o)
			var nf *ask.NonFiniteError
			if errors.As(err, &nf) {
				where := pool
				if nf.Labelled {
					where = lab
				}
				return fmt.Errorf("%s: the head's reward is not a finite number (the backbone's vector for this pair holds NaN or Inf)", where[nf.Index].Where())
			}
			if err != nil {
				return err
			}
			if err := safefile.Write(c.String("out"), func(w io.Writer) error {
				return ask.WriteRows(w, pool, picks, ask.RowOptions{Head: h, Pool: x, Rule: o.Rule, Seed: o.Seed, KeepLabels: c.Bool("keep-labels"), SideKey: sideKey})
			}); err != nil {
				return err
			}
			notef(c, "chose %d of %d pool pairs by %s: %s", len(picks), len(pool), o.Rule, c.String("out"))
			return nil
		},
	}
}

// sortedKeys returns a map's keys in order (for notes printed in a stable order).
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func finiteOrNil(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}
