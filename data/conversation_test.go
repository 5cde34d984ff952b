package data

import (
	"reflect"
	"strings"
	"testing"
)

// TestParsePrompt: each chat format's text reads back as the same turns; a
// generation prompt (an open assistant turn) is not a turn; text that does
// not parse as its format's is one user message.
func TestParsePrompt(t *testing.T) {
	want := []Turn{{RoleSystem, "Be brief."}, {RoleUser, "Hi"}, {RoleAssistant, "Hello!"}, {RoleUser, "How do I keep bread fresh?"}}
	for _, c := range []struct {
		format, text string
	}{
		{FormatHH, "Be brief.\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: How do I keep bread fresh?\n\nAssistant:"},
		{FormatChatML, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nHow do I keep bread fresh?<|im_end|>\n<|im_start|>assistant\n"},
		{FormatLlama3, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHow do I keep bread fresh?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
	} {
		if got := DetectPrompt(c.text); got != c.format {
			t.Errorf("%s detected as %s", c.format, got)
		}
		turns, f := ParsePrompt(c.text, FormatAuto)
		if f != c.format || !reflect.DeepEqual(turns, want) {
			t.Errorf("%s: read as %s %v", c.format, f, turns)
		}
	}
	gemma := "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>user\nHow do I keep bread fresh?<end_of_turn>\n<start_of_turn>model\n"
	if turns, f := ParsePrompt(gemma, FormatAuto); f != FormatGemma || !reflect.DeepEqual(turns, want[1:]) {
		t.Errorf("gemma: %s %v", f, turns)
	}
	if turns, f := ParsePrompt("  How do I keep bread fresh? ", FormatAuto); f != FormatPlain || !reflect.DeepEqual(turns, []Turn{{RoleUser, "How do I keep bread fresh?"}}) {
		t.Errorf("plain: %s %v", f, turns)
	}
	if turns, f := ParsePrompt("<|im_start|>narrator\nonce<|im_end|>", FormatAuto); f != FormatPlain || len(turns) != 1 {
		t.Errorf("a ChatML text with an unknown role: %s %v", f, turns)
	}
	if turns, _ := ParsePrompt("Human: Hi", FormatRaw); turns != nil {
		t.Errorf("raw parsed: %v", turns)
	}
}

// TestRenderHH: an HH-RLHF reader's prompt reads and writes back as it was
// (9 of the 8,552 test prompts differ, in spacing within a turn), and a
// plain message becomes one Human turn.
func TestRenderHH(t *testing.T) {
	for _, p := range []string{"Human: Hi", "Human: Hi\n\nAssistant: Hello!\n\nHuman: Bread?", "Sys.\n\nHuman: Hi"} {
		if turns, _ := ParsePrompt(p, FormatAuto); RenderHH(turns) != p {
			t.Errorf("%q wrote back as %q", p, RenderHH(turns))
		}
	}
	if turns, _ := ParsePrompt("Bread?", FormatAuto); RenderHH(turns) != "Human: Bread?" {
		t.Errorf("plain: %q", RenderHH(turns))
	}
}

// TestSplitConversation: a trainer's whole query is cut at its last
// assistant turn, whatever the chat format; the response loses the end of
// turn markers and spaces a template writes.
func TestSplitConversation(t *testing.T) {
	for _, c := range []struct{ q, prompt, response, format string }{
		{"\n\nHuman: Hi\n\nAssistant: Hello! ", "\n\nHuman: Hi", "Hello!", FormatHH},
		{"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n", "<|im_start|>user\nHi<|im_end|>\n", "Hello!", FormatChatML},
		{"<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>", "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", "Hello!", FormatLlama3},
		{"<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n<eos>", "<start_of_turn>user\nHi<end_of_turn>\n", "Hello!", FormatGemma},
	} {
		p, r, f, ok := SplitConversation(c.q)
		if !ok || p != c.prompt || r != c.response || f != c.format {
			t.Errorf("%q: %q | %q | %s %v", c.q, p, r, f, ok)
		}
	}
	if _, _, _, ok := SplitConversation("no turns here"); ok {
		t.Error("a text with no assistant turn was split")
	}
}

// TestParseHHLinear: a 16 MiB transcript of Human turns and no Assistant
// reads in one pass (before, each turn searched the rest of the text for
// both markers: 2.6 s at 400 KB, over an hour at 16 MiB, in the server's
// one batcher).
func TestParseHHLinear(t *testing.T) {
	n := (16 << 20) / len("\n\nHuman: x")
	turns, f := ParsePrompt(strings.Repeat("\n\nHuman: x", n), FormatAuto)
	if f != FormatHH || len(turns) != n || turns[n-1] != (Turn{RoleUser, "x"}) {
		t.Fatalf("%s, %d turns", f, len(turns))
	}
}

// TestDetectByStart: a format is what a text starts with (after a BOS or a
// trainer's left padding); a marker inside a message does not decide, and
// the leading tokens are not content.
func TestDetectByStart(t *testing.T) {
	hh := "\n\nHuman: What does <|im_start|> mean in ChatML?\n\nAssistant:"
	if turns, f := ParsePrompt(hh, FormatAuto); f != FormatHH || !reflect.DeepEqual(turns, []Turn{{RoleUser, "What does <|im_start|> mean in ChatML?"}}) {
		t.Errorf("an HH prompt about ChatML: %s %v", f, turns)
	}
	gemma := "<start_of_turn>user\nWhat are <|start_header_id|> and <|end_header_id|>?<end_of_turn>\n<start_of_turn>model\n"
	if _, f := ParsePrompt(gemma, FormatAuto); f != FormatGemma {
		t.Errorf("a Gemma prompt about Llama-3's markers read as %s", f)
	}
	want, _ := ParsePrompt("\n\nHuman: Name a colour.\n\nAssistant:", FormatAuto)
	for _, p := range []string{"<s>\n\nHuman: Name a colour.\n\nAssistant:", "<|begin_of_text|>\n\nHuman: Name a colour.\n\nAssistant:",
		"<|endoftext|><|endoftext|><|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n",
		"<pad><pad><|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nName a colour.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
		"<s><|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"} {
		if got, f := ParsePrompt(p, FormatAuto); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %s %v, want %v", p, f, got, want)
		}
	}
}

// TestSplitAndTrim: a query is split in the format it starts in, at that
// format's last assistant marker (another format's marker in the response
// does not cut it); an empty reasoning block (Qwen3 with thinking off) and
// the format's end markers are not the response; "</s>" after "<s>" is
// HTML, kept.
func TestSplitAndTrim(t *testing.T) {
	for _, c := range []struct{ q, response string }{
		{"<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nRed.<|im_end|>\n", "Red."},
		{"\n\nHuman: Show ChatML\n\nAssistant: Like <|im_start|>assistant\nhi", "Like <|im_start|>assistant\nhi"},
		{"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nRed.<|eot_id|><|end_of_text|>", "Red."},
		{"\n\nHuman: Strike text in HTML?\n\nAssistant: Use <s>old</s>", "Use <s>old</s>"},
		{"\n\nHuman: Hi\n\nAssistant: Hello.</s>", "Hello."},
	} {
		if _, r, _, ok := SplitConversation(c.q); !ok || r != c.response {
			t.Errorf("%q: response %q (%v), want %q", c.q, r, ok, c.response)
		}
	}
}

// TestAfterPrompt: a trainer's prompts[i] splits its query only where the
// response begins: after the assistant marker (and an empty reasoning
// block), or with the marker opening the rest; a prompt that ends inside a
// turn or a word does not.
func TestAfterPrompt(t *testing.T) {
	q := "\n\nHuman: Name a colour.\n\nAssistant: Red."
	for _, c := range []struct {
		prompt, response string
		ok               bool
	}{
		{"\n\nHuman: Name a colour.\n\nAssistant:", "Red.", true},
		{"\n\nHuman: Name a colour.", "Red.", true}, // the marker opens the rest
		{"\n\nHuman: Name a colour.\n\nAssist", "", false},
		{q, "", false},
	} {
		r, ok := AfterPrompt(c.prompt, q[len(c.prompt):])
		if r != c.response || ok != c.ok {
			t.Errorf("prompt %q: %q %v, want %q %v", c.prompt, r, ok, c.response, c.ok)
		}
	}
	qwen := "<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
	if r, ok := AfterPrompt(qwen, "Red.<|im_end|>\n"); !ok || r != "Red." {
		t.Errorf("Qwen3's no-think prompt: %q %v", r, ok)
	}
	if !EmptyConversation("\n\nHuman:\n\nAssistant:", FormatAuto) || EmptyConversation("\n\nHuman: hi", FormatAuto) || EmptyConversation("\n\nHuman:", FormatRaw) {
		t.Error("EmptyConversation")
	}
}
