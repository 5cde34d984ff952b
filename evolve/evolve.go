// Package evolve runs Self-Evolved Reward Learning (Huang et al., ICLR 2025)
// on cached features: a reward head trained on a small labelled seed labels
// an unlabelled pool itself, keeps the labels it is sure of, retrains on them,
// and repeats.
//
// One loop: score every pool pair (s = sigmoid of the calibrated reward of
// each response); select by status 1 ("distinguish good and bad":
// s_a > TauHigh and s_b < TauLow, or the mirror image) and status 2 ("amplify
// the difference": |s_a - s_b| > TauDelta); the higher-scored response becomes
// "chosen"; check the rule's precision on the labelled validation pairs (a
// safety valve the paper lacks); retrain on the seed plus the selected pairs;
// remove them from the pool. Stop when the selection runs dry, the validation
// accuracy stops improving, or after MaxLoops.
//
// Every choice the paper leaves open is an Options field; the defaults are
// the official code's where it has one.
package evolve

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/ser-rl/ser/ask"
	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/eval"
	"github.com/ser-rl/ser/head"
)

// Set is pairs with their features, row i of X for pairs[i]. For labelled
// pairs, A is chosen.
type Set struct {
	X     *head.Pairs
	Pairs []data.Pair
}

// Input is what a run works on.
type Input struct {
	// Labelled supplies the seed (and, unless Unlabelled is given, the
	// pool, whose labels are hidden from training but used to report the
	// pseudo-labels' accuracy).
	Labelled Set
	// Unlabelled (optional) is a truly unlabelled pool; Test (optional) is
	// the test set, else Options.TestFrac of Labelled is held out.
	Unlabelled, Test *Set
	// Backbone and Form are what the heads record of their features.
	Backbone head.Backbone
	Form     string
	// Logf (optional) is told each loop's figures.
	Logf func(format string, a ...any)
}

// Run runs SER on in. It is a driver over the steps of a run: split, loop
// 0, loops until a stop rule fires, the kept head, the full-data reference.
// Ending ctx stops it between loops (and inside each head's training), with
// ctx's error.
func Run(ctx context.Context, in Input, opt Options) (*Report, error) {
	r, err := newRun(ctx, in, opt)
	if err != nil {
		return nil, err
	}
	if err := r.seedLoop(); err != nil {
		return nil, err
	}
	for k := 1; k <= opt.MaxLoops && r.rep.Reason == Running; k++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := r.loop(k); err != nil {
			return nil, err
		}
	}
	if r.rep.Reason == Running {
		r.rep.Reason, r.rep.Stopped = MaxLoopsRun, fmt.Sprintf("max loops (%d)", opt.MaxLoops)
	}
	r.rep.FinalLoop = r.best // Heads[k] and Loops[k] are loop k's
	r.rep.Final = r.rep.Loops[r.best].TestAcc
	seedHits, finalHits := head.Correct(r.rep.Heads[0], r.testSet.X), head.Correct(r.rep.Heads[r.best], r.testSet.X)
	r.rep.Gain = eval.PairedDiff(seedHits, finalHits)
	_, r.rep.SeedCI = eval.Proportion(seedHits)
	if opt.FullData {
		if err := r.fullData(); err != nil {
			return nil, err
		}
		d := eval.PairedDiff(finalHits, head.Correct(r.rep.Full, r.testSet.X))
		r.rep.FullGap = &d
		if gap := *r.rep.FullData - r.rep.SeedOnly; gap > 0 {
			c := (r.rep.Final - r.rep.SeedOnly) / gap
			r.rep.GapClosed = &c
		}
	}
	r.rep.Advice = advice(r.rep)
	r.rep.Seconds = time.Since(r.start).Seconds()
	return r.rep, nil
}

// run is one SER run in progress.
type run struct {
	ctx      context.Context
	opt      Options
	form     string
	bb       head.Backbone
	logf     func(string, ...any)
	start    time.Time
	rep      *Report
	labelled Set
	testSet  *Set
	// the split: seed training pairs, validation pairs, and (pool from the
	// labelled set) the pool's rows
	seedTrain, poolIdx []int
	unlabelled         bool
	val                head.Data
	poolSrc            *head.Pairs
	pool               []poolPair
	// the loop's state: the current head, the best so far, the pseudo-labels
	h                 *head.Head
	best              int
	bestVal, bestLoss float64
	pseudo            []selected
	asked             []selected // human labels asked so far (pool rows, truth-oriented)
	train             head.Data  // what the current head was trained on
	status            string
}

// newRun checks the options, splits the labelled pairs into test (unless a
// test set is given), seed (training and validation) and pool, and builds the
// pool: labelled pairs with labels hidden and order shuffled, or the
// unlabelled set.
func newRun(ctx context.Context, in Input, opt Options) (*run, error) {
	labelled, unlabelled, logf := in.Labelled, in.Unlabelled, in.Logf
	if err := opt.Check(in.Test != nil); err != nil {
		return nil, err
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	r := &run{ctx: ctx, opt: opt, form: in.Form, bb: in.Backbone, logf: logf, start: time.Now(), labelled: labelled, testSet: in.Test, unlabelled: unlabelled != nil}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x5e7))
	idx := make([]int, len(labelled.Pairs))
	for i := range idx {
		idx[i] = i
	}
	if r.testSet == nil {
		testIdx, rest := stratified(labelled.Pairs, idx, opt.TestFrac, rng)
		idx = rest
		r.testSet = &Set{X: rows(labelled.X, testIdx), Pairs: pick(labelled.Pairs, testIdx)}
	}
	seedIdx, poolIdx := stratified(labelled.Pairs, idx, opt.SeedFrac, rng)
	valIdx, seedTrain := stratified(labelled.Pairs, seedIdx, opt.ValFrac, rng)
	if len(seedTrain) < 2 || len(valIdx) < 2 {
		return nil, fmt.Errorf("evolve: a seed of %d pairs leaves too few to train (%d) and validate (%d)", len(seedIdx), len(seedTrain), len(valIdx))
	}
	r.seedTrain, r.poolIdx = seedTrain, poolIdx
	r.rep = &Report{Options: opt, Split: SplitCounts{Seed: len(seedTrain), Val: len(valIdx), Test: len(r.testSet.Pairs)}}
	r.poolSrc = labelled.X
	if unlabelled != nil {
		r.poolSrc = unlabelled.X
		for i := range unlabelled.Pairs {
			r.pool = append(r.pool, poolPair{row: i, truth: -1})
		}
	} else {
		r.rep.Split.PoolLabelled = true
		for _, i := range poolIdx {
			swap := rng.IntN(2) == 1
			t := 1
			if swap {
				t = 0
			}
			r.pool = append(r.pool, poolPair{row: i, swap: swap, truth: t})
		}
	}
	r.rep.Split.Pool = len(r.pool)
	if opt.Ask > 0 && !r.rep.Split.PoolLabelled {
		return nil, errors.New("evolve: asking needs a pool whose labels are known, to answer for the humans (a labelled --data, its pool's labels hidden); for a real pool, `ser ask` writes the pairs to label")
	}
	r.val = head.Data{X: rows(labelled.X, valIdx)}
	r.status = opt.Statuses
	if r.status == StatusStaged {
		r.status = Status1
	}
	return r, nil
}

// fit trains a head on d with the run's options, warm from init when asked.
func (r *run) fit(d head.Data, init *head.Head) (*head.Head, error) {
	o := r.opt.Head
	o.Seed = r.opt.Seed
	if r.opt.Warm && init != nil {
		o.Init = init
	}
	return head.Train(r.ctx, head.Problem{Train: d, Val: &r.val, Backbone: r.bb, Form: r.form}, o)
}

// seedLoop is loop 0: the head trained on the seed alone.
func (r *run) seedLoop() error {
	t0 := time.Now()
	r.train = head.Data{X: rows(r.labelled.X, r.seedTrain), Margins: margins(r.labelled.Pairs, r.seedTrain)}
	h, err := r.fit(r.train, nil)
	if err != nil {
		return err
	}
	r.h = h
	r.rep.Heads = append(r.rep.Heads, h)
	l0 := Loop{Loop: 0, PoolSize: len(r.pool), TrainPairs: len(r.seedTrain), HumanPairs: len(r.seedTrain), ValAcc: head.Accuracy(h, r.val.X), ValLoss: head.Loss(h, r.val),
		TestAcc: head.Accuracy(h, r.testSet.X), TestBySubset: r.bySubset(h), EstPrec: -1, TruePrec: -1, Seconds: time.Since(t0).Seconds(), Added: true}
	r.rep.Loops = append(r.rep.Loops, l0)
	r.rep.SeedOnly = l0.TestAcc
	r.logf("loop 0: seed %d pairs, validation accuracy %.4f, test accuracy %.4f", len(r.seedTrain), l0.ValAcc, l0.TestAcc)
	// a loop improves when its validation accuracy is higher, or equal with a
	// lower validation loss (small validation sets tie often)
	r.best, r.bestVal, r.bestLoss = 0, l0.ValAcc, l0.ValLoss
	return nil
}

// bySubset is h's test accuracy per subset, when the test set has several.
func (r *run) bySubset(h *head.Head) map[string]float64 {
	idx := map[string][]int{}
	for i, p := range r.testSet.Pairs {
		idx[p.Subset] = append(idx[p.Subset], i)
	}
	if len(idx) < 2 {
		return nil
	}
	out := map[string]float64{}
	for s, rs := range idx {
		name := s
		if name == "" {
			name = "(none)"
		}
		out[name] = head.Accuracy(h, rows(r.testSet.X, rs))
	}
	return out
}

// loop runs SER loop k: select, check the valve, retrain, and apply the
// stopping rule.
func (r *run) loop(k int) error {
	t0 := time.Now()
	lp := Loop{Loop: k, PoolSize: len(r.pool), TruePrec: -1, EstPrec: -1}
	var sel []selected
	if !r.opt.NoSelfLabel {
		sel = r.selectPairs(k, &lp)
		lp.EstPrec, lp.EstN = valPrecision(r.h, r.val.X, r.status, r.opt)
		if reason, why := r.valve(len(sel), lp); reason != Running {
			if r.opt.Ask == 0 || len(r.pool) == 0 {
				prev := r.rep.Loops[len(r.rep.Loops)-1]
				lp.ValAcc, lp.ValLoss, lp.TestAcc = prev.ValAcc, prev.ValLoss, prev.TestAcc
				lp.Seconds = time.Since(t0).Seconds()
				r.stop(lp, reason, why)
				return nil
			}
			lp.Note, sel = why+"; no pseudo-labels this loop", nil // the human labels still come
		}
	}
	asked, err := r.askPairs(k, sel)
	if err != nil {
		return err
	}
	if len(sel) == 0 && len(asked) == 0 {
		prev := r.rep.Loops[len(r.rep.Loops)-1]
		lp.ValAcc, lp.ValLoss, lp.TestAcc = prev.ValAcc, prev.ValLoss, prev.TestAcc
		r.stop(lp, SelectionDry, "the pool is empty")
		return nil
	}
	lp.Asked = len(asked)
	r.asked = append(r.asked, asked...)
	if !r.opt.Cumulative {
		r.pseudo = nil
	}
	r.pseudo = append(r.pseudo, sel...)
	r.train = trainingSet(r.labelled, r.seedTrain, r.poolSrc, append(append([]selected(nil), r.asked...), r.pseudo...), r.opt.DropSeed)
	nh, err := r.fit(r.train, r.h)
	if err != nil {
		return err
	}
	lp.TrainPairs, lp.HumanPairs = r.train.X.Len(), len(r.seedTrain)+len(r.asked)
	lp.ValAcc, lp.ValLoss, lp.TestAcc, lp.Added = head.Accuracy(nh, r.val.X), head.Loss(nh, r.val), head.Accuracy(nh, r.testSet.X), true
	lp.TestBySubset = r.bySubset(nh)
	lp.Seconds = time.Since(t0).Seconds()
	r.rep.Heads = append(r.rep.Heads, nh)
	r.logf("loop %d: pool %d, selected %d (status 1: %d, status 2 only: %d), estimated precision %s (%d val pairs), pseudo-label accuracy %s, asked %d; trained on %d: validation %.4f, test %.4f",
		k, lp.PoolSize, lp.Selected, lp.Status1, lp.Status2, fmtPrec(lp.EstPrec), lp.EstN, fmtPrec(lp.TruePrec), lp.Asked, lp.TrainPairs, lp.ValAcc, lp.TestAcc)
	r.pool = remove(r.pool, append(sel, asked...))
	r.h = nh
	if r.better(lp) {
		r.best, r.bestVal, r.bestLoss = len(r.rep.Heads)-1, lp.ValAcc, lp.ValLoss
	} else if r.opt.Stop == StopVal && r.opt.Ask == 0 {
		r.stop(lp, NoImprovement, fmt.Sprintf("validation %s did not improve", r.opt.KeepBy))
		return nil
	}
	r.rep.Loops = append(r.rep.Loops, lp)
	return nil
}

// askPairs chooses this loop's Ask pairs for humans among the pool pairs not
// pseudo-labelled in it, by AskRule under the current head (D-optimal
// counting what the head was trained on as known), and answers them from
// the hidden labels.
func (r *run) askPairs(k int, sel []selected) ([]selected, error) {
	if r.opt.Ask == 0 {
		return nil, nil
	}
	taken := map[int]bool{}
	for _, s := range sel {
		taken[s.pool] = true
	}
	var cand []int // pool indices
	for i := range r.pool {
		if !taken[i] {
			cand = append(cand, i)
		}
	}
	if len(cand) == 0 {
		return nil, nil
	}
	_, d := r.poolSrc.A.Dims()
	x := &head.Pairs{A: mat.NewDense(len(cand), d, nil), B: mat.NewDense(len(cand), d, nil)}
	for j, i := range cand {
		p := r.pool[i]
		copy(x.A.RawRowView(j), r.poolSrc.A.RawRowView(p.row))
		copy(x.B.RawRowView(j), r.poolSrc.B.RawRowView(p.row))
	}
	picks, err := ask.Select(r.ctx, r.h, x, ask.Options{Rule: r.opt.AskRule, N: r.opt.Ask, Seed: r.opt.Seed*1000 + uint64(k), Labelled: r.train.X})
	if err != nil {
		return nil, err
	}
	out := make([]selected, len(picks))
	for j, pk := range picks {
		i := cand[pk.Index]
		p := r.pool[i]
		// shown A is the row's A, swapped when p.swap; truth 1 means the shown A is chosen
		out[j] = selected{pool: i, row: p.row, swap: p.swap, aChosen: p.truth == 1, human: true}
	}
	return out, nil
}

// better says whether loop lp's head beats the best so far on the
// validation pairs, by KeepBy.
func (r *run) better(lp Loop) bool {
	if r.opt.KeepBy == KeepAccuracy {
		return lp.ValAcc > r.bestVal || (lp.ValAcc == r.bestVal && lp.ValLoss < r.bestLoss)
	}
	return lp.ValLoss < r.bestLoss
}

// selectPairs applies the selection rule to the pool (moving a staged run
// from status 1 to status 2 when status 1 selects nothing) and records the
// counts and, when the pool's labels are known, the pseudo-labels' accuracy.
func (r *run) selectPairs(k int, lp *Loop) []selected {
	sel, s1, s2 := selectPairs(r.h, r.poolSrc, r.pool, r.status, r.opt)
	if len(sel) == 0 && r.opt.Statuses == StatusStaged && r.status == Status1 {
		r.status = Status2
		r.logf("loop %d: status 1 selects nothing; moving to status 2", k)
		sel, s1, s2 = selectPairs(r.h, r.poolSrc, r.pool, r.status, r.opt)
	}
	lp.Selected, lp.Status1, lp.Status2 = len(sel), s1, s2
	lp.Scores = histogram(scores(r.h, r.poolSrc, r.pool))
	if r.rep.Split.PoolLabelled && len(sel) > 0 {
		ok := 0
		for _, s := range sel {
			if (s.aChosen && r.pool[s.pool].truth == 1) || (!s.aChosen && r.pool[s.pool].truth == 0) {
				ok++
			}
		}
		lp.TruePrec = float64(ok) / float64(len(sel))
	}
	return sel
}

// valve says whether a loop must stop before training: nothing selected, or
// (unless NoValve) the rule's precision on the validation pairs unmeasured
// or too low.
func (r *run) valve(selected int, lp Loop) (StopReason, string) {
	switch {
	case selected == 0:
		return SelectionDry, "the selection ran dry"
	case r.opt.NoValve:
		return Running, ""
	case lp.EstN < r.opt.MinValSelected:
		return ValveUnmeasured, fmt.Sprintf("safety valve: the rule picks %d validation pairs, fewer than %d, so its precision is unmeasured", lp.EstN, r.opt.MinValSelected)
	case lp.EstPrec < r.opt.MinPrecision:
		return ValveLow, fmt.Sprintf("safety valve: estimated precision %.3f on %d validation pairs is below %.2f", lp.EstPrec, lp.EstN, r.opt.MinPrecision)
	}
	return Running, ""
}

// stop records the last loop and why the run stops.
func (r *run) stop(lp Loop, reason StopReason, why string) {
	lp.Note = why
	r.rep.Loops = append(r.rep.Loops, lp)
	r.rep.Stopped, r.rep.Reason = why, reason
	r.logf("loop %d: %s; stopping", lp.Loop, why)
}

// fullData trains the reference on every labelled non-test pair.
func (r *run) fullData() error {
	all := append(append([]int(nil), r.seedTrain...), r.poolIdx...)
	if r.unlabelled {
		all = r.seedTrain
	}
	fh, err := r.fit(head.Data{X: rows(r.labelled.X, all), Margins: margins(r.labelled.Pairs, all)}, nil)
	if err != nil {
		return err
	}
	f := head.Accuracy(fh, r.testSet.X)
	r.rep.FullData, r.rep.Full = &f, fh
	r.logf("full-data reference: %d labelled pairs, test accuracy %.4f", len(all), f)
	return nil
}

func fmtPrec(p float64) string {
	if p < 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.3f", p)
}
