package evolve

import (
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/ser-rl/ser/internal/atomic"
)

// Write saves the run in dir: each loop's head (loop-K.head.json), the
// full-data head when trained, report.json, report.md, and the accuracy chart
// (accuracy.png, accuracy.svg). title names the data and backbone in the
// chart and the Markdown. The files are replaced as one set (see
// atomic.WriteSet): a reader, or a run killed midway, never leaves the files
// of two runs side by side; other files in dir stay.
func (r *Report) Write(dir, title string) error {
	return atomic.WriteSet(dir, Owned, func(stage string) error { return r.write(stage, title) })
}

// Owned reports whether a file name is one that Write writes: an earlier
// run's such files are replaced with the new set; other files stay.
func Owned(name string) bool {
	switch name {
	case "report.json", "report.md", "accuracy.png", "accuracy.svg", "final.head.json", "full-data.head.json":
		return true
	}
	return strings.HasPrefix(name, "loop-") && strings.HasSuffix(name, ".head.json")
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
	if err := atomic.WriteFile(filepath.Join(dir, "report.json"), append(raw, '\n')); err != nil {
		return err
	}
	if err := atomic.Write(filepath.Join(dir, "report.md"), func(w io.Writer) error { return r.Markdown(w, title) }); err != nil {
		return err
	}
	return r.Chart(filepath.Join(dir, "accuracy"), title)
}

// Markdown writes the report as a Markdown table with its settings.
func (r *Report) Markdown(w io.Writer, title string) error {
	o := r.Options
	fmt.Fprintf(w, "# SER run: %s\n\n", title)
	fmt.Fprintf(w, "Split: seed %d pairs (+ %d for validation), pool %d (labels %s), test %d.\n",
		r.Split.Seed, r.Split.Val, r.Split.Pool, map[bool]string{true: "hidden, known for this report", false: "unknown"}[r.Split.PoolLabelled], r.Split.Test)
	fmt.Fprintf(w, "Settings: seed-frac %g, statuses %s, tau-high %g, tau-low %g, tau-delta %g, min-precision %g, stop %s, warm %v, seed kept %v, head %s, calibration %s, seed %d.\n\n",
		o.SeedFrac, o.Statuses, o.TauHigh, o.TauLow, o.TauDelta, o.MinPrecision, o.Stop, o.Warm, !o.DropSeed, orDefault(o.Head.Kind, "linear"), orDefault(o.Head.Calibration, "platt"), o.Seed)
	fmt.Fprintln(w, "| loop | pool | selected (status 1 / status 2 only) | est. precision (val pairs) | pseudo-label accuracy | train pairs | val acc | test acc | note |")
	fmt.Fprintln(w, "|---:|---:|---|---|---:|---:|---:|---:|---|")
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
		train, val, test := "-", "-", "-"
		if l.Added {
			train, val, test = fmt.Sprint(l.TrainPairs), fmt.Sprintf("%.4f", l.ValAcc), fmt.Sprintf("%.4f", l.TestAcc)
		}
		fmt.Fprintf(w, "| %d | %d | %s | %s | %s | %s | %s | %s | %s |\n", l.Loop, l.PoolSize, sel, est, tp, train, val, test, l.Note)
	}
	fmt.Fprintf(w, "\nSeed-only test accuracy **%.4f**; SER final (loop %d, best on validation) **%.4f**", r.SeedOnly, r.FinalLoop, r.Final)
	if r.FullData != nil {
		fmt.Fprintf(w, "; full labelled data **%.4f**", *r.FullData)
		if gap := *r.FullData - r.SeedOnly; gap > 0 {
			fmt.Fprintf(w, " (SER closes %.0f%% of the seed-to-full gap)", 100*(r.Final-r.SeedOnly)/gap)
		}
	}
	fmt.Fprintf(w, ".\nStopped: %s. %.1f s in all.\n", r.Stopped, r.Seconds)
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Chart draws validation and test accuracy per loop, with the seed-only and
// full-data levels, as base.png and base.svg.
func (r *Report) Chart(base, title string) error {
	p := plot.New()
	p.Title.Text = "SER: " + title
	p.X.Label.Text = "loop"
	p.Y.Label.Text = "pairwise accuracy"
	var val, test plotter.XYs
	for _, l := range r.Loops {
		if !l.Added {
			continue
		}
		val = append(val, plotter.XY{X: float64(l.Loop), Y: l.ValAcc})
		test = append(test, plotter.XY{X: float64(l.Loop), Y: l.TestAcc})
	}
	lo, hi := 1.0, 0.0
	for _, xy := range append(append(plotter.XYs{}, val...), test...) {
		lo, hi = math.Min(lo, xy.Y), math.Max(hi, xy.Y)
	}
	last := float64(len(r.Loops) - 1)
	if last < 1 {
		last = 1
	}
	add := func(name string, xys plotter.XYs, dashed bool, shade int) error {
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		l.Color = palette[shade]
		pts.Color = palette[shade]
		if dashed {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			pts.Radius = 0
		}
		p.Add(l, pts)
		p.Legend.Add(name, l)
		return nil
	}
	if err := add("validation", val, false, 0); err != nil {
		return err
	}
	if err := add("test", test, false, 1); err != nil {
		return err
	}
	if err := add(fmt.Sprintf("seed only (%.3f)", r.SeedOnly), plotter.XYs{{X: 0, Y: r.SeedOnly}, {X: last, Y: r.SeedOnly}}, true, 2); err != nil {
		return err
	}
	if r.FullData != nil {
		if err := add(fmt.Sprintf("full data (%.3f)", *r.FullData), plotter.XYs{{X: 0, Y: *r.FullData}, {X: last, Y: *r.FullData}}, true, 3); err != nil {
			return err
		}
		lo, hi = math.Min(lo, *r.FullData), math.Max(hi, *r.FullData)
	}
	p.Y.Min, p.Y.Max = math.Max(0, lo-0.03), math.Min(1, hi+0.03)
	p.X.Min, p.X.Max = -0.2, last+0.2
	p.Legend.Top = true
	p.Legend.Left = true
	p.X.Tick.Marker = loopTicks{}
	for _, ext := range []string{".png", ".svg"} {
		w, err := p.WriterTo(7*vg.Inch, 4.5*vg.Inch, strings.TrimPrefix(ext, "."))
		if err != nil {
			return err
		}
		if err := atomic.Write(base+ext, func(out io.Writer) error { _, err := w.WriteTo(out); return err }); err != nil {
			return err
		}
	}
	return nil
}

type loopTicks struct{}

func (loopTicks) Ticks(min, max float64) []plot.Tick {
	var t []plot.Tick
	for i := math.Ceil(min); i <= max; i++ {
		t = append(t, plot.Tick{Value: i, Label: fmt.Sprint(int(i))})
	}
	return t
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
}
