package models

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ser-rl/ser/data"
)

// Conversation formats: how a backbone turns a conversation into the text
// it reads (Manifest.Conversation).
const (
	// ConversationHH writes a conversation as HH-RLHF does ("Human: ...",
	// "Assistant: ..."), the response as its last assistant turn: the
	// default backbone's form, and that of backbones with no chat template.
	ConversationHH = "hh"
	// ConversationChat writes it with the chat template's turns, as derived
	// from it at import (Manifest.ChatTurns).
	ConversationChat = "chat"
)

// ChatTurns are the pieces of text a chat template writes around the
// contents of a conversation's turns, derived at import by rendering the
// template for a few conversations and checked by rendering a longer one
// both ways. A conversation with a system message starts SystemStart +
// system + SystemToUser, one without starts Start; then each user message
// is followed by UserToAssistant, the assistant's reply and
// AssistantToUser; the last user message is followed by UserToFinal, the
// response being scored and End.
type ChatTurns struct {
	Start           string `json:"start"`
	SystemStart     string `json:"system_start,omitempty"`
	SystemToUser    string `json:"system_to_user,omitempty"`
	UserToAssistant string `json:"user_to_assistant"`
	AssistantToUser string `json:"assistant_to_user"`
	UserToFinal     string `json:"user_to_final"`
	End             string `json:"end"`
	NoSystem        bool   `json:"no_system,omitempty"` // the template has no system turn: a system message goes first in the first user message
}

// render writes a conversation (the turns before the response) and the
// response. Turns of one role in a row are joined with a blank line, an
// assistant turn first is left out (a chat template starts with the user),
// and a prompt that ends with the assistant's turn gets an empty user turn.
func (c *ChatTurns) render(turns []data.Turn, response string) string {
	system, rest := "", turns
	if len(rest) > 0 && rest[0].Role == data.RoleSystem {
		system, rest = rest[0].Content, rest[1:]
	}
	// alternate user and assistant, starting and ending with the user: the
	// contents of each run of one role are gathered, then joined once (a
	// conversation of many turns costs its length, not its square)
	var userRuns, assistantRuns [][]string
	for _, t := range rest {
		switch {
		case t.Role == data.RoleAssistant && len(userRuns) == 0:
			continue
		case t.Role == data.RoleAssistant && len(assistantRuns) == len(userRuns):
			assistantRuns[len(assistantRuns)-1] = append(assistantRuns[len(assistantRuns)-1], t.Content)
		case t.Role == data.RoleAssistant:
			assistantRuns = append(assistantRuns, []string{t.Content})
		case len(userRuns) > len(assistantRuns):
			userRuns[len(userRuns)-1] = append(userRuns[len(userRuns)-1], t.Content)
		default:
			userRuns = append(userRuns, []string{t.Content})
		}
	}
	join := func(runs [][]string) []string {
		out := make([]string, len(runs))
		for i, r := range runs {
			out[i] = strings.Join(r, "\n\n")
		}
		return out
	}
	users, assistants := join(userRuns), join(assistantRuns)
	if len(users) == len(assistants) {
		users = append(users, "")
	}
	var b strings.Builder
	switch {
	case system != "" && c.NoSystem:
		users[0] = system + "\n\n" + users[0]
		b.WriteString(c.Start)
	case system != "":
		b.WriteString(c.SystemStart + system + c.SystemToUser)
	default:
		b.WriteString(c.Start)
	}
	for i, u := range users {
		b.WriteString(u)
		if i < len(assistants) {
			b.WriteString(c.UserToAssistant + assistants[i] + c.AssistantToUser)
		}
	}
	b.WriteString(c.UserToFinal + response + c.End)
	return b.String()
}

// sentinels stand for contents while a template is rendered; they are
// nothing a template writes.
var sentinels = [...]string{"\x02u1\x03", "\x02a1\x03", "\x02u2\x03", "\x02a2\x03", "\x02u3\x03", "\x02a3\x03", "\x02s\x03"}

// deriveChatTurns renders the chat template for conversations of sentinel
// contents and cuts the results into ChatTurns; then checks them by
// rendering a three-round conversation with a system message both ways. A
// template whose turns cannot be cut so is an error (the import then keeps
// the one-turn pair template).
func deriveChatTurns(ctx context.Context, tpl string, t tokenizerConfig, lim TemplateLimits) (*ChatTurns, error) {
	u1, a1, u2, a2, u3, a3, s := sentinels[0], sentinels[1], sentinels[2], sentinels[3], sentinels[4], sentinels[5], sentinels[6]
	msgs := func(m ...string) []data.Turn {
		var out []data.Turn
		for _, x := range m {
			role := data.RoleUser
			switch x[1] { // the letter after \x02
			case 'a':
				role = data.RoleAssistant
			case 's':
				role = data.RoleSystem
			}
			out = append(out, data.Turn{Role: role, Content: x})
		}
		return out
	}
	render := func(turns []data.Turn) (string, error) {
		return renderConversation(ctx, tpl, t, lim, turns)
	}
	one, err := render(msgs(u1, a1))
	if err != nil {
		return nil, err
	}
	two, err := render(msgs(u1, a1, u2, a2))
	if err != nil {
		return nil, err
	}
	between := func(text, from, to string) (string, bool) {
		i := strings.Index(text, from)
		j := strings.Index(text, to)
		if i < 0 || j < i+len(from) || strings.Count(text, from) != 1 || strings.Count(text, to) != 1 {
			return "", false
		}
		return text[i+len(from) : j], true
	}
	c := &ChatTurns{}
	var ok [6]bool
	i := strings.Index(one, u1)
	ok[0] = i >= 0
	if ok[0] {
		c.Start = one[:i]
	}
	c.UserToFinal, ok[1] = between(one, u1, a1)
	if j := strings.Index(one, a1); j >= 0 {
		c.End, ok[2] = one[j+len(a1):], true
	}
	c.UserToAssistant, ok[3] = between(two, u1, a1)
	c.AssistantToUser, ok[4] = between(two, a1, u2)
	final, ok5 := between(two, u2, a2)
	ok[5] = ok5 && final == c.UserToFinal && strings.HasPrefix(two, c.Start)
	for _, o := range ok {
		if !o {
			return nil, errors.New("its turns could not be cut apart (the template writes a conversation in a way ser cannot repeat)")
		}
	}
	withSystem, err := render(msgs(s, u1, a1))
	systemOK := err == nil && strings.Contains(withSystem, s)
	if systemOK {
		k := strings.Index(withSystem, s)
		if strings.HasPrefix(withSystem[k:], s+"\n\n"+u1) && withSystem[:k] == c.Start {
			c.NoSystem = true // Gemma: the system message opens the first user message
		} else if st, ok := between(withSystem, s, u1); ok {
			c.SystemStart, c.SystemToUser = withSystem[:k], st
		} else {
			return nil, errors.New("its system turn could not be cut apart")
		}
	} else {
		c.NoSystem = true
	}
	// the check: longer conversations (with a system message when the
	// template takes one), both ways: three rounds of the sentinels, and six
	// rounds of text with letters, markup characters, line breaks and more
	// than a few dozen characters (a template that changes, escapes or cuts
	// contents, or writes later turns otherwise, is caught here)
	text := func(k int) string {
		return fmt.Sprintf("Turn %d: e & <b>'quoted' \"text\"</b>,\nlong enough to pass forty characters: 0123456789 {{ x }} %%", k)
	}
	for _, check := range [][]data.Turn{msgs(s, u1, a1, u2, a2, u3), nil} {
		response := a3
		if check == nil {
			check = []data.Turn{{Role: data.RoleSystem, Content: text(0)}}
			for k := 1; k <= 11; k++ {
				role := data.RoleUser
				if k%2 == 0 {
					role = data.RoleAssistant
				}
				check = append(check, data.Turn{Role: role, Content: text(k)})
			}
			response = text(12)
		}
		if !systemOK {
			check = check[1:]
		}
		want, err := render(append(append([]data.Turn(nil), check...), data.Turn{Role: data.RoleAssistant, Content: response}))
		if err != nil {
			return nil, err
		}
		if got := c.render(check, response); got != want {
			return nil, fmt.Errorf("its turns, cut apart, write a conversation of %d turns otherwise than the template does (does it change or cut contents?):\n  template %q\n  turns    %q", len(check)+1, want, got)
		}
	}
	return c, nil
}

// renderConversation renders the chat template for a conversation whose
// last turn is the response, without a generation prompt.
func renderConversation(ctx context.Context, tpl string, t tokenizerConfig, lim TemplateLimits, turns []data.Turn) (string, error) {
	messages := make([]any, len(turns))
	for i, turn := range turns {
		messages[i] = map[string]any{"role": turn.Role, "content": turn.Content}
	}
	return renderTemplate(ctx, tpl, map[string]any{
		"messages":              messages,
		"add_generation_prompt": false,
		"bos_token":             t.BOSToken.Content,
		"eos_token":             t.EOSToken.Content,
		"pad_token":             t.PadToken.Content,
		"unk_token":             t.UnkToken.Content,
		"date_string":           "26 Jul 2024",
	}, lim)
}
