package tokenize

import "sort"

// unicodeScriptsPre is UnicodeScripts (pre_tokenizers/unicode_scripts): a
// piece starts at each character whose script differs from the last
// script seen. The scripts are Unicode 9.0's (hf_scripts_table.go), with
// SentencePiece's fixes: Hiragana, Katakana and U+30FC (the prolonged sound
// mark) count as Han, and a space, like a character Unicode 9.0 had not
// assigned, has no script ("Any"): it never starts a piece and joins the
// piece it is in. As in Hugging Face, characters with no script before the
// first character with one are dropped (a text of spaces alone gives no
// piece).
type unicodeScriptsPre struct{}

type scriptSpan struct {
	lo, hi rune
	s      uint8
}

// Indices of scriptNames that the fixes use.
var (
	scriptHan      = scriptIndex("Han")
	scriptHiragana = scriptIndex("Hiragana")
	scriptKatakana = scriptIndex("Katakana")
	asciiScripts   = func() (t [128]uint8) {
		for r := range t {
			t[r] = rawScript(rune(r))
		}
		t[' '] = 0
		return t
	}()
)

func scriptIndex(name string) uint8 {
	for i, n := range scriptNames {
		if n == name {
			return uint8(i)
		}
	}
	panic("tokenize: no script " + name)
}

func rawScript(r rune) uint8 {
	i := sort.Search(len(scriptSpans), func(i int) bool { return scriptSpans[i].hi >= r })
	if i < len(scriptSpans) && scriptSpans[i].lo <= r {
		return scriptSpans[i].s
	}
	return 0
}

// fixedScript is the script UnicodeScripts gives r; 0 is Any.
func fixedScript(r rune) uint8 {
	if r < 128 {
		return asciiScripts[r]
	}
	if r == 0x30FC {
		return scriptHan
	}
	s := rawScript(r)
	if s == scriptHiragana || s == scriptKatakana {
		return scriptHan
	}
	return s
}

func (unicodeScriptsPre) split(s string, first bool, emit func(string, bool) error) error {
	start := -1
	last := -1
	for i, r := range s {
		sc := int(fixedScript(r))
		if sc == 0 || sc == last {
			continue
		}
		if start >= 0 {
			if err := emit(s[start:i], first && start == 0); err != nil {
				return err
			}
		}
		start, last = i, sc
	}
	if start >= 0 {
		return emit(s[start:], first && start == 0)
	}
	return nil
}
