package progress

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
)

// Shape is one batch of a job: its rows and tokens.
type Shape struct {
	Rows   int
	Tokens int64
}

// Rate is a batch's cost as a machine measured it: PerRow and PerToken
// seconds of one session's time (fitted to the sampled batches), and Wall,
// the wall-clock seconds one such second took over the run (below 1 with
// sessions in parallel, above with other work on the machine).
type Rate struct {
	PerRow   float64   `json:"per_row_s"`
	PerToken float64   `json:"per_token_s"`
	Wall     float64   `json:"wall_per_s"`
	Measured time.Time `json:"measured"`
}

// Cost is the rate's wall-clock time for batches.
func (r *Rate) Cost(shapes []Shape) time.Duration {
	return seconds(r.Wall * r.sessionSeconds(shapes))
}

func (r *Rate) sessionSeconds(shapes []Shape) float64 {
	s := 0.0
	for _, b := range shapes {
		s += r.PerRow*float64(b.Rows) + r.PerToken*float64(b.Tokens)
	}
	return s
}

// Valid reports whether the rate can estimate anything.
// A rate beyond these bounds is not a measurement (a minute a row, a
// second a token, a hundred wall seconds per second of work): a stored file
// that says so was damaged or written by hand, and is not believed.
const (
	maxPerRow  = 60
	maxPerTok  = 1
	maxWallPer = 100
)

func (r *Rate) Valid() bool {
	in := func(x, hi float64) bool { return x >= 0 && x <= hi } // false for NaN
	return r != nil && in(r.PerRow, maxPerRow) && in(r.PerToken, maxPerTok) && r.PerRow+r.PerToken > 0 &&
		in(r.Wall, maxWallPer) && r.Wall > 0
}

// Estimate tells the time left of a job of batches whose costs differ
// (texts run short to long, so neither the texts nor the tokens done so far
// tell it), from a sample of batches spread over the job and run first.
//
// A batch costs seconds per row and per token (a short text costs more per
// token than a long one), fitted to the sampled batches' own times (least
// squares of the relative error, neither negative). Until the sample is in,
// the estimate is the prior's (an earlier run's Rate on this machine), or
// unknown; then it is the cost of the batches left, times the wall clock
// the run has taken per second of cost so far, so it follows the machine's
// load as the run goes. It is safe for concurrent use.
type Estimate struct {
	mu       sync.Mutex
	shapes   []Shape
	sample   map[int]bool
	secs     map[int]float64 // the sampled batches' own seconds
	done     []bool
	nDone    int
	rate     *Rate   // fitted once the sample is in (Wall unset)
	doneCost float64 // session seconds of the batches done, by rate
	leftCost float64 // of those left
	start    time.Time
	prior    *Rate
}

// NewEstimate starts an estimate of batches shapes, of which sample (their
// indices) run first; prior (nil: none) estimates until the sample is in.
// The clock starts now.
func NewEstimate(shapes []Shape, sample []int, prior *Rate) *Estimate {
	if !prior.Valid() {
		prior = nil
	}
	e := &Estimate{shapes: shapes, sample: map[int]bool{}, secs: map[int]float64{}, done: make([]bool, len(shapes)), start: time.Now(), prior: prior}
	for _, i := range sample {
		if i >= 0 && i < len(shapes) {
			e.sample[i] = true
		}
	}
	return e
}

// Start restarts the clock at t (when the first batch starts).
func (e *Estimate) Start(t time.Time) {
	e.mu.Lock()
	e.start = t
	e.mu.Unlock()
}

// Done records that batch i is done, after secs of its own. It reports
// whether this batch completed the sample.
func (e *Estimate) Done(i int, secs float64) (sampled bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if i < 0 || i >= len(e.shapes) || e.done[i] {
		return false
	}
	e.done[i] = true
	e.nDone++
	if e.rate != nil {
		c := e.rate.sessionSeconds(e.shapes[i : i+1])
		e.doneCost += c
		e.leftCost -= c
		return false
	}
	if !e.sample[i] {
		return false
	}
	e.secs[i] = secs
	if len(e.secs) < len(e.sample) {
		return false
	}
	var xs []Shape
	var ys []float64
	for j := range e.shapes { // in plan order, so that the sums are always the same
		if s, ok := e.secs[j]; ok {
			xs, ys = append(xs, e.shapes[j]), append(ys, s)
		}
	}
	a, b := fitRate(xs, ys)
	e.rate = &Rate{PerRow: a, PerToken: b, Wall: 1}
	if !e.rate.Valid() { // nothing measurable: a token each
		e.rate = &Rate{PerToken: 1, Wall: 1}
	}
	for j, s := range e.shapes {
		c := e.rate.sessionSeconds([]Shape{s})
		if e.done[j] {
			e.doneCost += c
		} else {
			e.leftCost += c
		}
	}
	return true
}

// Left is the time left at now, and whether it is known.
func (e *Estimate) Left(now time.Time) (time.Duration, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.nDone == len(e.shapes) {
		return 0, true
	}
	if e.rate != nil && e.doneCost > 0 {
		return seconds(now.Sub(e.start).Seconds() / e.doneCost * math.Max(e.leftCost, 0)), true
	}
	if e.prior != nil {
		var left []Shape
		for i, s := range e.shapes {
			if !e.done[i] {
				left = append(left, s)
			}
		}
		return e.prior.Cost(left), true
	}
	return 0, false
}

// Prior is the prior's estimate of the whole job (false without one).
func (e *Estimate) Prior() (time.Duration, *Rate, bool) {
	if e.prior == nil {
		return 0, nil, false
	}
	return e.prior.Cost(e.shapes), e.prior, true
}

// Sampled is what the sample measured: its batches' rows and tokens, and the
// wall-clock time since the start (false until it is in).
func (e *Estimate) Sampled(now time.Time) (rows int, tokens int64, wall time.Duration, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.rate == nil {
		return 0, 0, 0, false
	}
	for i := range e.sample {
		rows += e.shapes[i].Rows
		tokens += e.shapes[i].Tokens
	}
	return rows, tokens, now.Sub(e.start), true
}

// Rate is the rate this run measured, to estimate later runs before their
// sample is in (false until the sample is in).
func (e *Estimate) Rate(now time.Time) (Rate, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.rate == nil || e.doneCost <= 0 {
		return Rate{}, false
	}
	r := *e.rate
	r.Wall, r.Measured = now.Sub(e.start).Seconds()/e.doneCost, now
	return r, r.Valid()
}

// fitRate fits secs = a*rows + b*tokens, minimising the squared relative
// error (each batch counts alike, short or long), with a, b >= 0: when the
// best fit has a negative term, the better of the one-term fits.
func fitRate(xs []Shape, ys []float64) (a, b float64) {
	var srr, srt, stt, sry, sty float64
	for i, x := range xs {
		if !(ys[i] > 0) {
			continue
		}
		w := 1 / (ys[i] * ys[i])
		r, t := float64(x.Rows), float64(x.Tokens)
		srr += w * r * r
		srt += w * r * t
		stt += w * t * t
		sry += w * r * ys[i]
		sty += w * t * ys[i]
	}
	if det := srr*stt - srt*srt; det > 1e-9*srr*stt {
		a, b = (sry*stt-sty*srt)/det, (sty*srr-sry*srt)/det
		if a >= 0 && b >= 0 {
			return a, b
		}
	}
	sse := func(a, b float64) float64 {
		s := 0.0
		for i, x := range xs {
			if ys[i] > 0 {
				d := (ys[i] - a*float64(x.Rows) - b*float64(x.Tokens)) / ys[i]
				s += d * d
			}
		}
		return s
	}
	var ra, tb float64
	if srr > 0 {
		ra = sry / srr
	}
	if stt > 0 {
		tb = sty / stt
	}
	if stt > 0 && sse(0, tb) <= sse(ra, 0) {
		return 0, tb
	}
	return ra, 0
}

func seconds(s float64) time.Duration {
	if math.IsNaN(s) || s < 0 {
		return 0
	}
	if s > 1e9 {
		s = 1e9
	}
	return time.Duration(s * float64(time.Second))
}

// Human writes a duration as a person reads an estimate: 45s, 3m20s (to 10
// s), 17m, 2h05m.
func Human(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	case d < 10*time.Minute:
		d = d.Round(10 * time.Second)
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Round(time.Minute)/time.Minute))
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// Count writes n with thousands separators: 25,287.
func Count[T ~int | ~int64](n T) string {
	s := strconv.FormatInt(int64(n), 10)
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
