package tokenize

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
)

// pattern is a Split or Replace pattern of tokenizer.json: {"String": s}
// (a literal) or {"Regex": r} (an Oniguruma regular expression in HF).
type pattern struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

// matcher finds the successive non-overlapping matches of a pattern.
type matcher interface {
	// each calls fn with the byte range of each match, left to right.
	each(s string, fn func(start, end int) error) error
}

// regexTimeout bounds one search of a general regular expression, so that a
// pattern that backtracks without end fails instead of hanging.
var regexTimeout = 10 * time.Second

func (p pattern) compile(where string) (matcher, error) {
	switch {
	case p.String != nil && p.Regex == nil:
		if *p.String == "" {
			return nil, fmt.Errorf("%s: an empty String pattern is not supported", where)
		}
		return literal(*p.String), nil
	case p.Regex != nil && p.String == nil:
		if m := knownSplitter(*p.Regex); m != nil {
			return m, nil
		}
		m, err := pattern2regex(*p.Regex)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("%s: want exactly one of String and Regex", where)
}

// pattern2regex compiles a general pattern with regexp2. A pattern that
// can match the empty string is refused: where HF meets empty matches, its
// offsets bookkeeping inserts and splits text in ways ser does not
// reproduce. Patterns that match empty only in some contexts are caught when
// they do (each returns an error), never passed over.
func pattern2regex(pattern string) (regex, error) {
	re, err := regexp2.Compile(pattern, regexp2.None)
	if err != nil {
		return regex{}, fmt.Errorf("regular expression %q: %v", pattern, err)
	}
	re.MatchTimeout = regexTimeout
	for _, probe := range []string{"", "a", " ", "a b", "1", "\n", "Ab1 ,\n"} {
		idx, err := re.FindAllStringIndex(probe, -1)
		if err != nil {
			return regex{}, fmt.Errorf("regular expression %q: %w", pattern, err)
		}
		for _, m := range idx {
			if m[0] == m[1] {
				return regex{}, fmt.Errorf("regular expression %q can match the empty string, which is not supported", pattern)
			}
		}
	}
	return regex{re}, nil
}

// literal matches a fixed string.
type literal string

func (l literal) each(s string, fn func(start, end int) error) error {
	sub := string(l)
	for pos := 0; ; {
		i := strings.Index(s[pos:], sub)
		if i < 0 {
			return nil
		}
		start := pos + i
		pos = start + len(sub)
		if err := fn(start, pos); err != nil {
			return err
		}
	}
}

// regex is a general regular expression, run by regexp2 (backtracking, with
// look-around, as Oniguruma).
type regex struct{ re *regexp2.Regexp }

func (r regex) each(s string, fn func(start, end int) error) error {
	if s == "" {
		return nil
	}
	idx, err := r.re.FindAllStringIndex(s, -1)
	if err != nil {
		return fmt.Errorf("regular expression %q: %w", r.re.String(), err)
	}
	for _, m := range idx {
		if m[0] == m[1] {
			return fmt.Errorf("regular expression %q matched the empty string at byte %d, which is not supported", r.re.String(), m[0])
		}
		if err := fn(m[0], m[1]); err != nil {
			return err
		}
	}
	return nil
}

// The split patterns of the common byte-level families, matched by hand.
const (
	// patGPT2 is GPT-2's (and the ByteLevel pre-tokenizer's).
	patGPT2 = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	// patCL100K is cl100k's, which Llama-3 uses.
	patCL100K = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// patQwen is Qwen2/2.5/3's: cl100k with one digit per piece.
	patQwen = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// knownSplitter returns the hand-written matcher of a pattern, or nil.
func knownSplitter(re string) matcher {
	switch re {
	case patGPT2:
		return gpt2Splitter{}
	case patCL100K:
		return cl100kSplitter{digits: 3}
	case patQwen:
		return cl100kSplitter{digits: 1}
	}
	return nil
}

// Character classes as Oniguruma sees them in UTF-8 text: \p{L}, \p{N} and
// \s (Unicode White_Space).
func isL(r rune) bool {
	if r < utf8.RuneSelf {
		return (r|0x20) >= 'a' && (r|0x20) <= 'z'
	}
	return unicode.IsLetter(r)
}

func isN(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= '0' && r <= '9'
	}
	return unicode.IsNumber(r)
}

func isS(r rune) bool {
	if r < utf8.RuneSelf {
		return r == ' ' || (r >= '\t' && r <= '\r')
	}
	return unicode.IsSpace(r)
}

// isOther is [^\s\p{L}\p{N}].
func isOther(r rune) bool { return !isS(r) && !isL(r) && !isN(r) }

func runeAt(s string, i int) (rune, int) {
	if i >= len(s) {
		return -1, 0
	}
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// run returns the end of the run of characters from i that class accepts.
func run(s string, i int, class func(rune) bool) int {
	for i < len(s) {
		r, n := runeAt(s, i)
		if !class(r) {
			break
		}
		i += n
	}
	return i
}

// spaceRun scans the whitespace run from i: its end, the start of its last
// character, and the end of its last \r or \n (-1 if none).
func spaceRun(s string, i int) (end, lastStart, lastNL int) {
	end, lastStart, lastNL = i, i, -1
	for end < len(s) {
		r, n := runeAt(s, end)
		if !isS(r) {
			break
		}
		lastStart = end
		end += n
		if r == '\r' || r == '\n' {
			lastNL = end
		}
	}
	return end, lastStart, lastNL
}

// eachMatch drives a matcher that matches at every position.
func eachMatch(s string, at func(s string, i int) int, fn func(start, end int) error) error {
	for i := 0; i < len(s); {
		end := at(s, i)
		if end <= i { // cannot happen for these patterns: every character is in some branch
			_, n := runeAt(s, i)
			i += n
			continue
		}
		if err := fn(i, end); err != nil {
			return err
		}
		i = end
	}
	return nil
}

type gpt2Splitter struct{}

func (gpt2Splitter) each(s string, fn func(start, end int) error) error {
	return eachMatch(s, gpt2At, fn)
}

// gpt2At is patGPT2 at i: the end of the match, trying the branches in order.
func gpt2At(s string, i int) int {
	r0, n0 := runeAt(s, i)
	if r0 == '\'' {
		if end := contraction(s, i+1, false); end > 0 {
			return end
		}
	}
	// ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+'
	j, r := i, r0
	if r0 == ' ' {
		if r1, _ := runeAt(s, i+1); r1 >= 0 && !isS(r1) {
			j, r = i+1, r1
		}
	}
	switch {
	case isL(r):
		return run(s, j, isL)
	case isN(r):
		return run(s, j, isN)
	case r >= 0 && !isS(r):
		return run(s, j, isOther)
	}
	_ = n0
	return spaces(s, i)
}

// spaces is `\s+(?!\S)|\s+` at i, where s[i] is whitespace.
func spaces(s string, i int) int {
	end, lastStart, _ := spaceRun(s, i)
	if end < len(s) && lastStart > i {
		return lastStart
	}
	return end
}

// contraction matches 's|'t|'re|'ve|'m|'ll|'d after the apostrophe (at i);
// fold makes it case-insensitive with Oniguruma's Unicode folding (ſ is s).
// It returns the end of the match, or 0.
func contraction(s string, i int, fold bool) int {
	r1, n1 := runeAt(s, i)
	c1 := foldContraction(r1, fold)
	switch c1 {
	case 's', 't', 'm', 'd':
		return i + n1
	case 'r', 'v', 'l':
		r2, n2 := runeAt(s, i+n1)
		want := 'e'
		if c1 == 'l' {
			want = 'l'
		}
		if foldContraction(r2, fold) == want {
			return i + n1 + n2
		}
	}
	return 0
}

func foldContraction(r rune, fold bool) rune {
	if !fold {
		return r
	}
	switch {
	case r >= 'A' && r <= 'Z':
		return r + ('a' - 'A')
	case r == 'ſ': // U+017F LATIN SMALL LETTER LONG S folds to s
		return 's'
	}
	return r
}

// cl100kSplitter is patCL100K, or patQwen with digits 1.
type cl100kSplitter struct{ digits int }

func (c cl100kSplitter) each(s string, fn func(start, end int) error) error {
	return eachMatch(s, c.at, fn)
}

func (c cl100kSplitter) at(s string, i int) int {
	r0, n0 := runeAt(s, i)
	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if r0 == '\'' {
		if end := contraction(s, i+1, true); end > 0 {
			return end
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if isL(r0) {
		return run(s, i+n0, isL)
	}
	if r0 != '\r' && r0 != '\n' && !isN(r0) {
		if r1, _ := runeAt(s, i+n0); r1 >= 0 && isL(r1) {
			return run(s, i+n0, isL)
		}
	}
	// \p{N}{1,digits}
	if isN(r0) {
		j := i + n0
		for k := 1; k < c.digits; k++ {
			r, n := runeAt(s, j)
			if r < 0 || !isN(r) {
				break
			}
			j += n
		}
		return j
	}
	// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
	j := i
	if r0 == ' ' {
		if r1, _ := runeAt(s, i+1); r1 >= 0 && isOther(r1) {
			j = i + 1
		}
	}
	if r, _ := runeAt(s, j); r >= 0 && isOther(r) {
		return run(s, run(s, j, isOther), func(r rune) bool { return r == '\r' || r == '\n' })
	}
	// \s*[\r\n]+, then \s+(?!\S), then \s+
	if _, _, lastNL := spaceRun(s, i); lastNL > 0 {
		return lastNL
	}
	return spaces(s, i)
}

// Split behaviours (HF's SplitDelimiterBehavior): what happens to the matches
// of a pattern.
const (
	splitRemoved = iota
	splitIsolated
	splitMergedWithPrevious
	splitMergedWithNext
	splitContiguous
)

func parseBehavior(raw json.RawMessage, where string) (int, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, fmt.Errorf("%s: field behavior: %w", where, jsonError(err))
	}
	switch s {
	case "Removed":
		return splitRemoved, nil
	case "Isolated":
		return splitIsolated, nil
	case "MergedWithPrevious":
		return splitMergedWithPrevious, nil
	case "MergedWithNext":
		return splitMergedWithNext, nil
	case "Contiguous":
		return splitContiguous, nil
	}
	return 0, fmt.Errorf("%s: field behavior: %q is not Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous", where, s)
}

// span is a piece of a string: a match of the pattern or the text between two.
type span struct {
	start, end int
	match      bool
}

// spans covers s with the matches of m and the gaps between them, as HF's
// find_matches does (matches flagged; invert flips the flags).
func spans(s string, m matcher, invert bool, dst []span) ([]span, error) {
	prev := 0
	err := m.each(s, func(start, end int) error {
		if prev != start {
			dst = append(dst, span{prev, start, invert})
		}
		dst = append(dst, span{start, end, !invert})
		prev = end
		return nil
	})
	if prev != len(s) {
		dst = append(dst, span{prev, len(s), invert})
	}
	return dst, err
}

// charSpans is spans for a character class: each matching character is its
// own match.
func charSpans(s string, class func(rune) bool, dst []span) []span {
	last := 0
	for i, r := range s {
		if class(r) {
			if last < i {
				dst = append(dst, span{last, i, false})
			}
			end := i + utf8.RuneLen(r)
			if r == utf8.RuneError && end > len(s) {
				end = i + 1
			}
			dst = append(dst, span{i, end, true})
			last = end
		}
	}
	if last < len(s) {
		dst = append(dst, span{last, len(s), false})
	}
	return dst
}

// emitSpans applies a behaviour to spans of s and emits the non-empty pieces.
func emitSpans(s string, sp []span, behavior int, first bool, emit func(string, bool) error) error {
	out := sp[:0:0]
	switch behavior {
	case splitIsolated:
		out = sp
	case splitRemoved:
		for _, x := range sp {
			if !x.match {
				out = append(out, x)
			}
		}
	case splitContiguous:
		prev := false
		for _, x := range sp {
			if x.match == prev && len(out) > 0 {
				out[len(out)-1].end = x.end
			} else {
				out = append(out, span{x.start, x.end, false})
			}
			prev = x.match
		}
	case splitMergedWithPrevious:
		prev := false
		for _, x := range sp {
			if x.match && !prev && len(out) > 0 {
				out[len(out)-1].end = x.end
			} else {
				out = append(out, span{x.start, x.end, false})
			}
			prev = x.match
		}
	case splitMergedWithNext:
		prev := false
		rev := make([]span, 0, len(sp))
		for k := len(sp) - 1; k >= 0; k-- {
			x := sp[k]
			if x.match && !prev && len(rev) > 0 {
				rev[len(rev)-1].start = x.start
			} else {
				rev = append(rev, span{x.start, x.end, false})
			}
			prev = x.match
		}
		for k := len(rev) - 1; k >= 0; k-- {
			out = append(out, rev[k])
		}
	}
	for _, x := range out {
		if x.end > x.start {
			if err := emit(s[x.start:x.end], first && x.start == 0); err != nil {
				return err
			}
		}
	}
	return nil
}
