// Command ser measures the SER loop over several seeds, with the default
// backbone's cached features, on
//
//   - real data: the 8,552 HH-RLHF pairs (-data hh) or the 1,200
//     UltraFeedback pairs (-data uf), labels as published;
//   - planted data (-data planted): the HH-RLHF pairs' real features,
//     relabelled by a hidden Bradley-Terry teacher (evolve.PlantWith) whose
//     noise (-beta) puts full-data accuracy near 70-75% and seed-only near
//     62-65%, the paper's regime;
//
// and reports seed-only, SER-final and full-data test accuracy (mean and
// spread over seeds) for each -variants ablation.
//
//	go run ./bench/ser -data planted -beta 2.5 -seeds 3 -variants default,status1,status2
//	go run ./bench/ser -data hh -seeds 3
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/ser-rl/ser/cache"
	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/evolve"
	"github.com/ser-rl/ser/features"
	"github.com/ser-rl/ser/head"
	"github.com/ser-rl/ser/models"
)

func main() {
	home := flag.String("home", os.Getenv("SER_HOME"), "ser home (its feature cache must hold the HH-RLHF features: run `ser embed --data ../shared/data/hh-rlhf` once)")
	shared := flag.String("shared", "../shared/data", "the shared data folder")
	which := flag.String("data", "planted", "hh, uf or planted")
	form := flag.String("features", head.Separate, "pair features: separate, joint or both (the cache must hold them: ser embed --features F)")
	beta := flag.Float64("beta", 2.5, "planted: the teacher's sharpness")
	clusters := flag.Int("clusters", 0, "teacher: a quality per k-means cluster of responses (0: a linear teacher)")
	within := flag.Float64("within", 0, "teacher: weight of a linear term inside clusters")
	seeds := flag.Int("seeds", 3, "seeds (each draws its own teacher labels and split)")
	variants := flag.String("variants", "default", "comma-separated: default, status1, status2, staged, novalve, tau-wide, tau-narrow, temperature, calib-none, warm, dry, loops10, seed5, seed10, seed25")
	verbose := flag.Bool("v", false, "log each loop")
	flag.Parse()
	if *verbose {
		logf = func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	}
	if err := run(*home, *shared, *which, *form, evolve.PlantOptions{Beta: *beta, Clusters: *clusters, Within: *within}, *seeds, strings.Split(*variants, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// Variant maps a name to the options it changes, for ablations.
func Variant(name string, o *evolve.Options) {
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

	m, err := models.Find(home, models.DefaultName)
	if err != nil {
		return err
	}
	files, _ := filepath.Glob(filepath.Join(shared, "hh-rlhf", "*", "test.jsonl.gz"))
	if which == "uf" {
		uf := filepath.Join(shared, "ultrafeedback-binarized-sample1200")
		files = []string{filepath.Join(uf, "train_clean.jsonl"), filepath.Join(uf, "eval_clean.jsonl")}
	}
	all, _, err := data.ReadAll(files, data.Options{})
	if err != nil {
		return err
	}
	var pairs []data.Pair
	for _, p := range all {
		if p.Problem() == "" {
			pairs = append(pairs, p)
		}
	}
	f, err := features.New(features.Options{Manifest: m, Form: form, CachePath: cache.File(filepath.Join(home, "cache", "features"), m.Fingerprint()), ORTLib: models.ORTLibPath(home)})
	if err != nil {
		return err
	}
	defer f.Close()
	x, _, err := f.Pairs(context.Background(), pairs)
	if err != nil {
		return err
	}
	if which == "planted" {
		fmt.Printf("planted benchmark: %d HH-RLHF pairs' real features (default backbone, separate form), labels from a hidden teacher %+v; %d seeds\n", len(pairs), po, seeds)
	} else {
		fmt.Printf("%s: %d pairs, default backbone (%s features), published labels; %d seeds\n", which, len(pairs), form, seeds)
	}
	fmt.Printf("%-12s %18s %18s %18s %18s %17s %s\n", "variant", "seed-only", "SER final (kept)", "SER last loop", "full data", "gap closed", "per seed: loop kept / loops run / loop-1 pseudo-label acc")
	for _, v := range variants {
		var so, fi, fu, closed, last []float64
		var notes []string
		for s := 1; s <= seeds; s++ {
			set := evolve.Set{X: x, Pairs: pairs}
			if which == "planted" {
				po.Seed, po.Dim = uint64(s), m.Dim
				set = evolve.PlantWith(x, pairs, po)
			}
			o := evolve.DefaultOptions()
			o.Seed, o.FullData = uint64(s), true
			Variant(v, &o)
			rep, err := evolve.Run(set, nil, nil, features.BackboneOf(m), form, o, logf)
			if err != nil {
				return err
			}
			so, fi, fu = append(so, rep.SeedOnly), append(fi, rep.Final), append(fu, *rep.FullData)
			lt := rep.SeedOnly // the last loop that trained on pseudo-labels, kept or not
			for _, l := range rep.Loops {
				if l.Added {
					lt = l.TestAcc
				}
			}
			last = append(last, lt)
			if gap := *rep.FullData - rep.SeedOnly; gap > 0.005 {
				closed = append(closed, (rep.Final-rep.SeedOnly)/gap)
			}
			tp := "-"
			if len(rep.Loops) > 1 && rep.Loops[1].TruePrec >= 0 {
				tp = fmt.Sprintf("%.2f", rep.Loops[1].TruePrec)
			}
			notes = append(notes, fmt.Sprintf("%d/%d/%s", rep.FinalLoop, len(rep.Loops)-1, tp))
		}
		fmt.Printf("%-12s %18s %18s %18s %18s %17s %s\n", v, ms(so), ms(fi), ms(last), ms(fu), ms(closed), strings.Join(notes, " "))
	}
	return nil
}

func ms(x []float64) string {
	if len(x) == 0 {
		return "n/a (no gap)"
	}
	m := 0.0
	for _, v := range x {
		m += v
	}
	m /= float64(len(x))
	s := 0.0
	for _, v := range x {
		s += (v - m) * (v - m)
	}
	return fmt.Sprintf("%.3f +- %.3f", m, math.Sqrt(s/float64(len(x))))
}
