package tokenize

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// preTokenizer is one of tokenizer.json's pre-tokenizers. split calls emit
// with each non-empty piece of s, in order; first says whether s (and then
// the piece) starts the original text.
type preTokenizer interface {
	split(s string, first bool, emit func(piece string, first bool) error) error
}

// parsePreTokenizer reads a pre-tokenizer. byteLevel reports that the
// pipeline ends with a ByteLevel pre-tokenizer, whose byte-to-character
// mapping the model then takes over (last says whether this one is last in
// its sequence).
func parsePreTokenizer(raw json.RawMessage, where string, last bool) (p preTokenizer, byteLevel bool, err error) {
	if isNull(raw) {
		return nil, false, nil
	}
	typ, err := typeOf(raw, where)
	if err != nil {
		return nil, false, err
	}
	where = fmt.Sprintf("%s (%s)", where, typ)
	switch typ {
	case "Sequence":
		var s struct {
			Pretokenizers []json.RawMessage `json:"pretokenizers"`
		}
		if err := decode(raw, where, &s); err != nil {
			return nil, false, err
		}
		var seq seqPre
		for i, sub := range s.Pretokenizers {
			isLast := last && i == len(s.Pretokenizers)-1
			q, bl, err := parsePreTokenizer(sub, fmt.Sprintf("%s.pretokenizers[%d]", where, i), isLast)
			if err != nil {
				return nil, false, err
			}
			byteLevel = byteLevel || bl
			if q != nil {
				seq = append(seq, q)
			}
		}
		if len(seq) == 1 {
			return seq[0], byteLevel, nil
		}
		return seq, byteLevel, nil
	case "ByteLevel":
		var b struct {
			AddPrefixSpace *bool `json:"add_prefix_space"`
			UseRegex       *bool `json:"use_regex"`
		}
		if err := decode(raw, where, &b); err != nil {
			return nil, false, err
		}
		bl := &byteLevelPre{addPrefixSpace: true, useRegex: true, mapChars: !last}
		setBool(&bl.addPrefixSpace, b.AddPrefixSpace)
		setBool(&bl.useRegex, b.UseRegex)
		return bl, last, nil
	case "Split":
		var s struct {
			Pattern  pattern         `json:"pattern"`
			Behavior json.RawMessage `json:"behavior"`
			Invert   bool            `json:"invert"`
		}
		if err := decode(raw, where, &s); err != nil {
			return nil, false, err
		}
		m, err := s.Pattern.compile(where + ".pattern")
		if err != nil {
			return nil, false, err
		}
		b, err := parseBehavior(s.Behavior, where)
		if err != nil {
			return nil, false, err
		}
		return splitPre{m: m, behavior: b, invert: s.Invert}, false, nil
	case "Metaspace":
		var m struct {
			Replacement    string  `json:"replacement"`
			AddPrefixSpace *bool   `json:"add_prefix_space"`
			PrependScheme  *string `json:"prepend_scheme"`
			Split          *bool   `json:"split"`
		}
		if err := decode(raw, where, &m); err != nil {
			return nil, false, err
		}
		if utf8.RuneCountInString(m.Replacement) != 1 {
			return nil, false, fmt.Errorf("%s: field replacement: %q is not one character", where, m.Replacement)
		}
		mp := metaspacePre{repl: m.Replacement, scheme: "always", doSplit: true}
		if m.PrependScheme != nil {
			mp.scheme = *m.PrependScheme
		}
		switch mp.scheme {
		case "always", "first", "never":
		default:
			return nil, false, fmt.Errorf("%s: field prepend_scheme: %q is not always, first or never", where, mp.scheme)
		}
		if m.AddPrefixSpace != nil && !*m.AddPrefixSpace {
			if mp.scheme != "never" && m.PrependScheme != nil {
				return nil, false, fmt.Errorf("%s: add_prefix_space false does not match prepend_scheme %q", where, mp.scheme)
			}
			mp.scheme = "never"
		}
		setBool(&mp.doSplit, m.Split)
		return mp, false, nil
	case "Whitespace":
		return whitespacePre{}, false, nil
	case "UnicodeScripts":
		return unicodeScriptsPre{}, false, nil
	case "WhitespaceSplit":
		return classSplitPre{class: unicode.IsSpace, behavior: splitRemoved}, false, nil
	case "BertPreTokenizer":
		return seqPre{classSplitPre{class: unicode.IsSpace, behavior: splitRemoved}, classSplitPre{class: isPunct, behavior: splitIsolated}}, false, nil
	case "Punctuation":
		var p struct {
			Behavior json.RawMessage `json:"behavior"`
		}
		if err := decode(raw, where, &p); err != nil {
			return nil, false, err
		}
		b := splitIsolated
		if !isNull(p.Behavior) {
			if b, err = parseBehavior(p.Behavior, where); err != nil {
				return nil, false, err
			}
		}
		return classSplitPre{class: isPunct, behavior: b}, false, nil
	case "Digits":
		var d struct {
			Individual bool `json:"individual_digits"`
		}
		if err := decode(raw, where, &d); err != nil {
			return nil, false, err
		}
		b := splitContiguous
		if d.Individual {
			b = splitIsolated
		}
		return classSplitPre{class: unicode.IsNumber, behavior: b}, false, nil
	case "CharDelimiterSplit":
		var c struct {
			Delimiter string `json:"delimiter"`
		}
		if err := decode(raw, where, &c); err != nil {
			return nil, false, err
		}
		if utf8.RuneCountInString(c.Delimiter) != 1 {
			return nil, false, fmt.Errorf("%s: field delimiter: %q is not one character", where, c.Delimiter)
		}
		d, _ := utf8.DecodeRuneInString(c.Delimiter)
		return classSplitPre{class: func(r rune) bool { return r == d }, behavior: splitRemoved}, false, nil
	case "FixedLength":
		f := struct {
			Length int `json:"length"`
		}{Length: 5}
		if err := decode(raw, where, &f); err != nil {
			return nil, false, err
		}
		if f.Length <= 0 {
			return nil, false, fmt.Errorf("%s: field length: must be positive", where)
		}
		return fixedLengthPre(f.Length), false, nil
	}
	return nil, false, fmt.Errorf("%s: pre-tokenizer type %q is not supported", where, typ)
}

// seqPre runs pre-tokenizers in turn, each on the pieces of the one before.
type seqPre []preTokenizer

func (q seqPre) split(s string, first bool, emit func(string, bool) error) error {
	return q.from(0, s, first, emit)
}

func (q seqPre) from(i int, s string, first bool, emit func(string, bool) error) error {
	if i == len(q) {
		return emit(s, first)
	}
	return q[i].split(s, first, func(p string, f bool) error { return q.from(i+1, p, f, emit) })
}

// byteLevelPre is GPT-2's ByteLevel: a space before each piece when
// addPrefixSpace, the GPT-2 split when useRegex, then bytes as characters.
// Last in a pipeline (mapChars false), the pieces stay raw bytes and the
// model, whose vocabulary was decoded at load, reads them as they are.
type byteLevelPre struct {
	addPrefixSpace, useRegex, mapChars bool
}

func (b *byteLevelPre) split(s string, first bool, emit func(string, bool) error) error {
	if b.addPrefixSpace && !strings.HasPrefix(s, " ") {
		s = " " + s
	}
	out := emit
	if b.mapChars {
		out = func(p string, f bool) error { return emit(byteLevelString(p), f) }
	}
	if !b.useRegex {
		return out(s, first)
	}
	return gpt2Splitter{}.each(s, func(start, end int) error {
		return out(s[start:end], first && start == 0)
	})
}

// splitPre is Split: a pattern and a behaviour.
type splitPre struct {
	m        matcher
	behavior int
	invert   bool
}

func (p splitPre) split(s string, first bool, emit func(string, bool) error) error {
	if p.behavior == splitIsolated && !p.invert {
		// Matches and the gaps between them, each a piece.
		prev := 0
		err := p.m.each(s, func(start, end int) error {
			if prev < start {
				if err := emit(s[prev:start], first && prev == 0); err != nil {
					return err
				}
			}
			prev = end
			if end > start {
				return emit(s[start:end], first && start == 0)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if prev < len(s) {
			return emit(s[prev:], first && prev == 0)
		}
		return nil
	}
	sp, err := spans(s, p.m, p.invert, nil)
	if err != nil {
		return err
	}
	return emitSpans(s, sp, p.behavior, first, emit)
}

// classSplitPre splits on each character of a class.
type classSplitPre struct {
	class    func(rune) bool
	behavior int
}

func (p classSplitPre) split(s string, first bool, emit func(string, bool) error) error {
	return emitSpans(s, charSpans(s, p.class, nil), p.behavior, first, emit)
}

// isPunct is Rust's char::is_ascii_punctuation or a Unicode P category.
func isPunct(r rune) bool {
	if r < utf8.RuneSelf {
		return (r >= '!' && r <= '/') || (r >= ':' && r <= '@') || (r >= '[' && r <= '`') || (r >= '{' && r <= '~')
	}
	return unicode.IsPunct(r)
}

// whitespacePre is Whitespace: runs of \w and runs of [^\w\s], whitespace
// removed (the pattern \w+|[^\w\s]+ of Rust's regex crate).
type whitespacePre struct{}

func (whitespacePre) split(s string, first bool, emit func(string, bool) error) error {
	const (
		space = iota
		word
		other
	)
	class := func(r rune) int {
		switch {
		case isRegexWord(r):
			return word
		case unicode.IsSpace(r):
			return space
		}
		return other
	}
	start, cur := 0, space
	for i, r := range s {
		c := class(r)
		if c == cur {
			continue
		}
		if cur != space && i > start {
			if err := emit(s[start:i], first && start == 0); err != nil {
				return err
			}
		}
		start, cur = i, c
	}
	if cur != space && len(s) > start {
		return emit(s[start:], first && start == 0)
	}
	return nil
}

// metaspacePre is Metaspace: spaces become the replacement character, which
// is put before the text (always, only before the first piece of the
// original text, or never) and, with split, starts each piece.
type metaspacePre struct {
	repl    string
	scheme  string
	doSplit bool
}

func (m metaspacePre) split(s string, first bool, emit func(string, bool) error) error {
	s = strings.ReplaceAll(s, " ", m.repl)
	if (m.scheme == "always" || (m.scheme == "first" && first)) && !strings.HasPrefix(s, m.repl) {
		s = m.repl + s
	}
	if !m.doSplit {
		return emit(s, first)
	}
	sp, _ := spans(s, literal(m.repl), false, nil)
	return emitSpans(s, sp, splitMergedWithNext, first, emit)
}

// fixedLengthPre cuts text into pieces of n characters.
type fixedLengthPre int

func (n fixedLengthPre) split(s string, first bool, emit func(string, bool) error) error {
	count, start := 0, 0
	for i := range s {
		if count == int(n) {
			if err := emit(s[start:i], first && start == 0); err != nil {
				return err
			}
			count, start = 0, i
		}
		count++
	}
	if start < len(s) {
		return emit(s[start:], first && start == 0)
	}
	return nil
}

// checkFirstScheme refuses the one combination the pipeline cannot follow
// exactly: Metaspace's "first" scheme after a normalizer that inserts
// characters at the start of a text (Prepend, BERT's CJK padding), where HF
// decides "first" by alignments this pipeline does not keep.
func checkFirstScheme(p preTokenizer, n normalizer) error {
	if !usesFirst(p) || n == nil {
		return nil
	}
	var inserts func(n normalizer) bool
	inserts = func(n normalizer) bool {
		switch x := n.(type) {
		case seqNormalizer:
			for _, y := range x {
				if inserts(y) {
					return true
				}
			}
		case prepend:
			return true
		case bertNormalizer:
			return x.chinese
		}
		return false
	}
	if inserts(n) {
		return fmt.Errorf("pre_tokenizer: Metaspace with prepend_scheme \"first\" after a normalizer that inserts text at the start (Prepend, BertNormalizer) is not supported")
	}
	return nil
}

func usesFirst(p preTokenizer) bool {
	switch x := p.(type) {
	case metaspacePre:
		return x.scheme == "first"
	case seqPre:
		for _, q := range x {
			if usesFirst(q) {
				return true
			}
		}
	}
	return false
}
