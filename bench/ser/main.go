// Command ser measures the SER loop over several seeds, with the default
// backbone's cached features, on
//
//   - real data: the 8,552 HH-RLHF pairs (-data hh) or the 1,200
//     UltraFeedback pairs (-data uf), labels as published;
//   - planted data (-data planted): the HH-RLHF pairs' real features,
//     relabelled by a hidden Bradley-Terry teacher (evolve.PlantWith) whose
//     noise (-beta) puts full-data accuracy near 70-75% and seed-only near
//     62-65%, the paper's regime; the teacher is drawn independently of the
//     features, so unlabelled pairs say nothing about it: the negative control;
//   - the built-in sample (-data sample): failure kinds that cluster in the
//     features and an annotator who flips 10% of the training labels, so a
//     confident head's labels are cleaner than the human ones: the positive
//     control;
//
// and reports, for each -variants ablation, seed-only, SER-kept and full-data
// test accuracy (means over seeds) and the paired differences SER - seed
// and full - SER with 95% intervals over the seeds.
//
//	go run ./bench/ser -data planted -variants default,keep-accuracy,status1,status2
//	go run ./bench/ser -data hh
//	go run ./bench/ser -data sample   # the positive control
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/ser-rl/ser/bench/internal/benchdata"
	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/eval"
	"github.com/ser-rl/ser/evolve"
	"github.com/ser-rl/ser/features"
	"github.com/ser-rl/ser/head"
)

func main() {
	home := flag.String("home", os.Getenv("SER_HOME"), "ser home (its feature cache must hold the HH-RLHF features: run `ser embed --data ../shared/data/hh-rlhf` once)")
	shared := flag.String("shared", "../shared/data", "the shared data folder")
	which := flag.String("data", "planted", "hh, uf, planted or sample (the built-in sample with a 10%-noisy annotator, a fresh sample per seed: the positive control)")
	form := flag.String("features", head.Separate, "pair features: separate, joint or both (the cache must hold them: ser embed --features F)")
	beta := flag.Float64("beta", 2.5, "planted: the teacher's sharpness")
	clusters := flag.Int("clusters", 0, "teacher: a quality per k-means cluster of responses (0: a linear teacher)")
	within := flag.Float64("within", 0, "teacher: weight of a linear term inside clusters")
	margin := flag.Float64("margin", 0, "planted: drop the pairs whose teacher rewards differ by less than this many standard deviations (a gap at the teacher's boundary)")
	seeds := flag.Int("seeds", 10, "seeds (each draws its own split; planted data its own teacher, the sample its own pairs)")
	variants := flag.String("variants", "default", "comma-separated: default, keep-accuracy, status1, status2, staged, novalve, tau-wide, tau-narrow, temperature, calib-none, warm, dry, loops10, seed5, seed10, seed25, ask-R and ask-R-only (R: dopt, uncertainty, random; each loop asks human labels for 2% of the pairs, answered from the hidden labels, with or without self-labels)")
	verbose := flag.Bool("v", false, "log each loop")
	flag.Parse()
	if *verbose {
		logf = func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	}
	if err := run(*home, *shared, *which, *form, evolve.PlantOptions{Beta: *beta, Clusters: *clusters, Within: *within, Margin: *margin}, *seeds, strings.Split(*variants, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// Variant maps a name to the options it changes, for ablations; n is the
// number of pairs in the data (the ask- variants ask 2% of it each loop:
// "ask-R" asks by rule R and self-labels too, "ask-R-only" only asks).
func Variant(name string, o *evolve.Options, n int) {
	if rule, ok := strings.CutPrefix(name, "ask-"); ok {
		rule, o.NoSelfLabel = strings.CutSuffix(rule, "-only")
		o.Ask, o.AskRule = max(1, n/50), rule
		return
	}
	switch name {
	case "status1":
		o.Statuses = evolve.Status1
	case "status2":
		o.Statuses = evolve.Status2
	case "staged":
		o.Statuses = evolve.StatusStaged
	case "novalve":
		o.NoValve = true
	case "tau-wide":
		o.TauHigh, o.TauLow, o.TauDelta = 0.6, 0.4, 0.4
	case "tau-narrow":
		o.TauHigh, o.TauLow, o.TauDelta = 0.52, 0.48, 0.15
	case "temperature":
		o.Head.Calibration = "temperature"
	case "calib-none":
		o.Head.Calibration = "none"
	case "warm":
		o.Warm = true
	case "keep-accuracy":
		o.KeepBy = evolve.KeepAccuracy
	case "dry":
		o.Stop = evolve.StopDry
	case "loops10":
		o.Stop, o.MaxLoops = evolve.StopDry, 10
	case "mlp":
		o.Head.Kind, o.Head.Hidden = head.MLP, []int{64}
	case "mlp-dry":
		o.Head.Kind, o.Head.Hidden, o.Stop = head.MLP, []int{64}, evolve.StopDry
	case "seed5":
		o.SeedFrac = 0.05
	case "seed10":
		o.SeedFrac = 0.10
	case "seed25":
		o.SeedFrac = 0.25
	}
}

var logf func(string, ...any)

func run(home, shared, which, form string, po evolve.PlantOptions, seeds int, variants []string) error {
	f, m, err := benchdata.Featurizer(home, form, nil)
	if err != nil {
		return err
	}
	defer f.Close()
	setOf := func(pairs []data.Pair) (evolve.Set, error) {
		x, _, err := f.Pairs(context.Background(), pairs)
		return evolve.Set{X: x, Pairs: pairs}, err
	}
	// seedSets are each seed's labelled set and test set (nil: a split of it)
	var seedSets func(s int) (evolve.Set, *evolve.Set, error)
	if which == "sample" {
		fmt.Printf("positive control: the built-in sample, 1,500 pairs per seed labelled by an annotator who flips 10%%, 500 true-labelled test pairs per seed, default backbone (%s features); %d seeds\n", form, seeds)
		seedSets = func(s int) (evolve.Set, *evolve.Set, error) {
			train, err := setOf(data.Sample(1500, uint64(s), 0.1))
			if err != nil {
				return train, nil, err
			}
			test, err := setOf(data.Sample(500, uint64(s)+1000, 0))
			return train, &test, err
		}
	} else {
		src := which
		if which == "planted" {
			src = "hh"
		}
		pairs, err := benchdata.Pairs(shared, src)
		if err != nil {
			return err
		}
		set, err := setOf(pairs)
		if err != nil {
			return err
		}
		if which == "planted" {
			fmt.Printf("planted benchmark: %d HH-RLHF pairs' real features (default backbone, %s form), labels from a hidden teacher (beta %g, clusters %d, within %g, margin %g sd); %d seeds\n", len(pairs), form, po.Beta, po.Clusters, po.Within, po.Margin, seeds)
		} else {
			fmt.Printf("%s: %d pairs, default backbone (%s features), published labels; %d seeds\n", which, len(pairs), form, seeds)
		}
		seedSets = func(s int) (evolve.Set, *evolve.Set, error) {
			if which == "planted" {
				po.Seed, po.Dim = uint64(s), m.Dim
				return evolve.PlantWith(set.X, set.Pairs, po), nil, nil
			}
			return set, nil, nil
		}
	}
	fmt.Println("Each seed draws its own split; the three heads of a seed are tested on the same pairs, so differences are paired per seed; intervals are 95%, Student's t over the seeds' differences.")
	fmt.Printf("%-16s %9s %9s %9s %9s %24s %24s %7s %s\n", "variant", "seed-only", "SER kept", "SER last", "full", "SER - seed [95% CI]", "full - SER [95% CI]", "closed", "per seed: loop kept / loops run / loop-1 pseudo-label acc")
	for _, v := range variants {
		var so, fi, fu, last, gain, rest []float64
		var notes []string
		for s := 1; s <= seeds; s++ {
			set, test, err := seedSets(s)
			if err != nil {
				return err
			}
			o := evolve.DefaultOptions()
			o.Seed, o.FullData = uint64(s), true
			Variant(v, &o, set.X.Len())
			rep, err := evolve.Run(context.Background(), evolve.Input{Labelled: set, Test: test, Backbone: features.BackboneOf(m), Form: form, Logf: logf}, o)
			if err != nil {
				return err
			}
			so, fi, fu = append(so, rep.SeedOnly), append(fi, rep.Final), append(fu, *rep.FullData)
			gain, rest = append(gain, rep.Final-rep.SeedOnly), append(rest, *rep.FullData-rep.Final)
			lt := rep.SeedOnly // the last loop that trained on pseudo-labels, kept or not
			for _, l := range rep.Loops {
				if l.Added {
					lt = l.TestAcc
				}
			}
			last = append(last, lt)
			tp := "-"
			if len(rep.Loops) > 1 && rep.Loops[1].TruePrec >= 0 {
				tp = fmt.Sprintf("%.2f", rep.Loops[1].TruePrec)
			}
			notes = append(notes, fmt.Sprintf("%d/%d/%s", rep.FinalLoop, len(rep.Loops)-1, tp))
		}
		closed := "n/a"
		if g := mean(fu) - mean(so); g > 0.005 {
			closed = fmt.Sprintf("%.0f%%", 100*(mean(fi)-mean(so))/g)
		}
		fmt.Printf("%-16s %9.4f %9.4f %9.4f %9.4f %24s %24s %7s %s\n", v, mean(so), mean(fi), mean(last), mean(fu), ci(gain), ci(rest), closed, strings.Join(notes, " "))
	}
	return nil
}

func mean(x []float64) float64 {
	m, _ := eval.MeanCI(x)
	return m
}

// ci is a mean difference with its interval, in points.
func ci(x []float64) string {
	m, c := eval.MeanCI(x)
	return fmt.Sprintf("%+.2f [%+.2f, %+.2f]", 100*m, 100*c[0], 100*c[1])
}
