package evolve

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/head"
)

// planted makes n labelled pairs of d Gaussian features in two subsets, labels
// drawn from a Bradley-Terry teacher r* = beta * w.x.
func planted(n, d int, beta float64, seed uint64) Set {
	rng := rand.New(rand.NewPCG(seed, 3))
	w := make([]float64, d)
	for i := range w {
		w[i] = rng.NormFloat64() / math.Sqrt(float64(d))
	}
	a, b := mat.NewDense(n, d, nil), mat.NewDense(n, d, nil)
	pairs := make([]data.Pair, n)
	for i := 0; i < n; i++ {
		ra, rb := a.RawRowView(i), b.RawRowView(i)
		diff := 0.0
		for k := 0; k < d; k++ {
			ra[k], rb[k] = rng.NormFloat64(), rng.NormFloat64()
			diff += w[k] * (ra[k] - rb[k])
		}
		if rng.Float64() > 1/(1+math.Exp(-beta*diff)) {
			for k := 0; k < d; k++ {
				ra[k], rb[k] = rb[k], ra[k]
			}
		}
		pairs[i] = data.Pair{Prompt: fmt.Sprint(i), Chosen: "a", Rejected: "b", Labelled: true, Subset: []string{"x", "y"}[i%2]}
	}
	return Set{X: &head.Pairs{A: a, B: b}, Pairs: pairs}
}

func TestRunMechanics(t *testing.T) {
	set := planted(4000, 10, 6, 1)
	rep, err := Run(context.Background(), Input{Labelled: set, Backbone: head.Backbone{}, Form: head.Separate, Logf: t.Logf}, opts(func(o *Options) { o.Seed = 1; o.FullData = true }))
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Split
	if s.Test != 800 || s.Seed+s.Val+s.Pool != 3200 || s.Val != 144 {
		t.Errorf("split %+v: want test 800, seed+val+pool 3200, val 144 (30%% of a 15%% seed)", s)
	}
	if len(rep.Loops) < 2 || rep.Loops[1].Selected == 0 {
		t.Fatalf("no pseudo-labels selected: %+v", rep.Loops)
	}
	// a confident, well-fitted head on an easy teacher labels what it selects correctly
	if p := rep.Loops[1].TruePrec; p < 0.85 {
		t.Errorf("pseudo-label accuracy %.3f, want >= 0.85", p)
	}
	if rep.FullData == nil || *rep.FullData < rep.SeedOnly-0.02 {
		t.Errorf("full data %v against seed-only %.3f", rep.FullData, rep.SeedOnly)
	}
	again, _ := Run(context.Background(), Input{Labelled: set, Backbone: head.Backbone{}, Form: head.Separate}, opts(func(o *Options) { o.Seed = 1; o.FullData = true }))
	for i := range rep.Loops {
		rep.Loops[i].Seconds, again.Loops[i].Seconds = 0, 0
	}
	if !reflect.DeepEqual(rep.Loops, again.Loops) {
		t.Error("two runs with one seed differ")
	}
}

// TestValve: a rule that cannot reach the demanded precision adds nothing and says why.
func TestValve(t *testing.T) {
	set := planted(3000, 10, 0.5, 2) // a weak signal
	rep, err := Run(context.Background(), Input{Labelled: set, Backbone: head.Backbone{}, Form: head.Separate}, opts(func(o *Options) { o.Seed = 1; o.MinPrecision = 0.99 }))
	if err != nil {
		t.Fatal(err)
	}
	last := rep.Loops[len(rep.Loops)-1]
	if last.Added || !strings.Contains(last.Note, "safety valve") || len(rep.Heads) != 1 {
		t.Errorf("valve did not close: %+v", rep.Loops)
	}
	if rep.Final != rep.SeedOnly {
		t.Errorf("final %.4f should be the seed head's %.4f", rep.Final, rep.SeedOnly)
	}
}

func TestStatusesAndUnlabelled(t *testing.T) {
	set := planted(3000, 10, 6, 3)
	for _, st := range []string{Status1, Status2, StatusStaged} {
		rep, err := Run(context.Background(), Input{Labelled: set, Backbone: head.Backbone{}, Form: head.Separate}, opts(func(o *Options) { o.Seed = 1; o.Statuses = st; o.Stop = StopDry; o.NoValve = true }))
		if err != nil {
			t.Fatal(err)
		}
		l := rep.Loops[1]
		if st == Status1 && l.Status2 != 0 || st == Status2 && l.Selected == 0 {
			t.Errorf("statuses %s: loop 1 %+v", st, l)
		}
	}
	pool := planted(1000, 10, 6, 4)
	for i := range pool.Pairs {
		pool.Pairs[i].Labelled = false
	}
	rep, err := Run(context.Background(), Input{Labelled: set, Unlabelled: &pool, Backbone: head.Backbone{}, Form: head.Separate}, opts(func(o *Options) { o.Seed = 1 }))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Split.PoolLabelled || rep.Split.Pool != 1000 || rep.Loops[1].TruePrec != -1 {
		t.Errorf("an unlabelled pool: %+v, loop 1 %+v", rep.Split, rep.Loops[1])
	}
	if _, err := Run(context.Background(), Input{Labelled: set, Backbone: head.Backbone{}, Form: head.Separate}, opts(func(o *Options) { o.Statuses = "3" })); err == nil {
		t.Error("statuses 3 accepted")
	}
}

func TestWrite(t *testing.T) {
	set := planted(2000, 10, 6, 5)
	rep, err := Run(context.Background(), Input{Labelled: set, Backbone: head.Backbone{Name: "synthetic"}, Form: head.Separate}, opts(func(o *Options) { o.Seed = 1; o.FullData = true }))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := rep.Write(dir, "synthetic"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"report.json", "report.md", "accuracy.png", "accuracy.svg", "scores.png", "scores.svg", "loop-0.head.json", "final.head.json", "full-data.head.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "report.json"))
	var j map[string]any
	if err := json.Unmarshal(raw, &j); err != nil {
		t.Fatal(err)
	}
	loops, _ := j["loops"].([]any)
	first, _ := loops[0].(map[string]any)
	for _, k := range []string{"loop", "train_pairs", "selected", "val_accuracy", "test_accuracy"} {
		if _, ok := first[k]; !ok {
			t.Errorf("report.json loops[0] lacks %q", k)
		}
	}
	for _, k := range []string{"seed_only", "final", "full_data", "ser_gain", "full_minus_final", "advice"} {
		if _, ok := j[k]; !ok {
			t.Errorf("report.json lacks %q", k)
		}
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	for _, want := range []string{"## Did it help?", "| SER final - seed only |", "95% interval", "val loss", "Test accuracy per subset", "| x | y |", "(kept)", "scores.png"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

// TestExplains: the report's gain is the paired difference of the kept and
// seed heads on the test pairs, its interval holds it, the pool's score
// histogram counts both responses of every pool pair, and the advice names
// why the run stopped.
func TestExplains(t *testing.T) {
	set := planted(3000, 10, 6, 6)
	rep, err := Run(context.Background(), Input{Labelled: set, Backbone: head.Backbone{}, Form: head.Separate}, opts(func(o *Options) { o.Seed = 2; o.FullData = true }))
	if err != nil {
		t.Fatal(err)
	}
	if d := rep.Final - rep.SeedOnly; math.Abs(rep.Gain.Mean-d) > 1e-12 || rep.Gain.N != rep.Split.Test {
		t.Errorf("gain %+v, want %.4f over %d test pairs", rep.Gain, d, rep.Split.Test)
	}
	if g := rep.Gain; !(g.CI[0] <= g.Mean && g.Mean <= g.CI[1]) {
		t.Errorf("gain interval %v does not hold %v", g.CI, g.Mean)
	}
	if rep.FullGap == nil || math.Abs(rep.FullGap.Mean-(*rep.FullData-rep.Final)) > 1e-12 {
		t.Errorf("full gap %+v against full %v, final %v", rep.FullGap, rep.FullData, rep.Final)
	}
	n := 0
	for _, c := range rep.Loops[1].Scores {
		n += c
	}
	if n != 2*rep.Loops[1].PoolSize || len(rep.Loops[1].Scores) != ScoreBins {
		t.Errorf("loop 1's histogram counts %d scores in %d bins; the pool has %d pairs", n, len(rep.Loops[1].Scores), rep.Loops[1].PoolSize)
	}
	if len(rep.Loops[0].TestBySubset) != 2 {
		t.Errorf("per-subset accuracy %v, want subsets x and y", rep.Loops[0].TestBySubset)
	}
	if len(rep.Advice) < 2 {
		t.Errorf("advice %q: want whether it helped and why it stopped", rep.Advice)
	}
	// a run the valve stops says so, and what to try
	weak := planted(3000, 10, 0.3, 7)
	rep, err = Run(context.Background(), Input{Labelled: weak, Backbone: head.Backbone{}, Form: head.Separate}, opts(func(o *Options) { o.Seed = 1; o.MinPrecision = 0.99 }))
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(rep.Advice, " ")
	if !strings.Contains(all, "safety valve") || !strings.Contains(all, "--") {
		t.Errorf("a run the valve stopped advises %q", all)
	}
}

// opts is DefaultOptions with changes.
func opts(change func(o *Options)) Options {
	o := DefaultOptions()
	change(&o)
	return o
}

// TestAsk: each loop asks its human labels from the pool (answered from the
// hidden labels, so a head trained on them gains), the counts add up, runs
// are deterministic, and the rules choose differently.
func TestAsk(t *testing.T) {
	set := planted(3000, 10, 6, 8)
	run := func(rule string, self bool) *Report {
		rep, err := Run(context.Background(), Input{Labelled: set, Backbone: head.Backbone{}, Form: head.Separate}, opts(func(o *Options) {
			o.Seed, o.Ask, o.AskRule, o.NoSelfLabel, o.SeedFrac = 1, 60, rule, !self, 0.05
		}))
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	rep := run("dopt", false)
	if len(rep.Loops) != 4 {
		t.Fatalf("%d loops, want 4: asking runs every loop (%s)", len(rep.Loops), rep.Stopped)
	}
	for k, l := range rep.Loops[1:] {
		if l.Asked != 60 || l.Selected != 0 || l.HumanPairs != rep.Loops[0].HumanPairs+60*(k+1) || l.PoolSize != rep.Split.Pool-60*k {
			t.Errorf("loop %d: %+v", k+1, l)
		}
	}
	if last := rep.Loops[3]; last.TestAcc <= rep.SeedOnly {
		t.Errorf("180 true labels on top of the seed: test %.4f, seed-only %.4f", last.TestAcc, rep.SeedOnly)
	}
	again := run("dopt", false)
	for i := range rep.Loops {
		rep.Loops[i].Seconds, again.Loops[i].Seconds = 0, 0
	}
	if !reflect.DeepEqual(rep.Loops, again.Loops) {
		t.Error("two runs with one seed differ")
	}
	if r := run("random", false); reflect.DeepEqual(r.Loops[1].TestAcc, rep.Loops[1].TestAcc) && reflect.DeepEqual(r.Loops[3].TestAcc, rep.Loops[3].TestAcc) {
		t.Error("random and dopt trained the same heads")
	}
	both := run("uncertainty", true)
	if both.Loops[1].Asked != 60 || both.Loops[1].Selected == 0 {
		t.Errorf("asking and self-labelling: loop 1 %+v", both.Loops[1])
	}
	pool := planted(500, 10, 6, 9)
	if _, err := Run(context.Background(), Input{Labelled: set, Unlabelled: &pool, Backbone: head.Backbone{}, Form: head.Separate}, opts(func(o *Options) { o.Ask = 10 })); err == nil {
		t.Error("asking with a truly unlabelled pool (nobody to answer) accepted")
	}
}
