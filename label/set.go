// Package label is `ser label`'s work: a set of preference pairs to label
// (read from `ser ask` output or any file the data readers take), a local web
// page that shows them blind to their source labels (net/http and a page
// embedded with go:embed), an append-only answer log per annotator (every
// answer fsynced before the page moves on, a torn last line from a crash cut
// on the next start), and export of the answers as {prompt, chosen,
// rejected} pairs by majority vote across annotators, with agreement
// statistics (percent agreement, Cohen's kappa, agreement with the source
// labels).
//
// The page and its API see the prompt and the two responses in display order
// only ("A" on the left, "B" on the right): which response a source
// preferred, and a head's rewards, are never loaded into what is served.
package label

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/ser-rl/ser/data"
)

// Pair is one pair to label. A and B are the two responses in their
// canonical order (response_a and response_b of `ser ask` output; chosen and
// rejected of a labelled source), which answer records use.
type Pair struct {
	ID     string // stable id: a hash of the prompt and the unordered responses
	AskID  string // `ser ask`'s ask_id, when the row had one
	Prompt string
	A, B   string
	// First is the response shown on the left, as "A": "a" or "b" (ask_first,
	// else a coin seeded by the set's seed and the pair's id).
	First string
	// Source is the response the source preferred, "a" or "b", or "" when
	// unknown. It is never served to the page.
	Source string
	Subset string
	Where  string // file:line
}

// Shown returns the texts in display order: left ("A") and right ("B").
func (p *Pair) Shown() (left, right string) {
	if p.First == "b" {
		return p.B, p.A
	}
	return p.A, p.B
}

// canonical maps a displayed answer (A, B, tie, skip) to the stored one (a,
// b, tie, skip).
func (p *Pair) canonical(shown string) string {
	switch shown {
	case "A":
		return p.First
	case "B":
		return other(p.First)
	}
	return shown
}

// displayed maps a stored answer back to what the page shows, by the text
// it prefers: a record made from another input file may hold the pair's
// responses the other way round.
func (p *Pair) displayed(r Record) string {
	switch r.Answer {
	case AnswerA, AnswerB:
		left, _ := p.Shown()
		if preferred(r) == left {
			return "A"
		}
		return "B"
	}
	return r.Answer
}

func other(ab string) string {
	if ab == "a" {
		return "b"
	}
	return "a"
}

// PairID is the id of a pair: the first 16 bytes of a SHA-256 of the prompt
// and the two responses taken in sorted order, so that the id does not depend
// on which response is A (nor on which one a source preferred), on the file
// the pair came from, or on its place there.
func PairID(prompt, a, b string) string {
	if b < a {
		a, b = b, a
	}
	h := sha256.New()
	for _, s := range []string{"ser-label/1", prompt, a, b} {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Set is the pairs to label, in the order to show them.
type Set struct {
	Pairs []Pair
	Notes []string // what was left out, and why
	index map[string]int
}

// Index returns the position of the pair with this id, or -1.
func (s *Set) Index(id string) int {
	if i, ok := s.index[id]; ok {
		return i
	}
	return -1
}

// LoadOptions configure Load.
type LoadOptions struct {
	Format  string // data format ("" detects it)
	MaxLine int    // longest JSONL line, bytes (0: data.DefaultMaxLine)
	// Seed and Key draw the side each response is shown on when a row has no
	// ask_first: Key is a secret (the answers folder's, Store.Key), so that
	// the side cannot be computed from the seed and a pair's id.
	Seed uint64
	Key  []byte
}

// Load reads the pairs to label from data files: `ser ask` output (whose
// ask_rank orders the pairs, ask_first picks the side each response is shown
// on, and source_chosen, when present, is the source's label) or any file the
// data readers take. Pairs with identical responses are left out, and a pair
// met twice is shown once (both noted in Set.Notes).
func Load(paths []string, o LoadOptions) (*Set, error) {
	if o.MaxLine <= 0 {
		o.MaxLine = data.DefaultMaxLine
	}
	pairs, _, err := data.ReadAll(paths, data.Options{Format: o.Format, MaxLine: o.MaxLine})
	if err != nil {
		return nil, err
	}
	extras := map[string]map[int]rowExtras{}
	for _, path := range paths {
		ex, err := readExtras(path, o.MaxLine)
		if err != nil {
			return nil, err
		}
		extras[path] = ex
	}
	type item struct {
		p       Pair
		rank    float64
		hasRank bool
	}
	items := make([]item, 0, len(pairs))
	same, dup, conflict := 0, 0, 0
	seen := map[string]string{} // id -> the text the source preferred ("" unknown)
	for _, dp := range pairs {
		p := Pair{Prompt: dp.Prompt, A: dp.Chosen, B: dp.Rejected, Subset: dp.Subset, Where: dp.Where()}
		if dp.Labelled && dp.Problem() == "" {
			p.Source = "a"
		}
		if dp.Chosen == dp.Rejected {
			same++
			continue
		}
		p.ID = PairID(p.Prompt, p.A, p.B)
		ex := extras[dp.File][dp.Line]
		p.AskID = ex.askID
		if ex.source != "" {
			p.Source = ex.source
		}
		p.First = ex.first
		if p.First == "" {
			p.First = coin(o.Key, o.Seed, p.ID)
		}
		if prev, ok := seen[p.ID]; ok {
			dup++
			if cur := p.sourceText(); prev != "" && cur != "" && prev != cur {
				conflict++
			}
			continue
		}
		seen[p.ID] = p.sourceText()
		items = append(items, item{p, ex.rank, ex.hasRank})
	}
	// ask_rank orders the pairs; rows without one follow, in file order
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if a.hasRank != b.hasRank {
			return a.hasRank
		}
		return a.hasRank && a.rank < b.rank
	})
	s := &Set{index: map[string]int{}}
	for _, it := range items {
		s.index[it.p.ID] = len(s.Pairs)
		s.Pairs = append(s.Pairs, it.p)
	}
	if same > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("%d pairs with identical responses left out (nothing to judge)", same))
	}
	if dup > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("%d pairs met more than once shown once", dup))
	}
	if conflict > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("%d of them came with another source label the other time (the first is kept for agreement figures)", conflict))
	}
	if len(s.Pairs) == 0 {
		return nil, fmt.Errorf("%s: no pairs to label", strings.Join(paths, ", "))
	}
	return s, nil
}

// NewSet makes a set of pairs as given (ids filled in where empty, First
// where neither "a" nor "b"), for tests and callers that build pairs
// themselves.
func NewSet(pairs []Pair, key []byte, seed uint64) (*Set, error) {
	s := &Set{index: map[string]int{}}
	for _, p := range pairs {
		if p.A == p.B {
			return nil, fmt.Errorf("pair %q: identical responses", p.ID)
		}
		if p.ID == "" {
			p.ID = PairID(p.Prompt, p.A, p.B)
		}
		if p.First != "a" && p.First != "b" {
			p.First = coin(key, seed, p.ID)
		}
		if _, ok := s.index[p.ID]; ok {
			return nil, fmt.Errorf("pair %q: twice in the set", p.ID)
		}
		s.index[p.ID] = len(s.Pairs)
		s.Pairs = append(s.Pairs, p)
	}
	return s, nil
}

// coin is "a" or "b", drawn from a secret key, the seed and the pair's id
// (an HMAC: without the key, the id and the seed tell nothing of it).
func coin(key []byte, seed uint64, id string) string {
	h := hmac.New(sha256.New, key)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write([]byte("ser-label/side"))
	h.Write(b[:])
	h.Write([]byte(id))
	if h.Sum(nil)[0]&1 == 1 {
		return "b"
	}
	return "a"
}

// sourceText is the text the source preferred, or "" when unknown.
func (p *Pair) sourceText() string {
	switch p.Source {
	case "a":
		return p.A
	case "b":
		return p.B
	}
	return ""
}

// rowExtras are the fields of a `ser ask` row beyond the pair.
type rowExtras struct {
	askID   string
	first   string
	source  string
	rank    float64
	hasRank bool
}

// readExtras reads ask_id, ask_rank, ask_first and source_chosen from the
// rows of a JSONL file (plain or gzipped), by line; other files have none.
// The data readers have read the file before it, so its lines are bounded
// and its records are objects.
func readExtras(path string, maxLine int) (map[int]rowExtras, error) {
	out := map[int]rowExtras{}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	magic, _ := br.Peek(4)
	switch {
	case len(magic) == 4 && string(magic) == "PAR1":
		return out, nil
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		br = bufio.NewReaderSize(zr, 1<<20)
	}
	for line := 1; ; line++ {
		raw, err := readLine(br, maxLine)
		if raw != nil {
			if line == 1 {
				raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
			}
			if !bytes.Contains(raw, []byte(`"ask_`)) && !bytes.Contains(raw, []byte(`"source_chosen"`)) {
				// no field of ours on this line
			} else if ex, ok, xerr := parseExtras(raw); xerr != nil {
				return nil, &data.Error{File: path, Line: line, Field: xerr.field, Msg: xerr.msg}
			} else if ok {
				out[line] = ex
			}
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
	}
}

type fieldError struct{ field, msg string }

func parseExtras(raw []byte) (rowExtras, bool, *fieldError) {
	var row struct {
		AskID        json.RawMessage `json:"ask_id"`
		AskRank      json.RawMessage `json:"ask_rank"`
		AskFirst     json.RawMessage `json:"ask_first"`
		SourceChosen json.RawMessage `json:"source_chosen"`
	}
	if json.Unmarshal(bytes.TrimSpace(raw), &row) != nil {
		return rowExtras{}, false, nil // not an object: the readers have said so already
	}
	var ex rowExtras
	isNull := func(m json.RawMessage) bool { return len(m) == 0 || string(m) == "null" }
	if !isNull(row.AskID) {
		var s string
		var n float64
		switch {
		case json.Unmarshal(row.AskID, &s) == nil:
			ex.askID = s
		case json.Unmarshal(row.AskID, &n) == nil:
			ex.askID = string(row.AskID)
		default:
			return ex, false, &fieldError{"ask_id", "want a string or a number"}
		}
	}
	if !isNull(row.AskRank) {
		var n float64
		if json.Unmarshal(row.AskRank, &n) != nil || n < 0 || n != math.Trunc(n) {
			return ex, false, &fieldError{"ask_rank", fmt.Sprintf("is %s, want a whole number 0 or more", clip(string(row.AskRank), 40))}
		}
		ex.rank, ex.hasRank = n, true
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *string
	}{{"ask_first", row.AskFirst, &ex.first}, {"source_chosen", row.SourceChosen, &ex.source}} {
		if isNull(f.raw) {
			continue
		}
		var s string
		if json.Unmarshal(f.raw, &s) != nil || (s != "a" && s != "b") {
			return ex, false, &fieldError{f.name, fmt.Sprintf("is %s, want \"a\" or \"b\"", clip(string(f.raw), 40))}
		}
		*f.dst = s
	}
	return ex, true, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// readLine reads one line (without its end) of at most max bytes; a longer
// line is read through and returned as nil.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	long := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !long {
			if len(line)+len(chunk) > max {
				long, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if long {
			return nil, err
		}
		return bytes.TrimRight(line, "\r\n"), err
	}
}
