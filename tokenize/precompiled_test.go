package tokenize_test

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/tokenize"
)

func precompiledJSON(t testing.TB, raw []byte) string {
	return fmt.Sprintf(`{"type":"Precompiled","precompiled_charsmap":%q}`, base64.StdEncoding.EncodeToString(raw))
}

func smallCharsmap(t testing.TB) []byte {
	cm, err := testenv.Charsmap(map[string]string{
		"ﬁ": "fi", "e\u0301": "é", "\x01": "", "™": "TM", "ab": "X", "\u3000": " ", "Ａ": "A", "\r\n": "\n", "ǆ": "dž",
	})
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

// TestPrecompiled applies a charsmap as Hugging Face does: grapheme
// clusters under 6 bytes looked up whole (the shortest known prefix decides,
// and the rest of the cluster goes with it), longer ones and unknown ones
// character by character.
func TestPrecompiled(t *testing.T) {
	n := precompiledJSON(t, smallCharsmap(t))
	cases := []struct{ in, want string }{
		{"ﬁne ﬁ", "fine fi"},
		{"cafe\u0301", "café"},                // a cluster of 3 bytes, known whole
		{"ﬁ\u0301x", "fix"},                   // 5 bytes: "ﬁ" is known, the accent goes with it
		{"ﬁ\u0301\u0301x", "fi\u0301\u0301x"}, // 7 bytes: character by character
		{"e\u0301\u0301", "é"},                // 5 bytes: "e\u0301" is its shortest known prefix
		{"a\x01b", "ab"},
		{"ab", "ab"}, // two clusters: the key "ab" is never looked up
		{"x™y\u3000Ａ", "xTMy A"},
		{"a\r\nb\r", "a\nb\r"},
		{"ǆ\u0323", "dž"}, // "ǆ" (2 bytes) + a mark: 4 bytes, rewritten whole
		{"", ""},
		{"\xffﬁ\xc3", "\xfffi\xc3"}, // invalid UTF-8 passes through
	}
	for _, c := range cases {
		got, err := tokenize.Normalize(n, c.in)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%+q: %+q, want %+q", c.in, got, c.want)
		}
	}
	// In a Sequence as T5 and XLM-R have it, with a tokenizer around it.
	h, err := tokenize.ParseHF([]byte(`{"normalizer":{"type":"Sequence","normalizers":[` + n + `,{"type":"Replace","pattern":{"Regex":" {2,}"},"content":" "}]},` +
		`"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"WhitespaceSplit"},{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true}]},` +
		`"model":{"type":"Unigram","unk_id":0,"vocab":[["<unk>",0],["▁fi",-1],["ne",-1],["▁",-2],["TM",-1],["A",-1]]}}`))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := h.Encode("ﬁne\u3000™Ａ")
	if err != nil || fmt.Sprint(ids) != "[1 2 3 4 5]" {
		t.Fatalf("ids %v, %v; want [1 2 3 4 5]", ids, err)
	}
}

// TestPrecompiledHostile: a charsmap that is malformed or made to escape
// its arrays is an error at load that says what is wrong.
func TestPrecompiledHostile(t *testing.T) {
	good := smallCharsmap(t)
	le := binary.LittleEndian
	patch := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	// A trie of 512 units: the root leads to state 256, and label 'a' from
	// there leads back to 256.
	loop := make([]byte, 4+4*512)
	le.PutUint32(loop, 4*512)
	le.PutUint32(loop[4:], 256<<10)
	le.PutUint32(loop[4+4*(256^'a'):], 'a'|(('a')<<10))
	cases := []struct {
		name string
		raw  []byte
		want string
	}{
		{"empty", nil, "no trie size"},
		{"three bytes", []byte{1, 2, 3}, "no trie size"},
		{"empty trie", []byte{0, 0, 0, 0, 'x', 0}, "trie is empty"},
		{"truncated", good[:len(good)/2], "runs past the end"},
		{"size past end", patch(func(b []byte) []byte { le.PutUint32(b, math.MaxUint32); return b }), "runs past the end"},
		{"root offset out of range", patch(func(b []byte) []byte { le.PutUint32(b[4:], 0x7fff<<10); return b }), "past the end of the trie"},
		{"loop", loop, "loops"},
		{"blob not UTF-8", append(append([]byte(nil), good...), 0xff), "not valid UTF-8"},
		{"too large", append(append([]byte(nil), good...), make([]byte, 4<<20)...), "more than 4 MiB"},
		{"value past the blob", patch(func(b []byte) []byte {
			// every value unit (bit 31) points far away
			for i := 4; i+4 <= 4+int(le.Uint32(b)); i += 4 {
				if u := le.Uint32(b[i:]); u>>31 == 1 {
					le.PutUint32(b[i:], 1<<31|1<<30)
				}
			}
			return b
		}), "not the start of a character"},
	}
	for _, c := range cases {
		_, err := tokenize.ParseCharsmap(c.raw)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want an error mentioning %q", c.name, err, c.want)
		}
	}
	// Through tokenizer.json: not base64, missing.
	for raw, want := range map[string]string{
		`{"type":"Precompiled","precompiled_charsmap":"%%%"}`: "not base64",
		`{"type":"Precompiled"}`:                              "missing",
		`{"type":"Precompiled","precompiled_charsmap":""}`:    "no trie size",
	} {
		if _, err := tokenize.Normalize(raw, "x"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want %q", raw, err, want)
		}
	}
}

// TestPrecompiledNFKCTable: a full NFKC table (5,584 rules) compiles and
// gives NFKC's result character by character (so half-width ｶﾞ, two
// clusters, stays decomposed).
func TestPrecompiledNFKCTable(t *testing.T) {
	cm, err := testenv.Charsmap(testenv.NFKCRules())
	if err != nil {
		t.Fatal(err)
	}
	f, err := tokenize.ParseCharsmap(cm)
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{"ＡＢＣ１２３": "ABC123", "ﬃ ㎏ ①": "ffi kg 1", "ｶﾞ": "カ\u3099", "a\tb\u200bc\x01d": "a b cd", "Ａ\u0301": "A"} {
		if got := f(in); got != want {
			t.Errorf("%+q: %+q, want %+q", in, got, want)
		}
	}
}

// FuzzPrecompiled loads arbitrary bytes as a charsmap (seeded with real
// tables and their corruptions): an error, or a normalizer that runs on
// any text without a panic or an out-of-bounds read.
func FuzzPrecompiled(f *testing.F) {
	f.Add(smallCharsmap(f))
	small, err := testenv.Charsmap(map[string]string{"a": "b", "ab": "", "é": "e", "\u00a0": " "})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(small)
	f.Add(small[:100])
	f.Add([]byte{4, 0, 0, 0, 1, 2, 3, 4, 'x', 0})
	texts := []string{"", "a", "ab é\u00a0ﬁ\u0301", "\xff\xfe", "e\u0301\u0301\u0301 ㈱", "\r\n\x01"}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 1<<16 {
			return
		}
		norm, err := tokenize.ParseCharsmap(raw)
		if err != nil {
			return
		}
		for _, s := range texts {
			norm(s)
			norm(string(raw[:min(len(raw), 64)]))
		}
	})
}

// TestUnigramScoresAsHF: scores are read as serde_json reads them, and
// ties between paths fall as in Hugging Face. T5's "---" scores
// -12.130167007446289, which serde_json reads one unit in the last place
// above the closest f64; so "-------" is "---" "---" "-" there, where the
// closest f64s tie and the first path found ("-" "---" "---") would win.
func TestUnigramScoresAsHF(t *testing.T) {
	h, err := tokenize.ParseHF([]byte(`{"model":{"type":"Unigram","unk_id":0,"vocab":[["<unk>",0],["-",-5.129043102264404],["---",-12.130167007446289]]}}`))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := h.Encode("-------")
	if err != nil || fmt.Sprint(ids) != "[2 2 1]" {
		t.Fatalf("%v, %v; want [2 2 1]", ids, err)
	}
	for in, want := range map[string]float64{
		"-12.130167007446289": -12.130167007446287, "-5.129043102264404": -5.129043102264404, "0": 0, "-3": -3,
		"1e2": 100, "2.5E-1": 0.25, "18446744073709551616": 18446744073709551616, "1e-400": 0,
	} {
		got, err := tokenize.SerdeFloat(in)
		if err != nil || got != want {
			t.Errorf("%s: %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-", "01", "1.", "1e", "1e999", "x", "1.5x", "--1"} {
		if _, err := tokenize.SerdeFloat(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
