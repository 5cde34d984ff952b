package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/eval"
	"github.com/ser-rl/ser/features"
	"github.com/ser-rl/ser/head"
	"github.com/ser-rl/ser/internal/jsonsafe"
	"github.com/ser-rl/ser/internal/safefile"
	"github.com/ser-rl/ser/models"
)

func evalCommand() *cli.Command {
	return &cli.Command{
		Name: "eval",
		UsageText: `ser eval --head rm.head.json --data test.jsonl --json eval.json --plots eval-charts/
ser eval --head rm.head.json --data reward-bench/filtered.parquet --scores-out scores.jsonl
ser eval --head linear.head.json --head mlp.head.json --data test.jsonl   # the two compared, paired
ser eval --head rm.head.json --data ultrafeedback_binarized/ --split test_prefs`,
		Usage: "evaluate heads offline on labelled pairs: accuracy (overall, per subset, against chance), RewardBench's scores, ties, margin, calibration; two heads compared on the same pairs",
		Description: "Figures:\n   " + strings.Join([]string{eval.DefAccuracy, eval.DefInterval, eval.DefTies, eval.DefMargin, eval.DefECE,
			"RewardBench: its sections and score as its code (commit " + eval.RewardBenchCommit[:7] + ") computes them, when the data's subsets are its",
			"two heads: the paired difference B - A with a bootstrap 95% interval, and McNemar's exact test on the pairs only one orders right",
			"uf-raw data: per prompt, Spearman's correlation of rewards with the overall ratings, best of N (the rating of the completion ranked first), and accuracy per rated aspect"}, "\n   "),
		Flags: append(dataFlags("labelled pairs to evaluate on"),
			&cli.StringSliceFlag{Name: "head", Usage: "(required, or --model a reward model) head file, or model:NAME for a reward model's own reward; twice (or more) to compare on the same pairs, each against the first"},
			&cli.StringFlag{Name: "json", Usage: "also write the figures as JSON here"},
			&cli.StringFlag{Name: "model", Usage: "backbone (default: the one each head names); without --head, a reward model whose own reward is evaluated"},
			&cli.StringFlag{Name: "cache", Usage: "feature cache file (default: the backbone's)"},
			&cli.StringFlag{Name: "scores-out", Usage: "also write each pair's rewards as JSONL here (file, line, id, subset, reward_chosen, reward_rejected, correct; a second head's as reward_chosen_2, ...)"},
			&cli.StringFlag{Name: "plots", Usage: "also draw charts into this folder (PNG and SVG): accuracy by subset, calibration, margins, and comparisons"},
		),
		Action: func(c *cli.Context) error {
			if err := needHead(c); err != nil {
				return err
			}
			if err := need(c, "data"); err != nil {
				return err
			}
			heads := c.StringSlice("head")
			if len(heads) == 0 { // --model alone: a reward model's own reward
				heads = []string{modelHeadPrefix + c.String("model")}
			}
			// every output is checked before anything is written: the
			// charts are files of their own in the --plots folder
			outs := []file{{"--json", c.String("json")}, {"--scores-out", c.String("scores-out")}}
			ins := append(flagFiles(c, "data"), file{"--cache", c.String("cache")})
			for _, h := range heads {
				if !strings.HasPrefix(h, modelHeadPrefix) {
					ins = append(ins, file{"--head", h})
				}
			}
			charts := map[string]bool{}
			if dir := c.String("plots"); dir != "" {
				for _, base := range chartBases(dir, len(heads)) {
					for _, ext := range []string{".png", ".svg"} {
						outs = append(outs, file{"--plots", base + ext})
						charts[filepath.Base(base+ext)] = true
					}
				}
				if err := checkOutputFolder("--plots", dir, func(name string) bool { return charts[name] }, append(ins, outs[:2]...)); err != nil {
					return err
				}
			}
			if err := checkOutputs(outs, ins); err != nil {
				return err
			}
			pairs, err := readData(c, "data")
			if err != nil {
				return err
			}
			var evals []evaluated
			for _, path := range heads {
				e, err := evalHead(c, path, pairs)
				if err != nil {
					return fmt.Errorf("--head %s: %w", path, err)
				}
				if err := checkOutputs(outs, backboneFiles(c, e.m)); err != nil {
					return err
				}
				if e.met.N == 0 {
					return fmt.Errorf("no pair to evaluate: %s (evaluation needs labelled pairs with a preference)", skippedText(e.met.Skipped))
				}
				if len(evals) > 0 && c.String("cache") != "" && e.m.Fingerprint() != evals[0].m.Fingerprint() {
					return fmt.Errorf("--cache %s holds one backbone's features, and --head %s and --head %s are on backbones %s and %s: leave --cache out (each backbone's own cache is used)",
						c.String("cache"), evals[0].path, path, evals[0].m.Name, e.m.Name)
				}
				evals = append(evals, e)
			}
			var comps []eval.Comparison
			for k, e := range evals {
				if len(evals) > 1 {
					fmt.Fprintf(c.App.Writer, "%s: %s\n", letter(k), e.path)
				}
				printMetrics(c.App.Writer, e.met, e.m)
				if k > 0 {
					comp, err := eval.Compare(letter(0), letter(k), evals[0].met, e.met)
					if err != nil {
						return err
					}
					printComparison(c.App.Writer, comp)
					comps = append(comps, comp)
				}
				if len(evals) > 1 {
					fmt.Fprintln(c.App.Writer)
				}
			}
			fmt.Fprintln(c.App.Writer, "figures:\n  "+strings.Join([]string{eval.DefAccuracy, eval.DefInterval, eval.DefTies, eval.DefMargin, eval.DefECE}, "\n  "))
			if p := c.String("scores-out"); p != "" {
				if err := writeScores(p, evals, pairs); err != nil {
					return err
				}
			}
			if dir := c.String("plots"); dir != "" {
				if err := drawEval(c, dir, evals, comps); err != nil {
					return err
				}
			}
			if p := c.String("json"); p != "" {
				var v any = evals[0].met
				if len(evals) > 1 {
					type headMetrics struct {
						Head    string       `json:"head"`
						Metrics eval.Metrics `json:"metrics"`
					}
					var hs []headMetrics
					for _, e := range evals {
						hs = append(hs, headMetrics{e.path, e.met})
					}
					v = map[string]any{"heads": hs, "comparisons": comps}
				}
				raw, err := jsonsafe.MarshalIndent(v, "", " ") // a figure that is not a number is null
				if err != nil {
					return err
				}
				return safefile.WriteFile(p, append(raw, '\n'))
			}
			return nil
		},
	}
}

// evaluated is one head's evaluation.
type evaluated struct {
	path string
	h    *head.Head
	m    *models.Manifest
	met  eval.Metrics
}

// letter names the k-th head of a comparison: A, B, C, ..., then H27, ...
func letter(k int) string {
	if k < 26 {
		return string(rune('A' + k))
	}
	return fmt.Sprintf("H%d", k+1)
}

// chartBases are the charts --plots writes for n heads (without their
// extensions): each head's, prefixed A-, B-, ... when there are several,
// and each comparison's.
func chartBases(dir string, n int) []string {
	var out []string
	for k := 0; k < n; k++ {
		prefix := ""
		if n > 1 {
			prefix = letter(k) + "-"
		}
		out = append(out, eval.PlotBases(dir, prefix)...)
		if k > 0 {
			out = append(out, compareBase(dir, k))
		}
	}
	return out
}

func compareBase(dir string, k int) string {
	return filepath.Join(dir, fmt.Sprintf("compare-%s-%s", letter(0), letter(k)))
}

// skippedText lists the reasons pairs were set aside.
func skippedText(skipped map[string]int) string {
	if len(skipped) == 0 {
		return "the data holds none"
	}
	var parts []string
	for _, why := range sortedKeys(skipped) {
		parts = append(parts, fmt.Sprintf("%d %s", skipped[why], why))
	}
	return "set aside: " + strings.Join(parts, ", ")
}

// evalHead evaluates the head at path on pairs, with UltraFeedback's
// measures when the pairs come from rated (uf-raw) records.
func evalHead(c *cli.Context, path string, pairs []data.Pair) (evaluated, error) {
	h, m, err := loadHeadAt(c, path)
	if err != nil {
		return evaluated{}, err
	}
	x, err := pairFeatures(c, m, h.Features, pairs)
	if err != nil {
		return evaluated{}, err
	}
	e := evaluated{path: path, h: h, m: m, met: eval.Evaluate(h.Rewards(x.A), h.Rewards(x.B), pairs)}
	if recs := eval.RatedRecords(pairs); len(recs) > 0 {
		r, err := completionRewards(c, m, h, recs)
		if err != nil {
			return evaluated{}, err
		}
		u := eval.UltraFeedbackMeasures(recs, r)
		e.met.UltraFeedback = &u
	}
	return e, nil
}

// completionRewards scores every completion of the rated records (cache
// hits: the pairs' texts are the same).
func completionRewards(c *cli.Context, m *models.Manifest, h *head.Head, recs []*data.Rated) ([][]float64, error) {
	f, bar, err := featurizer(c, m, h.Features)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var items []features.Item
	for _, r := range recs {
		for _, resp := range r.Responses {
			items = append(items, features.Item{Prompt: r.Prompt, Response: resp})
		}
	}
	all, err := f.Rewards(c.Context, h, items)
	bar.Done()
	var nf *features.NonFiniteError
	if err != nil && !errors.As(err, &nf) { // a reward that is not finite is kept, and counted as such
		return nil, runtimeHint(err)
	}
	out := make([][]float64, len(recs))
	k := 0
	for i, r := range recs {
		out[i] = all[k : k+len(r.Responses)]
		k += len(r.Responses)
	}
	return out, nil
}

// writeScores writes each evaluated pair's rewards as JSONL: the first
// head's as reward_chosen, reward_rejected and correct, the k-th's with the
// suffix _k.
func writeScores(path string, evals []evaluated, pairs []data.Pair) error {
	return safefile.Write(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for i, s := range evals[0].met.Scores {
			p := pairs[s.Index]
			row := map[string]any{"file": p.File, "line": p.Line, "subset": p.Subset}
			if p.ID != "" {
				row["id"] = p.ID
			}
			for k, e := range evals {
				suffix := ""
				if k > 0 {
					suffix = fmt.Sprintf("_%d", k+1)
				}
				s := e.met.Scores[i]
				row["reward_chosen"+suffix], row["reward_rejected"+suffix], row["correct"+suffix] = finiteOrNil(s.Chosen), finiteOrNil(s.Reject), s.Correct()
			}
			if err := enc.Encode(row); err != nil {
				return err
			}
		}
		return nil
	})
}

// drawEval writes the charts of each head (prefixed A-, B-, ... when there
// are several) and of each comparison into dir.
func drawEval(c *cli.Context, dir string, evals []evaluated, comps []eval.Comparison) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data := strings.Join(c.StringSlice("data"), ", ")
	var bases []string
	for k, e := range evals {
		prefix := ""
		if len(evals) > 1 {
			prefix = letter(k) + "-"
		}
		title := fmt.Sprintf("%s on %s (backbone %s)", filepath.Base(e.path), data, e.m.Name)
		b, err := eval.Plots(e.met, dir, prefix, title)
		if err != nil {
			return err
		}
		bases = append(bases, b...)
	}
	for k, comp := range comps {
		base := compareBase(dir, k+1)
		title := fmt.Sprintf("%s vs %s on %s", filepath.Base(evals[k+1].path), filepath.Base(evals[0].path), data)
		if err := eval.CompareChart(comp, base, title); err != nil {
			return err
		}
		bases = append(bases, base)
	}
	notef(c, "charts: %s (.png and .svg)", strings.Join(bases, ", "))
	return nil
}

// defaultBackboneNote is what to know when a figure at chance comes from
// the default backbone (empty for another).
func defaultBackboneNote(m *models.Manifest) string {
	if m == nil || m.Name != models.DefaultName {
		return ""
	}
	return ": the default backbone (USE-lite) is weak as a reward model's (the README measures a linear head at about 0.55 on HH-RLHF and 0.58 on UltraFeedback); import the LLM or reward model you use (ser models import)"
}

// chanceMark is the table's note on an accuracy's interval.
func chanceMark(v string) string {
	switch v {
	case eval.AtChance:
		return "not above chance"
	case eval.BelowChance:
		return "below chance"
	}
	return ""
}

// ci writes an interval as [lo, hi] (so that negative bounds read).
func ci(c [2]float64) string { return fmt.Sprintf("[%.4f, %.4f]", c[0], c[1]) }

// tableName is a subset's name in a table: eval.Label's, and a subset
// called "overall" is told apart from the row of all the pairs.
func tableName(s string) string {
	if s == "overall" {
		return "overall (a subset)"
	}
	return eval.Label(s)
}

func printMetrics(out io.Writer, m eval.Metrics, bb *models.Manifest) {
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "subset\tpairs\taccuracy\t95% CI\t")
	subsets := m.Subsets()
	if len(subsets) > 1 || (len(subsets) == 1 && subsets[0] != "all") {
		for _, s := range subsets {
			sm := m.BySubset[s]
			fmt.Fprintf(w, "%s\t%d\t%.4f\t%s\t%s\n", tableName(s), sm.N, sm.Accuracy, ci(sm.CI), chanceMark(sm.Chance))
		}
	}
	fmt.Fprintf(w, "overall\t%d\t%.4f\t%s\t%s\n", m.N, m.Accuracy, ci(m.AccuracyCI), chanceMark(m.Chance))
	w.Flush()
	if m.Ties > 0 { // ties count as wrong: say what the decided pairs give
		decided := m.N - m.Ties - m.NonFinite
		right := int(math.Round(m.Accuracy * float64(m.N)))
		fmt.Fprintf(out, "%d of the %d pairs are ties (equal rewards", m.Ties, m.N)
		if m.Identical > 0 {
			fmt.Fprintf(out, "; %d of them identical responses", m.Identical)
		}
		fmt.Fprint(out, "), counted wrong")
		if decided > 0 {
			fmt.Fprintf(out, "; on the %d pairs decided the accuracy is %.4f", decided, float64(right)/float64(decided))
		}
		fmt.Fprintln(out)
	}
	switch {
	case m.Chance == eval.AboveChance:
	case m.NonFinite == m.N:
		fmt.Fprintln(out, "no reward is a finite number: the backbone's vectors hold NaN or Inf, or the head's weights overflow")
	case m.Ties*2 >= m.N:
		fmt.Fprintf(out, "the overall accuracy is not above chance: most pairs are ties (a head that gives most responses one reward?)%s\n", defaultBackboneNote(bb))
	case m.Chance == eval.BelowChance:
		fmt.Fprintf(out, "the overall accuracy is below chance: its 95%% interval %s lies under 0.5 (the head prefers what these labels reject: was it trained on data that values other things?)%s\n", ci(m.AccuracyCI), defaultBackboneNote(bb))
	default:
		fmt.Fprintf(out, "the overall accuracy is not above chance: its 95%% interval %s holds 0.5%s\n", ci(m.AccuracyCI), defaultBackboneNote(bb))
	}
	if rb := m.RewardBench; rb != nil {
		fmt.Fprintf(out, "RewardBench (as its code at %s computes it): score %.4f (95%% CI %s), the mean of", eval.RewardBenchCommit[:7], rb.Score, ci(rb.ScoreCI))
		for _, s := range eval.RewardBenchSections {
			fmt.Fprintf(out, " %s %.4f", eval.RewardBenchSectionNames[s], rb.Sections[s])
		}
		fmt.Fprintln(out)
		if rb.PriorSets != nil && rb.Leaderboard != nil {
			fmt.Fprintf(out, "  leaderboard average %.4f (95%% CI %s): the four sections at weight 2, Prior Sets %.4f (the mean of %s) at 1\n",
				*rb.Leaderboard, ci(*rb.LeaderboardCI), *rb.PriorSets, strings.Join(rb.PriorSetsPresent, ", "))
		}
		if len(rb.MissingSections) > 0 {
			var names []string
			for _, s := range rb.MissingSections {
				names = append(names, eval.RewardBenchSectionNames[s])
			}
			fmt.Fprintf(out, "  sections without any of their subsets in the data, counted 0 as RewardBench counts them: %s (the mean of the sections present: %.4f; no leaderboard average, which RewardBench's code does not compute then)\n", strings.Join(names, ", "), rb.PresentMean)
		}
		if len(rb.Missing) > 0 {
			fmt.Fprintf(out, "  (subsets not in the data: %s)\n", strings.Join(rb.Missing, ", "))
		}
	}
	if u := m.UltraFeedback; u != nil && u.Prompts > 0 {
		sp := "not defined (no prompt where both the rewards and the ratings vary)"
		if u.SpearmanPrompts > 0 {
			sp = fmt.Sprintf("%.4f (95%% CI %s, over the %d prompts where both vary)", u.Spearman, ci(u.SpearmanCI), u.SpearmanPrompts)
		}
		fmt.Fprintf(out, "UltraFeedback ratings, %d prompts: Spearman(reward, overall rating) %s; best of N: the completion ranked first is rated %.3f (95%% CI %s) against %.3f for the best and %.3f on average, and is a best-rated one for %.1f%% of prompts (95%% CI [%.1f, %.1f])\n",
			u.Prompts, sp, u.PickRating, ci(u.PickRatingCI), u.BestRating, u.MeanRating, 100*u.PickBest, 100*u.PickBestCI[0], 100*u.PickBestCI[1])
		for _, a := range data.Aspects {
			if sm, ok := u.Aspects[a]; ok {
				fmt.Fprintf(out, "  %s: accuracy %.4f (95%% CI %s) on %d pairs of completions rated differently %s\n", a, sm.Accuracy, ci(sm.CI), sm.N, chanceMark(sm.Chance))
			}
		}
	}
	if m.NonFinite < m.N {
		fmt.Fprintf(out, "margin mean %.4g, sd %.4g (reward units); ECE %.4f\n", m.MeanMargin, m.MarginStd, m.ECE)
	} else {
		fmt.Fprintln(out, "margin and ECE: n/a (no pair has finite rewards)")
	}
	if m.NonFinite > 0 {
		fmt.Fprintf(out, "%d pairs have a reward that is not a finite number (the backbone's vectors for them hold NaN or Inf, or the head's weights overflow): counted as wrong, left out of the margin and ECE\n", m.NonFinite)
	}
	for _, why := range sortedKeys(m.Skipped) {
		fmt.Fprintf(out, "skipped %d pairs: %s\n", m.Skipped[why], why)
	}
}

// printComparison writes a comparison's table: per subset and overall,
// both accuracies, the paired difference with its interval, the discordant
// pairs and McNemar's p, whose verdict the last column gives.
func printComparison(out io.Writer, c eval.Comparison) {
	fmt.Fprintf(out, "%s - %s, paired on the same pairs:\n", c.B, c.A)
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintf(w, "subset\tpairs\t%s\t%s\t%s-%s\t95%% CI\tonly %s right\tonly %s right\tMcNemar p\t\n", c.A, c.B, c.B, c.A, c.A, c.B)
	row := func(name string, p eval.Paired) {
		verdict := "not told apart"
		if p.ToldApart {
			verdict = "told apart"
		}
		fmt.Fprintf(w, "%s\t%d\t%.4f\t%.4f\t%+.4f\t[%+.4f, %+.4f]\t%d\t%d\t%.3g\t%s\n", name, p.N, p.AccuracyA, p.AccuracyB, p.Diff, p.CI[0], p.CI[1], p.OnlyA, p.OnlyB, p.McNemarP, verdict)
	}
	if names := sortedKeys(c.BySubset); len(names) > 1 || (len(names) == 1 && names[0] != "all") {
		for _, s := range names {
			row(tableName(s), c.BySubset[s])
		}
	}
	row("overall", c.Overall)
	w.Flush()
}
