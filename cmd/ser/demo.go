package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/eval"
	"github.com/ser-rl/ser/evolve"
	"github.com/ser-rl/ser/internal/safefile"
	"github.com/ser-rl/ser/models"
)

func demoCommand() *cli.Command {
	opt := evolve.DefaultOptions()
	return &cli.Command{
		Name:  "demo",
		Usage: "the main job end to end on the built-in sample: set-up, embed, SER, evaluation, report",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "out", Value: "ser-demo", Usage: "folder for the sample, the heads, the report and the chart"},
			&cli.IntFlag{Name: "pairs", Value: 1500, Usage: "sample pairs to generate for the seed and pool"},
			&cli.IntFlag{Name: "test-pairs", Value: 500, Usage: "sample pairs to generate for the test set"},
			&cli.Float64Flag{Name: "label-noise", Value: 0.1, Usage: "share of the sample's labels flipped, as a careless annotator would (the test labels stay true)"},
		}, withoutFlags(evolveFlags(&opt), "test-frac")...),
		Action: func(c *cli.Context) error {
			hiddenSizes(c, &opt.Head)
			if err := opt.Check(true); err != nil {
				return err
			}
			start := time.Now()
			h, err := home(c)
			if err != nil {
				return err
			}
			notef(c, "1/4 set-up (home %s)", h)
			if err := models.Setup(models.SetupOptions{Home: h, Log: stderr(c)}); err != nil {
				return err
			}
			out := c.String("out")
			if err := checkOutputFolder("--out", out, evolve.Owned, []file{{"--cache", c.String("cache")}}); err != nil {
				return err
			}
			demoFiles := []file{{"--out", filepath.Join(out, "sample.jsonl")}, {"--out", filepath.Join(out, "sample-test.jsonl")}, {"--out", filepath.Join(out, "eval.json")}}
			if err := checkOutputs(demoFiles, []file{{"--cache", c.String("cache")}}); err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			seed := opt.Seed
			trainFile, testFile := filepath.Join(out, "sample.jsonl"), filepath.Join(out, "sample-test.jsonl")
			if err := writeSample(trainFile, data.Sample(c.Int("pairs"), seed, c.Float64("label-noise"))); err != nil {
				return err
			}
			if err := writeSample(testFile, data.Sample(c.Int("test-pairs"), seed+1000, 0)); err != nil {
				return err
			}
			notef(c, "2/4 sample: %s, in %s and %s", data.SampleDescription(c.Int("pairs")+c.Int("test-pairs")), trainFile, testFile)
			m, err := manifest(c, c.String("model"))
			if err != nil {
				return err
			}
			notef(c, "3/4 embed (once, into the feature cache) and SER")
			rep, err := runEvolve(c, m, []string{trainFile}, []string{testFile}, nil, opt, evolve.DatasetSample)
			if err != nil {
				return err
			}
			if err := writeEvolve(c, rep, m, "built-in sample"); err != nil {
				return err
			}
			notef(c, "4/4 evaluation of the final head on the test sample, by failure kind")
			test, err := readFiles(c, []string{testFile})
			if err != nil {
				return err
			}
			x, err := pairFeatures(c, m, rep.Heads[rep.FinalLoop].Features, test)
			if err != nil {
				return err
			}
			fh := rep.Heads[rep.FinalLoop]
			met := eval.Evaluate(fh.Rewards(x.A), fh.Rewards(x.B), test)
			printMetrics(c.App.Writer, met, m)
			raw, _ := json.MarshalIndent(met, "", " ")
			if err := safefile.WriteFile(filepath.Join(out, "eval.json"), append(raw, '\n')); err != nil {
				return err
			}
			abs, _ := filepath.Abs(out)
			fmt.Fprintf(c.App.Writer, "\ndemo done in %.0fs: report %s, chart %s\n", time.Since(start).Seconds(),
				filepath.Join(abs, "report.md"), filepath.Join(abs, "accuracy.png"))
			return nil
		},
	}
}

func writeSample(path string, pairs []data.Pair) error {
	var buf []byte
	for _, p := range pairs {
		line, err := json.Marshal(map[string]string{"prompt": p.Prompt, "chosen": p.Chosen, "rejected": p.Rejected, "source": p.Subset})
		if err != nil {
			return err
		}
		buf = append(append(buf, line...), '\n')
	}
	return safefile.WriteFile(path, buf)
}
