package main

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/internal/progress"
	"github.com/ser-rl/ser/internal/safefile"
	"github.com/ser-rl/ser/score"
)

func scoreCommand() *cli.Command {
	return &cli.Command{
		Name: "score",
		UsageText: `ser score --head rm.head.json < responses.jsonl > scored.jsonl
ser score --head rm.head.json --in pairs.parquet --out scored.jsonl
ser score --head rm.head.json --in chats.jsonl --skip-bad   # {"messages": [...]} rows`,
		Usage: "add rewards to a JSONL file of {prompt, response} (or {prompt, chosen, rejected}) rows, streaming, order kept",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "head", Usage: "(required, or --model a reward model) head file, or model:NAME for a reward model's own reward"},
			&cli.StringFlag{Name: "in", Value: "-", Usage: "input JSONL, - for stdin"},
			&cli.StringFlag{Name: "out", Value: "-", Usage: "output JSONL, - for stdout (a file is written atomically)"},
			&cli.StringFlag{Name: "model", Usage: "backbone (default: the one the head names); without --head, a reward model whose own reward is used"},
			&cli.StringFlag{Name: "cache", Usage: "feature cache to read vectors from when present (default: the backbone's)"},
			&cli.IntFlag{Name: "batch", Value: 512, Usage: "rows scored at a time"},
			&cli.BoolFlag{Name: "skip-bad", Usage: "skip malformed rows (and say how many) instead of stopping"},
			&cli.StringFlag{Name: "format", Usage: "read --in with the dataset readers: hh, uf-raw, uf-binarized, pairs or unlabelled (Parquet and files without prompt/messages rows are read so by themselves)"},
			&cli.IntFlag{Name: "max-line-mb", Value: data.DefaultMaxLine >> 20, Usage: "longest JSONL line read, in MiB (a longer one is a bad row)"},
			templateFlag(),
		},
		Action: func(c *cli.Context) error {
			if err := needHead(c); err != nil {
				return err
			}
			if b := c.Int("batch"); b < 1 {
				return fmt.Errorf("--batch %d: want 1 or more", b)
			}
			if mb := c.Int("max-line-mb"); mb < 1 || mb > 1<<14 {
				return fmt.Errorf("--max-line-mb %d: want 1 to %d", mb, 1<<14)
			}
			in, out := c.String("in"), c.String("out")
			stdin := in
			if in == "-" {
				stdin = "/dev/stdin" // what standard input is: a file can be both
			}
			outs := []file{{"--out", out}}
			if err := checkOutputs(outs, []file{{"--in", stdin}, {"--head", c.String("head")}, {"--cache", c.String("cache")}}); err != nil {
				return err
			}
			h, m, err := loadHead(c)
			if err != nil {
				return err
			}
			if err := checkOutputs(outs, backboneFiles(c, m)); err != nil {
				return err
			}
			opts := data.Options{Format: c.String("format"), SkipBad: c.Bool("skip-bad"), MaxLine: c.Int("max-line-mb") << 20}
			var rows *data.RowReader
			if in == "-" {
				rows, err = data.NewRows(os.Stdin, "<stdin>", opts)
			} else {
				rows, err = data.OpenRows(in, opts)
			}
			if err != nil {
				return err
			}
			defer rows.Close()
			f, _, err := featurizer(c, m, h.Features)
			if err != nil {
				return err
			}
			defer f.Close()
			bar := progress.New(stderr(c), "score", "rows", 0, globalBool(c, "quiet"))
			n := 0
			run := func(w io.Writer) (err error) {
				n, err = score.Rows(c.Context, f, h, rows, w, score.Options{Batch: c.Int("batch"), Progress: func(n int) { bar.Set(n, 0) }})
				return runtimeHint(err)
			}
			if out == "-" {
				err = run(c.App.Writer)
			} else if err = safefile.WritePartial(out, run); err != nil && n > 0 { // the rows before a failure are kept
				notef(c, "%s: holds the %d rows before the failure", out, n)
			}
			bar.Done()
			for _, why := range sortedKeys(rows.Skipped()) {
				notef(c, "%s: skipped %d bad rows: %s", in, rows.Skipped()[why], why)
			}
			if err == nil {
				notef(c, "scored %d rows", n)
			}
			return err
		},
	}
}
