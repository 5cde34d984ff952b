// Package score adds a reward head's rewards to rows: a JSONL file or
// stream of {prompt, response}, {prompt, chosen, rejected} or chat rows, or
// any dataset the readers take (see data.RowReader), in batches, order kept.
// What `ser score` does, as a library.
package score

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/features"
	"github.com/ser-rl/ser/head"
)

// Options configure Rows; the zero value scores 512 rows at a time.
type Options struct {
	Batch int // rows scored at a time [512]
	// Progress, when set, is told the rows written so far after each batch.
	Progress func(rows int)
}

// Rows reads every row of rr, adds h's rewards (calibrated) through the
// featurizer's features, and writes the rows to w as JSONL, in order. The
// rows before a failure (a bad row, a reward that is not finite, ctx
// ending) are written, whole, before its error is returned. It returns the
// rows written.
func Rows(ctx context.Context, f *features.Featurizer, h *head.Head, rr *data.RowReader, w io.Writer, o Options) (int, error) {
	if o.Batch <= 0 {
		o.Batch = 512
	}
	bw := bufio.NewWriter(w)
	n := 0
	var rows []data.Row
	flush := func() error {
		err := score(ctx, f, h, rows, bw, &n)
		rows = rows[:0]
		if o.Progress != nil {
			o.Progress(n)
		}
		return errors.Join(err, bw.Flush())
	}
	for {
		r, err := rr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, errors.Join(err, flush()) // the rows before it first
		}
		if rows = append(rows, r); len(rows) >= o.Batch {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, flush()
}

// score writes one batch of rows with their rewards, up to the first that
// fails, counting them in n.
func score(ctx context.Context, f *features.Featurizer, h *head.Head, rows []data.Row, w io.Writer, n *int) error {
	if len(rows) == 0 {
		return nil
	}
	items := make([]features.Item, 0, 2*len(rows))
	for _, r := range rows {
		items = append(items, features.Item{Prompt: r.Prompt, Turns: r.Turns, Response: r.A})
		if r.Kind != data.RowResponse {
			items = append(items, features.Item{Prompt: r.Prompt, Turns: r.Turns, Response: r.B})
		}
	}
	rewards, err := f.Rewards(ctx, h, items)
	bad := len(items) // the first item whose reward is not finite
	var nf *features.NonFiniteError
	if errors.As(err, &nf) {
		bad = nf.Index
	} else if err != nil {
		return err
	}
	k := 0 // the row's first item
	for _, r := range rows {
		width := 1
		if r.Kind != data.RowResponse {
			width = 2
		}
		if k+width > bad {
			return fmt.Errorf("%s:%d: the reward is not a finite number (the backbone's vector for this text holds NaN or Inf); the %d rows before it are written", r.File, r.Line, *n)
		}
		b := 0.0
		if width == 2 {
			b = rewards[k+1]
		}
		if _, err := w.Write(append(r.WithRewards(rewards[k], b), '\n')); err != nil {
			return err
		}
		*n++
		k += width
	}
	return nil
}
