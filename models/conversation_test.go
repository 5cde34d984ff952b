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
			// a system message opens the text the template's own way (Gemma
			// has no system turn and puts it first in the user's message)
			sys := turns.render(convs[1], response)
			if !strings.Contains(sys, "You are brief.") {
				t.Errorf("the system message is lost: %q", sys)
			}
		})
	}
}
