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
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/ser-rl/ser/ask"
	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/head"
)

// Statuses: which learning statuses select pairs.
const (
	StatusBoth   = "both"   // status 1 OR status 2 in one pass (the official code)
	Status1      = "1"      // distinguish good and bad only
	Status2      = "2"      // amplify the difference only
	StatusStaged = "staged" // status 1 until it selects nothing, then status 2 (the paper's presentation)
)

// Stopping rules.
const (
	StopVal = "val" // stop when a loop does not improve on the validation pairs, by KeepBy (and when the selection runs dry)
	StopDry = "dry" // run until the selection runs dry or MaxLoops
)

// What a loop's head is judged by on the validation pairs (which head is
// kept, and whether a loop improved).
const (
	KeepLoss     = "loss"     // lower Bradley-Terry loss of the calibrated rewards (default)
	KeepAccuracy = "accuracy" // higher accuracy, ties broken by lower loss (as ser judged before)
)

// Options configure a run. Start from DefaultOptions: every field is taken
// as it is (a zero is a zero), and Run refuses values outside their range.
type Options struct {
	SeedFrac float64 // share of the labelled pairs used as the seed (0.15), stratified by subset; in (0, 1)
	ValFrac  float64 // share of the seed held out for validation, precision estimates and calibration (0.3); in (0, 1)
	TestFrac float64 // share of the labelled pairs held out as the test set when no test set is given (0.2); in (0, 1)
	MaxLoops int     // SER loops after loop 0 (3, as the paper shows); 0 trains the seed head only

	TauHigh, TauLow, TauDelta float64 // 0.55, 0.45, 0.3 (official code); scores lie in [0, 1]
	Statuses                  string  // StatusBoth (default), Status1, Status2 or StatusStaged

	// MinPrecision is the safety valve: a loop whose selection rule, applied
	// to the labelled validation pairs, orients fewer than this share of them
	// correctly adds no pseudo-labels and stops the run (0.65). MinValSelected
	// is the fewest validation pairs the rule must pick for its precision to
	// count as measured (10); fewer also stops the run. NoValve turns the
	// valve off (as the paper runs).
	MinPrecision   float64
	MinValSelected int
	NoValve        bool

	Warm     bool   // warm-start each loop from the previous head (default: retrain from scratch)
	DropSeed bool   // train loops > 0 on the pseudo-labels alone (default: seed plus pseudo-labels)
	Stop     string // StopVal (default) or StopDry
	// KeepBy is how heads are compared on the validation pairs: KeepLoss
	// (default) or KeepAccuracy. Loss is continuous; accuracy on a few dozen
	// validation pairs moves in steps of 1-2 points and, with noisy labels,
	// often misses a better head: on the positive control (the built-in
	// sample, 10 seeds) keeping by accuracy closed 43% of the gap, by loss
	// more (see the README).
	KeepBy     string
	Cumulative bool // keep earlier loops' pseudo-labels in the training set (true)

	// Ask > 0 makes each loop also ask Ask human labels, chosen from the pool
	// by AskRule (ask.Random, ask.Uncertainty or ask.DOptimal) under the
	// current head and answered from the pool's hidden labels (so it needs
	// a pool drawn from the labelled data: a benchmark of what asking would
	// buy). NoSelfLabel drops SER's pseudo-labels, leaving active labelling
	// alone. With Ask, loops run to MaxLoops (or until the pool is empty):
	// a loop that adds human labels is not a reason to stop.
	Ask         int
	AskRule     string
	NoSelfLabel bool

	Head     head.TrainOptions // how each loop's head is trained (its Seed is set from Seed)
	Seed     uint64
	FullData bool // also train on every labelled non-test pair (the full-data reference)
}

// DefaultOptions are the defaults: the official code's where it has one.
func DefaultOptions() Options {
	return Options{
		SeedFrac: 0.15, ValFrac: 0.3, TestFrac: 0.2, MaxLoops: 3,
		TauHigh: 0.55, TauLow: 0.45, TauDelta: 0.3, Statuses: StatusBoth,
		MinPrecision: 0.65, MinValSelected: 10,
		Stop: StopVal, KeepBy: KeepLoss, Cumulative: true, AskRule: ask.DOptimal,
	}
}

// Check reports the first option outside its range; hasTest says whether
// a test set is given (else TestFrac of the labelled pairs is held out).
func (o *Options) Check(hasTest bool) error {
	switch o.Statuses {
	case StatusBoth, Status1, Status2, StatusStaged:
	default:
		return fmt.Errorf("evolve: statuses %q: want both, 1, 2 or staged", o.Statuses)
	}
	switch o.Stop {
	case StopVal, StopDry:
	default:
		return fmt.Errorf("evolve: stop %q: want val or dry", o.Stop)
	}
	switch o.KeepBy {
	case KeepLoss, KeepAccuracy:
	default:
		return fmt.Errorf("evolve: keep-by %q: want loss or accuracy", o.KeepBy)
	}
	open01 := func(name string, v float64) error {
		if !(v > 0 && v < 1) {
			return fmt.Errorf("evolve: %s %g: must lie strictly between 0 and 1", name, v)
		}
		return nil
	}
	closed01 := func(name string, v float64) error {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("evolve: %s %g: must lie in [0, 1]", name, v)
		}
		return nil
	}
	checks := []error{open01("seed fraction", o.SeedFrac), open01("seed validation fraction", o.ValFrac),
		closed01("tau-high", o.TauHigh), closed01("tau-low", o.TauLow), closed01("tau-delta", o.TauDelta),
		closed01("minimum precision", o.MinPrecision)}
	if !hasTest {
		checks = append(checks, open01("test fraction", o.TestFrac))
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	if o.TauDelta == 1 {
		return fmt.Errorf("evolve: tau-delta 1: no two scores in [0, 1] differ by more")
	}
	if o.TauLow > o.TauHigh {
		return fmt.Errorf("evolve: tau-low %g is above tau-high %g", o.TauLow, o.TauHigh)
	}
	if o.MaxLoops < 0 {
		return fmt.Errorf("evolve: max loops %d: must be 0 or more", o.MaxLoops)
	}
	if o.Ask < 0 {
		return fmt.Errorf("evolve: ask %d: want 0 or more", o.Ask)
	}
	if o.Ask > 0 {
		if err := (ask.Options{Rule: o.AskRule}).Check(); err != nil {
			return fmt.Errorf("evolve: %w", err)
		}
	}
	if o.NoSelfLabel && o.Ask == 0 {
		return errors.New("evolve: without self-labels and without asking, no loop adds anything")
	}
	if o.MinValSelected < 0 {
		return fmt.Errorf("evolve: minimum validation pairs %d: must be 0 or more", o.MinValSelected)
	}
	return o.Head.Check()
}

// Set is pairs with their features, row i of X for pairs[i]. For labelled
// pairs, A is chosen.
type Set struct {
	X     *head.Pairs
	Pairs []data.Pair
}

// Loop is one row of the report.
type Loop struct {
	Loop       int     `json:"loop"`
	PoolSize   int     `json:"pool_size"`
	Selected   int     `json:"selected"`
	Status1    int     `json:"selected_status1"`
	Status2    int     `json:"selected_status2_only"`
	TrainPairs int     `json:"train_pairs"`
	EstPrec    float64 `json:"estimated_precision"`   // of the rule on the labelled validation pairs
	EstN       int     `json:"estimated_precision_n"` // validation pairs the rule picked
	TruePrec   float64 `json:"pseudo_label_accuracy"` // of the selected pool pairs, when the pool's labels are known (-1 otherwise)
	ValAcc     float64 `json:"val_accuracy"`
	ValLoss    float64 `json:"val_loss"` // breaks ties of validation accuracy (small validation sets tie often)
	TestAcc    float64 `json:"test_accuracy"`
	// TestBySubset is the test accuracy per subset, when the test set has several.
	TestBySubset map[string]float64 `json:"test_accuracy_by_subset,omitempty"`
	// Scores counts the pool's scores sigmoid(r) (both responses of every
	// pool pair) under the head that made this loop's selection, in
	// ScoreBins equal bins over [0, 1]: where they sit against the
	// thresholds says why the rule selects what it does.
	Scores     []int   `json:"pool_score_histogram,omitempty"`
	Note       string  `json:"note,omitempty"`
	Seconds    float64 `json:"seconds"`
	Added      bool    `json:"added"`                 // whether this loop's pseudo-labels were trained on
	Asked      int     `json:"asked,omitempty"`       // human labels asked this loop (Options.Ask)
	HumanPairs int     `json:"human_pairs,omitempty"` // human labels trained on: the seed's and every loop's asked
}

// Report is the outcome of a run.
type Report struct {
	Loops     []Loop      `json:"loops"`
	SeedOnly  float64     `json:"seed_only"`           // test accuracy of loop 0
	Final     float64     `json:"final"`               // test accuracy of the head kept
	FinalLoop int         `json:"final_loop"`          // which loop's head is kept (the best on validation)
	FullData  *float64    `json:"full_data,omitempty"` // test accuracy when trained on every labelled pair
	Split     SplitCounts `json:"split"`
	Stopped   string      `json:"stopped"`     // why the loops ended, in words
	Reason    StopReason  `json:"stop_reason"` // the same, as a constant
	Seconds   float64     `json:"seconds"`
	Options   Options     `json:"options"`
	// Gain is the kept head's test accuracy less the seed head's, paired on
	// the same test pairs, with its 95% interval; FullGap is the full-data
	// head's less the kept head's; GapClosed is Gain over the full-data
	// head's gain on the seed head (when that gain is positive).
	Gain      head.Diff  `json:"ser_gain"`
	FullGap   *head.Diff `json:"full_minus_final,omitempty"`
	GapClosed *float64   `json:"gap_closed,omitempty"`
	// Advice says, in words, whether SER helped and what to try next.
	Advice []string `json:"advice"`

	Heads []*head.Head `json:"-"` // loop k's head at index k
	Full  *head.Head   `json:"-"`
}

// ScoreBins is the number of bins of Loop.Scores.
const ScoreBins = 20

// SplitCounts says how the data was divided.
type SplitCounts struct {
	Seed, Val, Pool, Test int
	PoolLabelled          bool
}

// poolPair is an unlabelled pair in the order shown to the model; truth is
// 1 when A is the preferred response, 0 when B is, -1 when unknown.
type poolPair struct {
	row   int
	swap  bool
	truth int
}

// StopReason says why the loops ended.
type StopReason int

// Stop reasons.
const (
	Running         StopReason = iota // not stopped
	MaxLoopsRun                       // MaxLoops loops ran
	SelectionDry                      // the rule selected no pool pair
	ValveUnmeasured                   // safety valve: too few validation pairs picked to measure precision
	ValveLow                          // safety valve: estimated precision below MinPrecision
	NoImprovement                     // the loop's head did not beat the best on validation, by KeepBy (StopVal)
)

var reasonNames = [...]string{"running", "max_loops", "selection_dry", "valve_unmeasured", "valve_low_precision", "no_improvement"}

func (r StopReason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("StopReason(%d)", int(r))
}

// MarshalText writes the reason's name.
func (r StopReason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads a reason's name.
func (r *StopReason) UnmarshalText(b []byte) error {
	for i, n := range reasonNames {
		if n == string(b) {
			*r = StopReason(i)
			return nil
		}
	}
	return fmt.Errorf("evolve: unknown stop reason %q", b)
}

// Run runs SER. labelled supplies the seed (and, unless unlabelled is given,
// the pool, whose labels are hidden from training but used to report the
// pseudo-labels' accuracy); unlabelled (optional) is a truly unlabelled pool;
// test (optional) is the test set, else TestFrac of labelled is held out.
// It is a driver over the steps of a run: split, loop 0, loops until a stop
// rule fires, the kept head, the full-data reference.
func Run(labelled Set, unlabelled *Set, test *Set, bb head.Backbone, form string, opt Options, logf func(string, ...any)) (*Report, error) {
	r, err := newRun(labelled, unlabelled, test, bb, form, opt, logf)
	if err != nil {
		return nil, err
	}
	if err := r.seedLoop(); err != nil {
		return nil, err
	}
	for k := 1; k <= opt.MaxLoops && r.rep.Reason == Running; k++ {
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
	r.rep.Gain = head.PairedDiff(seedHits, finalHits)
	if opt.FullData {
		if err := r.fullData(); err != nil {
			return nil, err
		}
		d := head.PairedDiff(finalHits, head.Correct(r.rep.Full, r.testSet.X))
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
func newRun(labelled Set, unlabelled *Set, test *Set, bb head.Backbone, form string, opt Options, logf func(string, ...any)) (*run, error) {
	if err := opt.Check(test != nil); err != nil {
		return nil, err
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	r := &run{opt: opt, form: form, bb: bb, logf: logf, start: time.Now(), labelled: labelled, testSet: test, unlabelled: unlabelled != nil}
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
	return head.Train(d, &r.val, r.bb, r.form, o)
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
	r.logf("loop %d: pool %d, selected %d (status 1: %d, status 2 only: %d), estimated precision %.3f (%d val pairs), pseudo-label accuracy %s, asked %d; trained on %d: validation %.4f, test %.4f",
		k, lp.PoolSize, lp.Selected, lp.Status1, lp.Status2, lp.EstPrec, lp.EstN, fmtPrec(lp.TruePrec), lp.Asked, lp.TrainPairs, lp.ValAcc, lp.TestAcc)
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
	picks, err := ask.Select(r.h, x, ask.Options{Rule: r.opt.AskRule, N: r.opt.Ask, Seed: r.opt.Seed*1000 + uint64(k), Labelled: r.train.X})
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

// selected is a pseudo-labelled pool pair.
type selected struct {
	pool    int  // index into the pool slice at selection time
	row     int  // row in the pool's feature matrix
	swap    bool // the pool shows B as A
	aChosen bool // the shown A is the pseudo-chosen response (the truly chosen one, when human)
	human   bool // asked and answered from the hidden label, not pseudo-labelled
}

// scores returns sigmoid of the calibrated rewards of the shown A and B of each pool pair.
func scores(h *head.Head, src *head.Pairs, pool []poolPair) (sa, sb []float64) {
	if len(pool) == 0 {
		return nil, nil
	}
	// score every row of the source in place (no copy), then read each pool
	// pair in the order it is shown
	ra, rb := h.Rewards(src.A), h.Rewards(src.B)
	sa, sb = make([]float64, len(pool)), make([]float64, len(pool))
	for i, p := range pool {
		a, b := ra[p.row], rb[p.row]
		if p.swap {
			a, b = b, a
		}
		sa[i], sb[i] = sigmoid(a), sigmoid(b)
	}
	return sa, sb
}

// histogram counts scores in [0, 1] into ScoreBins equal bins.
func histogram(lists ...[]float64) []int {
	h := make([]int, ScoreBins)
	for _, l := range lists {
		for _, v := range l {
			h[min(ScoreBins-1, max(0, int(v*ScoreBins)))]++
		}
	}
	return h
}

// rule applies the selection rule to one pair's scores: whether it is kept,
// whether by status 1, and whether A is the one to call chosen.
func rule(sa, sb float64, status string, o Options) (keep, byStatus1, aChosen bool) {
	s1 := (sa > o.TauHigh && sb < o.TauLow) || (sb > o.TauHigh && sa < o.TauLow)
	s2 := math.Abs(sa-sb) > o.TauDelta
	switch status {
	case Status1:
		keep = s1
	case Status2:
		keep = s2
	default:
		keep = s1 || s2
	}
	return keep, s1, sa > sb
}

func selectPairs(h *head.Head, src *head.Pairs, pool []poolPair, status string, o Options) (sel []selected, n1, n2only int) {
	sa, sb := scores(h, src, pool)
	for i, p := range pool {
		keep, s1, aChosen := rule(sa[i], sb[i], status, o)
		if !keep {
			continue
		}
		if s1 {
			n1++
		} else {
			n2only++
		}
		sel = append(sel, selected{pool: i, row: p.row, swap: p.swap, aChosen: aChosen})
	}
	return sel, n1, n2only
}

// valPrecision applies the rule to the labelled validation pairs, each shown
// in both orders: the share of picked pairs it orients correctly.
func valPrecision(h *head.Head, val *head.Pairs, status string, o Options) (float64, int) {
	ra, rb := h.Rewards(val.A), h.Rewards(val.B)
	ok, n := 0, 0
	for i := range ra {
		sa, sb := sigmoid(ra[i]), sigmoid(rb[i])
		keep, _, aChosen := rule(sa, sb, status, o)
		if keep {
			n++
			if aChosen {
				ok++
			}
		}
	}
	if n == 0 {
		return -1, 0
	}
	return float64(ok) / float64(n), n
}

// trainingSet is the seed (unless dropped) plus the pseudo-labelled pairs, chosen first.
func trainingSet(labelled Set, seed []int, src *head.Pairs, sel []selected, dropSeed bool) head.Data {
	_, d := src.A.Dims()
	n := len(sel)
	if !dropSeed {
		n += len(seed)
	}
	a, b := mat.NewDense(n, d, nil), mat.NewDense(n, d, nil)
	m := make([]float64, n)
	r := 0
	if !dropSeed {
		for _, i := range seed {
			copy(a.RawRowView(r), labelled.X.A.RawRowView(i))
			copy(b.RawRowView(r), labelled.X.B.RawRowView(i))
			if p := labelled.Pairs[i]; p.HasScores {
				m[r] = p.ScoreChosen - p.ScoreRejected
			}
			r++
		}
	}
	for _, s := range sel {
		shownA, shownB := src.A.RawRowView(s.row), src.B.RawRowView(s.row)
		if s.swap {
			shownA, shownB = shownB, shownA
		}
		if !s.aChosen {
			shownA, shownB = shownB, shownA
		}
		copy(a.RawRowView(r), shownA)
		copy(b.RawRowView(r), shownB)
		if p := labelled.Pairs[s.row]; s.human && p.HasScores { // oriented chosen first, as the seed's
			m[r] = p.ScoreChosen - p.ScoreRejected
		}
		r++
	}
	return head.Data{X: &head.Pairs{A: a, B: b}, Margins: m}
}

func remove(pool []poolPair, sel []selected) []poolPair {
	drop := map[int]bool{}
	for _, s := range sel {
		drop[s.pool] = true
	}
	out := pool[:0:0]
	for i, p := range pool {
		if !drop[i] {
			out = append(out, p)
		}
	}
	return out
}

// rows copies rows idx of x.
func rows(x *head.Pairs, idx []int) *head.Pairs {
	_, d := x.A.Dims()
	a, b := mat.NewDense(max(1, len(idx)), d, nil), mat.NewDense(max(1, len(idx)), d, nil)
	for k, i := range idx {
		copy(a.RawRowView(k), x.A.RawRowView(i))
		copy(b.RawRowView(k), x.B.RawRowView(i))
	}
	if len(idx) == 0 {
		return &head.Pairs{}
	}
	return &head.Pairs{A: a, B: b}
}

func pick(pairs []data.Pair, idx []int) []data.Pair {
	out := make([]data.Pair, len(idx))
	for k, i := range idx {
		out[k] = pairs[i]
	}
	return out
}

func margins(pairs []data.Pair, idx []int) []float64 {
	m := make([]float64, len(idx))
	for k, i := range idx {
		if pairs[i].HasScores {
			m[k] = pairs[i].ScoreChosen - pairs[i].ScoreRejected
		}
	}
	return m
}

// stratified draws frac of idx from each subset (rounded, at least one from
// a subset of two or more) and returns the drawn and the rest, both in a
// seeded random order.
func stratified(pairs []data.Pair, idx []int, frac float64, rng *rand.Rand) (drawn, rest []int) {
	by := map[string][]int{}
	var names []string
	for _, i := range idx {
		s := pairs[i].Subset
		if _, ok := by[s]; !ok {
			names = append(names, s)
		}
		by[s] = append(by[s], i)
	}
	sort.Strings(names)
	for _, s := range names {
		g := by[s]
		rng.Shuffle(len(g), func(i, j int) { g[i], g[j] = g[j], g[i] })
		k := int(math.Round(frac * float64(len(g))))
		if k == 0 && len(g) >= 2 {
			k = 1
		}
		drawn = append(drawn, g[:k]...)
		rest = append(rest, g[k:]...)
	}
	rng.Shuffle(len(drawn), func(i, j int) { drawn[i], drawn[j] = drawn[j], drawn[i] })
	rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	return drawn, rest
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
