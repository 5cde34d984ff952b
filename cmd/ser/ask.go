package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/ask"
	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/head"
	"github.com/ser-rl/ser/internal/atomic"
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
		}, withoutFlags(dataFlags(""), "data")...),
		Action: func(c *cli.Context) error {
			if err := need(c, "head", "pool", "out"); err != nil {
				return err
			}
			if err := o.Check(); err != nil {
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
			if len(pool) == 0 {
				return fmt.Errorf("--pool: no pairs read")
			}
			x, err := pairFeatures(c, m, h.Features, pool)
			if err != nil {
				return err
			}
			if paths := c.StringSlice("labelled"); len(paths) > 0 {
				lab, err := readFiles(c, paths)
				if err != nil {
					return err
				}
				if o.Labelled, err = pairFeatures(c, m, h.Features, lab); err != nil {
					return err
				}
			}
			picks, err := ask.Select(h, x, o)
			if err != nil {
				return err
			}
			if err := atomic.Write(c.String("out"), func(w io.Writer) error { return writePicks(w, h, x, pool, picks, o) }); err != nil {
				return err
			}
			notef(c, "chose %d of %d pool pairs by %s: %s", len(picks), len(pool), o.Rule, c.String("out"))
			return nil
		},
	}
}

// writePicks writes one JSONL row per pick, in the order to show them: the
// input record as it was (JSONL sources; other sources as {prompt,
// response_a, response_b}), plus what a labelling tool needs: ask_id, ask_rank
// (the order to show pairs in), ask_first (which response to show first, a
// seeded coin so that position bias averages out), ask_rule, ask_score, and
// the head's reward_a, reward_b and p_a = sigmoid(reward_a - reward_b).
func writePicks(w io.Writer, h *head.Head, x *head.Pairs, pool []data.Pair, picks []ask.Pick, o ask.Options) error {
	ra, rb := h.Rewards(x.A), h.Rewards(x.B)
	raw, err := sourceRecords(pool, picks)
	if err != nil {
		return err
	}
	coin := rand.New(rand.NewPCG(o.Seed, 0xf1)) // which response is shown first
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, p := range picks {
		pr := pool[p.Index]
		rec := raw[p.Index]
		if rec == nil {
			rec = map[string]any{"prompt": pr.Prompt, "response_a": pr.Chosen, "response_b": pr.Rejected, "file": pr.File, "line": pr.Line}
		}
		id := pr.ID
		if id == "" {
			id = fmt.Sprintf("%s:%d", pr.File, pr.Line)
		}
		first := "a"
		if coin.IntN(2) == 1 {
			first = "b"
		}
		rec["ask_id"], rec["ask_rank"], rec["ask_first"], rec["ask_rule"] = id, p.Rank, first, o.Rule
		rec["ask_score"], rec["reward_a"], rec["reward_b"] = finiteOrNil(p.Score), finiteOrNil(ra[p.Index]), finiteOrNil(rb[p.Index])
		rec["p_a"] = finiteOrNil(1 / (1 + math.Exp(rb[p.Index]-ra[p.Index])))
		if err := enc.Encode(rec); err != nil {
			return err
		}
	}
	return bw.Flush()
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
