// Command ask measures active labelling: test accuracy against the number of
// human labels, for the rules of package ask (random, uncertainty, D-optimal),
// over seeds, with the default backbone's cached features (separate form) on
//
//   - planted data (-data planted): HH-RLHF's real features, labels from a
//     hidden Bradley-Terry teacher independent of them (only human labels
//     carry information: where choosing them well should show most);
//   - HH-RLHF (-data hh) and the UltraFeedback sample (-data uf), labels as
//     published.
//
// Each seed holds out 20% as the test set; the rest is the pool. Every rule
// starts from the same 1% of the pool, labelled at random, and asks in
// batches of at most 5% of the pool (each batch chosen under the head trained
// on everything labelled so far) until each budget is reached; a linear head
// is trained on the labelled pairs at each budget and tested. The full-data
// head (the whole pool labelled) is the reference. Differences against
// random are paired per seed (same split, same start); intervals are 95%,
// Student's t over the seeds.
//
//	go run ./bench/ask -home .ser-home -data planted
//	go run ./bench/ask -home .ser-home -data hh -chart bench/results/ask-hh.png
package main

import (
	"context"
	"flag"
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"strings"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/ser-rl/ser/ask"
	"github.com/ser-rl/ser/bench/internal/benchdata"
	"github.com/ser-rl/ser/eval"
	"github.com/ser-rl/ser/evolve"
	"github.com/ser-rl/ser/features"
	"github.com/ser-rl/ser/head"
	"github.com/ser-rl/ser/models"
)

func main() {
	home := flag.String("home", os.Getenv("SER_HOME"), "ser home (its feature cache should hold the data's features: ser embed)")
	shared := flag.String("shared", "../shared/data", "the shared data folder")
	which := flag.String("data", "planted", "planted, hh or uf")
	seeds := flag.Int("seeds", 10, "seeds (each its own split, start and, for planted data, teacher)")
	budgets := flag.String("budgets", "5,10,15,25,50", "budgets, in % of the pool")
	chart := flag.String("chart", "", "write the curves here (.png or .svg)")
	flag.Parse()
	var bs []float64
	for _, f := range strings.Split(*budgets, ",") {
		var b float64
		if _, err := fmt.Sscan(f, &b); err != nil || b <= 1 || b > 100 {
			fmt.Fprintf(os.Stderr, "bench: budget %q: want a percentage above 1 and at most 100\n", f)
			os.Exit(2)
		}
		bs = append(bs, b)
	}
	if err := run(*home, *shared, *which, *seeds, bs, *chart); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func load(home, shared, which string) (evolve.Set, *models.Manifest, error) {
	src := which
	if which == "planted" {
		src = "hh" // planted labels are drawn over HH-RLHF's features
	}
	pairs, err := benchdata.Pairs(shared, src)
	if err != nil {
		return evolve.Set{}, nil, err
	}
	f, m, err := benchdata.Featurizer(home, head.Separate, nil)
	if err != nil {
		return evolve.Set{}, nil, err
	}
	defer f.Close()
	x, _, err := f.Pairs(context.Background(), pairs)
	return evolve.Set{X: x, Pairs: pairs}, m, err
}

// curve is one rule's test accuracy at each budget, per seed.
type curve struct {
	acc    [][]float64 // [budget][seed]
	labels []int       // human labels at each budget (the same for every rule)
}

func run(home, shared, which string, seeds int, budgets []float64, chart string) error {
	set, m, err := load(home, shared, which)
	if err != nil {
		return err
	}
	curves := map[string]*curve{}
	for _, r := range ask.Rules {
		curves[r] = &curve{acc: make([][]float64, len(budgets))}
	}
	var full []float64
	var poolN int
	for s := 1; s <= seeds; s++ {
		data := set
		if which == "planted" {
			data = evolve.PlantWith(set.X, set.Pairs, evolve.PlantOptions{Beta: 2.5, Seed: uint64(s), Dim: m.Dim})
		}
		rng := rand.New(rand.NewPCG(uint64(s), 0xa5c))
		perm := rng.Perm(data.X.Len())
		nTest := data.X.Len() / 5
		test, pool := rows(data.X, perm[:nTest]), rows(data.X, perm[nTest:])
		poolN = pool.Len()
		// the pool shown to the rules: each pair in a random order (the truth kept)
		shown, truth := shuffle(pool, rng)
		fh, err := head.Train(context.Background(), head.Problem{Train: head.Data{X: pool}, Backbone: features.BackboneOf(m), Form: head.Separate}, head.TrainOptions{Seed: uint64(s)})
		if err != nil {
			return err
		}
		full = append(full, head.Accuracy(fh, test))
		start := rng.Perm(poolN)[:max(2, poolN/100)]
		for _, rule := range ask.Rules {
			c := curves[rule]
			labelled := append([]int(nil), start...)
			c.labels = c.labels[:0]
			for bi, b := range budgets {
				target := int(math.Round(b / 100 * float64(poolN)))
				for len(labelled) < target {
					h, err := trainOn(shown, truth, labelled, m, uint64(s))
					if err != nil {
						return err
					}
					step := min(target-len(labelled), max(1, poolN/20))
					rest, idx := remaining(shown, labelled)
					picks, err := ask.Select(context.Background(), h, rest, ask.Options{Rule: rule, N: step, Seed: uint64(s*1000 + len(labelled)), Labelled: oriented(shown, truth, labelled)})
					if err != nil {
						return err
					}
					for _, p := range picks {
						labelled = append(labelled, idx[p.Index])
					}
				}
				h, err := trainOn(shown, truth, labelled, m, uint64(s))
				if err != nil {
					return err
				}
				c.acc[bi] = append(c.acc[bi], head.Accuracy(h, test))
				c.labels = append(c.labels, len(labelled))
			}
		}
		fmt.Fprintf(os.Stderr, "seed %d done\n", s)
	}
	fm, fci := eval.MeanCI(full)
	fmt.Printf("active labelling, %s: default backbone (separate features), linear head; pool %d pairs, test %d; %d seeds; start 1%% at random, batches of at most 5%% of the pool\n", which, poolN, set.X.Len()/5, seeds)
	fmt.Printf("full data (the whole pool labelled): %.4f [%.4f, %.4f]\n\n", fm, fci[0], fci[1])
	fmt.Printf("%-8s %7s", "budget", "labels")
	for _, r := range ask.Rules {
		fmt.Printf(" %26s", r)
	}
	fmt.Printf(" %26s %26s\n", "uncertainty - random", "dopt - random")
	for bi, b := range budgets {
		fmt.Printf("%6.0f%% %7d", b, curves[ask.Random].labels[bi])
		for _, r := range ask.Rules {
			m, ci := eval.MeanCI(curves[r].acc[bi])
			fmt.Printf(" %8.4f [%.4f, %.4f]", m, ci[0], ci[1])
		}
		for _, r := range []string{ask.Uncertainty, ask.DOptimal} {
			d := make([]float64, seeds)
			for s := range d {
				d[s] = curves[r].acc[bi][s] - curves[ask.Random].acc[bi][s]
			}
			m, ci := eval.MeanCI(d)
			fmt.Printf("   %+6.2f [%+6.2f, %+6.2f] pt", 100*m, 100*ci[0], 100*ci[1])
		}
		fmt.Println()
	}
	fmt.Println()
	for _, r := range ask.Rules {
		reach := "not within the budgets"
		for bi, b := range budgets {
			if m, _ := eval.MeanCI(curves[r].acc[bi]); m >= fm-0.01 {
				reach = fmt.Sprintf("%.0f%% of the pool (%d labels)", b, curves[r].labels[bi])
				break
			}
		}
		fmt.Printf("%-12s reaches the full-data accuracy within one point (mean over seeds) at %s\n", r, reach)
	}
	if chart != "" {
		return draw(chart, which, seeds, budgets, curves, fm)
	}
	return nil
}

// trainOn trains a linear head on the labelled pool pairs, chosen first.
func trainOn(shown *head.Pairs, truth []bool, idx []int, m *models.Manifest, seed uint64) (*head.Head, error) {
	return head.Train(context.Background(), head.Problem{Train: head.Data{X: oriented(shown, truth, idx)}, Backbone: features.BackboneOf(m), Form: head.Separate}, head.TrainOptions{Seed: seed})
}

// oriented is pool pairs idx with the truly chosen response first.
func oriented(shown *head.Pairs, truth []bool, idx []int) *head.Pairs {
	x := rows(shown, idx)
	for r, i := range idx {
		if !truth[i] {
			ra, rb := x.A.RawRowView(r), x.B.RawRowView(r)
			for k := range ra {
				ra[k], rb[k] = rb[k], ra[k]
			}
		}
	}
	return x
}

// remaining is the pool pairs not labelled, and their pool indices.
func remaining(shown *head.Pairs, labelled []int) (*head.Pairs, []int) {
	in := map[int]bool{}
	for _, i := range labelled {
		in[i] = true
	}
	var idx []int
	for i := 0; i < shown.Len(); i++ {
		if !in[i] {
			idx = append(idx, i)
		}
	}
	return rows(shown, idx), idx
}

// shuffle shows each pair in a random order; truth[i] says A is chosen.
func shuffle(x *head.Pairs, rng *rand.Rand) (*head.Pairs, []bool) {
	all := make([]int, x.Len())
	for i := range all {
		all[i] = i
	}
	out := rows(x, all)
	truth := make([]bool, len(all))
	for i := range truth {
		truth[i] = true
		if rng.IntN(2) == 1 {
			truth[i] = false
			ra, rb := out.A.RawRowView(i), out.B.RawRowView(i)
			for k := range ra {
				ra[k], rb[k] = rb[k], ra[k]
			}
		}
	}
	return out, truth
}

func rows(x *head.Pairs, idx []int) *head.Pairs {
	_, d := x.A.Dims()
	a, b := make([]float64, 0, len(idx)*d), make([]float64, 0, len(idx)*d)
	for _, i := range idx {
		a = append(a, x.A.RawRowView(i)...)
		b = append(b, x.B.RawRowView(i)...)
	}
	if len(idx) == 0 {
		return &head.Pairs{}
	}
	return &head.Pairs{A: mat.NewDense(len(idx), d, a), B: mat.NewDense(len(idx), d, b)}
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
}

// draw plots each rule's mean accuracy against the share of the pool
// labelled, with 95% intervals, and the full-data level.
func draw(path, which string, seeds int, budgets []float64, curves map[string]*curve, full float64) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Active labelling: %s (default backbone, linear head, %d seeds)", which, seeds)
	p.X.Label.Text = "share of the pool labelled by humans (%)"
	p.Y.Label.Text = "test accuracy"
	colors := map[string]int{ask.Random: 2, ask.Uncertainty: 0, ask.DOptimal: 1}
	shift := map[string]float64{ask.Random: -0.4, ask.Uncertainty: 0, ask.DOptimal: 0.4} // so that the intervals do not hide each other
	for _, r := range ask.Rules {
		var xy plotter.XYs
		var errs plotter.YErrors
		for bi, b := range budgets {
			m, ci := eval.MeanCI(curves[r].acc[bi])
			xy = append(xy, plotter.XY{X: b + shift[r], Y: m})
			errs = append(errs, struct{ Low, High float64 }{m - ci[0], ci[1] - m})
		}
		l, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			return err
		}
		l.Color, pts.Color = palette[colors[r]], palette[colors[r]]
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYs
			plotter.YErrors
		}{xy, errs})
		if err != nil {
			return err
		}
		eb.Color = palette[colors[r]]
		p.Add(l, pts, eb)
		p.Legend.Add(r, l)
	}
	fl, err := plotter.NewLine(plotter.XYs{{X: budgets[0], Y: full}, {X: budgets[len(budgets)-1], Y: full}})
	if err != nil {
		return err
	}
	fl.Color, fl.Dashes = palette[3], []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(fl)
	p.Legend.Add(fmt.Sprintf("full data (%.3f)", full), fl)
	p.Legend.Top, p.Legend.Left = false, false
	p.Y.Max = math.Max(p.Y.Max, full+0.01) // the full-data line clear of the title
	p.Add(plotter.NewGrid())
	return p.Save(7*vg.Inch, 4*vg.Inch, path)
}
