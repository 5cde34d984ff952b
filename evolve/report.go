package evolve

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/ser-rl/ser/internal/chart"
	"github.com/ser-rl/ser/internal/safefile"
)

// Write saves the run in dir: each loop's head (loop-K.head.json), the
// full-data head when trained, report.json, report.md, and the accuracy chart
// (accuracy.png, accuracy.svg) and the pool's scores against the thresholds
// (scores.png, scores.svg, when a loop selected). title names the data and backbone in the
// chart and the Markdown. The files are replaced as one set (see
// safefile.WriteSet): each whole, an earlier run's that this one lacks
// removed, and a write that a crash interrupts completed by the next; the
// folder's other files and the folder itself are not touched.
func (r *Report) Write(dir, title string) error {
	return safefile.WriteSet(dir, Owned, func(stage string) error { return r.write(stage, title) })
}

// Owned reports whether a file name is one that Write writes: an earlier
// run's such files are replaced with the new set; other files stay.
func Owned(name string) bool {
	switch name {
	case "report.json", "report.md", "accuracy.png", "accuracy.svg", "scores.png", "scores.svg", "final.head.json", "full-data.head.json":
		return true
	}
	k, ok := strings.CutPrefix(name, "loop-")
	k, ok2 := strings.CutSuffix(k, ".head.json")
	return ok && ok2 && k != "" && strings.Trim(k, "0123456789") == ""
}

func (r *Report) write(dir, title string) error {
	for k, h := range r.Heads {
		if err := h.Save(filepath.Join(dir, fmt.Sprintf("loop-%d.head.json", k))); err != nil {
			return err
		}
	}
	if len(r.Heads) > 0 {
		if err := r.Heads[r.FinalLoop].Save(filepath.Join(dir, "final.head.json")); err != nil {
			return err
		}
	}
	if r.Full != nil {
		if err := r.Full.Save(filepath.Join(dir, "full-data.head.json")); err != nil {
			return err
		}
	}
	raw, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return err
	}
	if err := safefile.WriteFile(filepath.Join(dir, "report.json"), append(raw, '\n')); err != nil {
		return err
	}
	if err := safefile.Write(filepath.Join(dir, "report.md"), func(w io.Writer) error { return r.Markdown(w, title) }); err != nil {
		return err
	}
	if err := r.Chart(filepath.Join(dir, "accuracy"), title); err != nil {
		return err
	}
	if len(r.Loops) > 1 && r.Loops[1].Scores != nil {
		return r.ScoreChart(filepath.Join(dir, "scores"), title)
	}
	return nil
}

// Markdown writes the report as a Markdown table with its settings.
func (r *Report) Markdown(w io.Writer, title string) error {
	o := r.Options
	fmt.Fprintf(w, "# SER run: %s\n\n", title)
	fmt.Fprintf(w, "Split: seed %d pairs (+ %d for validation), pool %d (labels %s), test %d.\n",
		r.Split.Seed, r.Split.Val, r.Split.Pool, map[bool]string{true: "hidden, known for this report", false: "unknown"}[r.Split.PoolLabelled], r.Split.Test)
	fmt.Fprintf(w, "Settings: seed-frac %g, statuses %s, tau-high %g, tau-low %g, tau-delta %g, min-precision %g, stop %s, warm %v, seed kept %v, head %s, calibration %s, seed %d.\n\n",
		o.SeedFrac, o.Statuses, o.TauHigh, o.TauLow, o.TauDelta, o.MinPrecision, o.Stop, o.Warm, !o.DropSeed, orDefault(o.Head.Kind, "linear"), orDefault(o.Head.Calibration, "platt"), o.Seed)
	fmt.Fprintln(w, "| loop | pool | selected (status 1 / status 2 only) | est. precision (val pairs) | pseudo-label accuracy | train pairs | val acc | val loss | test acc | note |")
	fmt.Fprintln(w, "|---:|---:|---|---|---:|---:|---:|---:|---:|---|")
	for _, l := range r.Loops {
		sel, est, tp := "-", "-", "-"
		if l.Loop > 0 {
			sel = fmt.Sprintf("%d (%d / %d)", l.Selected, l.Status1, l.Status2)
			if l.EstN > 0 {
				est = fmt.Sprintf("%.3f (%d)", l.EstPrec, l.EstN)
			}
			if l.TruePrec >= 0 {
				tp = fmt.Sprintf("%.3f", l.TruePrec)
			}
		}
		train, val, loss, test := "-", "-", "-", "-"
		if l.Added {
			train, val, loss, test = fmt.Sprint(l.TrainPairs), fmt.Sprintf("%.4f", l.ValAcc), fmt.Sprintf("%.4f", l.ValLoss), fmt.Sprintf("%.4f", l.TestAcc)
		}
		mark := ""
		if l.Loop == r.FinalLoop && l.Added {
			mark = " (kept)"
		}
		note := l.Note
		if l.Asked > 0 {
			note = strings.TrimPrefix(fmt.Sprintf("%s; asked %d human labels by %s (%d human labels in all)", note, l.Asked, o.AskRule, l.HumanPairs), "; ")
		}
		fmt.Fprintf(w, "| %d%s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", l.Loop, mark, l.PoolSize, sel, est, tp, train, val, loss, test, note)
	}
	if o.KeepBy == KeepAccuracy {
		fmt.Fprintln(w, "\nThe kept head is the loop with the best validation accuracy, ties broken by the lower validation loss (the Bradley-Terry loss of the calibrated rewards).")
	} else {
		fmt.Fprintln(w, "\nThe kept head is the loop with the lowest validation loss (the Bradley-Terry loss of the calibrated rewards; `--keep-by accuracy` judges by accuracy instead).")
	}
	r.subsetTable(w)
	fmt.Fprintf(w, "\n## Did it help?\n\nSeed-only test accuracy **%.4f**; SER final (loop %d) **%.4f**", r.SeedOnly, r.FinalLoop, r.Final)
	if r.FullData != nil {
		fmt.Fprintf(w, "; full labelled data **%.4f**", *r.FullData)
	}
	fmt.Fprintf(w, ".\n\n| comparison, on the same %d test pairs | difference | 95%% interval (paired bootstrap) |\n|---|---:|---|\n", r.Gain.N)
	fmt.Fprintf(w, "| SER final - seed only | %+.4f | %+.4f to %+.4f |\n", r.Gain.Mean, r.Gain.CI[0], r.Gain.CI[1])
	if r.FullGap != nil {
		fmt.Fprintf(w, "| full data - SER final | %+.4f | %+.4f to %+.4f |\n", r.FullGap.Mean, r.FullGap.CI[0], r.FullGap.CI[1])
	}
	if r.GapClosed != nil {
		fmt.Fprintf(w, "\nSER closes %.0f%% of the seed-to-full gap", 100**r.GapClosed)
		if *r.GapClosed != 0 && r.Gain.CI[0] <= 0 && r.Gain.CI[1] >= 0 {
			fmt.Fprint(w, ", the share of a gain whose 95% interval includes 0: not distinguishable from none")
		}
		fmt.Fprintln(w, ".")
	}
	fmt.Fprintf(w, "\nStopped: %s. %.1f s in all.\n\n", r.Stopped, r.Seconds)
	for _, a := range r.Advice {
		fmt.Fprintf(w, "- %s\n", a)
	}
	if len(r.Loops) > 1 && r.Loops[1].Scores != nil {
		fmt.Fprintf(w, "\nThe pool's scores sigmoid(r) under the seed head, against the thresholds (tau-low %g, tau-high %g): `scores.png`.\n", o.TauLow, o.TauHigh)
	}
	return nil
}

// subsetTable writes the test accuracy per subset for each loop trained.
func (r *Report) subsetTable(w io.Writer) {
	if len(r.Loops) == 0 || r.Loops[0].TestBySubset == nil {
		return
	}
	var names []string
	for s := range r.Loops[0].TestBySubset {
		names = append(names, s)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "\nTest accuracy per subset:\n\n| loop | %s |\n|---:|%s\n", strings.Join(names, " | "), strings.Repeat("---:|", len(names)))
	for _, l := range r.Loops {
		if !l.Added {
			continue
		}
		cells := make([]string, len(names))
		for i, s := range names {
			cells[i] = fmt.Sprintf("%.4f", l.TestBySubset[s])
		}
		fmt.Fprintf(w, "| %d | %s |\n", l.Loop, strings.Join(cells, " | "))
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Chart draws validation and test accuracy per loop, with the seed head's
// test interval, the seed-only and full-data levels, chance (0.5) and the
// kept loop marked, and why the run stopped under the axis, as base.png and
// base.svg. A run that stopped at loop 0 is drawn as the points it has.
func (r *Report) Chart(base, title string) error {
	p := plot.New()
	p.Title.Text = "SER: " + chart.Title(title, 70)
	p.X.Label.Text = "loop\n" + chart.Wrap("stopped: "+r.Stopped, 95, 3)
	p.Y.Label.Text = "pairwise accuracy"
	var val, test plotter.XYs
	for _, l := range r.Loops {
		if !l.Added {
			continue
		}
		val = append(val, plotter.XY{X: float64(l.Loop), Y: l.ValAcc})
		test = append(test, plotter.XY{X: float64(l.Loop), Y: l.TestAcc})
	}
	lo, hi := 0.5, 0.5 // chance is always in view
	for _, xy := range append(append(plotter.XYs{}, val...), test...) {
		lo, hi = math.Min(lo, xy.Y), math.Max(hi, xy.Y)
	}
	lo, hi = math.Min(lo, r.SeedCI[0]), math.Max(hi, r.SeedCI[1])
	last := float64(len(r.Loops) - 1)
	add := func(name string, xys plotter.XYs, dashes []vg.Length, shade int) error {
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		l.Color, pts.Color = chart.Palette[shade], chart.Palette[shade]
		if dashes != nil {
			l.Dashes, pts.Radius = dashes, 0
		}
		if len(xys) == 1 { // one loop: a point, no line
			l.Width = 0
			pts.Radius = vg.Points(3)
		}
		p.Add(l, pts)
		p.Legend.Add(name, l, pts)
		return nil
	}
	level := func(y float64) plotter.XYs { return plotter.XYs{{X: -0.3, Y: y}, {X: last + 0.3, Y: y}} }
	if err := add("validation accuracy per loop", val, nil, 0); err != nil {
		return err
	}
	if err := add("test accuracy per loop", test, nil, 1); err != nil {
		return err
	}
	seed, err := plotter.NewYErrorBars(errorBar{X: 0, Y: r.SeedOnly, Lo: r.SeedCI[0], Hi: r.SeedCI[1]})
	if err != nil {
		return err
	}
	seed.Color, seed.CapWidth = chart.Palette[1], vg.Points(8)
	mark, err := plotter.NewScatter(plotter.XYs{{X: 0, Y: r.SeedOnly}})
	if err != nil {
		return err
	}
	mark.GlyphStyle = draw.GlyphStyle{Color: chart.Palette[1], Radius: vg.Points(3), Shape: draw.BoxGlyph{}}
	p.Add(seed, mark)
	p.Legend.Add(fmt.Sprintf("seed head, test: %.3f, 95%% CI %.3f-%.3f", r.SeedOnly, r.SeedCI[0], r.SeedCI[1]), mark)
	if r.FullData != nil {
		if err := add(fmt.Sprintf("every labelled pair, test: %.3f", *r.FullData), level(*r.FullData), chart.Dashed, 3); err != nil {
			return err
		}
		lo, hi = math.Min(lo, *r.FullData), math.Max(hi, *r.FullData)
	}
	if err := add("chance (0.5)", level(0.5), chart.Dotted, 2); err != nil {
		return err
	}
	if r.FinalLoop < len(r.Loops) {
		kept, err := plotter.NewScatter(plotter.XYs{{X: float64(r.FinalLoop), Y: r.Final}})
		if err != nil {
			return err
		}
		kept.GlyphStyle = draw.GlyphStyle{Color: chart.Palette[1], Radius: vg.Points(7), Shape: draw.RingGlyph{}}
		p.Add(kept)
		p.Legend.Add(fmt.Sprintf("kept: loop %d, test %.3f (SER's gain %+.3f, 95%% CI %+.3f to %+.3f)", r.FinalLoop, r.Final, r.Gain.Mean, r.Gain.CI[0], r.Gain.CI[1]), kept)
	}
	span := math.Max(hi-lo, 0.02)
	p.Y.Min, p.Y.Max = math.Max(0, lo-0.1*span), math.Min(1, hi+0.1*span)
	p.X.Min, p.X.Max = -0.5, math.Max(last, 1)+0.5
	p.X.Tick.Marker = loopTicks{last: int(last)}
	p.Y.Tick.Marker = chart.AccuracyTicks{}
	p.Add(plotter.NewGrid())
	return chart.Save(p, base, 4*vg.Inch)
}

// errorBar is one point with its interval, for plotter.NewYErrorBars.
type errorBar struct{ X, Y, Lo, Hi float64 }

func (e errorBar) Len() int                       { return 1 }
func (e errorBar) XY(int) (float64, float64)      { return e.X, e.Y }
func (e errorBar) YError(int) (low, high float64) { return e.Y - e.Lo, e.Hi - e.Y }

// ScoreChart draws the histogram of the pool's scores sigmoid(r) under the
// seed head (the scores loop 1 selected by), with the thresholds, as
// base.png and base.svg.
func (r *Report) ScoreChart(base, title string) error {
	counts := r.Loops[1].Scores
	p := plot.New()
	p.Title.Text = "Pool scores under the seed head: " + chart.Title(title, 55)
	p.X.Label.Text = "sigmoid(r) of each response of each pool pair"
	p.Y.Label.Text = "responses"
	bins := make([]plotter.HistogramBin, len(counts))
	top := 1.0
	for i, n := range counts {
		bins[i] = plotter.HistogramBin{Min: float64(i) / float64(len(counts)), Max: float64(i+1) / float64(len(counts)), Weight: float64(n)}
		top = math.Max(top, float64(n))
	}
	h := &plotter.Histogram{Bins: bins, Width: 1 / float64(len(counts)), FillColor: chart.Palette[0], LineStyle: plotter.DefaultLineStyle}
	p.Add(h)
	p.Legend.Add("pool responses per bin", h)
	o := r.Options
	for i, t := range []struct {
		name string
		x    float64
	}{{fmt.Sprintf("tau-low %g", o.TauLow), o.TauLow}, {fmt.Sprintf("tau-high %g", o.TauHigh), o.TauHigh}} {
		l, err := plotter.NewLine(plotter.XYs{{X: t.x, Y: 0}, {X: t.x, Y: top}})
		if err != nil {
			return err
		}
		l.Color, l.Width, l.Dashes = chart.Palette[1+2*i], vg.Points(1.5), chart.Dashed
		p.Add(l)
		p.Legend.Add(t.name, l)
	}
	p.X.Min, p.X.Max = 0, 1
	p.Y.Min, p.Y.Max = 0, top*1.05
	p.Y.Tick.Marker = chart.CountTicks{}
	return chart.Save(p, base, 3.5*vg.Inch)
}

// loopTicks labels the loops that ran, 0 to last.
type loopTicks struct{ last int }

func (t loopTicks) Ticks(min, max float64) []plot.Tick {
	var out []plot.Tick
	for i := 0; i <= t.last; i++ {
		out = append(out, plot.Tick{Value: float64(i), Label: fmt.Sprint(i)})
	}
	return out
}

// advice says in words whether SER helped and, from why the run stopped,
// where the pool's scores sat, the data and backbone (About) and the
// options this run and the earlier ones on the same data used (Earlier),
// what to try next: never an option already tried, which it names instead.
func advice(r *Report) []string {
	var out []string
	g := r.Gain
	trained := 0
	for _, l := range r.Loops {
		if l.Added && l.Loop > 0 {
			trained++
		}
	}
	switch {
	case trained == 0:
		out = append(out, "No loop trained on pseudo-labels (see why the run stopped), so the final head is the seed head.")
	case r.FinalLoop == 0:
		out = append(out, "SER kept the seed head: no loop beat it on the validation pairs.")
	case g.CI[0] > 0:
		out = append(out, fmt.Sprintf("SER helped: the kept head gains %+.1f points over the seed head on %d test pairs (95%% interval %+.1f to %+.1f).", 100*g.Mean, g.N, 100*g.CI[0], 100*g.CI[1]))
	case g.CI[1] < 0:
		out = append(out, fmt.Sprintf("SER hurt: the kept head loses %.1f points against the seed head on %d test pairs (95%% interval %+.1f to %+.1f).", -100*g.Mean, g.N, 100*g.CI[0], 100*g.CI[1]))
	default:
		out = append(out, fmt.Sprintf("SER's effect is not distinguishable from none: %+.1f points against the seed head on %d test pairs (95%% interval %+.1f to %+.1f).", 100*g.Mean, g.N, 100*g.CI[0], 100*g.CI[1]))
	}
	o := r.Options
	if len(r.Loops) > 1 && r.Loops[1].Scores != nil {
		in, all := 0, 0
		for b, n := range r.Loops[1].Scores {
			mid := (float64(b) + 0.5) / ScoreBins
			if mid > o.TauLow && mid < o.TauHigh {
				in += n
			}
			all += n
		}
		if all > 0 && float64(in) > 0.8*float64(all) {
			out = append(out, fmt.Sprintf("%.0f%% of the pool's scores sigmoid(r) lie between tau-low %g and tau-high %g: the head is unsure of almost every pool pair, so the rule can pick few (the histogram shows it).", 100*float64(in)/float64(all), o.TauLow, o.TauHigh))
		}
	}
	switch r.Reason {
	case ValveUnmeasured:
		out = append(out, "The safety valve stopped the run: the rule picks too few validation pairs to measure its precision.")
	case ValveLow:
		out = append(out, fmt.Sprintf("The safety valve stopped the run: the rule's estimated precision on the validation pairs is below --min-precision %g, so its pseudo-labels would be wrong too often.", o.MinPrecision))
	case SelectionDry:
		out = append(out, "No pool pair passed the thresholds.")
	case NoImprovement:
		if r.FinalLoop > 0 {
			out = append(out, fmt.Sprintf("The run stopped when loop %d no longer improved on the validation pairs (by %s); the head kept is loop %d's.", len(r.Loops)-1, o.KeepBy, r.FinalLoop))
		} else {
			out = append(out, "The run stopped when a loop did not improve on the validation pairs: the pseudo-labels taught the head nothing its validation pairs could see. With a frozen backbone this is the usual outcome: the head's own labels repeat what its weights already say.")
		}
	case MaxLoopsRun:
		out = append(out, fmt.Sprintf("The run used all %d loops allowed (--max-loops).", o.MaxLoops))
	}
	measured := measuredHere(r)
	if measured != "" {
		out = append(out, measured)
	}
	tips, tried := nextSteps(r, measured != "")
	if len(tips) > 0 {
		out = append(out, "To try next: "+strings.Join(tips, "; ")+".")
	}
	if len(tried) > 0 {
		where := "this run"
		if len(r.Earlier) > 0 {
			where = fmt.Sprintf("this run or the %d before it into this folder on the same data", len(r.Earlier))
		}
		out = append(out, fmt.Sprintf("Already tried (%s), so not suggested again: %s.", where, strings.Join(tried, "; ")))
	}
	anyTrained := false
	for _, l := range r.Loops[min(1, len(r.Loops)):] {
		anyTrained = anyTrained || l.Added
	}
	if r.Split.PoolLabelled && anyTrained {
		note := "Pseudo-label accuracy is measured against the pool's labels as given; where those labels are noisy, a correct pseudo-label can count as wrong."
		if r.About != nil && r.About.Dataset == DatasetSample {
			note = "Pseudo-label accuracy is measured against the pool's labels as given; the built-in sample's annotator is wrong 10% of the time (--label-noise), so a correct pseudo-label can count as wrong."
		}
		out = append(out, note)
	}
	return out
}

// measuredHere is what the README measured for this data set on this
// backbone, when it did ("" otherwise): SER's gain over 10 seeds, and what
// the loop's options changed.
func measuredHere(r *Report) string {
	a := r.About
	if a == nil || !a.DefaultBackbone {
		return ""
	}
	switch a.Dataset {
	case DatasetHH:
		return "The README measured this case (HH-RLHF, 8,516 pairs, the default backbone, 10 seeds): SER's gain over the seed head was +0.00 points [95% interval +0.00, +0.00]; without the safety valve +0.04 [-0.05, +0.13], with temperature calibration +0.00, so no setting of the loop moves it: the frozen USE-lite features leave the head unsure of about 85% of the pool. What did move it there is human labels (each loop asking 170 by `--ask`: +1.0 points [+0.46, +1.53]) and what a stronger backbone gives (`ser models import`)."
	case DatasetUF:
		return "The README measured this case (UltraFeedback, 1,061 pairs, the default backbone, 10 seeds): SER's gain over the seed head was +0.00 points [95% interval +0.00, +0.00]; without the safety valve -0.14 [-1.24, +0.96], with temperature calibration +0.05 [-0.06, +0.15], so no setting of the loop moves it. More human labels (`ser ask`, `ser label`) and a stronger backbone (`ser models import`) are what can."
	case DatasetSample:
		return "On the built-in sample (the README's positive control: an annotator wrong 10% of the time, failure kinds that cluster in the features) SER gains +2.4 points [+1.4, +3.5] over 10 seeds, half of the seed-to-full gap."
	}
	return ""
}

// tip is a suggestion of options, with what counts as having tried it.
type tip struct {
	text  string
	tried func(o Options) bool
}

// nextSteps lists what to try next for why the run stopped, less what this
// run or an earlier one already used (named in tried). known says the
// README's measurement of this case is given: the loop's own settings,
// which it found change nothing here, are then not suggested.
func nextSteps(r *Report, known bool) (tips, tried []string) {
	o := r.Options
	// suggestions of a value are made from the first run's options, once:
	// not a ladder of ever narrower thresholds, run after run
	base := o
	if len(r.Earlier) > 0 {
		base = r.Earlier[0].Options
	}
	var cands []tip
	temperature := tip{"`--calibration temperature` (it spreads sigmoid(r))", func(o Options) bool { return o.Head.Calibration == "temperature" }}
	th, tl := narrower(base.TauHigh), math.Round(100*(1-narrower(1-base.TauLow)))/100
	nearer := tip{fmt.Sprintf("thresholds nearer 0.5, `--tau-high %g --tau-low %g` (more pairs pass)", th, tl),
		func(p Options) bool { return p.TauHigh <= th && p.TauLow >= tl }}
	if base.TauHigh-0.5 <= 0.011 && 0.5-base.TauLow <= 0.011 {
		nearer.tried = func(Options) bool { return true } // as near as they go
	}
	sf := math.Min(0.5, math.Round(200*base.SeedFrac)/100)
	seed := tip{fmt.Sprintf("a larger seed, `--seed-frac %g` (more labelled pairs for the head and the valve)", sf), func(p Options) bool { return p.SeedFrac >= sf }}
	noValve := tip{"`--no-valve` (the loops run unguarded, as in the paper)", func(p Options) bool { return p.NoValve }}
	askTip := tip{"human labels where they teach most: `ser ask` then `ser label`, or `ser evolve --ask 200` to measure what asking buys on this data", func(p Options) bool { return p.Ask > 0 }}
	wh, wl := math.Min(0.95, math.Round(100*(base.TauHigh+0.1))/100), math.Max(0.05, math.Round(100*(base.TauLow-0.1))/100)
	wider := tip{fmt.Sprintf("a stricter selection, `--tau-high %g --tau-low %g` (fewer pairs, surer labels)", wh, wl),
		func(p Options) bool { return p.TauHigh >= wh && p.TauLow <= wl }}
	td := math.Round(100*base.TauDelta/2) / 100
	delta := tip{fmt.Sprintf("a lower `--tau-delta %g`", td), func(p Options) bool { return p.TauDelta <= td }}
	dry := tip{"`--stop dry` (every loop runs and its head is saved, to see what the pseudo-labels do)", func(p Options) bool { return p.Stop == StopDry }}
	switch r.Reason {
	case ValveUnmeasured:
		cands = []tip{temperature, nearer, seed, noValve, askTip}
	case ValveLow:
		cands = []tip{seed, wider, askTip}
	case SelectionDry:
		cands = []tip{nearer, delta, temperature, askTip}
	case NoImprovement:
		if r.FinalLoop == 0 {
			cands = []tip{dry, askTip}
		}
	case MaxLoopsRun:
		if r.FinalLoop == len(r.Loops)-1 && r.FinalLoop > 0 {
			more := 2 * max(o.MaxLoops, base.MaxLoops)
			cands = []tip{{fmt.Sprintf("more loops, `--max-loops %d` (the last loop was still the best)", more), func(p Options) bool { return p.MaxLoops >= more }}}
		}
	}
	// thresholds the run's statuses never read are not suggested: status 1
	// reads tau-high and tau-low, status 2 tau-delta
	uses1, uses2 := o.Statuses != Status2, o.Statuses != Status1
	var apply []tip
	for _, c := range cands {
		if (c.text == nearer.text || c.text == wider.text) && !uses1 || c.text == delta.text && !uses2 {
			continue
		}
		apply = append(apply, c)
	}
	cands = apply
	if known { // the README found the loop's settings change nothing here
		var keep []tip
		for _, c := range cands {
			if c.text == askTip.text {
				keep = append(keep, c)
			}
		}
		cands = keep
	}
	for _, c := range cands {
		used := c.tried(o)
		for _, e := range r.Earlier {
			used = used || c.tried(e.Options)
		}
		if used {
			tried = append(tried, c.text)
		} else {
			tips = append(tips, c.text)
		}
	}
	if len(cands) > 0 && !known && (r.About == nil || r.About.Dataset != DatasetSample) {
		tips = append(tips, "a stronger backbone separates pairs better (`ser models import`)")
	}
	return tips, tried
}

// narrower is a threshold above 0.5 moved halfway to it, to two decimals
// and at least 0.51.
func narrower(t float64) float64 {
	return math.Max(0.51, math.Round(100*(0.5+(t-0.5)/2))/100)
}
