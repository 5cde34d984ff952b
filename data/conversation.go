package data

import (
	"fmt"
	"strings"
)

// Roles of a conversation's turns.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Turn is one message of a conversation.
type Turn struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Prompt formats: how a prompt's text writes a conversation. ParsePrompt
// detects them; a backbone renders conversations in its own (see
// models.Manifest.Conversation).
const (
	FormatAuto   = ""       // detect (ParsePrompt)
	FormatHH     = "hh"     // HH-RLHF: "Human: ...\n\nAssistant: ...", a system message first, as it is
	FormatChatML = "chatml" // Qwen, many others: <|im_start|>role\n...<|im_end|>
	FormatLlama3 = "llama3" // <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>
	FormatGemma  = "gemma"  // <start_of_turn>user\n...<end_of_turn> (model for the assistant)
	FormatPlain  = "plain"  // one user message, as it is
	FormatRaw    = "raw"    // the text as it is: no parsing, no rendering (the backbone reads it unchanged)
)

// PromptFormats lists the formats a prompt can be read in.
var PromptFormats = []string{FormatHH, FormatChatML, FormatLlama3, FormatGemma, FormatPlain, FormatRaw}

// CheckPromptFormat reports a format name that is not one of PromptFormats
// (or auto).
func CheckPromptFormat(f string) error {
	if f == FormatAuto || f == "auto" {
		return nil
	}
	for _, k := range PromptFormats {
		if f == k {
			return nil
		}
	}
	return fmt.Errorf("prompt format %q: want auto, %s", f, strings.Join(PromptFormats, ", "))
}

// The markers of the chat formats ParsePrompt knows.
const (
	hhHuman     = "\n\nHuman:"
	hhAssistant = "\n\nAssistant:"
	imStart     = "<|im_start|>"
	imEnd       = "<|im_end|>"
	l3Header    = "<|start_header_id|>"
	l3HeaderEnd = "<|end_header_id|>"
	l3End       = "<|eot_id|>"
	l3Begin     = "<|begin_of_text|>"
	gStart      = "<start_of_turn>"
	gEnd        = "<end_of_turn>"
	gBOS        = "<bos>"
)

// DetectPrompt names the format a prompt's text is written in: one of the
// chat formats when its markers are there, else plain.
func DetectPrompt(s string) string {
	switch {
	case strings.Contains(s, l3Header) && strings.Contains(s, l3HeaderEnd):
		return FormatLlama3
	case strings.Contains(s, imStart):
		return FormatChatML
	case strings.Contains(s, gStart):
		return FormatGemma
	case strings.HasPrefix(strings.TrimLeft(s, " \n"), "Human:") || strings.Contains(s, hhHuman):
		return FormatHH
	}
	return FormatPlain
}

// ParsePrompt reads a prompt's text as the turns of a conversation, in the
// format given (FormatAuto detects it). A chat format's text that does not
// parse as one is read as plain: one user message. It returns the turns and
// the format read (FormatRaw gives no turns: the text stays as it is).
func ParsePrompt(s, format string) ([]Turn, string) {
	if format == FormatAuto || format == "auto" {
		format = DetectPrompt(s)
	}
	var turns []Turn
	ok := false
	switch format {
	case FormatRaw:
		return nil, FormatRaw
	case FormatHH:
		turns, ok = parseHH(s)
	case FormatChatML:
		turns, ok = parseTagged(s, imStart, imEnd, func(seg string) (string, string, bool) {
			role, content, _ := strings.Cut(seg, "\n") // an open last turn may have lost its line end to trimming
			return role, content, true
		})
	case FormatLlama3:
		turns, ok = parseTagged(strings.TrimPrefix(strings.TrimSpace(s), l3Begin), l3Header, l3End, func(seg string) (string, string, bool) {
			role, content, ok := strings.Cut(seg, l3HeaderEnd)
			return role, strings.TrimPrefix(content, "\n\n"), ok
		})
	case FormatGemma:
		turns, ok = parseTagged(strings.TrimPrefix(strings.TrimSpace(s), gBOS), gStart, gEnd, func(seg string) (string, string, bool) {
			role, content, _ := strings.Cut(seg, "\n")
			if role == "model" {
				role = RoleAssistant
			}
			return role, content, true
		})
	}
	if !ok {
		return []Turn{{Role: RoleUser, Content: strings.TrimSpace(s)}}, FormatPlain
	}
	return turns, format
}

// parseHH reads an HH-RLHF transcript: turns after "Human:" and
// "Assistant:" markers (the first may lack its leading blank line); text
// before the first marker is a system message. Contents are trimmed, as the
// HH-RLHF reader trims a transcript's prompt and response.
func parseHH(s string) ([]Turn, bool) {
	s = "\n\n" + strings.TrimLeft(s, " \n")
	var turns []Turn
	rest := s
	first := true
	for rest != "" {
		h, a := strings.Index(rest, hhHuman), strings.Index(rest, hhAssistant)
		next, role, marker := -1, "", ""
		switch {
		case h >= 0 && (a < 0 || h < a):
			next, role, marker = h, RoleUser, hhHuman
		case a >= 0:
			next, role, marker = a, RoleAssistant, hhAssistant
		}
		if next < 0 {
			if first {
				return nil, false
			}
			turns[len(turns)-1].Content += rest
			break
		}
		if next > 0 {
			if first {
				turns = append(turns, Turn{Role: RoleSystem, Content: rest[:next]})
			} else {
				turns[len(turns)-1].Content += rest[:next]
			}
		}
		first = false
		turns = append(turns, Turn{Role: role})
		rest = rest[next+len(marker):]
	}
	for i := range turns {
		turns[i].Content = strings.TrimSpace(turns[i].Content)
	}
	// a generation prompt (a last "Assistant:" with nothing after it) is not a turn
	if n := len(turns); n > 1 && turns[n-1].Role == RoleAssistant && turns[n-1].Content == "" {
		turns = turns[:n-1]
	}
	return turns, len(turns) > 0
}

// parseTagged reads turns written start + role ... + end, as ChatML, Llama-3
// and Gemma write them; split cuts a turn's text into its role and content.
// Text between turns must be blank.
func parseTagged(s, start, end string, split func(string) (string, string, bool)) ([]Turn, bool) {
	var turns []Turn
	rest := s
	for {
		rest = strings.TrimLeft(rest, " \n")
		if rest == "" {
			break
		}
		if !strings.HasPrefix(rest, start) {
			return nil, false
		}
		rest = rest[len(start):]
		seg, after, closed := strings.Cut(rest, end)
		role, content, ok := split(seg)
		if !ok {
			return nil, false
		}
		switch role {
		case RoleSystem, RoleUser, RoleAssistant:
		default:
			return nil, false
		}
		turns = append(turns, Turn{Role: role, Content: strings.TrimSpace(content)})
		if !closed {
			break // the last turn open: an assistant's generation prompt, or a cut text
		}
		rest = after
	}
	// a generation prompt (an open assistant turn with nothing in it) is not a turn
	if n := len(turns); n > 0 && turns[n-1].Role == RoleAssistant && turns[n-1].Content == "" {
		turns = turns[:n-1]
	}
	return turns, len(turns) > 0
}

// RenderHH writes turns as HH-RLHF writes a conversation's prompt: a system
// message first, as it is, then "Human: ..." and "Assistant: ..." turns
// joined by blank lines (the HH-RLHF reader's prompt for a transcript).
func RenderHH(turns []Turn) string {
	var b strings.Builder
	for _, t := range turns {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		switch t.Role {
		case RoleUser:
			b.WriteString("Human: ")
		case RoleAssistant:
			b.WriteString("Assistant: ")
		}
		b.WriteString(t.Content)
	}
	return b.String()
}

// EndMarkers are the end-of-turn tokens a chat template writes after a
// response; a response cut from a whole conversation (a trainer's query)
// loses them, as the readers' responses have none.
var EndMarkers = []string{l3End, imEnd, gEnd, "</s>", "<|endoftext|>", "<eos>", "<|end|>"}

// TrimResponse is a response as the readers give one: trimmed, without the
// end-of-turn markers a chat template writes after it.
func TrimResponse(s string) string {
	s = strings.TrimSpace(s)
	for changed := true; changed; {
		changed = false
		for _, m := range EndMarkers {
			if t := strings.TrimSuffix(s, m); t != s {
				s, changed = strings.TrimSpace(t), true
			}
		}
	}
	return s
}

// SplitConversation cuts a whole conversation's text (a trainer's query,
// the prompt and the response written together) at its last assistant turn:
// the prompt (with the generation prompt's marker left out) and the
// response. ok is false when no chat format's assistant marker is found.
func SplitConversation(q string) (prompt, response, format string, ok bool) {
	for _, m := range []struct {
		format, marker string
	}{
		{FormatLlama3, l3Header + "assistant" + l3HeaderEnd},
		{FormatChatML, imStart + "assistant\n"},
		{FormatGemma, gStart + "model\n"},
		{FormatHH, hhAssistant},
	} {
		if k := strings.LastIndex(q, m.marker); k >= 0 {
			return q[:k], TrimResponse(q[k+len(m.marker):]), m.format, true
		}
	}
	return "", "", "", false
}
