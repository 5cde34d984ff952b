package ask

import (
	"bufio"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"unicode"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/head"
)

// labelWords are the words of field names that tell (or hint at) a pair's
// label: the fields of HH-RLHF, UltraFeedback, the preference formats and
// arena-style logs (winner_model_a, winner_tie, model_a: which model wrote a
// response hints at which is better).
var labelWords = map[string]bool{"chosen": true, "rejected": true, "winner": true, "win": true, "label": true, "labels": true,
	"preference": true, "preferred": true, "prefer": true, "score": true, "scores": true, "rating": true, "ratings": true,
	"rank": true, "ranking": true, "tie": true, "vote": true, "votes": true, "judge": true, "judgement": true, "judgment": true,
	"better": true, "worse": true, "model": true, "models": true, "annotation": true, "annotations": true, "critique": true,
	"gold": true, "messages": true, "metadata": true, "completions": true, "overall": true}

// IsLabelField says whether a source field is left out of a blind row: a
// field whose name has one of the words that tell a label (chosen,
// score_rejected, winner_model_a, model_b, ...; see labelWords).
func IsLabelField(name string) bool {
	for _, w := range strings.FieldsFunc(strings.ToLower(name), func(r rune) bool { return !unicode.IsLetter(r) }) {
		if labelWords[w] {
			return true
		}
	}
	return false
}

// RowOptions configure WriteRows.
type RowOptions struct {
	Head *head.Head  // the head the picks were made under: its rewards go in the rows
	Pool *head.Pairs // the pool's features
	Rule string
	Seed uint64 // draws which response is shown first, and (for a labelled pool) which is A
	// KeepLabels keeps a labelled pool's source record whole (for benchmarks).
	KeepLabels bool
	// SideKey draws which of a labelled pair's responses is A: a secret, so
	// that neither the seed nor a pair's place tells (ask_first, a seeded
	// coin, says which is shown first; with A drawn in secret, the side
	// shown first tells nothing of the label). Nil draws a fresh random key.
	SideKey []byte
}

// WriteRows writes one JSONL row per pick, in the order to show them:
// prompt, response_a and response_b, the source record's other fields, and
// what a labelling tool needs: ask_id, ask_rank (the order to show pairs
// in), ask_first (which response to show first, a seeded coin so that
// position bias averages out), ask_rule, ask_score, and the head's
// reward_a, reward_b and p_a = sigmoid(reward_a - reward_b).
//
// Rows are blind unless KeepLabels: a labelled source's two responses are
// written in an order drawn from SideKey (so that A is not the chosen one,
// and nobody can work out which it is), and its label fields are left out;
// with KeepLabels the source record is kept whole and source_chosen says
// which of A and B it prefers.
func WriteRows(w io.Writer, pool []data.Pair, picks []Pick, o RowOptions) error {
	ra, rb := o.Head.Rewards(o.Pool.A), o.Head.Rewards(o.Pool.B)
	keepLabels := o.KeepLabels
	idx := make([]int, len(picks))
	for i, p := range picks {
		idx[i] = p.Index
	}
	raw, err := data.Records(pool, idx)
	if err != nil {
		return err
	}
	coin := rand.New(rand.NewPCG(o.Seed, 0xf1)) // which response is shown first
	key := o.SideKey
	if key == nil {
		key = make([]byte, 32)
		if _, err := crand.Read(key); err != nil {
			return err
		}
	}
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
			for k := range rec {
				if IsLabelField(k) {
					delete(rec, k)
				}
			}
		}
		a, b, rA, rB, aChosen := pr.Chosen, pr.Rejected, ra[p.Index], rb[p.Index], true
		if pr.Labelled && secretCoin(key, &pr) {
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

// secretCoin is a coin drawn from a secret key and a pair (an HMAC of its
// Key): without the key it tells nothing.
func secretCoin(key []byte, p *data.Pair) bool {
	h := hmac.New(sha256.New, key)
	k := KeyOf(p)
	h.Write(k[:])
	return h.Sum(nil)[0]&1 == 1
}
