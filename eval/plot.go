package eval

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"unicode"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/ser-rl/ser/internal/chart"
)

// Plots writes the charts of an evaluation into dir, each as PNG and SVG:
// subsets (accuracy per subset and overall, with intervals and chance),
// reliability (the calibration's reliability diagram) and margins (the
// distribution of r(chosen) - r(rejected)). title names the model and data.
// It returns the base paths written.
func Plots(m Metrics, dir, prefix, title string) ([]string, error) {
	bases := PlotBases(dir, prefix)
	for i, draw := range []func(Metrics, string, string) error{SubsetChart, ReliabilityChart, MarginChart} {
		if err := draw(m, bases[i], title); err != nil {
			return bases[:i], fmt.Errorf("chart %s: %w", bases[i], err)
		}
	}
	return bases, nil
}

// PlotBases are the charts Plots writes (without their extensions .png and
// .svg), so that a caller can check them before anything is written.
func PlotBases(dir, prefix string) []string {
	var out []string
	for _, name := range []string{"subsets", "reliability", "margins"} {
		out = append(out, filepath.Join(dir, prefix+name))
	}
	return out
}

// hbar is one row of a horizontal bar chart: a value with its interval.
type hbar struct {
	name      string
	v, lo, hi float64
	dim       bool // drawn grey (not told apart from the reference)
}

// intervals are hbars as plotter.XErrorBars's data.
type intervals []hbar

func (b intervals) Len() int                        { return len(b) }
func (b intervals) XY(i int) (float64, float64)     { return b[i].v, float64(i) }
func (b intervals) XError(i int) (float64, float64) { return b[i].v - b[i].lo, b[i].hi - b[i].v }

// bars draws rows as horizontal bars from ref, row i at y = i.
type bars struct {
	rows []hbar
	ref  float64
}

const barHeight = 14 // points

func (b bars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	h := vg.Points(barHeight) / 2
	for i, r := range b.rows {
		y, x0, x1 := trY(float64(i)), trX(b.ref), trX(r.v)
		rect := []vg.Point{{X: x0, Y: y - h}, {X: x1, Y: y - h}, {X: x1, Y: y + h}, {X: x0, Y: y + h}}
		c.FillPolygon(barColor(r.dim), c.ClipPolygonXY(rect))
	}
}

func (b bars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = b.ref, b.ref
	for _, r := range b.rows {
		xmin, xmax = math.Min(xmin, r.lo), math.Max(xmax, r.hi)
	}
	return xmin, xmax, -0.5, float64(len(b.rows)) - 0.5
}

func barColor(dim bool) color.Color {
	if dim {
		return chart.Palette[2]
	}
	return chart.Palette[0]
}

// swatch is a legend thumbnail: a filled box.
type swatch struct{ color color.Color }

func (s swatch) Thumbnail(c *draw.Canvas) {
	r := c.Rectangle
	c.FillPolygon(s.color, []vg.Point{r.Min, {X: r.Max.X, Y: r.Min.Y}, r.Max, {X: r.Min.X, Y: r.Max.Y}})
}

// hbars draws rows as horizontal bars from ref (0.5 for accuracies, 0 for
// differences) with their intervals and a dotted line at ref, named on the
// y axis; dim rows grey. The legend names the two colours (refName the
// line) for the colours present.
func hbars(p *plot.Plot, rows []hbar, ref float64, bright, dimName, refName string) error {
	names := make([]string, len(rows))
	has := map[bool]bool{}
	for i, r := range rows {
		names[i] = r.name
		has[r.dim] = true
	}
	p.Add(bars{rows, ref})
	eb, err := plotter.NewXErrorBars(intervals(rows))
	if err != nil {
		return err
	}
	eb.CapWidth = vg.Points(6)
	p.Add(eb)
	line, err := plotter.NewLine(plotter.XYs{{X: ref, Y: -0.5}, {X: ref, Y: float64(len(rows)) - 0.5}})
	if err != nil {
		return err
	}
	line.Dashes, line.Color, line.Width = chart.Dotted, chart.Palette[1], vg.Points(1.5)
	p.Add(line)
	p.NominalY(names...)
	if has[false] {
		p.Legend.Add(bright, swatch{barColor(false)})
	}
	if has[true] {
		p.Legend.Add(dimName, swatch{barColor(true)})
	}
	p.Legend.Add(refName, line)
	return nil
}

// maxRows bounds the rows of a bar chart (the table and the JSON have
// them all).
const maxRows = 60

// Label is a subset's name as a chart or a terminal table shows it: quoted
// when it holds characters that are not printable (line breaks, direction
// overrides), and at most 40 characters (its middle cut).
func Label(name string) string {
	for _, r := range name {
		if !unicode.IsPrint(r) || unicode.Is(unicode.Bidi_Control, r) {
			name = strconv.QuoteToASCII(name)
			break
		}
	}
	return chart.Title(name, 40)
}

// rowsNote says, in a chart's title, when only the first maxRows subsets
// are drawn.
func rowsNote(n int) string {
	if n <= maxRows {
		return ""
	}
	return fmt.Sprintf(" (the first %d of %d subsets; all in the table and JSON)", maxRows, n)
}

// SubsetChart draws the accuracy of each subset and of all the pairs as
// bars from chance (0.5) with their 95% intervals; a bar whose interval
// reaches 0.5 is grey ("not above chance").
func SubsetChart(m Metrics, base, title string) error {
	p := plot.New()
	names := m.Subsets()
	p.Title.Text = "Accuracy by subset: " + chart.Title(title, 60) + rowsNote(len(names))
	p.X.Label.Text = "pairwise accuracy (a tie counts as wrong), 95% CI"
	var rows []hbar
	for _, s := range names[:min(len(names), maxRows)] {
		sm := m.BySubset[s]
		rows = append(rows, hbar{fmt.Sprintf("%s (%d)", Label(s), sm.N), sm.Accuracy, sm.CI[0], sm.CI[1], sm.Chance != AboveChance})
	}
	if len(names) != 1 {
		rows = append(rows, hbar{fmt.Sprintf("all pairs (%d)", m.N), m.Accuracy, m.AccuracyCI[0], m.AccuracyCI[1], m.Chance != AboveChance})
	}
	// the first row is drawn at the bottom: list from the bottom up
	slices.Reverse(rows)
	if err := hbars(p, rows, 0.5, "above chance (the interval is above 0.5)", "not above chance (the interval reaches 0.5 or lies below it)", "chance (0.5)"); err != nil {
		return err
	}
	lo, hi := 0.5, 0.5
	for _, r := range rows {
		lo, hi = math.Min(lo, r.lo), math.Max(hi, r.hi)
	}
	pad := math.Max(hi-lo, 0.05) * 0.05
	p.X.Min, p.X.Max = math.Max(0, lo-pad), math.Min(1, hi+pad)
	p.X.Tick.Marker = chart.AccuracyTicks{}
	return chart.Save(p, base, vg.Length(len(rows))*vg.Points(22)+vg.Inch)
}

// ReliabilityChart draws the reliability diagram of the head's calibrated
// preference probabilities: each bin's mean predicted probability against
// how often the response it was for was the chosen one, with the bin's
// count, and the diagonal a calibrated head follows.
func ReliabilityChart(m Metrics, base, title string) error {
	p := plot.New()
	p.Title.Text = "Calibration: " + chart.Title(title, 60)
	p.X.Label.Text = "predicted probability that a response is the chosen one, sigmoid(margin)"
	p.Y.Label.Text = "observed share chosen"
	diag, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	if err != nil {
		return err
	}
	diag.Dashes, diag.Color = chart.Dashed, chart.Palette[2]
	p.Add(diag)
	p.Legend.Add("perfect calibration", diag)
	var pts plotter.XYs
	var labels []string
	for _, b := range m.Reliability {
		if b.N == 0 {
			continue
		}
		pts = append(pts, plotter.XY{X: b.Predicted, Y: b.Observed})
		labels = append(labels, fmt.Sprintf("%d", b.N))
	}
	if len(pts) > 0 {
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		l.Color, sc.Color = chart.Palette[0], chart.Palette[0]
		sc.Radius = vg.Points(3)
		p.Add(l, sc)
		p.Legend.Add(fmt.Sprintf("bins of 0.1 with their counts (both orders of %d pairs); ECE %.4f", m.N-m.NonFinite, m.ECE), l, sc)
		lab, err := plotter.NewLabels(plotter.XYLabels{XYs: pts, Labels: labels})
		if err != nil {
			return err
		}
		for i := range lab.TextStyle {
			lab.TextStyle[i].Font.Size = vg.Points(9)
		}
		lab.Offset = vg.Point{X: vg.Points(5), Y: vg.Points(-11)}
		p.Add(lab)
	}
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	p.Add(plotter.NewGrid())
	return chart.Save(p, base, 5*vg.Inch)
}

// MarginChart draws the distribution of the margins r(chosen) -
// r(rejected), with 0 marked: the pairs right of it are ordered right.
func MarginChart(m Metrics, base, title string) error {
	var d []float64
	right := 0
	for _, s := range m.Scores {
		if v := s.Chosen - s.Reject; finite(v) {
			d = append(d, v)
			if v > 0 {
				right++
			}
		}
	}
	p := plot.New()
	p.Title.Text = "Reward margins: " + chart.Title(title, 60)
	p.X.Label.Text = "margin r(chosen) - r(rejected), in the head's reward units"
	p.Y.Label.Text = "pairs"
	if len(d) == 0 {
		p.Title.Text += " (no pair with finite rewards)"
		return chart.Save(p, base, 3.5*vg.Inch)
	}
	bins, ok := marginBins(d, 40)
	if !ok {
		p.Title.Text += " (the margins span more than a float64 holds: not drawn)"
		return chart.Save(p, base, 3.5*vg.Inch)
	}
	h := &plotter.Histogram{Bins: bins, Width: bins[0].Max - bins[0].Min, FillColor: chart.Palette[0], LineStyle: plotter.DefaultLineStyle}
	h.LineStyle.Width = vg.Points(0.5)
	p.Add(h)
	p.Legend.Add(fmt.Sprintf("%d pairs: mean margin %.3g, sd %.3g; %d (%.1f%%) above 0", len(d), m.MeanMargin, m.MarginStd, right, 100*float64(right)/float64(len(d))), h)
	top := 0.0
	for _, b := range bins {
		top = math.Max(top, b.Weight)
	}
	zero, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 0, Y: top}})
	if err != nil {
		return err
	}
	zero.Color, zero.Dashes, zero.Width = chart.Palette[1], chart.Dashed, vg.Points(1.5)
	p.Add(zero)
	p.Legend.Add("0: right of it, the chosen response gets the higher reward", zero)
	p.X.Min, p.X.Max = math.Min(bins[0].Min, 0), math.Max(bins[len(bins)-1].Max, 0)
	p.Y.Min, p.Y.Max = 0, top*1.05
	p.Y.Tick.Marker = chart.CountTicks{}
	return chart.Save(p, base, 3.5*vg.Inch)
}

// marginBins are n equal bins over the values' range (one bin of a tenth
// of the value's size, at least 0.1, when they are all one value); ok is
// false when the range is beyond float64.
func marginBins(v []float64, n int) ([]plotter.HistogramBin, bool) {
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	if hi-lo == 0 {
		w := math.Max(math.Abs(lo)/10, 0.1)
		return []plotter.HistogramBin{{Min: lo - w/2, Max: lo + w/2, Weight: float64(len(v))}}, finite(w)
	}
	w := (hi - lo) / float64(n)
	if !finite(hi-lo) || w == 0 {
		return nil, false
	}
	bins := make([]plotter.HistogramBin, n)
	for i := range bins {
		bins[i].Min, bins[i].Max = lo+float64(i)*w, lo+float64(i+1)*w
	}
	for _, x := range v {
		bins[min(int((x-lo)/w), n-1)].Weight++
	}
	return bins, true
}

// CompareChart draws a comparison's paired differences B - A per subset
// and overall with their 95% intervals, 0 marked; a row whose interval
// reaches 0 is grey.
func CompareChart(c Comparison, base, title string) error {
	p := plot.New()
	p.Title.Text = chart.Title(fmt.Sprintf("%s minus %s: %s", c.B, c.A, title), 80)
	p.X.Label.Text = "paired difference of accuracies on the same pairs, bootstrap 95% CI"
	var rows []hbar
	row := func(name string, d Paired) hbar {
		return hbar{fmt.Sprintf("%s (%d)", name, d.N), d.Diff, d.CI[0], d.CI[1], !d.ToldApart}
	}
	names := sortedKeys(c.BySubset)
	p.Title.Text += rowsNote(len(names))
	for _, s := range names[:min(len(names), maxRows)] {
		rows = append(rows, row(Label(s), c.BySubset[s]))
	}
	if len(names) != 1 {
		rows = append(rows, row("all pairs", c.Overall))
	}
	slices.Reverse(rows)
	if err := hbars(p, rows, 0, "told apart (McNemar's exact test, p < 0.05)", "not told apart (p >= 0.05)", "no difference (0)"); err != nil {
		return err
	}
	lo, hi := 0.0, 0.0
	for _, r := range rows {
		lo, hi = math.Min(lo, r.lo), math.Max(hi, r.hi)
	}
	pad := math.Max(hi-lo, 0.02) * 0.05
	p.X.Min, p.X.Max = lo-pad, hi+pad
	return chart.Save(p, base, vg.Length(len(rows))*vg.Points(22)+vg.Inch)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
