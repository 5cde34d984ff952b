package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/eval"
	"github.com/ser-rl/ser/internal/safefile"
)

func evalCommand() *cli.Command {
	return &cli.Command{
		Name: "eval",
		UsageText: `ser eval --head rm.head --data test.jsonl --json eval.json
ser eval --head rm.head --data reward-bench/filtered.parquet --scores-out scores.jsonl
ser eval --head rm.head --data ultrafeedback_binarized/ --split test_prefs`,
		Usage: "evaluate a head offline on labelled pairs: accuracy (overall, per subset), ties, margin, calibration",
		Flags: append(dataFlags("labelled pairs to evaluate on"),
			&cli.StringFlag{Name: "head", Usage: "(required) head file"},
			&cli.StringFlag{Name: "json", Usage: "also write the figures as JSON here"},
			&cli.StringFlag{Name: "model", Usage: "backbone (default: the one the head names)"},
			&cli.StringFlag{Name: "cache", Usage: "feature cache file (default: the backbone's)"},
			&cli.StringFlag{Name: "scores-out", Usage: "also write each pair's rewards as JSONL here (file, line, id, subset, reward_chosen, reward_rejected, correct)"},
		),
		Action: func(c *cli.Context) error {
			if err := need(c, "head", "data"); err != nil {
				return err
			}
			outs := []file{{"--json", c.String("json")}, {"--scores-out", c.String("scores-out")}}
			if err := checkOutputs(outs, append(flagFiles(c, "data"), file{"--head", c.String("head")}, file{"--cache", c.String("cache")})); err != nil {
				return err
			}
			h, m, err := loadHead(c)
			if err != nil {
				return err
			}
			if err := checkOutputs(outs, backboneFiles(c, m)); err != nil {
				return err
			}
			pairs, err := readData(c, "data")
			if err != nil {
				return err
			}
			x, err := pairFeatures(c, m, h.Features, pairs)
			if err != nil {
				return err
			}
			met := eval.Evaluate(h.Rewards(x.A), h.Rewards(x.B), pairs)
			printMetrics(c.App.Writer, met)
			if p := c.String("scores-out"); p != "" {
				if err := writeScores(p, met, pairs); err != nil {
					return err
				}
			}
			if p := c.String("json"); p != "" {
				raw, err := json.MarshalIndent(met, "", " ")
				if err != nil {
					return err
				}
				return safefile.WriteFile(p, append(raw, '\n'))
			}
			return nil
		},
	}
}

// writeScores writes each evaluated pair's rewards as JSONL.
func writeScores(path string, m eval.Metrics, pairs []data.Pair) error {
	return safefile.Write(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, s := range m.Scores {
			p := pairs[s.Index]
			row := map[string]any{"file": p.File, "line": p.Line, "subset": p.Subset,
				"reward_chosen": finiteOrNil(s.Chosen), "reward_rejected": finiteOrNil(s.Reject), "correct": s.Chosen > s.Reject}
			if p.ID != "" {
				row["id"] = p.ID
			}
			if err := enc.Encode(row); err != nil {
				return err
			}
		}
		return nil
	})
}

func printMetrics(out io.Writer, m eval.Metrics) {
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "subset\tpairs\taccuracy\t95% CI\t")
	ci := func(c [2]float64) string { return fmt.Sprintf("%.4f-%.4f", c[0], c[1]) }
	if subsets := m.Subsets(); len(subsets) > 1 {
		for _, s := range subsets {
			fmt.Fprintf(w, "%s\t%d\t%.4f\t%s\t\n", s, m.BySubset[s].N, m.BySubset[s].Accuracy, ci(m.BySubset[s].CI))
		}
	}
	fmt.Fprintf(w, "overall\t%d\t%.4f\t%s\t\n", m.N, m.Accuracy, ci(m.AccuracyCI))
	w.Flush()
	if rb := m.RewardBench; rb != nil {
		fmt.Fprintf(out, "RewardBench score %.4f (95%% CI %s):", rb.Score, ci(rb.ScoreCI))
		for _, s := range eval.RewardBenchSections {
			if v, ok := rb.Sections[s]; ok {
				fmt.Fprintf(out, " %s %.4f", s, v)
			}
		}
		fmt.Fprintln(out)
		if len(rb.Missing) > 0 {
			fmt.Fprintf(out, "  (subsets not in the data: %s)\n", strings.Join(rb.Missing, ", "))
		}
	}
	fmt.Fprintf(out, "ties %d; margin mean %.4f, sd %.4f; ECE of sigmoid(r_c - r_r) %.4f\n", m.Ties, m.MeanMargin, m.MarginStd, m.ECE)
	if m.NonFinite > 0 {
		fmt.Fprintf(out, "%d pairs have a reward that is not a finite number (the backbone's vectors for them hold NaN or Inf): counted as wrong, left out of the margin and ECE\n", m.NonFinite)
	}
	for why, n := range m.Skipped {
		fmt.Fprintf(out, "skipped %d pairs: %s\n", n, why)
	}
}
