package eval

import (
	"math"
	"math/rand/v2"
	"sort"

	"github.com/ser-rl/ser/data"
)

// UltraFeedback are the measures UltraFeedback's ratings allow beside
// pairwise accuracy, over the prompts of uf-raw records whose completions'
// overall ratings are not all equal (those that give pairs: a prompt whose
// completions all tie says nothing of which is better). Every interval
// resamples prompts (a prompt's completions are judged together), 1,000
// times, seeded.
type UltraFeedback struct {
	Prompts int `json:"prompts"` // prompts with at least two completions
	// Spearman is the mean over prompts of the Spearman rank correlation
	// between the completions' rewards and their overall ratings (ties
	// ranked by their mean rank), over the SpearmanPrompts prompts where
	// both vary (a correlation is undefined otherwise).
	Spearman        float64    `json:"spearman"`
	SpearmanCI      [2]float64 `json:"spearman_ci"`
	SpearmanPrompts int        `json:"spearman_prompts"`
	// BestOfN: per prompt, the overall rating of the completion the model
	// ranks first (PickRating, mean over prompts), against the best rating
	// available (BestRating) and the mean rating of the prompt's completions
	// (MeanRating: what a random pick gets on average); PickBest is the
	// share of prompts where the pick is rated best (a tie for best counts).
	// A tie for the highest reward picks the lowest-rated of the tied (no
	// credit for a tie, as pairwise accuracy gives none).
	PickRating   float64    `json:"best_of_n_pick_rating"`
	PickRatingCI [2]float64 `json:"best_of_n_pick_rating_ci"`
	BestRating   float64    `json:"best_of_n_best_rating"`
	MeanRating   float64    `json:"best_of_n_mean_rating"`
	PickBest     float64    `json:"best_of_n_pick_is_best"`
	PickBestCI   [2]float64 `json:"best_of_n_pick_is_best_ci"`
	// Aspects is the pairwise accuracy per rated aspect: every two
	// completions of a prompt whose ratings of the aspect differ, right when
	// the higher-rated gets the higher reward (a tie is wrong).
	Aspects map[string]SubsetMetrics `json:"aspects"`
}

// UltraFeedbackMeasures computes the measures from each record's rewards
// (rewards[i][k] is the reward of records[i].Responses[k]). Records with
// fewer than two completions are left out.
func UltraFeedbackMeasures(records []*data.Rated, rewards [][]float64) UltraFeedback {
	type prompt struct {
		spearman       float64 // NaN when undefined
		pick, best, av float64
		isBest         bool
		aspect         map[string][2]int // right, counted
	}
	var ps []prompt
	for i, rec := range records {
		n := len(rec.Responses)
		if n < 2 || len(rewards[i]) != n {
			continue
		}
		r := rewards[i]
		p := prompt{spearman: spearman(r, rec.Overall), aspect: map[string][2]int{}}
		// the completion ranked first: a reward that is not a number ranks
		// last, and a tie (NaN ones included) picks the lowest-rated of the
		// tied, so that neither earns credit
		rank := func(k int) float64 {
			if math.IsNaN(r[k]) {
				return math.Inf(-1)
			}
			return r[k]
		}
		pick := 0
		for k := 1; k < n; k++ {
			if rank(k) > rank(pick) || (rank(k) == rank(pick) && rec.Overall[k] < rec.Overall[pick]) {
				pick = k
			}
		}
		p.pick, p.best = rec.Overall[pick], rec.Overall[0]
		for _, o := range rec.Overall {
			p.best = math.Max(p.best, o)
			p.av += o / float64(n)
		}
		p.isBest = p.pick == p.best
		for _, a := range data.Aspects {
			ratings := rec.Aspects[a]
			if len(ratings) != n {
				continue
			}
			var c [2]int
			for x := 0; x < n; x++ {
				for y := x + 1; y < n; y++ {
					hi, lo := x, y
					if ratings[y] > ratings[x] {
						hi, lo = y, x
					}
					if math.IsNaN(ratings[x]) || math.IsNaN(ratings[y]) || ratings[x] == ratings[y] {
						continue
					}
					c[1]++
					if r[hi] > r[lo] {
						c[0]++
					}
				}
			}
			if c[1] > 0 {
				p.aspect[a] = c
			}
		}
		ps = append(ps, p)
	}
	u := UltraFeedback{Prompts: len(ps), Aspects: map[string]SubsetMetrics{}}
	if len(ps) == 0 {
		return u
	}
	// the figures of a sample of prompts (idx), in the order of fields
	figures := func(idx func(int) int) (sp float64, spN int, pick, best, mean, pickBest float64, aspect map[string][2]int) {
		aspect = map[string][2]int{}
		for j := range ps {
			p := ps[idx(j)]
			if !math.IsNaN(p.spearman) {
				sp += p.spearman
				spN++
			}
			pick += p.pick
			best += p.best
			mean += p.av
			if p.isBest {
				pickBest++
			}
			for a, c := range p.aspect {
				t := aspect[a]
				aspect[a] = [2]int{t[0] + c[0], t[1] + c[1]}
			}
		}
		n := float64(len(ps))
		if spN > 0 {
			sp /= float64(spN)
		} else {
			sp = math.NaN()
		}
		return sp, spN, pick / n, best / n, mean / n, pickBest / n, aspect
	}
	var aspect map[string][2]int
	u.Spearman, u.SpearmanPrompts, u.PickRating, u.BestRating, u.MeanRating, u.PickBest, aspect = figures(func(j int) int { return j })
	rng := rand.New(rand.NewPCG(0x5e, 0x0f))
	var sp, pick, pickBest []float64
	asp := map[string][]float64{}
	for range resamples {
		draw := make([]int, len(ps))
		for j := range draw {
			draw[j] = rng.IntN(len(ps))
		}
		s, sn, pk, _, _, pb, a := figures(func(j int) int { return draw[j] })
		if sn > 0 {
			sp = append(sp, s)
		}
		pick, pickBest = append(pick, pk), append(pickBest, pb)
		for name, c := range a {
			asp[name] = append(asp[name], float64(c[0])/float64(c[1]))
		}
	}
	if len(sp) > 0 {
		u.SpearmanCI = interval(sp)
	}
	u.PickRatingCI, u.PickBestCI = interval(pick), interval(pickBest)
	for name, c := range aspect {
		sm := SubsetMetrics{Accuracy: float64(c[0]) / float64(c[1]), N: c[1], CI: interval(asp[name])}
		sm.Chance = chance(sm.CI)
		u.Aspects[name] = sm
	}
	return u
}

// spearman is the Spearman rank correlation of x and y (ties get their mean
// rank), NaN when either is constant or holds NaN.
func spearman(x, y []float64) float64 {
	for i := range x {
		if math.IsNaN(x[i]) || math.IsNaN(y[i]) {
			return math.NaN()
		}
	}
	rx, ry := ranks(x), ranks(y)
	mx, sx := meanStd(rx)
	my, sy := meanStd(ry)
	if sx == 0 || sy == 0 {
		return math.NaN()
	}
	c := 0.0
	for i := range rx {
		c += (rx[i] - mx) * (ry[i] - my)
	}
	return c / float64(len(rx)) / (sx * sy)
}

// ranks are the 1-based ranks of xs, ties given their mean rank.
func ranks(xs []float64) []float64 {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return xs[idx[a]] < xs[idx[b]] })
	out := make([]float64, len(xs))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && xs[idx[j+1]] == xs[idx[i]] {
			j++
		}
		for k := i; k <= j; k++ {
			out[idx[k]] = float64(i+j)/2 + 1
		}
		i = j + 1
	}
	return out
}

// RatedRecords lists the distinct rated records behind pairs (data.Pair's
// Rated), in the order first met.
func RatedRecords(pairs []data.Pair) []*data.Rated {
	seen := map[*data.Rated]bool{}
	var out []*data.Rated
	for i := range pairs {
		if r := pairs[i].Rated; r != nil && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}
