package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/ask"
	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/head"
	"github.com/ser-rl/ser/internal/safefile"
)

func askCommand() *cli.Command {
	var o ask.Options
	return &cli.Command{
		Name: "ask",
		UsageText: `ser ask --head rm.head --pool pool.jsonl --n 200 --out to-label.jsonl
ser ask --head rm.head --pool pool.jsonl --labelled seed.jsonl --rule dopt --n 200 --out to-label.jsonl
ser train --data seed.jsonl --data answers.jsonl --out rm2.head   # the answers, as {prompt, chosen, rejected} rows`,
		Usage: "choose the pool pairs whose human labels would teach the head most (uncertainty, D-optimal or random)",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "head", Usage: "(required) head file"},
			&cli.StringSliceFlag{Name: "pool", Usage: "(required) unlabelled pairs to choose from (files or folders; {prompt, response_a, response_b} rows, or any format the readers take: labels are ignored)"},
			&cli.StringSliceFlag{Name: "labelled", Usage: "pairs already labelled (for dopt: what they teach is not asked again)"},
			&cli.IntFlag{Name: "n", Value: 200, Destination: &o.N, Usage: "pairs to choose"},
			&cli.StringFlag{Name: "rule", Value: ask.DOptimal, Destination: &o.Rule, Usage: "dopt (greedy D-optimal on the head's last layer: informative and diverse), uncertainty (closest scores) or random"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Destination: &o.Seed, Usage: "breaks ties; draws random's sample and the order each pair's responses are shown in"},
			&cli.StringFlag{Name: "out", Usage: "(required) JSONL of the chosen pairs, in the order to show them (written atomically)"},
			&cli.StringFlag{Name: "model", Usage: "backbone (default: the one the head names)"},
			&cli.StringFlag{Name: "cache", Usage: "feature cache (default: the backbone's)"},
			&cli.BoolFlag{Name: "keep-labels", Usage: "keep a labelled pool's label fields in the rows, and say which response it prefers (source_chosen); without it rows are blind, for any labelling tool"},
		}, withoutFlags(dataFlags(""), "data")...),
		Action: func(c *cli.Context) error {
			if err := need(c, "head", "pool", "out"); err != nil {
				return err
			}
			if err := o.Check(); err != nil {
				return err
			}
			var ins []file
			for _, f := range []string{"pool", "labelled"} {
				for _, p := range c.StringSlice(f) {
					ins = append(ins, file{"--" + f, p})
				}
			}
			ins = append(ins, file{"--head", c.String("head")}, file{"--cache", c.String("cache")})
			if err := checkOutputs([]file{{"--out", c.String("out")}}, ins); err != nil {
				return err
			}
			h, m, err := loadHead(c)
			if err != nil {
				return err
			}
			pool, err := readFiles(c, c.StringSlice("pool"))
			if err != nil {
				return err
			}
			x, err := pairFeatures(c, m, h.Features, pool)
			if err != nil {
				return err
			}
			var lab []data.Pair
			if paths := c.StringSlice("labelled"); len(paths) > 0 {
				if lab, err = readFiles(c, paths); err != nil {
					return err
				}
				if o.Labelled, err = pairFeatures(c, m, h.Features, lab); err != nil {
					return err
				}
			}
			skip, why := ask.Eligible(pool, lab)
			for _, w := range sortedKeys(why) {
				notef(c, "left out %d pool pairs: %s", why[w], w)
			}
			o.Skip = skip
			picks, err := ask.Select(c.Context, h, x, o)
			var nf *ask.NonFiniteError
			if errors.As(err, &nf) {
				where := pool
				if nf.Labelled {
					where = lab
				}
				return fmt.Errorf("%s: the head's reward is not a finite number (the backbone's vector for this pair holds NaN or Inf)", where[nf.Index].Where())
			}
			if err != nil {
				return err
			}
			if err := safefile.Write(c.String("out"), func(w io.Writer) error {
				return writePicks(w, h, x, pool, picks, o, c.Bool("keep-labels"))
			}); err != nil {
				return err
			}
			notef(c, "chose %d of %d pool pairs by %s: %s", len(picks), len(pool), o.Rule, c.String("out"))
			return nil
		},
	}
}

// sortedKeys returns a map's keys in order (for notes printed in a stable order).
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// labelFields are the fields of a source record that tell (or hint at) its
// label; a blind row leaves them out.
var labelFields = []string{"chosen", "rejected", "score_chosen", "score_rejected", "messages", "metadata",
	"completions", "label", "labels", "preference", "winner", "source_chosen"}

// writePicks writes one JSONL row per pick, in the order to show them:
// prompt, response_a and response_b, the source record's other fields, and
// what a labelling tool needs: ask_id, ask_rank (the order to show pairs
// in), ask_first (which response to show first, a seeded coin so that
// position bias averages out), ask_rule, ask_score, and the head's
// reward_a, reward_b and p_a = sigmoid(reward_a - reward_b).
//
// Rows are blind unless keepLabels: a labelled source's two responses are
// written in an order drawn by a seeded coin (so that A is not the chosen
// one), and its label fields are left out; with keepLabels the source
// record is kept whole and source_chosen says which of A and B it prefers.
func writePicks(w io.Writer, h *head.Head, x *head.Pairs, pool []data.Pair, picks []ask.Pick, o ask.Options, keepLabels bool) error {
	ra, rb := h.Rewards(x.A), h.Rewards(x.B)
	raw, err := sourceRecords(pool, picks)
	if err != nil {
		return err
	}
	coin := rand.New(rand.NewPCG(o.Seed, 0xf1))  // which response is shown first
	order := rand.New(rand.NewPCG(o.Seed, 0xf2)) // which response is A, for a labelled source
	ids := askIDs(pool)
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, p := range picks {
		pr := pool[p.Index]
		rec := raw[p.Index]
		if rec == nil || (pr.Labelled && !keepLabels) {
			rec = map[string]any{"file": pr.File, "line": pr.Line}
			for _, k := range []string{"id", "prompt_id", "subset", "source"} {
				if v, ok := raw[p.Index][k]; ok {
					rec[k] = v
				}
			}
		}
		if !keepLabels {
			for _, k := range labelFields {
				delete(rec, k)
			}
		}
		a, b, rA, rB, aChosen := pr.Chosen, pr.Rejected, ra[p.Index], rb[p.Index], true
		if pr.Labelled && order.IntN(2) == 1 {
			a, b, rA, rB, aChosen = b, a, rB, rA, false
		}
		rec["prompt"], rec["response_a"], rec["response_b"] = pr.Prompt, a, b
		if keepLabels && pr.Labelled {
			rec["source_chosen"] = map[bool]string{true: "a", false: "b"}[aChosen]
		}
		id := ids[p.Index]
		first := "a"
		if coin.IntN(2) == 1 {
			first = "b"
		}
		rec["ask_id"], rec["ask_rank"], rec["ask_first"], rec["ask_rule"] = id, p.Rank, first, o.Rule
		rec["ask_score"], rec["reward_a"], rec["reward_b"] = finiteOrNil(p.Score), finiteOrNil(rA), finiteOrNil(rB)
		rec["p_a"] = finiteOrNil(1 / (1 + math.Exp(rB-rA)))
		if err := enc.Encode(rec); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// askIDs names each pool pair for a labelling tool: its id field, else
// file:line, with #k added where one record gave several pairs (raw
// UltraFeedback) or ids repeat, so that every name is the pool's own.
func askIDs(pool []data.Pair) []string {
	base := make([]string, len(pool))
	count := map[string]int{}
	for i, p := range pool {
		base[i] = p.ID
		if base[i] == "" {
			base[i] = fmt.Sprintf("%s:%d", p.File, p.Line)
		}
		count[base[i]]++
	}
	k := map[string]int{}
	out := make([]string, len(pool))
	for i, b := range base {
		out[i] = b
		if count[b] > 1 {
			k[b]++
			out[i] = fmt.Sprintf("%s#%d", b, k[b])
		}
	}
	return out
}

func finiteOrNil(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

// sourceRecords reads back the JSONL records of the picked pairs (by file
// and line), as objects; pairs from other sources (Parquet, records that
// are not objects) get nil.
func sourceRecords(pool []data.Pair, picks []ask.Pick) (map[int]map[string]any, error) {
	want := map[string]map[int][]int{} // file -> line -> pool indices
	for _, p := range picks {
		pr := pool[p.Index]
		if !strings.HasSuffix(pr.File, ".jsonl") && !strings.HasSuffix(pr.File, ".jsonl.gz") {
			continue
		}
		if want[pr.File] == nil {
			want[pr.File] = map[int][]int{}
		}
		want[pr.File][pr.Line] = append(want[pr.File][pr.Line], p.Index)
	}
	out := map[int]map[string]any{}
	for file, lines := range want {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		var r io.Reader = f
		if strings.HasSuffix(file, ".gz") {
			gz, err := gzip.NewReader(f)
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			r = gz
		}
		br := bufio.NewReaderSize(r, 1<<20)
		for line := 1; len(lines) > 0; line++ {
			idx, wanted := lines[line]
			raw, err := nextLine(br, wanted) // a line not wanted is skipped, not kept: its length is unbounded
			if wanted {
				var obj map[string]any
				if json.Unmarshal(bytes.TrimPrefix(bytes.TrimSpace(raw), []byte("\xef\xbb\xbf")), &obj) == nil {
					for _, i := range idx {
						cp := make(map[string]any, len(obj)+8)
						for k, v := range obj {
							cp[k] = v
						}
						out[i] = cp
					}
				}
				delete(lines, line)
			}
			if err != nil {
				break
			}
		}
		f.Close()
	}
	return out, nil
}

// nextLine reads one line, keeping it only when keep is set (the readers
// have already bounded the lines a pair came from).
func nextLine(br *bufio.Reader, keep bool) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if keep {
			line = append(line, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return line, err
	}
}
