package tokenize

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// normalizer is one of tokenizer.json's normalizers. normalize returns the
// new text, and dropped: whether the text's first character was deleted, so
// that what now starts the text no longer starts the original (which
// Metaspace's "first" scheme looks at). It fails when the text would grow
// past max bytes (see normBudget), and when a regular expression runs out
// of time or stack.
type normalizer interface {
	normalize(s string, max int) (out string, dropped bool, err error)
}

// normBudget is the most bytes normalizing a text of n bytes may give. Real
// normalizers grow a text by a small factor (NFKD's worst, U+FDFA, takes 3
// bytes to 33); a tokenizer.json whose chain grows it further (a Replace of
// "a" by ten "a"s, twelve times over: 10^12) is refused at the first text
// rather than allowed to exhaust memory.
func normBudget(n int) int { return 64*n + 4096 }

// grown is the error of a normalizer whose output would pass max bytes,
// which normBudget gave for the text first normalized.
func grown(max int) error {
	return fmt.Errorf("normalizers: a text of %d bytes grows past %d bytes (64 times its length, plus 4 KiB): the tokenizer's normalizer chain is not one a model uses", (max-4096)/64, max)
}

// checkGrowth fails when out is longer than max.
func checkGrowth(out string, max int) error {
	if len(out) > max {
		return grown(max)
	}
	return nil
}

func parseNormalizer(raw json.RawMessage, where string) (normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	typ, err := typeOf(raw, where)
	if err != nil {
		return nil, err
	}
	where = fmt.Sprintf("%s (%s)", where, typ)
	switch typ {
	case "Sequence":
		var s struct {
			Normalizers []json.RawMessage `json:"normalizers"`
		}
		if err := decode(raw, where, &s); err != nil {
			return nil, err
		}
		var seq seqNormalizer
		for i, sub := range s.Normalizers {
			n, err := parseNormalizer(sub, fmt.Sprintf("%s.normalizers[%d]", where, i))
			if err != nil {
				return nil, err
			}
			if n != nil {
				seq = append(seq, n)
			}
		}
		return seq, nil
	case "NFC":
		return formNormalizer{norm.NFC}, nil
	case "NFD":
		return formNormalizer{norm.NFD}, nil
	case "NFKC":
		return formNormalizer{norm.NFKC}, nil
	case "NFKD":
		return formNormalizer{norm.NFKD}, nil
	case "Lowercase":
		return lowercase{}, nil
	case "StripAccents":
		return stripAccents{}, nil
	case "Strip":
		var s struct {
			Left  bool `json:"strip_left"`
			Right bool `json:"strip_right"`
		}
		if err := decode(raw, where, &s); err != nil {
			return nil, err
		}
		return strip{left: s.Left, right: s.Right}, nil
	case "Prepend":
		var p struct {
			Prepend *string `json:"prepend"`
		}
		if err := decode(raw, where, &p); err != nil {
			return nil, err
		}
		if p.Prepend == nil {
			return nil, fmt.Errorf("%s: field prepend: missing", where)
		}
		return prepend(*p.Prepend), nil
	case "Replace":
		var r struct {
			Pattern pattern `json:"pattern"`
			Content *string `json:"content"`
		}
		if err := decode(raw, where, &r); err != nil {
			return nil, err
		}
		if r.Content == nil {
			return nil, fmt.Errorf("%s: field content: missing", where)
		}
		m, err := r.Pattern.compile(where + ".pattern")
		if err != nil {
			return nil, err
		}
		return replace{m: m, content: *r.Content}, nil
	case "Nmt":
		return nmt{}, nil
	case "BertNormalizer":
		b := bertNormalizer{cleanText: true, chinese: true, lowercase: true}
		var s struct {
			CleanText    *bool `json:"clean_text"`
			Chinese      *bool `json:"handle_chinese_chars"`
			StripAccents *bool `json:"strip_accents"`
			Lowercase    *bool `json:"lowercase"`
		}
		if err := decode(raw, where, &s); err != nil {
			return nil, err
		}
		setBool(&b.cleanText, s.CleanText)
		setBool(&b.chinese, s.Chinese)
		setBool(&b.lowercase, s.Lowercase)
		b.stripAccents = b.lowercase
		setBool(&b.stripAccents, s.StripAccents)
		return b, nil
	case "ByteLevel":
		return byteLevelNormalizer{}, nil
	case "Precompiled":
		var p struct {
			Charsmap *string `json:"precompiled_charsmap"`
		}
		if err := decode(raw, where, &p); err != nil {
			return nil, err
		}
		if p.Charsmap == nil {
			return nil, fmt.Errorf("%s: field precompiled_charsmap: missing", where)
		}
		return parsePrecompiled(*p.Charsmap, where)
	}
	return nil, fmt.Errorf("%s: normalizer type %q is not supported", where, typ)
}

func setBool(dst *bool, v *bool) {
	if v != nil {
		*dst = *v
	}
}

type seqNormalizer []normalizer

func (q seqNormalizer) normalize(s string, max int) (string, bool, error) {
	dropped := false
	for _, n := range q {
		var d bool
		var err error
		if s, d, err = n.normalize(s, max); err != nil {
			return "", false, err
		}
		dropped = dropped || d
	}
	return s, dropped, nil
}

type formNormalizer struct{ f norm.Form }

// normalize builds the normal form segment by segment, so that a text
// that grows past max (NFKD takes U+FDFA from 3 bytes to 33) fails before
// its whole expansion is in memory; runs of more than 30 combining marks
// are normalized whole, as Hugging Face does (see normalizeForm).
func (n formNormalizer) normalize(s string, max int) (string, bool, error) {
	out, err := normalizeForm(n.f, s, max)
	return out, false, err
}

// lowercase maps each character as Rust's char::to_lowercase does: the
// simple mapping, except U+0130 (İ), which becomes "i̇". No context rules
// (a final sigma stays σ).
type lowercase struct{}

func (lowercase) normalize(s string, max int) (string, bool, error) {
	out := toLowerRust(s)
	return out, false, checkGrowth(out, max)
}

func toLowerRust(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r == '\u0130' {
			b.WriteString("i\u0307")
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// filterMap keeps the characters keep accepts, each mapped through m (nil:
// unchanged), and reports whether the first character was removed.
func filterMap(s string, keep func(rune) bool, m func(rune) rune) (string, bool) {
	var b strings.Builder
	b.Grow(len(s))
	dropped := false
	for i, r := range s {
		if !keep(r) {
			if i == 0 {
				dropped = true
			}
			continue
		}
		if m != nil {
			r = m(r)
		}
		b.WriteRune(r)
	}
	return b.String(), dropped
}

// stripAccents removes combining marks (Mn, Mc, Me).
type stripAccents struct{}

func (stripAccents) normalize(s string, _ int) (string, bool, error) {
	out, dropped := filterMap(s, func(r rune) bool { return !unicode.IsMark(r) }, nil)
	return out, dropped, nil
}

// strip removes leading and/or trailing whitespace.
type strip struct{ left, right bool }

func (n strip) normalize(s string, _ int) (string, bool, error) {
	dropped := false
	if n.left {
		t := strings.TrimLeftFunc(s, unicode.IsSpace)
		dropped = len(t) < len(s)
		s = t
	}
	if n.right {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	return s, dropped, nil
}

// prepend puts a string before every non-empty text.
type prepend string

func (p prepend) normalize(s string, max int) (string, bool, error) {
	if s == "" {
		return s, false, nil
	}
	if len(p)+len(s) > max {
		return "", false, grown(max)
	}
	return string(p) + s, false, nil
}

// replace replaces every match of a pattern.
type replace struct {
	m       matcher
	content string
}

func (n replace) normalize(s string, max int) (string, bool, error) {
	var b strings.Builder
	last, dropped, found := 0, false, false
	err := n.m.each(s, func(start, end int) error {
		found = true
		if b.Len()+(start-last)+len(n.content) > max {
			return grown(max)
		}
		b.WriteString(s[last:start])
		b.WriteString(n.content)
		if start == 0 && end > 0 && n.content == "" {
			dropped = true
		}
		last = end
		return nil
	})
	if err != nil || !found {
		return s, false, err
	}
	if b.Len()+len(s)-last > max {
		return "", false, grown(max)
	}
	b.WriteString(s[last:])
	return b.String(), dropped, nil
}

// nmt is SentencePiece's NMT normalization: some control characters go,
// some spaces become ' '.
type nmt struct{}

func (nmt) normalize(s string, _ int) (string, bool, error) {
	out, dropped := filterMap(s, func(r rune) bool {
		switch {
		case r >= 0x1 && r <= 0x8, r == 0xB, r >= 0xE && r <= 0x1F, r == 0x7F, r == 0x8F, r == 0x9F:
			return false
		}
		return true
	}, func(r rune) rune {
		switch {
		case r == 0x9, r == 0xA, r == 0xC, r == 0xD, r == 0x1680, r >= 0x200B && r <= 0x200F,
			r == 0x2028, r == 0x2029, r == 0x2581, r == 0xFEFF, r == 0xFFFD:
			return ' '
		}
		return r
	})
	return out, dropped, nil
}

// bertNormalizer is BERT's: control characters removed and whitespace made
// ' ', CJK ideographs padded with spaces, accents stripped (NFD, then
// nonspacing marks removed), lowercase.
type bertNormalizer struct {
	cleanText, chinese, stripAccents, lowercase bool
}

func (n bertNormalizer) normalize(s string, max int) (string, bool, error) {
	dropped := false
	if n.cleanText {
		var d bool
		s, d = filterMap(s, func(r rune) bool {
			return !(r == 0 || r == 0xFFFD || isBertControl(r))
		}, func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' || unicode.IsSpace(r) {
				return ' '
			}
			return r
		})
		dropped = d
	}
	if n.chinese {
		s = padChinese(s)
	}
	if n.stripAccents {
		var d bool
		nfd, err := normalizeForm(norm.NFD, s, max)
		if err != nil {
			return "", false, err
		}
		s, d = filterMap(nfd, func(r rune) bool { return !unicode.Is(unicode.Mn, r) }, nil)
		dropped = dropped || d
	}
	if n.lowercase {
		s = toLowerRust(s)
	}
	return s, dropped, checkGrowth(s, max)
}

// isBertControl is category C (Cc, Cf, Cn, Co, Cs) except tab, newline and
// carriage return.
func isBertControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	if r < utf8.RuneSelf {
		return r < 0x20 || r == 0x7F
	}
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z)
}

// isChineseChar is BERT's test for CJK ideographs.
func isChineseChar(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) || (r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) || (r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B920 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}

func padChinese(s string) string {
	found := false
	for _, r := range s {
		if isChineseChar(r) {
			found = true
			break
		}
	}
	if !found {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isChineseChar(r) {
			b.WriteByte(' ')
			b.WriteRune(r)
			b.WriteByte(' ')
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// byteLevelNormalizer writes each byte of the text as the character GPT-2's
// byte-level alphabet gives it.
type byteLevelNormalizer struct{}

func (byteLevelNormalizer) normalize(s string, max int) (string, bool, error) {
	out := byteLevelString(s)
	return out, false, checkGrowth(out, max)
}

// byteChar is GPT-2's byte-to-character table: printable bytes stand for
// themselves, the others are shifted to U+0100 and up.
var byteChar, charByte = func() ([256]rune, map[rune]byte) {
	var bc [256]rune
	cb := map[rune]byte{}
	n := rune(0)
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			bc[b] = rune(b)
		} else {
			bc[b] = 256 + n
			n++
		}
		cb[bc[b]] = byte(b)
	}
	return bc, cb
}()

func byteLevelString(s string) string {
	var b strings.Builder
	b.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		b.WriteRune(byteChar[s[i]])
	}
	return b.String()
}

// byteLevelDecode turns a string of byte-level characters back into the
// bytes they stand for; ok is false when a character is not in the alphabet.
func byteLevelDecode(s string) (string, bool) {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		b, ok := charByte[r]
		if !ok {
			return "", false
		}
		out = append(out, b)
	}
	return string(out), true
}
