package data

import (
	"reflect"
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
