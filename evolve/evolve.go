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
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"gonum.org/v1/gonum/mat"

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
	StopVal = "val" // stop when validation accuracy does not improve (and when the selection runs dry)
	StopDry = "dry" // run until the selection runs dry or MaxLoops
)

// Options configure a run. Zero fields take the documented defaults.
type Options struct {
	SeedFrac float64 // share of the labelled pairs used as the seed (default 0.15), stratified by subset
	ValFrac  float64 // share of the seed held out for validation, precision estimates and calibration (default 0.3)
	TestFrac float64 // share of the labelled pairs held out as the test set when no test set is given (default 0.2)
	MaxLoops int     // SER loops after loop 0 (default 3, as the paper shows)

	TauHigh, TauLow, TauDelta float64 // defaults 0.55, 0.45, 0.3 (official code)
	Statuses                  string  // StatusBoth (default), Status1, Status2 or StatusStaged

	// MinPrecision is the safety valve: a loop whose selection rule, applied
	// to the labelled validation pairs, orients fewer than this share of them
	// correctly adds no pseudo-labels and stops the run. 0 disables it
	// (default 0.65). MinValSelected is the fewest validation pairs the rule
	// must pick for its precision to count as measured (default 10); fewer
	// also stops the run.
	MinPrecision   float64
	MinValSelected int
	NoValve        bool // run without the safety valve (as the paper does)

	Warm       bool   // warm-start each loop from the previous head (default: retrain from scratch)
	DropSeed   bool   // train loops > 0 on the pseudo-labels alone (default: seed plus pseudo-labels)
	Stop       string // StopVal (default) or StopDry
	Cumulative *bool  // keep earlier loops' pseudo-labels in the training set (default true)

	Head     head.TrainOptions // how each loop's head is trained (its Seed is set from Seed)
	Seed     uint64
	FullData bool // also train on every labelled non-test pair (the full-data reference)
}

func (o *Options) defaults() {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.SeedFrac, 0.15)
	def(&o.ValFrac, 0.3)
	def(&o.TestFrac, 0.2)
	def(&o.TauHigh, 0.55)
	def(&o.TauLow, 0.45)
	def(&o.TauDelta, 0.3)
	if o.MinPrecision == 0 && !o.NoValve {
		o.MinPrecision = 0.65
	}
	if o.NoValve {
		o.MinPrecision = 0
	}
	if o.MinValSelected == 0 {
		o.MinValSelected = 10
	}
	if o.MaxLoops == 0 {
		o.MaxLoops = 3
	}
	if o.Statuses == "" {
		o.Statuses = StatusBoth
	}
	if o.Stop == "" {
		o.Stop = StopVal
	}
	if o.Cumulative == nil {
		t := true
		o.Cumulative = &t
	}
}

func (o *Options) check() error {
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
	if o.SeedFrac <= 0 || o.SeedFrac >= 1 || o.ValFrac <= 0 || o.ValFrac >= 1 {
		return fmt.Errorf("evolve: seed-frac and val-frac must lie in (0, 1)")
	}
	if o.TauLow > o.TauHigh {
		return fmt.Errorf("evolve: tau-low %g is above tau-high %g", o.TauLow, o.TauHigh)
	}
	return nil
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
	TestAcc    float64 `json:"test_accuracy"`
	Note       string  `json:"note,omitempty"`
	Seconds    float64 `json:"seconds"`
	Added      bool    `json:"added"` // whether this loop's pseudo-labels were trained on
}

// Report is the outcome of a run.
type Report struct {
	Loops     []Loop      `json:"loops"`
	SeedOnly  float64     `json:"seed_only"`           // test accuracy of loop 0
	Final     float64     `json:"final"`               // test accuracy of the head kept
	FinalLoop int         `json:"final_loop"`          // which loop's head is kept (the best on validation)
	FullData  *float64    `json:"full_data,omitempty"` // test accuracy when trained on every labelled pair
	Split     SplitCounts `json:"split"`
	Stopped   string      `json:"stopped"`
	Seconds   float64     `json:"seconds"`
	Options   Options     `json:"options"`

	Heads []*head.Head `json:"-"` // loop k's head at index k
	Full  *head.Head   `json:"-"`
}

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

// Run runs SER. labelled supplies the seed (and, unless unlabelled is given,
// the pool, whose labels are hidden from training but used to report the
// pseudo-labels' accuracy); unlabelled (optional) is a truly unlabelled pool;
// test (optional) is the test set, else TestFrac of labelled is held out.
func Run(labelled Set, unlabelled *Set, test *Set, bb head.Backbone, form string, opt Options, logf func(string, ...any)) (*Report, error) {
	start := time.Now()
	opt.defaults()
	if err := opt.check(); err != nil {
		return nil, err
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x5e7))
	idx := make([]int, len(labelled.Pairs))
	for i := range idx {
		idx[i] = i
	}
	var testIdx []int
	testSet := test
	if testSet == nil {
		var rest []int
		testIdx, rest = stratified(labelled.Pairs, idx, opt.TestFrac, rng)
		idx = rest
		testSet = &Set{X: rows(labelled.X, testIdx), Pairs: pick(labelled.Pairs, testIdx)}
	}
	seedIdx, poolIdx := stratified(labelled.Pairs, idx, opt.SeedFrac, rng)
	valIdx, seedTrain := stratified(labelled.Pairs, seedIdx, opt.ValFrac, rng)
	if len(seedTrain) < 2 || len(valIdx) < 2 {
		return nil, fmt.Errorf("evolve: a seed of %d pairs leaves too few to train (%d) and validate (%d)", len(seedIdx), len(seedTrain), len(valIdx))
	}
	rep := &Report{Options: opt, Split: SplitCounts{Seed: len(seedTrain), Val: len(valIdx), Test: len(testSet.Pairs)}}

	// The pool: labelled pairs with labels hidden and order shuffled, or the unlabelled set.
	poolSrc := labelled.X
	var pool []poolPair
	if unlabelled != nil {
		poolSrc = unlabelled.X
		for i := range unlabelled.Pairs {
			pool = append(pool, poolPair{row: i, truth: -1})
		}
	} else {
		rep.Split.PoolLabelled = true
		for _, i := range poolIdx {
			swap := rng.IntN(2) == 1
			t := 1
			if swap {
				t = 0
			}
			pool = append(pool, poolPair{row: i, swap: swap, truth: t})
		}
	}
	rep.Split.Pool = len(pool)

	seedData := head.Data{X: rows(labelled.X, seedTrain), Margins: margins(labelled.Pairs, seedTrain)}
	val := head.Data{X: rows(labelled.X, valIdx)}
	hopt := opt.Head
	hopt.Seed = opt.Seed
	train := func(d head.Data, init *head.Head) (*head.Head, error) {
		o := hopt
		if opt.Warm && init != nil {
			o.Init = init
		}
		return head.Train(d, &val, bb, form, o)
	}
	acc := head.Accuracy

	t0 := time.Now()
	h, err := train(seedData, nil)
	if err != nil {
		return nil, err
	}
	rep.Heads = append(rep.Heads, h)
	l0 := Loop{Loop: 0, PoolSize: len(pool), TrainPairs: len(seedTrain), ValAcc: acc(h, val.X), TestAcc: acc(h, testSet.X), EstPrec: -1, TruePrec: -1, Seconds: time.Since(t0).Seconds(), Added: true}
	rep.Loops = append(rep.Loops, l0)
	rep.SeedOnly = l0.TestAcc
	logf("loop 0: seed %d pairs, validation accuracy %.4f, test accuracy %.4f", len(seedTrain), l0.ValAcc, l0.TestAcc)

	// a loop improves when its validation accuracy is higher, or equal with a
	// lower validation loss (small validation sets tie often)
	best, bestVal, bestLoss := 0, l0.ValAcc, head.Loss(h, val)
	var pseudo []selected // pseudo-labels trained on so far
	status := opt.Statuses
	if status == StatusStaged {
		status = Status1
	}
	rep.Stopped = fmt.Sprintf("max loops (%d)", opt.MaxLoops)
	for k := 1; k <= opt.MaxLoops; k++ {
		t0 := time.Now()
		lp := Loop{Loop: k, PoolSize: len(pool), TruePrec: -1, EstPrec: -1}
		sel, s1, s2 := selectPairs(h, poolSrc, pool, status, opt)
		if len(sel) == 0 && opt.Statuses == StatusStaged && status == Status1 {
			status = Status2
			logf("loop %d: status 1 selects nothing; moving to status 2", k)
			sel, s1, s2 = selectPairs(h, poolSrc, pool, status, opt)
		}
		lp.Selected, lp.Status1, lp.Status2 = len(sel), s1, s2
		if rep.Split.PoolLabelled && len(sel) > 0 {
			ok := 0
			for _, s := range sel {
				if (s.aChosen && pool[s.pool].truth == 1) || (!s.aChosen && pool[s.pool].truth == 0) {
					ok++
				}
			}
			lp.TruePrec = float64(ok) / float64(len(sel))
		}
		lp.EstPrec, lp.EstN = valPrecision(h, val.X, status, opt)
		stop := ""
		switch {
		case len(sel) == 0:
			stop = "the selection ran dry"
		case opt.MinPrecision > 0 && lp.EstN < opt.MinValSelected:
			stop = fmt.Sprintf("safety valve: the rule picks %d validation pairs, fewer than %d, so its precision is unmeasured", lp.EstN, opt.MinValSelected)
		case opt.MinPrecision > 0 && lp.EstPrec < opt.MinPrecision:
			stop = fmt.Sprintf("safety valve: estimated precision %.3f on %d validation pairs is below %.2f", lp.EstPrec, lp.EstN, opt.MinPrecision)
		}
		if stop != "" {
			lp.Note = stop
			lp.ValAcc, lp.TestAcc = rep.Loops[len(rep.Loops)-1].ValAcc, rep.Loops[len(rep.Loops)-1].TestAcc
			lp.Seconds = time.Since(t0).Seconds()
			rep.Loops = append(rep.Loops, lp)
			rep.Stopped = stop
			logf("loop %d: %s; stopping", k, stop)
			break
		}
		if !*opt.Cumulative {
			pseudo = nil
		}
		pseudo = append(pseudo, sel...)
		d := trainingSet(labelled, seedTrain, poolSrc, pool, pseudo, opt.DropSeed)
		nh, err := train(d, h)
		if err != nil {
			return nil, err
		}
		lp.TrainPairs = d.X.Len()
		lp.ValAcc, lp.TestAcc, lp.Added = acc(nh, val.X), acc(nh, testSet.X), true
		lp.Seconds = time.Since(t0).Seconds()
		rep.Heads = append(rep.Heads, nh)
		logf("loop %d: pool %d, selected %d (status 1: %d, status 2 only: %d), estimated precision %.3f (%d val pairs), pseudo-label accuracy %s; trained on %d: validation %.4f, test %.4f",
			k, lp.PoolSize, lp.Selected, lp.Status1, lp.Status2, lp.EstPrec, lp.EstN, fmtPrec(lp.TruePrec), lp.TrainPairs, lp.ValAcc, lp.TestAcc)
		pool = remove(pool, sel)
		h = nh
		if loss := head.Loss(nh, val); lp.ValAcc > bestVal || (lp.ValAcc == bestVal && loss < bestLoss) {
			best, bestVal, bestLoss = len(rep.Heads)-1, lp.ValAcc, loss
		} else if opt.Stop == StopVal {
			lp.Note = "validation accuracy did not improve"
			rep.Loops = append(rep.Loops, lp)
			rep.Stopped = lp.Note
			logf("loop %d: %s; stopping", k, lp.Note)
			break
		}
		rep.Loops = append(rep.Loops, lp)
	}
	rep.FinalLoop = best // Heads[k] and Loops[k] are loop k's
	rep.Final = rep.Loops[best].TestAcc
	if opt.FullData {
		all := append(append([]int(nil), seedTrain...), poolIdx...)
		if unlabelled != nil {
			all = seedTrain
		}
		fh, err := train(head.Data{X: rows(labelled.X, all), Margins: margins(labelled.Pairs, all)}, nil)
		if err != nil {
			return nil, err
		}
		f := acc(fh, testSet.X)
		rep.FullData, rep.Full = &f, fh
		logf("full-data reference: %d labelled pairs, test accuracy %.4f", len(all), f)
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
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
	aChosen bool // the shown A is the pseudo-chosen response
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
func trainingSet(labelled Set, seed []int, src *head.Pairs, pool []poolPair, sel []selected, dropSeed bool) head.Data {
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
