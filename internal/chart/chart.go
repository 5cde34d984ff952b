// Package chart holds what ser's charts share (gonum/plot): writing a plot
// as PNG and SVG with its legend in a strip below it (never over data or
// ticks), tick markers for accuracies and counts, a palette, and titles
// that fit.
package chart

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/ser-rl/ser/internal/safefile"
)

// Width is every chart's width.
const Width = 7 * vg.Inch

// Save writes p as base.png and base.svg, Width wide: the plot height tall,
// and below it its legend (when it has entries), one entry a line, in a
// strip of its own, so that no entry covers a point or a tick.
func Save(p *plot.Plot, base string, height vg.Length) error {
	for _, ext := range []string{"png", "svg"} {
		w, err := render(p, height, ext)
		if err != nil {
			return err
		}
		if err := safefile.Write(base+"."+ext, func(out io.Writer) error { _, err := w.WriteTo(out); return err }); err != nil {
			return err
		}
	}
	return nil
}

func render(p *plot.Plot, height vg.Length, format string) (io.WriterTo, error) {
	legend := p.Legend
	probe, err := draw.NewFormattedCanvas(Width, height, format)
	if err != nil {
		return nil, err
	}
	legend.Padding = vg.Points(2)
	r := legend.Rectangle(draw.New(probe))
	strip := r.Max.Y - r.Min.Y
	if strip > 0 {
		strip += vg.Points(10)
	}
	c, err := draw.NewFormattedCanvas(Width, height+strip, format)
	if err != nil {
		return nil, err
	}
	dc := draw.New(c)
	empty := plot.NewLegend()
	p.Legend = empty
	p.Draw(draw.Crop(dc, 0, 0, strip, 0))
	p.Legend = legend
	if strip > 0 {
		l := legend
		l.Top, l.Left = true, true
		l.Padding = vg.Points(2)
		l.Draw(draw.Crop(dc, vg.Points(48), 0, vg.Points(4), -height))
	}
	return c, nil
}

// Title is a chart title of at most max characters: every path in it is
// cut to its base name, and a text still too long loses its middle to
// "...".
func Title(s string, max int) string {
	words := strings.Split(s, " ")
	for i, w := range words {
		if strings.ContainsRune(w, filepath.Separator) {
			path := strings.TrimRight(w, ",;:)") // punctuation after a path stays
			words[i] = filepath.Base(path) + w[len(path):]
		}
	}
	s = strings.Join(words, " ")
	if r := []rune(s); len(r) > max {
		half := (max - 3) / 2
		s = string(r[:half]) + "..." + string(r[len(r)-(max-3-half):])
	}
	return s
}

// Wrap breaks s at spaces into lines of at most width runes (a longer word
// is a line of its own, cut), at most lines of them; what does not fit ends
// the last line with "...". Paths are shortened as Title shortens them.
func Wrap(s string, width, lines int) string {
	var out []string
	cur := ""
	for _, w := range strings.Fields(Title(s, 1<<20)) {
		if r := []rune(w); len(r) > width {
			w = string(r[:width-3]) + "..."
		}
		switch {
		case cur == "":
			cur = w
		case len([]rune(cur))+1+len([]rune(w)) <= width:
			cur += " " + w
		default:
			out = append(out, cur)
			cur = w
		}
	}
	if cur != "" {
		out = append(out, cur)
	}
	if len(out) > lines {
		last := []rune(out[lines-1])
		if len(last)+3 > width {
			last = last[:width-3]
		}
		out = append(out[:lines-1], string(last)+"...")
	}
	return strings.Join(out, "\n")
}

// AccuracyTicks labels an accuracy axis with round steps (0.005 to 0.1),
// two or three decimals, none above Top (when set) nor above 1.
type AccuracyTicks struct{ Top float64 }

// Ticks implements plot.Ticker.
func (a AccuracyTicks) Ticks(min, max float64) []plot.Tick {
	if a.Top > 0 {
		max = math.Min(max, a.Top)
	}
	step := 0.1
	for _, s := range []float64{0.005, 0.01, 0.02, 0.05, 0.1} {
		if (max-min)/s <= 10 {
			step = s
			break
		}
	}
	format := "%.2f"
	if step < 0.01 {
		format = "%.3f"
	}
	var t []plot.Tick
	for v := math.Ceil(min/step-1e-9) * step; v <= max+1e-9 && v <= 1+1e-9; v += step {
		t = append(t, plot.Tick{Value: v, Label: fmt.Sprintf(format, v)})
	}
	return t
}

// CountTicks labels a count axis with plot's default ticks, as whole
// numbers.
type CountTicks struct{}

// Ticks implements plot.Ticker.
func (CountTicks) Ticks(min, max float64) []plot.Tick {
	var out []plot.Tick
	for _, t := range (plot.DefaultTicks{}).Ticks(min, max) {
		if t.Value != math.Trunc(t.Value) {
			continue // no half pairs
		}
		if t.Label != "" {
			t.Label = fmt.Sprintf("%.0f", t.Value)
		}
		out = append(out, t)
	}
	return out
}

// IntTicks labels every integer of an axis.
type IntTicks struct{}

// Ticks implements plot.Ticker.
func (IntTicks) Ticks(min, max float64) []plot.Tick {
	var t []plot.Tick
	for i := math.Ceil(min); i <= max; i++ {
		t = append(t, plot.Tick{Value: i, Label: fmt.Sprint(int(i))})
	}
	return t
}

// Palette is the charts' colours: blue, red, grey, green, orange.
var Palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
}

// Dashed and Dotted are line dash patterns.
var (
	Dashed = []vg.Length{vg.Points(4), vg.Points(3)}
	Dotted = []vg.Length{vg.Points(1), vg.Points(3)}
)
