package eval

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/ser-rl/ser/data"
)

// fixture is testdata/rewardbench.json: RewardBench's own scoring code run
// on synthetic per-pair rewards (see rewardbench_fixtures.py).
type fixture struct {
	Commit string `json:"reward_bench_commit"`
	Cases  []struct {
		Name        string             `json:"name"`
		Pairs       [][4]any           `json:"pairs"` // subset, chosen's reward, rejected's, identical (0/1)
		SubsetAcc   map[string]float64 `json:"subset_accuracy"`
		Sections    map[string]float64 `json:"sections"`
		Leaderboard *float64           `json:"leaderboard"`
		PriorSets   *float64           `json:"prior_sets"`
	} `json:"cases"`
}

// TestRewardBenchExact: ser's RewardBench scores equal what RewardBench's
// code computed on the same per-pair rewards, to 1e-9: every subset; with
// identical responses (scored, as ties, wrong); with subsets missing; with
// a whole section missing (0, as calculate_scores_per_section gives it);
// one subset; with the preference test sets (the leaderboard's "Prior Sets"
// at half weight), all or some.
func TestRewardBenchExact(t *testing.T) {
	raw, err := os.ReadFile("testdata/rewardbench.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx fixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	if fx.Commit != RewardBenchCommit {
		t.Fatalf("the fixture came from RewardBench %s, the code says it matches %s", fx.Commit, RewardBenchCommit)
	}
	sectionKey := map[string]string{}
	for k, v := range RewardBenchSectionNames {
		sectionKey[v] = k
	}
	const tol = 1e-9
	near := func(a, b float64) bool { return math.Abs(a-b) <= tol }
	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			var pairs []data.Pair
			var ra, rb []float64
			for _, p := range c.Pairs {
				pair := data.Pair{Prompt: "p", Chosen: "a", Rejected: "b", Labelled: true, Subset: p[0].(string)}
				if p[3].(float64) == 1 {
					pair.Rejected = pair.Chosen
				}
				pairs = append(pairs, pair)
				ra, rb = append(ra, p[1].(float64)), append(rb, p[2].(float64))
			}
			m := Evaluate(ra, rb, pairs)
			if m.N != len(pairs) || len(m.Skipped) != 0 {
				t.Fatalf("counted %d of %d pairs, skipped %v: RewardBench counts every pair", m.N, len(pairs), m.Skipped)
			}
			for s, want := range c.SubsetAcc {
				if got := m.BySubset[s].Accuracy; !near(got, want) {
					t.Errorf("subset %s: accuracy %v, RewardBench %v", s, got, want)
				}
			}
			sc := m.RewardBench
			if sc == nil {
				t.Fatal("no RewardBench score")
			}
			for name, want := range c.Sections {
				if got := sc.Sections[sectionKey[name]]; !near(got, want) {
					t.Errorf("section %s: %v, RewardBench %v", name, got, want)
				}
			}
			mean := 0.0
			for _, v := range c.Sections {
				mean += v / 4
			}
			if !near(sc.Score, mean) {
				t.Errorf("score %v, want the mean of RewardBench's four sections %v", sc.Score, mean)
			}
			if (c.Leaderboard == nil) != (sc.Leaderboard == nil) || (c.Leaderboard != nil && !near(*sc.Leaderboard, *c.Leaderboard)) {
				t.Errorf("leaderboard %v, RewardBench %v (none where a section is missing: its code divides by zero)", sc.Leaderboard, c.Leaderboard)
			}
			if (c.PriorSets == nil) != (sc.PriorSets == nil) || (c.PriorSets != nil && !near(*sc.PriorSets, *c.PriorSets)) {
				t.Errorf("prior sets %v, RewardBench %v", sc.PriorSets, c.PriorSets)
			}
			if !(sc.ScoreCI[0] <= sc.Score && sc.Score <= sc.ScoreCI[1]) || (sc.Leaderboard != nil && !(sc.LeaderboardCI[0] <= *sc.Leaderboard && *sc.Leaderboard <= sc.LeaderboardCI[1])) {
				t.Errorf("intervals %v %v do not hold %v %v", sc.ScoreCI, sc.LeaderboardCI, sc.Score, sc.Leaderboard)
			}
		})
	}
}

// TestRewardBenchWeights: the Safety section weighs xstest-should-refuse 154
// and xstest-should-respond 250, as RewardBench's constants do since its
// commit "Mirror change from leaderboard" (they were the other way round in
// ser before; no test held an xstest subset).
func TestRewardBenchWeights(t *testing.T) {
	sc := RewardBench(map[string]float64{"xstest-should-refuse": 1, "xstest-should-respond": 0})
	if want := 154.0 / (154 + 250); math.Abs(sc.Sections["safety"]-want) > 1e-15 {
		t.Errorf("safety %v, want %v", sc.Sections["safety"], want)
	}
	if len(sc.MissingSections) != 3 || sc.Score != sc.Sections["safety"]/4 || sc.PresentMean != sc.Sections["safety"] {
		t.Errorf("%+v: three sections missing count 0 in the score; the mean of those present is kept apart", sc)
	}
	if RewardBench(map[string]float64{"harmless-base": 1, "shp": 1}) != nil {
		t.Error("a score from subsets none of which is RewardBench's")
	}
}

// TestEvaluate: counts, ties, identical responses, skipped pairs, margins,
// the reliability diagram and the chance verdicts.
func TestEvaluate(t *testing.T) {
	pairs := []data.Pair{
		{Chosen: "a", Rejected: "b", Labelled: true, Subset: "x"},
		{Chosen: "a", Rejected: "b", Labelled: true, Subset: "x"},
		{Chosen: "a", Rejected: "a", Labelled: true, Subset: "x"}, // identical: a tie, whatever the rewards say
		{Chosen: "a", Rejected: "b", Labelled: true, Subset: "y"}, // a tie
		{Chosen: "a", Rejected: "b", Labelled: false},
		{Chosen: "a", Rejected: "b", Labelled: true, HasScores: true, ScoreChosen: 3, ScoreRejected: 3},
	}
	ra := []float64{2, -1, 0.7, 5, 1, 1}
	rb := []float64{1, 0, 0.6, 5, 0, 0}
	m := Evaluate(ra, rb, pairs)
	if m.N != 4 || m.Accuracy != 0.25 || m.Ties != 2 || m.Identical != 1 || m.Skipped["unlabelled"] != 1 || m.Skipped[data.ProblemTiedScores] != 1 {
		t.Fatalf("%+v", m)
	}
	if math.Abs(m.MeanMargin-0) > 1e-12 { // margins 1, -1, 0, 0
		t.Errorf("mean margin %v, want 0", m.MeanMargin)
	}
	n := 0
	for _, b := range m.Reliability {
		n += b.N
		if b.N > 0 && (b.Predicted < b.Lo || b.Predicted > b.Hi) {
			t.Errorf("bin %+v: its mean prediction is outside it", b)
		}
	}
	if n != 8 { // both orders of the 4 pairs
		t.Errorf("reliability bins hold %d predictions, want 8", n)
	}
	// chance: 60% on 2,000 pairs is above chance; 51% on 200 is not told
	// apart from it; 30% on 500 is below
	for _, c := range []struct {
		acc  float64
		n    int
		want string
	}{{0.6, 2000, AboveChance}, {0.51, 200, AtChance}, {0.3, 500, BelowChance}} {
		pairs, ra, rb := synthetic(c.n, c.acc, "s")
		if got := Evaluate(ra, rb, pairs); got.Chance != c.want || got.BySubset["s"].Chance != c.want {
			t.Errorf("accuracy %v on %d pairs (interval %v): %q, want %q", got.Accuracy, c.n, got.AccuracyCI, got.Chance, c.want)
		}
	}
}

// synthetic is n pairs of which the share acc is ordered right.
func synthetic(n int, acc float64, subset string) ([]data.Pair, []float64, []float64) {
	var pairs []data.Pair
	var ra, rb []float64
	for i := range n {
		pairs = append(pairs, data.Pair{Chosen: "a", Rejected: "b", Labelled: true, Subset: subset})
		if float64(i) < acc*float64(n) {
			ra, rb = append(ra, 1), append(rb, 0)
		} else {
			ra, rb = append(ra, 0), append(rb, 1)
		}
	}
	return pairs, ra, rb
}

// TestAccuracyInterval: the bootstrap interval holds the accuracy, narrows
// as pairs grow, and is the same for the same data.
func TestAccuracyInterval(t *testing.T) {
	width := func(n int) float64 {
		rng := rand.New(rand.NewPCG(1, uint64(n)))
		pairs, ra, rb := synthetic(n, 0, "s")
		for i := range ra {
			ra[i] = rng.NormFloat64() + 0.3
			rb[i] = rng.NormFloat64()
		}
		m, again := Evaluate(ra, rb, pairs), Evaluate(ra, rb, pairs)
		if m.AccuracyCI != again.AccuracyCI {
			t.Fatal("two evaluations of the same data give different intervals")
		}
		if !(m.AccuracyCI[0] <= m.Accuracy && m.Accuracy <= m.AccuracyCI[1]) {
			t.Fatalf("interval %v does not hold %v", m.AccuracyCI, m.Accuracy)
		}
		return m.AccuracyCI[1] - m.AccuracyCI[0]
	}
	if w1, w2 := width(200), width(3200); !(w2 < w1/2) {
		t.Fatalf("interval widths %v (200 pairs) and %v (3,200 pairs)", w1, w2)
	}
}

// TestMcNemar: exact p-values against scipy.stats.binomtest(min(b, c), b+c,
// 0.5).pvalue (Debian's python3-scipy), to 1e-10 relative (the terms go
// through math.Lgamma of numbers in the thousands, good to about 1e-12
// each, and thousands of them are summed).
func TestMcNemar(t *testing.T) {
	for _, c := range []struct {
		b, c int
		p    float64
	}{{0, 0, 1}, {10, 2, 0.03857421875}, {2, 10, 0.03857421875}, {5, 5, 1}, {0, 7, 0.015625},
		{30, 45, 0.10534226887460482}, {400, 470, 0.019267052848609065}, {3000, 3200, 0.011488253770871587}} {
		if got := McNemarExact(c.b, c.c); math.Abs(got-c.p) > 1e-10*c.p {
			t.Errorf("McNemar(%d, %d) = %v, scipy %v", c.b, c.c, got, c.p)
		}
	}
}

// TestCompare: the paired difference is the difference of accuracies, per
// subset and overall; a model that wins 20 pairs and loses none has an
// interval above zero and a small McNemar p; a model against itself has a
// zero-width interval and p = 1; evaluations of other pairs are refused.
func TestCompare(t *testing.T) {
	var pairs []data.Pair
	var ra, rb, rc []float64
	for i := range 1000 {
		s := "x"
		if i%2 == 1 {
			s = "y"
		}
		pairs = append(pairs, data.Pair{Chosen: "a", Rejected: "b", Labelled: true, Subset: s})
		a := i%10 < 6              // 60%
		b := i%10 < 6 || i%50 == 7 // a's hits and 20 more
		ra, rb = append(ra, f(a)), append(rb, f(b))
		rc = append(rc, 0)
	}
	zero := make([]float64, len(ra))
	ma, mb := Evaluate(ra, zero, pairs), Evaluate(rb, zero, pairs)
	c, err := Compare("A", "B", ma, mb)
	if err != nil {
		t.Fatal(err)
	}
	o := c.Overall
	if math.Abs(o.Diff-0.02) > 1e-12 || o.OnlyB != 20 || o.OnlyA != 0 || o.N != 1000 {
		t.Fatalf("%+v", o)
	}
	if !(o.CI[0] > 0 && o.CI[1] < 0.04) || o.McNemarP > 1e-5 {
		t.Errorf("%+v: B wins 20 pairs and loses none", o)
	}
	if y := c.BySubset["y"]; y.OnlyB != 20 || math.Abs(y.Diff-0.04) > 1e-12 { // i%50 == 7 is odd
		t.Errorf("subset y: %+v", y)
	}
	self, _ := Compare("A", "A", ma, ma)
	if self.Overall.CI != [2]float64{0, 0} || self.Overall.McNemarP != 1 {
		t.Errorf("a model against itself: %+v", self.Overall)
	}
	if _, err := Compare("A", "C", ma, Evaluate(rc, zero, pairs[:10])); err == nil || !strings.Contains(err.Error(), "not the same pairs") {
		t.Errorf("evaluations of other pairs: %v", err)
	}
	d := PairedDiff([]bool{true, false}, []bool{true, true})
	if d.Mean != 0.5 || d.N != 2 {
		t.Errorf("PairedDiff %+v", d)
	}
	m, ci := MeanCI([]float64{1, 2, 3, 4, 5})
	// mean 3, sd 1.5811, se 0.7071, t(4) 2.776: half-width 1.963
	if m != 3 || math.Abs(ci[0]-(3-1.963)) > 1e-3 || math.Abs(ci[1]-(3+1.963)) > 1e-3 {
		t.Errorf("MeanCI = %v %v, want 3 [1.037, 4.963]", m, ci)
	}
}

func f(b bool) float64 {
	if b {
		return 1
	}
	return -1
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestIntervalsSmallAndLarge: a subset of a few pairs gets Clopper-Pearson's
// exact interval (checked against scipy.stats.beta), so 5 of 5 right is not
// "above chance" and one pair says nothing; the overall interval resamples
// all the pairs together (200 subsets of one pair each no longer give a
// zero-width interval); a large sample's bootstrap interval is as wide as
// the normal approximation says (n 1,000 at 0.6: about 0.061).
func TestIntervalsSmallAndLarge(t *testing.T) {
	for _, c := range []struct {
		k, n   int
		lo, hi float64
	}{{0, 1, 0, 0.975}, {1, 1, 0.025, 1}, {5, 5, 0.4781762498950185, 1}, {3, 10, 0.06673951117773447, 0.6524528500599973},
		{0, 20, 0, 0.1684334709830853}, {14, 29, 0.294485582951841, 0.6746850036385436}} {
		if got := clopperPearson(c.k, c.n); math.Abs(got[0]-c.lo) > 1e-9 || math.Abs(got[1]-c.hi) > 1e-9 {
			t.Errorf("Clopper-Pearson %d of %d: %v, scipy [%v, %v]", c.k, c.n, got, c.lo, c.hi)
		}
	}
	pairs, ra, rb := synthetic(5, 1, "five")
	if m := Evaluate(ra, rb, pairs); m.BySubset["five"].Chance != AtChance || m.Chance != AtChance {
		t.Errorf("5 of 5 right: %+v, overall %s %v", m.BySubset["five"], m.Chance, m.AccuracyCI)
	}
	var many []data.Pair
	var a, b []float64
	for i := range 200 {
		many = append(many, data.Pair{Chosen: "x", Rejected: "y", Labelled: true, Subset: fmt.Sprint(i)})
		a, b = append(a, float64(i%2)), append(b, 0.5)
	}
	if m := Evaluate(a, b, many); m.AccuracyCI[1]-m.AccuracyCI[0] < 0.1 || m.Chance != AtChance {
		t.Errorf("200 one-pair subsets at 50%%: overall %v %s", m.AccuracyCI, m.Chance)
	}
	pairs, ra, rb = synthetic(1000, 0.6, "s")
	m := Evaluate(ra, rb, pairs)
	if w := m.AccuracyCI[1] - m.AccuracyCI[0]; w < 0.05 || w > 0.072 {
		t.Errorf("interval %v of 0.6 on 1,000 pairs: width %v, the normal approximation 0.061", m.AccuracyCI, w)
	}
	if len(m.Reliability) != 10 {
		t.Errorf("%d reliability bins, want ECE's 10", len(m.Reliability))
	}
	if chance([2]float64{0.5, 0.7}) != AtChance || chance([2]float64{0.3, 0.5}) != AtChance || chance([2]float64{0.5001, 0.7}) != AboveChance {
		t.Error("an interval that reaches 0.5 is at chance")
	}
	if (PairScore{Chosen: 1, Reject: 1}).Correct() || (PairScore{Chosen: math.NaN(), Reject: 0}).Correct() {
		t.Error("a tie or NaN counted right")
	}
	// NaN rewards count as wrong, in the figure and its interval
	pairs, ra, rb = synthetic(40, 1, "s")
	for i := 30; i < 40; i++ {
		ra[i] = math.NaN()
	}
	m = Evaluate(ra, rb, pairs)
	if m.Accuracy != 0.75 || m.NonFinite != 10 || m.AccuracyCI[1] >= 0.95 {
		t.Errorf("NaN rewards: accuracy %v, non-finite %d, interval %v", m.Accuracy, m.NonFinite, m.AccuracyCI)
	}
}

// TestCompareSmallVerdict: three pairs that only A orders right are not
// enough to tell A and B apart (McNemar's p = 0.25), whatever a bootstrap
// of them says.
func TestCompareSmallVerdict(t *testing.T) {
	pairs, ra, rb := synthetic(3, 1, "s")
	zero := make([]float64, 3)
	c, err := Compare("A", "B", Evaluate(ra, rb, pairs), Evaluate(zero, zero, pairs))
	if err != nil {
		t.Fatal(err)
	}
	if o := c.Overall; o.OnlyA != 3 || math.Abs(o.McNemarP-0.25) > 1e-12 || o.ToldApart {
		t.Errorf("%+v", o)
	}
}

// TestMarginBins: bins hold every value, one value gets a bin around it
// (not 0 to 1), and a range beyond float64 is refused rather than drawn.
func TestMarginBins(t *testing.T) {
	bins, ok := marginBins([]float64{-0.076}, 40)
	if !ok || len(bins) != 1 || !(bins[0].Min < -0.076 && -0.076 < bins[0].Max) || bins[0].Max > 0 {
		t.Errorf("one value: %+v", bins)
	}
	v := []float64{-2, -1, 0, 0.5, 3}
	bins, _ = marginBins(v, 40)
	total := 0.0
	for _, b := range bins {
		total += b.Weight
	}
	if total != 5 || bins[0].Min != -2 || bins[len(bins)-1].Max != 3 {
		t.Errorf("bins %v..%v hold %v", bins[0].Min, bins[len(bins)-1].Max, total)
	}
	if _, ok := marginBins([]float64{-1e308, 1e308}, 40); ok {
		t.Error("a range beyond float64 binned")
	}
}

// TestBestOfNTiesAndNaN: a tie for the highest reward, or rewards that are
// not numbers, earn no credit: the pick is the lowest-rated of the tied,
// and NaN ranks last; the intervals hold their figures.
func TestBestOfNTiesAndNaN(t *testing.T) {
	rec := &data.Rated{Prompt: "p", Responses: []string{"a", "b", "c", "d"}, Overall: []float64{9, 5, 3, 1}, Aspects: map[string][]float64{}}
	u := UltraFeedbackMeasures([]*data.Rated{rec}, [][]float64{{1, 1, 0, 0}})
	if u.PickRating != 5 || u.PickBest != 0 {
		t.Errorf("a tie for first: pick rated %v, best %v", u.PickRating, u.PickBest)
	}
	u = UltraFeedbackMeasures([]*data.Rated{rec}, [][]float64{{math.NaN(), 0.5, math.NaN(), 0.1}})
	if u.PickRating != 5 {
		t.Errorf("NaN rewards: pick rated %v, want 5 (the best finite reward)", u.PickRating)
	}
	u = UltraFeedbackMeasures([]*data.Rated{rec, rec, rec}, [][]float64{{4, 3, 2, 1}, {1, 2, 3, 4}, {2, 4, 1, 3}})
	if !(u.PickRatingCI[0] <= u.PickRating && u.PickRating <= u.PickRatingCI[1]) || !(u.PickBestCI[0] <= u.PickBest && u.PickBest <= u.PickBestCI[1]) || u.PickBestCI[1] > 1 {
		t.Errorf("intervals %v %v for %v %v", u.PickRatingCI, u.PickBestCI, u.PickRating, u.PickBest)
	}
}
