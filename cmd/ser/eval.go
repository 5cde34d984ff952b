package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/head"
	"github.com/ser-rl/ser/internal/atomic"
)

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:  "eval",
		Usage: "evaluate a head offline on labelled pairs: accuracy (overall, per subset), ties, margin, calibration",
		Flags: append(dataFlags("labelled pairs to evaluate on"),
			&cli.StringFlag{Name: "head", Required: true, Usage: "head file"},
			&cli.StringFlag{Name: "json", Usage: "also write the figures as JSON here"},
			&cli.StringFlag{Name: "model", Usage: "backbone (default: the one the head names)"},
			&cli.StringFlag{Name: "cache", Usage: "feature cache file (default: the backbone's)"},
		),
		Action: func(c *cli.Context) error {
			h, m, err := loadHead(c)
			if err != nil {
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
			met := head.Evaluate(h, x, pairs)
			printMetrics(c.App.Writer, met)
			if p := c.String("json"); p != "" {
				raw, err := json.MarshalIndent(met, "", " ")
				if err != nil {
					return err
				}
				return atomic.WriteFile(p, append(raw, '\n'))
			}
			return nil
		},
	}
}

func printMetrics(out io.Writer, m head.Metrics) {
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "subset\tpairs\taccuracy\t")
	if subsets := m.Subsets(); len(subsets) > 1 {
		for _, s := range subsets {
			fmt.Fprintf(w, "%s\t%d\t%.4f\t\n", s, m.BySubset[s].N, m.BySubset[s].Accuracy)
		}
	}
	fmt.Fprintf(w, "overall\t%d\t%.4f\t\n", m.N, m.Accuracy)
	w.Flush()
	fmt.Fprintf(out, "ties %d; margin mean %.4f, sd %.4f; ECE of sigmoid(r_c - r_r) %.4f\n", m.Ties, m.MeanMargin, m.MarginStd, m.ECE)
	for why, n := range m.Skipped {
		fmt.Fprintf(out, "skipped %d pairs: %s\n", n, why)
	}
}
