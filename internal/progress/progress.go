// Package progress prints a one-line progress report (done / total, rate,
// ETA) to a terminal, redrawn in place; to a log (not a terminal) it prints a
// plain line every few seconds instead. Results never go through it, so
// stdout stays clean for pipes.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Bar reports progress of one task. A nil *Bar does nothing.
type Bar struct {
	w      io.Writer
	label  string
	unit   string
	total  int
	start  time.Time
	last   time.Time
	tty    bool
	every  time.Duration
	mu     sync.Mutex
	active bool
}

// New starts a bar on w (usually os.Stderr); quiet returns nil.
func New(w io.Writer, label, unit string, total int, quiet bool) *Bar {
	if quiet || w == nil {
		return nil
	}
	b := &Bar{w: w, label: label, unit: unit, total: total, start: time.Now(), every: 10 * time.Second}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			b.tty, b.every = true, 200*time.Millisecond
		}
	}
	return b
}

// Set reports done units so far, and the total when it has changed (> 0).
// With no total (a stream), the line shows the count and the rate.
func (b *Bar) Set(done, total int) {
	if b == nil {
		return
	}
	b.SetWork(done, total, int64(done), int64(max(total, b.total)))
}

// SetWork is Set with the time left judged by work rather than by units
// (tokens rather than texts, when texts run short to long).
func (b *Bar) SetWork(done, total int, work, totalWork int64) {
	if b == nil {
		return
	}
	el := time.Since(b.start).Seconds()
	left, known := time.Duration(0), false
	if work > 0 && totalWork >= work {
		left, known = time.Duration(el*float64(totalWork-work)/float64(work)*float64(time.Second)), true
	}
	b.SetLeft(done, total, left, known)
}

// SetLeft is Set with the time left given (known false: not yet known, as
// while an estimate's sample runs).
func (b *Bar) SetLeft(done, total int, left time.Duration, known bool) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if total > 0 {
		b.total = total
	}
	now := time.Now()
	if now.Sub(b.last) < b.every && (b.total <= 0 || done < b.total) {
		return
	}
	b.last = now
	b.active = true
	rate := float64(done) / max(now.Sub(b.start).Seconds(), 1e-9)
	var line string
	if b.total <= 0 {
		line = fmt.Sprintf("%s %d %s  %.1f %s/s", b.label, done, b.unit, rate, b.unit)
	} else {
		eta := "measuring"
		if known {
			eta = Human(left)
		}
		line = fmt.Sprintf("%s %d/%d %s  %.1f %s/s  ETA %s", b.label, done, b.total, b.unit, rate, b.unit, eta)
	}
	b.draw(line)
}

func (b *Bar) draw(line string) {
	if b.tty {
		fmt.Fprintf(b.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(b.w, line)
	}
}

// Restart sets the bar's clock, from which its rate is reckoned, to now (as
// when the work itself starts after a set-up).
func (b *Bar) Restart() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.start = time.Now()
	b.mu.Unlock()
}

// Println writes a line of its own, above the bar's line on a terminal.
func (b *Bar) Println(line string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tty && b.active {
		fmt.Fprintf(b.w, "\r\033[K%s\n", line)
		b.last = time.Time{} // redraw the bar at the next report
		return
	}
	fmt.Fprintln(b.w, line)
}

// Done ends the bar's line.
func (b *Bar) Done() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tty && b.active {
		fmt.Fprintln(b.w)
	}
}
