package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// plan is n batches as cache.Fill plans texts sorted short to long: 64 rows
// of short texts, then 32 rows of long ones; sample is 16 of them spread
// over the plan, the longest first, as cache.Fill runs them.
func plan(n int) (shapes []Shape, sample []int) {
	shapes = make([]Shape, n)
	for i := range shapes {
		rows := 64
		if i > n/2 {
			rows = 32
		}
		shapes[i] = Shape{Rows: rows, Tokens: int64(rows * (1 + 127*i/(n-1)))}
	}
	for k := 15; k >= 0; k-- {
		sample = append(sample, (2*k+1)*n/32)
	}
	return shapes, sample
}

// cost is a batch's own time on one session: 1 ms a row and 40 us a token,
// so a batch of short texts costs far more per token than one of long ones.
func cost(s Shape) float64 { return 0.001*float64(s.Rows) + 40e-6*float64(s.Tokens) }

// play runs the plan's batches, the sample first, on 2 sessions in
// parallel from t0, telling e each batch's own time, and calls at after
// each with the batches done and the time.
func play(e *Estimate, shapes []Shape, sample []int, t0 time.Time, speed func(done int) float64, at func(done int, now time.Time)) time.Time {
	order := append([]int(nil), sample...)
	in := map[int]bool{}
	for _, i := range sample {
		in[i] = true
	}
	for i := range shapes {
		if !in[i] {
			order = append(order, i)
		}
	}
	now := t0
	for k, i := range order {
		own := cost(shapes[i]) / speed(k)
		now = now.Add(time.Duration(own / 2 * float64(time.Second)))
		e.Done(i, own)
		at(k+1, now)
	}
	return now
}

func total(shapes []Shape) time.Duration {
	s := 0.0
	for _, b := range shapes {
		s += cost(b)
	}
	return time.Duration(s / 2 * float64(time.Second))
}

// TestEstimateFromSample: before the sample is in, the time left is unknown
// (or, with a prior, the prior's); from then on it is the truth while the
// machine's speed holds, although the batches run short to long and a short
// text costs more per token than a long one; the rate the run measured
// estimates the next job before any of its batches runs.
func TestEstimateFromSample(t *testing.T) {
	shapes, sample := plan(500)
	t0 := time.Unix(1000, 0)
	e := NewEstimate(shapes, sample, nil)
	e.Start(t0)
	if _, ok := e.Left(t0); ok {
		t.Fatal("an estimate before anything was measured")
	}
	end := t0.Add(total(shapes))
	steady := func(int) float64 { return 1 }
	play(e, shapes, sample, t0, steady, func(done int, now time.Time) {
		left, ok := e.Left(now)
		if done < len(sample) {
			if ok {
				t.Errorf("after %d of %d sampled batches: an estimate (%v) without a prior", done, len(sample), left)
			}
			return
		}
		if truth := end.Sub(now); !ok || (left-truth).Abs() > time.Millisecond {
			t.Errorf("after %d batches: %v left (%v), truth %v", done, left, ok, truth)
		}
	})
	if left, ok := e.Left(end); !ok || left != 0 {
		t.Errorf("at the end: %v, %v", left, ok)
	}
	r, ok := e.Rate(end)
	if !ok || abs(r.PerRow-0.001) > 1e-9 || abs(r.PerToken-40e-6) > 1e-12 || abs(r.Wall-0.5) > 1e-6 {
		t.Errorf("rate %+v, want 1 ms a row, 40 us a token, 0.5 s of wall clock a second (2 sessions)", r)
	}

	// the next job, estimated by this rate before any batch runs
	next, nextSample := plan(200)
	ne := NewEstimate(next, nextSample, &r)
	d, _, ok := ne.Prior()
	if want := total(next); !ok || (d-want).Abs() > time.Millisecond {
		t.Errorf("prior estimate %v, %v; want %v", d, ok, want)
	}
	if left, ok := ne.Left(t0); !ok || (left-d).Abs() > time.Millisecond {
		t.Errorf("left before the sample, with a prior: %v, %v; want %v", left, ok, d)
	}
	if _, _, ok := NewEstimate(next, nil, &Rate{}).Prior(); ok {
		t.Error("a rate of nothing used as a prior")
	}
}

// TestEstimateFollowsLoad: when the machine slows to half speed a third of
// the way in, the estimate rises above the one of a run at full speed, and
// more so as the slow part grows: the wall clock of the run so far scales it.
func TestEstimateFollowsLoad(t *testing.T) {
	shapes, sample := plan(500)
	lefts := func(speed func(int) float64) []time.Duration {
		var out []time.Duration
		e := NewEstimate(shapes, sample, nil)
		t0 := time.Unix(0, 0)
		e.Start(t0)
		play(e, shapes, sample, t0, speed, func(done int, now time.Time) {
			left, _ := e.Left(now)
			out = append(out, left)
		})
		return out
	}
	steady := lefts(func(int) float64 { return 1 })
	slowed := lefts(func(done int) float64 {
		if done > 170 {
			return 0.5
		}
		return 1
	})
	if steady[150] != slowed[150] {
		t.Errorf("before the slowdown: %v against %v", slowed[150], steady[150])
	}
	r1, r2 := float64(slowed[250])/float64(steady[250]), float64(slowed[400])/float64(steady[400])
	if !(r1 > 1.1 && r2 > r1) {
		t.Errorf("at half speed the estimate is %.2fx the full-speed one at batch 250, %.2fx at 400", r1, r2)
	}
}

// TestOldEstimateWasWrong is the error this replaced: the time left judged
// from the first batches of the plan, tokens done against the time so far,
// reads far too long, because the shortest texts cost the most per token
// (the first ETA read 70 h for an 18-minute job).
func TestOldEstimateWasWrong(t *testing.T) {
	shapes, _ := plan(500)
	var tok, all int64
	var el float64
	for _, s := range shapes {
		all += s.Tokens
	}
	for _, s := range shapes[:5] {
		tok += s.Tokens
		el += cost(s) / 2
	}
	truth := total(shapes).Seconds() - el
	if old := el * float64(all-tok) / float64(tok); old < 5*truth {
		t.Errorf("the plan does not show the old error: %.0fs against %.0fs", old, truth)
	}
}

func TestFitRate(t *testing.T) {
	xs := []Shape{{64, 128}, {64, 4096}, {32, 4096}, {50, 1000}}
	ys := make([]float64, len(xs))
	for i, x := range xs {
		ys[i] = 0.002*float64(x.Rows) + 1e-5*float64(x.Tokens)
	}
	if a, b := fitRate(xs, ys); abs(a-0.002) > 1e-12 || abs(b-1e-5) > 1e-15 {
		t.Errorf("fit %g, %g; want 0.002, 1e-5", a, b)
	}
	// all tokens, no rows: b alone, a at 0 (never negative)
	for i, x := range xs {
		ys[i] = 3e-5 * float64(x.Tokens)
	}
	if a, b := fitRate(xs, ys); a < 0 || abs(b-3e-5) > 1e-6 {
		t.Errorf("fit %g, %g; want 0, 3e-5", a, b)
	}
	// a batch cheaper for more tokens: no negative term
	if a, b := fitRate([]Shape{{64, 100}, {64, 4000}}, []float64{1, 0.5}); a < 0 || b < 0 {
		t.Errorf("fit %g, %g: a negative term", a, b)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestHumanAndCount(t *testing.T) {
	for d, want := range map[time.Duration]string{
		45 * time.Second: "45s", 200 * time.Second: "3m20s", 204 * time.Second: "3m20s", 17*time.Minute + 20*time.Second: "17m",
		2*time.Hour + 5*time.Minute: "2h05m", 70*time.Hour + 18*time.Minute: "70h18m", 0: "0s",
	} {
		if got := Human(d); got != want {
			t.Errorf("Human(%v) = %q, want %q", d, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 25287: "25,287", 1820865: "1,820,865", -4000: "-4,000"} {
		if got := Count(n); got != want {
			t.Errorf("Count(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestBarLines: a bar on a log writes a plain line per report, says
// "measuring" while the time left is unknown, and writes a note as its own
// line.
func TestBarLines(t *testing.T) {
	var b bytes.Buffer
	bar := New(&b, "embed", "texts", 0, false)
	bar.SetLeft(0, 100, 0, false)
	bar.Println("embed: a note")
	bar.last = time.Time{}
	bar.SetLeft(50, 100, 90*time.Second, true)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "0/100 texts") || !strings.HasSuffix(lines[0], "ETA measuring") ||
		lines[1] != "embed: a note" || !strings.HasSuffix(lines[2], "ETA 1m30s") {
		t.Errorf("bar wrote:\n%s", b.String())
	}
	if New(&b, "x", "y", 1, true) != nil {
		t.Error("a quiet bar is not nil")
	}
	var nilBar *Bar
	nilBar.SetLeft(1, 2, time.Second, true) // does nothing
	nilBar.Println("x")
	nilBar.Restart()
}
