package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/ask"
	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/evolve"
	"github.com/ser-rl/ser/features"
	"github.com/ser-rl/ser/internal/safefile"
	"github.com/ser-rl/ser/models"
)

// evolveFlags bind the SER options to o; the defaults shown are o's values.
func evolveFlags(o *evolve.Options) []cli.Flag {
	flags := []cli.Flag{
		&cli.Float64Flag{Name: "seed-frac", Value: o.SeedFrac, Destination: &o.SeedFrac, Usage: "share of the labelled pairs used as the seed, stratified by subset"},
		&cli.Float64Flag{Name: "seed-val-frac", Value: o.ValFrac, Destination: &o.ValFrac, Usage: "share of the seed held out for validation, precision estimates and calibration"},
		&cli.Float64Flag{Name: "test-frac", Value: o.TestFrac, Destination: &o.TestFrac, Usage: "share of --data held out as the test set when --test is not given"},
		&cli.IntFlag{Name: "max-loops", Value: o.MaxLoops, Destination: &o.MaxLoops, Usage: "SER loops after loop 0 (0: the seed head only)"},
		&cli.Float64Flag{Name: "tau-high", Value: o.TauHigh, Destination: &o.TauHigh, Usage: "status 1: the good answer's sigmoid(r) must exceed this"},
		&cli.Float64Flag{Name: "tau-low", Value: o.TauLow, Destination: &o.TauLow, Usage: "status 1: the bad answer's sigmoid(r) must be below this"},
		&cli.Float64Flag{Name: "tau-delta", Value: o.TauDelta, Destination: &o.TauDelta, Usage: "status 2: the scores must differ by more than this"},
		&cli.StringFlag{Name: "statuses", Value: o.Statuses, Destination: &o.Statuses, Usage: "both (status 1 or 2, the official code), 1, 2, or staged (1 until dry, then 2)"},
		&cli.Float64Flag{Name: "min-precision", Value: o.MinPrecision, Destination: &o.MinPrecision, Usage: "safety valve: stop when the rule's precision on the labelled validation pairs is below this"},
		&cli.BoolFlag{Name: "no-valve", Destination: &o.NoValve, Usage: "run without the safety valve, as the paper does"},
		&cli.BoolFlag{Name: "warm", Destination: &o.Warm, Usage: "warm-start each loop from the previous head instead of retraining from scratch"},
		&cli.BoolFlag{Name: "drop-seed", Destination: &o.DropSeed, Usage: "train loops after 0 on the pseudo-labels alone"},
		&cli.StringFlag{Name: "stop", Value: o.Stop, Destination: &o.Stop, Usage: "val (stop when a loop does not improve on the validation pairs) or dry (only when the selection runs dry)"},
		&cli.StringFlag{Name: "keep-by", Value: o.KeepBy, Destination: &o.KeepBy, Usage: "judge loops on the validation pairs by loss (continuous) or accuracy (as ser did before: it moves in steps of 1-2 points on small validation sets)"},
		&cli.IntFlag{Name: "ask", Destination: &o.Ask, Usage: "also ask this many human labels each loop, answered from the pool's hidden labels (a benchmark of asking: compare with --no-self-label, --ask-rule random)"},
		&cli.StringFlag{Name: "ask-rule", Value: "dopt", Destination: &o.AskRule, Usage: "how --ask chooses: dopt, uncertainty or random (see ser ask)"},
		&cli.BoolFlag{Name: "no-self-label", Destination: &o.NoSelfLabel, Usage: "add no pseudo-labels (with --ask: active labelling alone)"},
		&cli.BoolFlag{Name: "full-data", Value: true, Destination: &o.FullData, Usage: "also train on every labelled pair as a reference (--full-data=false to skip it)"},
		&cli.StringFlag{Name: "cache", Usage: "feature cache file", DefaultText: "the backbone's, under the home"},
	}
	return append(append(flags, modelFlags()...), trainFlags(&o.Head, &o.Seed)...)
}

// evolveDataFlags are the evolve command's data beyond --data (the demo makes its own).
func evolveDataFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "test", Usage: "labelled test pairs", DefaultText: "--test-frac of --data is held out"},
		&cli.StringSliceFlag{Name: "unlabelled", Usage: "a truly unlabelled pool ({prompt, response_a, response_b})", DefaultText: "--data beyond the seed, labels hidden"},
	}
}

func evolveCommand() *cli.Command {
	opt := evolve.DefaultOptions()
	return &cli.Command{
		Name: "evolve",
		UsageText: `ser evolve --data datasets/hh-rlhf --out run/
ser evolve --data seed.jsonl --unlabelled pool.jsonl --test test.jsonl --no-valve
ser evolve --data uf.parquet --statuses staged --tau-high 0.6 --tau-low 0.4 --max-loops 5`,
		Usage: "grow a reward head from a labelled seed by self-labelling (SER); writes each loop's head, report.json, report.md and a chart",
		Flags: append(append(dataFlags("labelled pairs: the seed (and, without --unlabelled, the pool)"),
			&cli.StringFlag{Name: "out", Value: "ser-evolve", Usage: "folder for the heads, the report and the chart"},
		), append(evolveDataFlags(), evolveFlags(&opt)...)...),
		Action: func(c *cli.Context) error {
			if err := need(c, "data"); err != nil {
				return err
			}
			hiddenSizes(c, &opt.Head)
			if err := checkKind(opt.Head.Kind); err != nil {
				return err
			}
			if err := opt.Check(len(c.StringSlice("test")) > 0); err != nil {
				return err
			}
			ins := append(append(append(flagFiles(c, "data"), flagFiles(c, "test")...), flagFiles(c, "unlabelled")...), file{"--cache", c.String("cache")})
			if err := checkOutputFolder("--out", c.String("out"), evolve.Owned, ins); err != nil {
				return err
			}
			m, err := manifest(c, c.String("model"))
			if err != nil {
				return err
			}
			rep, err := runEvolve(c, m, c.StringSlice("data"), c.StringSlice("test"), c.StringSlice("unlabelled"), opt, "")
			if err != nil {
				return err
			}
			return writeEvolve(c, rep, m, strings.Join(c.StringSlice("data"), ", "))
		},
	}
}

// runEvolve reads the data, fills the feature cache and runs the loop;
// the report says what it was on (dataset: a known data set, else detected
// from the formats read; see evolve.About).
func runEvolve(c *cli.Context, m *models.Manifest, dataFiles, testFiles, poolFiles []string, opt evolve.Options, dataset string) (*evolve.Report, error) {
	form, err := featureForm(c, m)
	if err != nil {
		return nil, err
	}
	if err := residual(c, m, form, &opt.Head); err != nil {
		return nil, err
	}
	t0 := time.Now()
	all, formats, err := readFilesFormats(c, dataFiles)
	if err != nil {
		return nil, err
	}
	if dataset == "" {
		dataset = knownDataset(formats)
	}
	labelled := usable(c, all)
	var sets []*[]data.Pair
	var testPairs, poolPairs []data.Pair
	sets = append(sets, &labelled)
	if t := testFiles; len(t) > 0 {
		tp, err := readFiles(c, t)
		if err != nil {
			return nil, err
		}
		testPairs = usable(c, tp)
		if len(testPairs) == 0 {
			return nil, fmt.Errorf("--test %s: no labelled pairs to test on", strings.Join(t, ", "))
		}
		sets = append(sets, &testPairs)
	}
	if u := poolFiles; len(u) > 0 {
		if poolPairs, err = readFiles(c, u); err != nil {
			return nil, err
		}
		sets = append(sets, &poolPairs)
	}
	warnOverlap(c, labelled, testPairs, poolPairs)
	// one pass through the cache for every set
	var joined []data.Pair
	for _, s := range sets {
		joined = append(joined, (*s)...)
	}
	t1 := time.Now()
	x, err := pairFeatures(c, m, form, joined)
	if err != nil {
		return nil, err
	}
	if err := trainable(x, joined); err != nil {
		return nil, err
	}
	t2 := time.Now()
	defer func() {
		notef(c, "time: reading %d pairs %.2fs, features (cache and any embedding) %.2fs, SER loops and references %.2fs",
			len(joined), t1.Sub(t0).Seconds(), t2.Sub(t1).Seconds(), time.Since(t2).Seconds())
	}()
	off := 0
	part := func(n int) *evolve.Set {
		s := &evolve.Set{X: x.Rows(off, off+n), Pairs: joined[off : off+n]}
		off += n
		return s
	}
	lab := part(len(labelled))
	var test, pool *evolve.Set
	if len(testPairs) > 0 {
		test = part(len(testPairs))
	}
	if len(poolPairs) > 0 {
		pool = part(len(poolPairs))
	}
	bb := features.BackboneOf(m)
	rep, err := evolve.Run(c.Context, evolve.Input{Labelled: *lab, Unlabelled: pool, Test: test, Backbone: bb, Form: form, Logf: func(f string, a ...any) { notef(c, f, a...) }}, opt)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(dataFiles))
	for i, f := range dataFiles {
		if abs, err := filepath.Abs(f); err == nil {
			f = abs
		}
		names[i] = f
	}
	rep.About = &evolve.About{Data: strings.Join(names, ", "), Dataset: dataset, Backbone: m.Name, Fingerprint: m.Fingerprint(), DefaultBackbone: m.Name == models.DefaultName}
	rep.Advise()
	return rep, nil
}

// knownDataset names the data set the README has results for, from the
// formats of the pairs read: HH-RLHF (hh) or UltraFeedback (uf-raw,
// uf-binarized), when every pair is of it; else "".
func knownDataset(formats map[string]int) string {
	known := ""
	for f, n := range formats {
		if n == 0 {
			continue
		}
		d := ""
		switch f {
		case data.HH:
			d = evolve.DatasetHH
		case data.UFRaw, data.UFBinarized:
			d = evolve.DatasetUF
		}
		if d == "" || (known != "" && known != d) {
			return ""
		}
		known = d
	}
	return known
}

// earlierRuns reads the report of the last run written into out, and
// gives rep the runs before it on the same data and backbone (with it), so
// that its advice does not suggest what they tried.
func earlierRuns(c *cli.Context, rep *evolve.Report, out string) {
	raw, err := safefile.ReadRegular(filepath.Join(out, "report.json"), 64<<20)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		notef(c, "%s: not read (%v); the advice does not know the runs before this one", filepath.Join(out, "report.json"), err)
		return
	}
	var prev evolve.Report
	if err := json.Unmarshal(raw, &prev); err != nil {
		notef(c, "%s: not read (%v); the advice does not know the runs before this one", filepath.Join(out, "report.json"), err)
		return
	}
	if rep.About.Same(prev.About) {
		for _, e := range prev.Previous() {
			if e.Options.Check(true) == nil { // options no run could have used are not history
				rep.Earlier = append(rep.Earlier, e)
			}
		}
		rep.Advise()
	}
}

func writeEvolve(c *cli.Context, rep *evolve.Report, m *models.Manifest, what string) error {
	out := c.String("out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	earlierRuns(c, rep, out)
	title := fmt.Sprintf("%s, backbone %s", what, m.Name)
	if err := rep.Write(out, title); err != nil {
		return err
	}
	if err := rep.Markdown(c.App.Writer, title); err != nil {
		return err
	}
	abs, _ := filepath.Abs(out)
	fmt.Fprintf(c.App.Writer, "\nreport: %s (report.md, report.json), chart: %s, heads: %s\n",
		abs, filepath.Join(abs, "accuracy.png"), filepath.Join(abs, "final.head.json"))
	return nil
}

// warnOverlap says when test pairs are also training data (--data) or pool
// pairs (--unlabelled), or, without --test, when --data repeats pairs (a
// held-out split can then hold copies of training pairs): the same prompt
// and responses, in either order, spacing aside. The test accuracy is then
// optimistic.
func warnOverlap(c *cli.Context, labelled, test, pool []data.Pair) {
	if len(test) == 0 {
		seen, n := map[ask.Key]bool{}, 0
		for i := range labelled {
			k := ask.KeyOf(&labelled[i])
			if seen[k] {
				n++
			}
			seen[k] = true
		}
		if n > 0 {
			notef(c, "warning: %d pairs of --data repeat another (the same prompt and responses): the held-out test split can hold copies of training pairs, and its accuracy is then optimistic", n)
		}
		return
	}
	in := func(set []data.Pair) map[ask.Key]bool {
		m := make(map[ask.Key]bool, len(set))
		for i := range set {
			m[ask.KeyOf(&set[i])] = true
		}
		return m
	}
	for _, o := range []struct {
		flag string
		set  map[ask.Key]bool
	}{{"--data", in(labelled)}, {"--unlabelled", in(pool)}} {
		n := 0
		for i := range test {
			if o.set[ask.KeyOf(&test[i])] {
				n++
			}
		}
		if n > 0 {
			notef(c, "warning: %d of the %d --test pairs are also in %s (the same prompt and responses, spacing aside): the test accuracy is optimistic", n, len(test), o.flag)
		}
	}
}
