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

// leadTokens are the tokens a tokenizer writes before a text (a BOS) or a
// trainer's left padding: they are not part of a conversation.
var leadTokens = []string{l3Begin, gBOS, "<s>", "<|endoftext|>", "<|end_of_text|>", "<pad>", "<|pad|>", "<unk>"}

// stripLead removes the white space and leadTokens at the start of s.
func stripLead(s string) string {
	for {
		t := strings.TrimLeft(s, " \t\r\n")
		for _, tok := range leadTokens {
			t = strings.TrimPrefix(t, tok)
		}
		if t == s {
			return s
		}
		s = t
	}
}

// DetectPrompt names the format a prompt's text is written in, by how it
// starts (after a BOS or padding): a chat format's first marker, HH-RLHF's
// "Human:" (or a system text followed by "\n\nHuman:"), else plain. A
// marker inside a message (a user asking about <|im_start|>) does not
// decide.
func DetectPrompt(s string) string {
	t := stripLead(s)
	switch {
	case strings.HasPrefix(t, l3Header):
		return FormatLlama3
	case strings.HasPrefix(t, imStart):
		return FormatChatML
	case strings.HasPrefix(t, gStart):
		return FormatGemma
	case strings.HasPrefix(t, "Human:") || strings.Contains(t, hhHuman):
		return FormatHH
	}
	return FormatPlain
}

// ParsePrompt reads a prompt's text as the turns of a conversation, in the
// format given (FormatAuto detects it). A chat format's text that does not
// parse as one is read as plain: one user message. It returns the turns and
// the format read: FormatPlain where parsing fell back to it (FormatRaw
// gives no turns: the text stays as it is).
func ParsePrompt(s, format string) ([]Turn, string) {
	if format == FormatAuto || format == "auto" {
		format = DetectPrompt(s)
	}
	var turns []Turn
	ok := false
	t := stripLead(s)
	switch format {
	case FormatRaw:
		return nil, FormatRaw
	case FormatHH:
		turns, ok = parseHH(t)
	case FormatChatML:
		turns, ok = parseTagged(t, imStart, imEnd, func(seg string) (string, string, bool) {
			role, content, _ := strings.Cut(seg, "\n") // an open last turn may have lost its line end to trimming
			return role, content, true
		})
	case FormatLlama3:
		turns, ok = parseTagged(t, l3Header, l3End, func(seg string) (string, string, bool) {
			role, content, ok := strings.Cut(seg, l3HeaderEnd)
			return role, strings.TrimPrefix(content, "\n\n"), ok
		})
	case FormatGemma:
		turns, ok = parseTagged(t, gStart, gEnd, func(seg string) (string, string, bool) {
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

// EmptyConversation reports whether a prompt, read in format (FormatAuto
// detects it), holds no message: only turn markers and white space. Raw
// prompts are never empty here (their text is what the backbone reads).
func EmptyConversation(prompt, format string) bool {
	turns, f := ParsePrompt(prompt, format)
	if f == FormatRaw {
		return false
	}
	for _, t := range turns {
		if strings.TrimSpace(t.Content) != "" {
			return false
		}
	}
	return true
}

// hhMarker finds the first HH-RLHF turn marker in s at or after from: its
// position, the turn's role and the marker; -1 when there is none. Each
// call looks only past from, so a parse reads a text once.
func hhMarker(s string, from int) (int, string, string) {
	for from < len(s) {
		k := strings.Index(s[from:], "\n\n")
		if k < 0 {
			break
		}
		p := from + k
		switch {
		case strings.HasPrefix(s[p:], hhHuman):
			return p, RoleUser, hhHuman
		case strings.HasPrefix(s[p:], hhAssistant):
			return p, RoleAssistant, hhAssistant
		}
		from = p + 1
	}
	return -1, "", ""
}

// parseHH reads an HH-RLHF transcript: turns after "Human:" and
// "Assistant:" markers (the first may lack its leading blank line); text
// before the first marker is a system message. Contents are trimmed, as the
// HH-RLHF reader trims a transcript's prompt and response. It reads the
// text once: its time is linear in the text's length.
func parseHH(s string) ([]Turn, bool) {
	s = "\n\n" + strings.TrimLeft(s, " \n")
	p, role, marker := hhMarker(s, 0)
	if p < 0 {
		return nil, false
	}
	var turns []Turn
	if p > 0 {
		turns = append(turns, Turn{Role: RoleSystem, Content: s[:p]})
	}
	for p >= 0 {
		start := p + len(marker)
		next, nextRole, nextMarker := hhMarker(s, start)
		end := next
		if end < 0 {
			end = len(s)
		}
		turns = append(turns, Turn{Role: role, Content: s[start:end]})
		p, role, marker = next, nextRole, nextMarker
	}
	for i := range turns {
		turns[i].Content = strings.TrimSpace(turns[i].Content)
		if turns[i].Role == RoleAssistant {
			turns[i].Content = dropEmptyThink(turns[i].Content)
		}
	}
	// a generation prompt (a last "Assistant:" with nothing after it) is not a turn
	if n := len(turns); n > 1 && turns[n-1].Role == RoleAssistant && turns[n-1].Content == "" {
		turns = turns[:n-1]
	}
	return turns, len(turns) > 0
}

// dropEmptyThink removes an empty reasoning block ("<think>" and
// "</think>" with only white space between) at the start of an assistant's
// text: what Qwen3's template writes when thinking is off, not content.
func dropEmptyThink(s string) string {
	t, ok := strings.CutPrefix(strings.TrimLeft(s, " \t\r\n"), "<think>")
	if !ok {
		return s
	}
	inner, rest, ok := strings.Cut(t, "</think>")
	if !ok || strings.TrimSpace(inner) != "" {
		return s
	}
	return strings.TrimSpace(rest)
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
		content = strings.TrimSpace(content)
		if role == RoleAssistant {
			content = dropEmptyThink(content)
		}
		turns = append(turns, Turn{Role: role, Content: content})
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

// endMarkers are, per format, the tokens a chat template or a tokenizer
// writes after a response (end of turn, end of text); a response cut from a
// whole conversation (a trainer's query) loses them, as the readers'
// responses have none. For HH-RLHF and plain text, "</s>" counts only when
// the response has no "<s>" (HTML's strike-through closes with it).
var endMarkers = map[string][]string{
	FormatLlama3: {l3End, "<|end_of_text|>"},
	FormatChatML: {imEnd, "<|endoftext|>"},
	FormatGemma:  {gEnd, "<eos>"},
	FormatHH:     {"<|endoftext|>", "<|end_of_text|>", "<eos>", "<|end|>", "</s>"},
}

// TrimResponse is a response as the readers give one: trimmed of white
// space, of an empty reasoning block at its start, and of the end markers
// the prompt's format writes after it (format: the prompt's, as
// DetectPrompt names it; plain is read as HH-RLHF).
func TrimResponse(s, format string) string {
	if format != FormatLlama3 && format != FormatChatML && format != FormatGemma {
		format = FormatHH
	}
	s = dropEmptyThink(strings.TrimSpace(s))
	for changed := true; changed; {
		changed = false
		for _, m := range endMarkers[format] {
			if m == "</s>" && strings.Contains(s, "<s>") {
				continue
			}
			if t := strings.TrimSuffix(s, m); t != s {
				s, changed = strings.TrimSpace(t), true
			}
		}
	}
	return s
}

// assistantMarkers are the markers that open an assistant's turn, per
// format (plain text is split as HH-RLHF's).
var assistantMarkers = map[string]string{
	FormatLlama3: l3Header + "assistant" + l3HeaderEnd,
	FormatChatML: imStart + "assistant\n",
	FormatGemma:  gStart + "model\n",
	FormatHH:     hhAssistant,
}

// SplitConversation cuts a whole conversation's text (a trainer's query,
// the prompt and the response written together) at its last assistant turn
// in the format the text starts in (DetectPrompt; HH-RLHF's marker for
// plain text): the prompt (with the generation prompt's marker left out)
// and the response (TrimResponse). A marker of another format inside the
// response does not cut it. ok is false when the format's assistant marker
// is not there.
func SplitConversation(q string) (prompt, response, format string, ok bool) {
	format = DetectPrompt(q)
	if format == FormatPlain {
		format = FormatHH
	}
	m := assistantMarkers[format]
	k := strings.LastIndex(q, m)
	if k < 0 {
		return "", "", "", false
	}
	return q[:k], TrimResponse(q[k+len(m):], format), format, true
}

// AfterPrompt is the response of a query that starts with prompt (rest is
// the query after it), when prompt ends where the response begins: with
// its format's assistant marker (and an empty reasoning block), or with
// the rest opening with that marker (which is then left out). ok is false
// otherwise (a prompt that ends inside a turn or a word): the query must
// then be split by itself. A prompt in a format ser does not know (plain)
// ends where the trainer says: the rest is the response.
func AfterPrompt(prompt, rest string) (response string, ok bool) {
	format := DetectPrompt(prompt)
	if format == FormatPlain { // a template ser does not know: the rest is the response
		return TrimResponse(rest, FormatHH), true
	}
	m := strings.TrimSpace(assistantMarkers[format])
	end := strings.TrimRight(prompt, " \t\r\n")
	if t, ok := strings.CutSuffix(end, "</think>"); ok { // an empty reasoning block after the marker
		if k := strings.LastIndex(t, "<think>"); k >= 0 && strings.TrimSpace(t[k+len("<think>"):]) == "" {
			end = strings.TrimRight(t[:k], " \t\r\n")
		}
	}
	if strings.HasSuffix(end, m) {
		return TrimResponse(rest, format), true
	}
	if r, ok := strings.CutPrefix(strings.TrimLeft(rest, " \t\r\n"), m); ok {
		return TrimResponse(r, format), true
	}
	return "", false
}
