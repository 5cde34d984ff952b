// Package corpus builds the texts that the tokenizer parity tests, their
// fixture script and the tokenizer benchmark read: real conversations from
// the shared evaluation data and an adversarial set of corner cases. The
// selection is deterministic, so the Go tests and the Node reference
// (tokenize/reference/parity.js) see the same texts in the same order.
package corpus

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Text is one corpus text and where it comes from.
type Text struct {
	Source string `json:"source"` // file:line[:field] or adversarial:NAME
	Text   string `json:"text"`
}

// Counts of the shared-data part: per HH-RLHF subset, and UltraFeedback rows
// (each gives a prompt, a chosen and a rejected answer).
const (
	HHPerSubset = 500
	UFRows      = 400
)

// Shared reads the shared-data part from dataDir (../shared/data): the chosen
// transcript of the first HHPerSubset records of each HH-RLHF subset's
// test.jsonl.gz (whole "\n\nHuman: ... \n\nAssistant: ..." conversations), then
// the prompt, chosen and rejected answers of the first UFRows UltraFeedback
// rows of train_clean.jsonl: 3,200 texts.
func Shared(dataDir string) ([]Text, error) {
	var out []Text
	subsets, err := filepath.Glob(filepath.Join(dataDir, "hh-rlhf", "*", "test.jsonl.gz"))
	if err != nil {
		return nil, err
	}
	if len(subsets) == 0 {
		return nil, fmt.Errorf("corpus: no hh-rlhf/*/test.jsonl.gz under %s", dataDir)
	}
	for _, path := range subsets { // Glob sorts
		err := eachLine(path, HHPerSubset, func(line int, raw []byte) error {
			var r struct {
				Chosen *string `json:"chosen"`
			}
			if err := json.Unmarshal(raw, &r); err != nil || r.Chosen == nil {
				return fmt.Errorf("%s:%d: field chosen: missing or malformed", path, line)
			}
			out = append(out, Text{Source: fmt.Sprintf("%s:%d", rel(dataDir, path), line), Text: *r.Chosen})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	uf := filepath.Join(dataDir, "ultrafeedback-binarized-sample1200", "train_clean.jsonl")
	err = eachLine(uf, UFRows, func(line int, raw []byte) error {
		var r map[string]any
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("%s:%d: %v", uf, line, err)
		}
		for _, field := range []string{"prompt", "chosen", "rejected"} {
			s, ok := r[field].(string)
			if !ok {
				return fmt.Errorf("%s:%d: field %s: not a string", uf, line, field)
			}
			out = append(out, Text{Source: fmt.Sprintf("%s:%d:%s", rel(dataDir, uf), line, field), Text: s})
		}
		return nil
	})
	return out, err
}

func rel(base, path string) string {
	if r, err := filepath.Rel(base, path); err == nil {
		return r
	}
	return path
}

// eachLine calls fn for the first n lines of a JSONL file (gzipped when its
// name ends in .gz), numbered from 1.
func eachLine(path string, n int, fn func(line int, raw []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for line := 1; line <= n && sc.Scan(); line++ {
		if err := fn(line, sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Adversarial returns the corner cases: emoji and ZWJ sequences, CJK, RTL,
// combining marks, control characters, long runs of spaces, newlines and
// digits, case-folding traps in contractions, text that looks like special
// tokens of every family, text for normalization maps (full-width forms,
// ligatures, every kind of control character and space, short grapheme
// clusters), runs of more than 30 combining marks, an empty text and a text
// of 100,000 characters.
func Adversarial() []Text {
	cases := []struct{ name, text string }{
		{"empty", ""},
		{"space", " "},
		{"spaces-1000", strings.Repeat(" ", 1000)},
		{"spaces-mixed", "a  b   c    d\t\te \u00a0f\u3000g\u2003h"},
		{"newlines", strings.Repeat("\n", 50) + "x" + strings.Repeat("\r\n", 20) + "y\r\r\n\n \n  \n"},
		{"trailing-space", "ends with spaces   "},
		{"leading-newline", "\n\nHuman: hi\n\nAssistant: hello"},
		{"digits", "1234567890123456789 3.14159 1,000,000 007 ١٢٣٤٥ ０１２３ ²³ ½ Ⅻ"},
		{"digits-long", strings.Repeat("9876543210", 30)},
		{"emoji", "I love it 😀😃😄 👍🏽 👩🏾‍💻 🏳️‍🌈 👨‍👩‍👧‍👦 🇫🇷 ❤️ 🫠"},
		{"emoji-only", "👨‍👩‍👧‍👦👨‍👩‍👧‍👦👨‍👩‍👧‍👦"},
		{"cjk", "中文测试：你好，世界！日本語のテキストです。한국어 텍스트입니다."},
		{"cjk-mixed", "Tokyo東京2024年Osaka大阪"},
		{"rtl", "مرحبا بالعالم! שלום עולם \u200fRLM\u200e and עברית123"},
		{"combining", "e\u0301 a\u0300 n\u0303 Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇ café naïve"},
		{"nfc-nfkc", "ﬁ ﬂ ﬀ Å Å Ω Ω ㈱ ㌔ ｶﾀｶﾅ ＡＢＣ ①②③ ™ 𝐀𝐁𝐂 𝔸𝔹"},
		{"controls", "a\x00b\x01c\x07d\x1be\x7ff\u0085g\u200bh\ufeffi\u00adj\u2028k\u2029l"},
		{"tabs-vt-ff", "col1\tcol2\tcol3\vvt\fform feed"},
		{"replacement-char", "bad \ufffd bytes \ufffd\ufffd"},
		{"contractions", "I'm you're it's they've we'll he'd I'M YOU'RE IT'S THEY'VE WE'LL HE'D"},
		{"contractions-fold", "it'ſ the ſtate; Kelvin 'K; 'ﬆ; Straße's; İstanbul's"},
		{"apostrophes", "don’t ‘quoted’ \"double\" ``tex'' '' ' s 'll"},
		{"code", "func main() {\n\tfmt.Println(\"hi\")\n}\n\n```python\nx = [i**2 for i in range(10)]  # squares\n```"},
		{"url-email", "See https://example.com/a/b?c=d&e=f#g or mail me@example.org; path C:\\Users\\x\\file.txt"},
		{"punct-runs", "!!!??? ... --- === *** ### @@@ $$$ %%% ^^^ &&& ((())) [[[]]] {{{}}} <<<>>> ~~~ ||| \\\\ //"},
		{"special-llama3", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|end_of_text|>"},
		{"special-qwen", "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|><|endoftext|>"},
		{"special-gemma", "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn><eos><pad>"},
		{"special-llama2", "<s>[INST] <<SYS>>\nsys\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] again [/INST]"},
		{"special-bert", "[CLS] hello [SEP] world [MASK] [PAD] [UNK] [cls]"},
		{"special-near", "<|begin_of <|im_start <s >< s> <<s>> </s</s> [CLS [SEP]] <|endoftext|x <unk> <0x0A>"},
		{"special-glued", "word<|im_end|>word<s>word</s>word[SEP]word"},
		{"unicode-spaces", "a\u2000b\u2001c\u2002d\u2004e\u2005f\u2006g\u2007h\u2008i\u2009j\u200ak\u202fl\u205fm\u1680n"},
		{"mixed-scripts", "Ελληνικά Русский ქართული हिन्दी ไทย ភាសាខ្មែរ Ge'ez ግዕዝ"},
		{"long-word", strings.Repeat("supercalifragilistic", 20)},
		{"math", "∀x∈ℝ: x²≥0 ⇒ √(x²)=|x| ∑_{i=1}^{n} i = n(n+1)/2 ∫₀¹ f(x)dx"},
		{"html", "<div class=\"a\"><p>Hello&nbsp;world</p><br/></div>"},
		{"json", `{"key": "value", "list": [1, 2, 3], "nested": {"a": null, "b": true}}`},
		// Normalization maps (SentencePiece's precompiled charsmaps, NFKC):
		// full-width and half-width forms, ligatures and compatibility
		// characters, every control character class, space variants, and
		// short grapheme clusters (a mapped character with a mark after it).
		{"fullwidth", "ＦｕｌｌＷｉｄｔｈ　ｔｅｘｔ！？（１２３）［ａｂｃ］＠＃＄％　ｶﾞｷﾞｸﾞ ﾊﾟﾋﾟ ｰ･｡｢｣ ￠￡￥￦"},
		{"ligatures", "ﬁnd ﬂow ﬀ ﬃ ﬄ ﬅ ﬆ Ĳ ĳ ǆ ǅ Ǆ Ŀ ŉ ㎏ ㎞ ㍻ ㋀ ℡ № ℃ ℉ Ⅻ ⅻ ⑴ ⒜ ① ㊿ ¼ ‥ … ″ ‴ ſt"},
		{"controls-all", "a\x01b\x02c\x03d\x08e\x0bf\x0eg\x1eh\x1fi\x7fj\u0080k\u008fl\u009fm\u00adn\u200bo\u200cp\u200dq\u200er\u2060s\ufefft\ufff9u\U000e0001v"},
		{"whitespace-variants", "a\u00a0b\u1680c\u2000d\u2002e\u2003f\u2007g\u2008h\u200ai\u202fj\u205fk\u3000l\u2028m\u2029n\u0085o\t\tp\v\fq \u3000 \u00a0 r  \n  s"},
		{"short-clusters", "ﬁ\u0301 ①\u0308 Å\u0301 e\u0301\u0302 a\u200d \u00a0\u0301 ｶ\u3099 ﾞ\u0301 x\r\ny \u0301start ㎏\u0300 ǆ\u0323"},
		// Long runs of combining marks: the Stream-Safe Text Format would put
		// a U+034F after the 30th; Hugging Face normalizes the run whole.
		{"marks-31", "a" + strings.Repeat("\u0308", 31) + " b"},
		{"zalgo-36", "Z" + strings.Repeat("\u0336\u0317\u0300\u0323\u0301\u0316", 6) + "algo " + "e" + strings.Repeat("\u0323\u0302", 18) + " ệ" + strings.Repeat("\u0301\u0328", 17)},
		{"marks-mixed-long", "ᄀ" + strings.Repeat("\u0308\u0334\u05b0\u0301", 10) + "각" + strings.Repeat("\u0345\u0300", 20) + " ﬁ" + strings.Repeat("\u0301", 33) + " \u0f73" + strings.Repeat("\u0f71\u0f72", 16)},
	}
	out := make([]Text, 0, len(cases)+1)
	for _, c := range cases {
		out = append(out, Text{Source: "adversarial:" + c.name, Text: c.text})
	}
	out = append(out, Text{Source: "adversarial:100k", Text: long(100000)})
	return out
}

// long makes a deterministic text of exactly n characters (runes) that mixes
// words, punctuation, digits, newlines and a few non-ASCII letters.
func long(n int) string {
	words := []string{"the", "reward", "model", "prefers", "answers", "that", "are", "helpful", "and", "harmless,",
		"café", "naïve", "2024", "—", "über", "日本", "ok.", "\n", "(yes)", "don't", "  ", "x=1;", "🙂"}
	var b strings.Builder
	runes := 0
	for i := 0; runes < n; i++ {
		w := words[(i*7+i/3)%len(words)]
		if i > 0 && w != "\n" {
			w = " " + w
		}
		for _, r := range w {
			if runes == n {
				break
			}
			b.WriteRune(r)
			runes++
		}
	}
	return b.String()
}

// Variants is the corpus of the tokenizer variants: the first 60 shared
// texts and the adversarial set.
func Variants(dataDir string) ([]Text, error) {
	shared, err := Shared(dataDir)
	if err != nil {
		return nil, err
	}
	return append(shared[:60:60], Adversarial()...), nil
}

// All returns Shared followed by Adversarial.
func All(dataDir string) ([]Text, error) {
	shared, err := Shared(dataDir)
	if err != nil {
		return nil, err
	}
	return append(shared, Adversarial()...), nil
}

// Digest is the sha256 of the texts in order, naming the corpus in fixtures
// so that a fixture made from other texts is refused.
func Digest(texts []Text) string {
	h := sha256.New()
	for _, t := range texts {
		fmt.Fprintf(h, "%d:", len(t.Text))
		io.WriteString(h, t.Text)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// WriteJSONL writes the texts one JSON object per line, for the Node scripts.
func WriteJSONL(w io.Writer, texts []Text) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, t := range texts {
		if err := enc.Encode(t); err != nil {
			return err
		}
	}
	return bw.Flush()
}
