package label

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ser-rl/ser/data"
)

// Votes counts the annotators' answers to one pair, by what they preferred.
type Votes struct {
	Chosen   int `json:"chosen"`   // for the response the majority chose
	Rejected int `json:"rejected"` // for the other one
	Tie      int `json:"tie"`
	Skip     int `json:"skip"`
}

// Outcome of a pair's votes.
const (
	Decided    = "decided"     // one response has more votes than the other and than tie
	Tied       = "tie"         // tie has the most votes (or as many as a response)
	NoMajority = "no-majority" // the two responses have as many votes
	Skipped    = "skipped"     // every annotator skipped it
)

// Row is one pair's result across annotators.
type Row struct {
	ID       string
	Prompt   string
	Chosen   string // the majority's preferred response (for a tie: the first response met)
	Rejected string
	Outcome  string
	Votes    Votes
	// Source tells how the source's label relates: "chosen" (the source
	// preferred Chosen), "rejected", or "" when unknown.
	Source string
	Subset string
}

// Answers are the answers in force of every annotator of a folder.
type Answers struct {
	Dir        string
	Annotators []string                     // sorted
	Final      map[string]map[string]Record // annotator -> pair id -> answer in force
	Order      []string                     // pair ids, in the order first answered (by annotator, then seq)
}

// ReadAnswers reads every annotator's log in an answers folder (read only: a
// log being written by a running `ser label` is read up to its last complete
// record).
func ReadAnswers(dir string) (*Answers, error) {
	if !IsAnswers(dir) {
		return nil, fmt.Errorf("%s: not an answers folder of ser label (no %s)", dir, Marker)
	}
	if _, err := readMarker(dir); err != nil {
		return nil, fmt.Errorf("%s: the answers folder's marker: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	a := &Answers{Dir: dir, Final: map[string]map[string]Record{}}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".jsonl") {
			continue // the marker, atomic writes' temporary files, the user's notes
		}
		if !e.Type().IsRegular() {
			return nil, fmt.Errorf("%s: not a regular file", filepath.Join(dir, name))
		}
		recs, err := ReadLog(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		final := replay(recs).final()
		if len(final) == 0 {
			continue // a log with no answer in force: nobody to count
		}
		ann := strings.TrimSuffix(name, ".jsonl")
		a.Annotators = append(a.Annotators, ann)
		a.Final[ann] = final
	}
	sort.Strings(a.Annotators)
	// the order pairs were first answered in: by annotator name, then seq
	seen := map[string]bool{}
	for _, ann := range a.Annotators {
		recs := sortedBySeq(a.Final[ann])
		for _, r := range recs {
			if !seen[r.ID] {
				seen[r.ID] = true
				a.Order = append(a.Order, r.ID)
			}
		}
	}
	return a, nil
}

func sortedBySeq(m map[string]Record) []Record {
	out := make([]Record, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// preferred is the text an answer prefers, or "" for a tie or a skip.
func preferred(r Record) string {
	switch r.Answer {
	case AnswerA:
		return r.A
	case AnswerB:
		return r.B
	}
	return ""
}

// sourceText is the text the source preferred, or "" when unknown.
func sourceText(r Record) string {
	switch r.Source {
	case "a":
		return r.A
	case "b":
		return r.B
	}
	return ""
}

// Rows combines the annotators' answers pair by pair, by majority vote.
func (a *Answers) Rows() []Row {
	rows := make([]Row, 0, len(a.Order))
	for _, id := range a.Order {
		var first *Record
		var x, y, tie, skip int
		src := ""
		for _, ann := range a.Annotators {
			r, ok := a.Final[ann][id]
			if !ok {
				continue
			}
			if first == nil {
				first = &r
			}
			if s := sourceText(r); s != "" && src == "" {
				src = s
			}
			switch r.Answer {
			case AnswerTie:
				tie++
			case AnswerSkip:
				skip++
			default:
				if preferred(r) == first.A {
					x++
				} else {
					y++
				}
			}
		}
		row := Row{ID: id, Prompt: first.Prompt, Chosen: first.A, Rejected: first.B, Subset: first.Subset}
		switch {
		case x+y+tie == 0:
			row.Outcome = Skipped
		case x > y && x > tie:
			row.Outcome = Decided
		case y > x && y > tie:
			row.Outcome = Decided
			row.Chosen, row.Rejected, x, y = first.B, first.A, y, x
		case x == y && x > tie:
			row.Outcome = NoMajority
		default:
			row.Outcome = Tied
		}
		row.Votes = Votes{Chosen: x, Rejected: y, Tie: tie, Skip: skip}
		switch src {
		case "":
		case row.Chosen:
			row.Source = "chosen"
		default:
			row.Source = "rejected"
		}
		rows = append(rows, row)
	}
	return rows
}

// exportRow is one line of the export.
type exportRow struct {
	Prompt        string   `json:"prompt"`
	Chosen        string   `json:"chosen"`
	Rejected      string   `json:"rejected"`
	ID            string   `json:"id"`
	Subset        string   `json:"subset,omitempty"`
	Votes         Votes    `json:"votes"`
	Outcome       string   `json:"outcome,omitempty"`
	ScoreChosen   *float64 `json:"score_chosen,omitempty"`
	ScoreRejected *float64 `json:"score_rejected,omitempty"`
}

// WriteRows writes the decided rows as {prompt, chosen, rejected} JSONL
// with their votes; with ties, the pairs with no preferred response too,
// with equal score_chosen and score_rejected, which the readers take for
// tied scores (and training sets aside). Skipped pairs are never written.
func WriteRows(w io.Writer, rows []Row, ties bool) (int, error) {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	n := 0
	half := 0.5
	for _, r := range rows {
		out := exportRow{Prompt: r.Prompt, Chosen: r.Chosen, Rejected: r.Rejected, ID: r.ID, Subset: r.Subset, Votes: r.Votes}
		switch r.Outcome {
		case Decided:
		case Tied, NoMajority:
			if !ties {
				continue
			}
			out.Outcome, out.ScoreChosen, out.ScoreRejected = r.Outcome, &half, &half
		default:
			continue
		}
		if err := enc.Encode(out); err != nil {
			return n, err
		}
		n++
	}
	return n, bw.Flush()
}

// Pairs returns the decided rows as labelled pairs (as the readers would
// read an export without ties), File and Line naming the folder and the row.
func (a *Answers) Pairs() []data.Pair {
	var out []data.Pair
	for _, r := range a.Rows() {
		if r.Outcome != Decided {
			continue
		}
		out = append(out, data.Pair{Prompt: r.Prompt, Chosen: r.Chosen, Rejected: r.Rejected, Labelled: true,
			Subset: r.Subset, ID: r.ID, File: a.Dir, Line: len(out) + 1})
	}
	return out
}

// Agreement of two raters on the pairs both answered (skips left out).
type Agreement struct {
	A, B    string  `json:"-"`
	N       int     `json:"n"`       // pairs both answered with a, b or tie
	Agree   int     `json:"agree"`   // with the same answer
	Percent float64 `json:"percent"` // 100 * Agree / N
	// Kappa is Cohen's kappa over three answers, the same for every pair:
	// the response whose text sorts first is better, the other is, tie.
	// (p_o - p_e) / (1 - p_e); NaN when p_e is 1 (both raters gave one answer
	// throughout) or N is 0.
	Kappa float64 `json:"kappa"`
}

// Kappa computes percent agreement and Cohen's kappa of two raters' answers
// to the same items, each answer a category (any comparable labels).
func Kappa(x, y []string) Agreement {
	ag := Agreement{N: len(x), Kappa: math.NaN()}
	if len(x) != len(y) || len(x) == 0 {
		ag.N = 0
		return ag
	}
	cx, cy := map[string]int{}, map[string]int{}
	for i := range x {
		if x[i] == y[i] {
			ag.Agree++
		}
		cx[x[i]]++
		cy[y[i]]++
	}
	n := float64(len(x))
	po := float64(ag.Agree) / n
	pe := 0.0
	for k, c := range cx {
		pe += float64(c) / n * float64(cy[k]) / n
	}
	ag.Percent = 100 * po
	if pe < 1 {
		ag.Kappa = (po - pe) / (1 - pe)
	}
	return ag
}

// SourceAgreement is how often a rater's preferences match the source's
// labels, on the pairs whose source label is known that the rater answered
// a or b.
type SourceAgreement struct {
	N       int     `json:"n"`
	Agree   int     `json:"agree"`
	Percent float64 `json:"percent"`
	Ties    int     `json:"ties"` // answered tie (not counted in N)
}

func (s *SourceAgreement) add(prefers, source string, tie bool) {
	if source == "" {
		return
	}
	if tie {
		s.Ties++
		return
	}
	s.N++
	if prefers == source {
		s.Agree++
	}
	s.Percent = 100 * float64(s.Agree) / float64(s.N)
}

// category is an answer as a rater's category for kappa, the same three for
// every pair whatever order a rater saw the responses in: "first" (the
// response whose text sorts first is preferred), "second", or "tie"; "" for
// a skip.
func category(r Record) string {
	switch r.Answer {
	case AnswerA, AnswerB:
		if preferred(r) == min(r.A, r.B) {
			return "first"
		}
		return "second"
	case AnswerTie:
		return "tie"
	}
	return ""
}

// pairAgreement compares two raters' answers (pair id -> answer) on the pairs
// both answered with a, b or tie.
func pairAgreement(p, q map[string]Record) Agreement {
	var ids []string
	for id := range p {
		if _, ok := q[id]; ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var x, y []string
	for _, id := range ids {
		cx, cy := category(p[id]), category(q[id])
		if cx == "" || cy == "" {
			continue
		}
		x, y = append(x, cx), append(y, cy)
	}
	return Kappa(x, y)
}

// AnnotatorStats are one annotator's counts and agreement with the source.
type AnnotatorStats struct {
	Name     string          `json:"name"`
	Answered int             `json:"answered"`
	A        int             `json:"preferred"` // answered a or b
	Ties     int             `json:"ties"`
	Skips    int             `json:"skips"`
	Source   SourceAgreement `json:"source"`
}

// PairStats are the agreement of two annotators.
type PairStats struct {
	A, B string `json:"-"`
	Agreement
}

// Stats summarise a folder's answers.
type Stats struct {
	Pairs      int              // pairs answered by anyone
	Decided    int              // with a majority for one response
	Ties       int              // majority tie
	NoMajority int              // as many votes for each response
	Skipped    int              // skipped by every annotator who answered
	Annotators []AnnotatorStats // by name
	Between    []PairStats      // every two annotators
	Source     SourceAgreement  // the majority's preferences against the source's
}

// Stats computes the statistics of the answers.
func (a *Answers) Stats() Stats {
	var st Stats
	rows := a.Rows()
	st.Pairs = len(rows)
	for _, r := range rows {
		switch r.Outcome {
		case Decided:
			st.Decided++
			src := ""
			switch r.Source {
			case "chosen":
				src = r.Chosen
			case "rejected":
				src = r.Rejected
			}
			st.Source.add(r.Chosen, src, false)
		case Tied:
			st.Ties++
			if r.Source != "" {
				st.Source.Ties++
			}
		case NoMajority:
			st.NoMajority++
		case Skipped:
			st.Skipped++
		}
	}
	for _, name := range a.Annotators {
		st.Annotators = append(st.Annotators, annotatorStats(name, a.Final[name]))
	}
	for i, p := range a.Annotators {
		for _, q := range a.Annotators[i+1:] {
			st.Between = append(st.Between, PairStats{A: p, B: q, Agreement: pairAgreement(a.Final[p], a.Final[q])})
		}
	}
	return st
}

func annotatorStats(name string, final map[string]Record) AnnotatorStats {
	s := AnnotatorStats{Name: name, Answered: len(final)}
	for _, r := range final {
		switch r.Answer {
		case AnswerTie:
			s.Ties++
		case AnswerSkip:
			s.Skips++
		default:
			s.A++
		}
		if r.Answer != AnswerSkip {
			s.Source.add(preferred(r), sourceText(r), r.Answer == AnswerTie)
		}
	}
	return s
}

// WriteStats writes the statistics as a readable report.
func (st Stats) WriteStats(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "pairs answered: %d; majority for one response: %d; ties: %d; no majority (as many votes each way): %d; skipped by all: %d\n",
		st.Pairs, st.Decided, st.Ties, st.NoMajority, st.Skipped)
	fmt.Fprintf(bw, "\n%-24s %9s %10s %6s %6s  %s\n", "annotator", "answered", "preferred", "ties", "skips", "agreement with the source labels")
	for _, a := range st.Annotators {
		fmt.Fprintf(bw, "%-24s %9d %10d %6d %6d  %s\n", a.Name, a.Answered, a.A, a.Ties, a.Skips, a.Source.String())
	}
	if len(st.Between) > 0 {
		fmt.Fprintf(bw, "\n%-40s %6s %9s %7s\n", "annotators", "both", "agree", "kappa")
		for _, p := range st.Between {
			fmt.Fprintf(bw, "%-40s %6d %9s %7s\n", p.A+" / "+p.B, p.N, percent(p.Agree, p.N), kappaString(p.Kappa))
		}
	}
	fmt.Fprintf(bw, "\nmajority against the source labels: %s\n", st.Source.String())
	return bw.Flush()
}

func (s SourceAgreement) String() string {
	if s.N == 0 && s.Ties == 0 {
		return "no source labels"
	}
	out := fmt.Sprintf("%s of %d", percent(s.Agree, s.N), s.N)
	if s.Ties > 0 {
		out += fmt.Sprintf(" (ties left out: %d)", s.Ties)
	}
	return out
}

func percent(k, n int) string {
	if n == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(k)/float64(n))
}

func kappaString(k float64) string {
	if math.IsNaN(k) {
		return "n/a"
	}
	return fmt.Sprintf("%.3f", k)
}
