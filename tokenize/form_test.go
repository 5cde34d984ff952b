package tokenize_test

import (
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"

	"github.com/ser-rl/ser/internal/testsupport/corpus"
	"github.com/ser-rl/ser/tokenize"
)

// TestLongMarkRuns: a run of more than 30 combining marks is ordered and
// composed whole, as Hugging Face does, with no U+034F put in (the
// Stream-Safe Text Format that golang.org/x/text writes); shorter runs are
// x/text's own results.
func TestLongMarkRuns(t *testing.T) {
	r := strings.Repeat
	cases := []struct{ form, in, want string }{
		// a + 31 diaereses: a and the first compose, 30 stay.
		{"NFC", "a" + r("\u0308", 31), "ä" + r("\u0308", 30)},
		{"NFKC", "a" + r("\u0308", 31) + " b", "ä" + r("\u0308", 30) + " b"},
		{"NFD", "ä" + r("\u0308", 31), "a" + r("\u0308", 32)},
		{"NFD", "a" + r("\u0308", 40), "a" + r("\u0308", 40)}, // already normal
		{"NFC", "ä" + r("\u0308", 40), "ä" + r("\u0308", 40)},
		{"NFKD", "ﬁ" + r("\u0308", 31), "fi" + r("\u0308", 31)},
		// Below (220) sorts before above (230) over the whole run; a+0323 is
		// ạ, then the first 0302, unblocked by the 220s before it, makes ậ.
		{"NFD", "a" + r("\u0302\u0323", 16), "a" + r("\u0323", 16) + r("\u0302", 16)},
		{"NFC", "a" + r("\u0302\u0323", 16), "ậ" + r("\u0323", 15) + r("\u0302", 15)},
		{"NFC", "a" + r("\u0301\u0323", 16), "ạ" + r("\u0323", 15) + r("\u0301", 16)},
		// Hangul: a syllable decomposes and recomposes around its marks.
		{"NFC", "각" + r("\u0300", 31), "각" + r("\u0300", 31)},
		{"NFD", "각" + r("\u0300", 31), "\u1100\u1161\u11a8" + r("\u0300", 31)},
		// Invalid UTF-8 passes through and stops composition.
		{"NFC", "a" + r("\u0308", 31) + "\xff\u0308", "ä" + r("\u0308", 30) + "\xff\u0308"},
	}
	for _, c := range cases {
		got, err := tokenize.NormalizeForm(c.form, c.in)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s(%+q) = %+q, want %+q", c.form, c.in, got, c.want)
		}
		if strings.ContainsRune(got, '\u034f') {
			t.Errorf("%s(%+q) holds U+034F", c.form, c.in)
		}
	}
	// Below the threshold the two paths agree with x/text.
	for _, s := range []string{"e\u0301 a\u0300 n\u0303", "ﬁ ㈱ Å Ω", "a" + r("\u0308\u0323", 14), "각\u0300 ᄀ\u1161"} {
		for name, f := range map[string]norm.Form{"NFC": norm.NFC, "NFD": norm.NFD, "NFKC": norm.NFKC, "NFKD": norm.NFKD} {
			got, err := tokenize.NormalizeForm(name, s)
			if err != nil || got != f.String(s) {
				t.Errorf("%s(%+q) = %+q, %v; x/text %+q", name, s, got, err, f.String(s))
			}
		}
	}
}

// TestLongPathMatchesXText: the path for long runs gives x/text's results
// wherever x/text is exact (no run of more than 30 marks), on the
// adversarial texts and on every character of the Basic Multilingual
// Plane followed by marks of several classes.
func TestLongPathMatchesXText(t *testing.T) {
	texts := []string{}
	for _, c := range corpus.Adversarial() {
		if !strings.Contains(c.Source, "marks") && !strings.Contains(c.Source, "zalgo") && !strings.Contains(c.Source, "100k") {
			texts = append(texts, c.Text)
		}
	}
	var b strings.Builder
	for r := rune(0xA0); r < 0x10000; r++ {
		if r >= 0xD800 && r < 0xE000 {
			continue
		}
		b.WriteRune(r)
		if r%7 == 0 {
			b.WriteString("\u0323\u0301")
		}
		if r%64 == 0 {
			texts = append(texts, b.String())
			b.Reset()
		}
	}
	forms := map[string]norm.Form{"NFC": norm.NFC, "NFD": norm.NFD, "NFKC": norm.NFKC, "NFKD": norm.NFKD}
	bad, checked := 0, 0
	for _, s := range texts {
		for name, f := range forms {
			want := f.String(s)
			if strings.Count(want, "\u034f") != strings.Count(s, "\u034f") {
				continue // x/text cut a run of more than 30 marks: not a reference here
			}
			checked++
			got, err := tokenize.NormalizeLong(name, s)
			if err != nil || got != want {
				if bad++; bad < 10 {
					t.Errorf("%s(%+q) = %+q, %v; x/text %+q", name, s, got, err, want)
				}
			}
		}
	}
	if checked < 3000 {
		t.Fatalf("only %d texts compared", checked)
	}
}
