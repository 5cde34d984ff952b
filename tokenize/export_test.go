package tokenize

import (
	"time"

	"golang.org/x/text/unicode/norm"
)

// SetRegexTimeout changes the limit on one search of a general regular
// expression, for the test of a pattern that backtracks without end.
func SetRegexTimeout(d time.Duration) func() {
	old := regexTimeout
	regexTimeout = d
	return func() { regexTimeout = old }
}

// SplitKnown and SplitRegexp2 split s with a known pattern's hand-written
// matcher and with regexp2 running the same pattern.
func SplitKnown(pattern, s string) []string { return collect(knownSplitter(pattern), s) }

func SplitRegexp2(pattern, s string) []string {
	m, err := pattern2regex(pattern)
	if err != nil {
		panic(err)
	}
	return collect(m, s)
}

func collect(m matcher, s string) []string {
	var out []string
	if err := m.each(s, func(start, end int) error { out = append(out, s[start:end]); return nil }); err != nil {
		panic(err)
	}
	return out
}

// KnownPatterns are the patterns with hand-written matchers.
var KnownPatterns = []string{patGPT2, patCL100K, patQwen}

// NormalizeForm normalizes s to "NFC", "NFD", "NFKC" or "NFKD" as the HF
// normalizers of those names do.
func NormalizeForm(form, s string) (string, error) {
	f := map[string]norm.Form{"NFC": norm.NFC, "NFD": norm.NFD, "NFKC": norm.NFKC, "NFKD": norm.NFKD}[form]
	return normalizeForm(f, s, normBudget(len(s)))
}

// NormalizeLong is normalizeForm's path for long runs of marks, on any text.
func NormalizeLong(form, s string) (string, error) {
	f := map[string]norm.Form{"NFC": norm.NFC, "NFD": norm.NFD, "NFKC": norm.NFKC, "NFKD": norm.NFKD}[form]
	return normalizeLong(f, s, normBudget(len(s)))
}

// Normalize parses a normalizer (tokenizer.json's "normalizer" value) and
// applies it to s.
func Normalize(normalizerJSON, s string) (string, error) {
	n, err := parseNormalizer([]byte(normalizerJSON), "normalizer")
	if err != nil {
		return "", err
	}
	out, _, err := n.normalize(s, normBudget(len(s)))
	return out, err
}

// ParseCharsmap loads a precompiled_charsmap's bytes.
func ParseCharsmap(raw []byte) (func(string) string, error) {
	p, err := newPrecompiled(raw)
	if err != nil {
		return nil, err
	}
	return func(s string) string {
		out, _, err := p.normalize(s, normBudget(len(s)))
		if err != nil {
			panic(err)
		}
		return out
	}, nil
}

// SerdeFloat reads a JSON number as serde_json does.
func SerdeFloat(s string) (float64, error) { return serdeFloat([]byte(s)) }

// PreTokenize parses a pre-tokenizer and splits s with it.
func PreTokenize(preJSON, s string) ([]string, error) {
	p, _, err := parsePreTokenizer([]byte(preJSON), "pre_tokenizer", true)
	if err != nil {
		return nil, err
	}
	out := []string{}
	err = p.split(s, true, func(piece string, _ bool) error { out = append(out, piece); return nil })
	return out, err
}

// ScriptOf is the script UnicodeScripts gives r ("Any": none), before its
// fixes for kana, U+30FC and the space.
func ScriptOf(r rune) string { return scriptNames[rawScript(r)] }
