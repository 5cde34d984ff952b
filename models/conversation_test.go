package models

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/internal/testsupport/testenv"
)

// TestChatTurnsRealTemplates derives the turns of real chat templates
// (Llama-3, Qwen3, Gemma-3, from their npm tokenizer packages; Llama-2's
// ships none) and
// checks that writing conversations with them gives, character for
// character, what the template itself renders for the conversation with
// the response as its last assistant turn: one turn, several rounds, a
// system message, text with newlines and template-like characters. (The
// first version read each sentinel's role from the wrong byte, so every
// real template failed the derivation and imports fell back to one user
// message, which no test saw.)
func TestChatTurnsRealTemplates(t *testing.T) {
	convs := [][]data.Turn{
		{{Role: data.RoleUser, Content: "How do I keep bread fresh?"}},
		{{Role: data.RoleSystem, Content: "You are brief."}, {Role: data.RoleUser, Content: "Name a colour."}},
		{{Role: data.RoleUser, Content: "Hi"}, {Role: data.RoleAssistant, Content: "Hello! How can I help?"},
			{Role: data.RoleUser, Content: "Name a prime."}, {Role: data.RoleAssistant, Content: "Seven."},
			{Role: data.RoleUser, Content: "Another, in\ntwo lines {{ not a tag }} <b>"}},
		{{Role: data.RoleSystem, Content: "Answer in French."}, {Role: data.RoleUser, Content: "Hello"},
			{Role: data.RoleAssistant, Content: "Bonjour !"}, {Role: data.RoleUser, Content: "Thanks"}},
	}
	const response = "A reply,\nwith a second line."
	for _, family := range []string{"llama3", "qwen3", "gemma3"} {
		t.Run(family, func(t *testing.T) {
			dir := testenv.TokenizerDir(t, family)
			raw, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
			if err != nil {
				t.Fatal(err)
			}
			var cfg tokenizerConfig
			if err := json.Unmarshal(raw, &cfg); err != nil {
				t.Fatal(err)
			}
			tpl, err := cfg.template(dir)
			if err != nil || tpl == "" {
				t.Fatalf("no chat template: %v", err)
			}
			ctx := context.Background()
			turns, err := deriveChatTurns(ctx, tpl, cfg, TemplateLimits{})
			if err != nil {
				t.Fatal(err)
			}
			for i, conv := range convs {
				want, err := renderConversation(ctx, tpl, cfg, TemplateLimits{}, append(append([]data.Turn(nil), conv...), data.Turn{Role: data.RoleAssistant, Content: response}))
				if err != nil {
					t.Fatalf("conversation %d: the template: %v", i, err)
				}
				if got := turns.render(conv, response); got != want {
					t.Errorf("conversation %d:\n  template %q\n  turns    %q", i, want, got)
				}
			}
			// a conversation given as turns (a chat row's messages) and the
			// same written in ChatML or Llama-3's format give one text, a
			// system message mid-conversation included
			m := &Manifest{Conversation: ConversationChat, ChatTurns: turns}
			mid := []data.Turn{{Role: data.RoleSystem, Content: "Be brief."}, {Role: data.RoleUser, Content: "Hi"},
				{Role: data.RoleSystem, Content: "Answer in French."}, {Role: data.RoleUser, Content: "Name a colour."}}
			var cml, l3 strings.Builder
			l3.WriteString("<|begin_of_text|>")
			for _, t := range mid {
				cml.WriteString("<|im_start|>" + t.Role + "\n" + t.Content + "<|im_end|>\n")
				l3.WriteString("<|start_header_id|>" + t.Role + "<|end_header_id|>\n\n" + t.Content + "<|eot_id|>")
			}
			cml.WriteString("<|im_start|>assistant\n")
			want := m.TurnsText(mid)
			for _, p := range []string{cml.String(), l3.String()} {
				if got := m.PromptText(p, data.FormatAuto); got != want {
					t.Errorf("%q written %q; as turns %q", p, got, want)
				}
			}
			if m.TurnsPair(mid, response) != m.FormatPair(cml.String(), response, data.FormatAuto) {
				t.Error("a pair's text differs between turns and a ChatML prompt")
			}
			// a system message opens the text the template's own way (Gemma
			// has no system turn and puts it first in the user's message)
			sys := turns.render(convs[1], response)
			if !strings.Contains(sys, "You are brief.") {
				t.Errorf("the system message is lost: %q", sys)
			}
		})
	}
}

// TestChatTurnsRefuseContentChanges: a template that changes, cuts or
// escapes contents, or writes later turns otherwise, cannot be written by
// cut-apart turns: the derivation says so (the import then keeps prompts in
// one user message) rather than writing other text than the template.
func TestChatTurnsRefuseContentChanges(t *testing.T) {
	body := func(content string) string {
		return "{% for m in messages %}<|im_start|>{{ m['role'] }}\n" + content + "<|im_end|>\n{% endfor %}"
	}
	for name, tpl := range map[string]string{
		"replace":    body("{{ m['content'] | replace('e', 'E') }}"),
		"cut":        body("{{ m['content'][:40] }}"),
		"escape":     body("{{ m['content'] | e }}"),
		"late turns": "{% for m in messages %}{% if loop.index > 7 %}[late]{% endif %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}",
	} {
		if _, err := deriveChatTurns(context.Background(), tpl, tokenizerConfig{}, TemplateLimits{}); err == nil {
			t.Errorf("%s: derived", name)
		}
	}
	if _, err := deriveChatTurns(context.Background(), body("{{ m['content'] }}"), tokenizerConfig{}, TemplateLimits{}); err != nil {
		t.Errorf("the plain template: %v", err)
	}
}
