package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// RowKind says which texts a Row holds and which rewards scoring adds.
type RowKind int

// Row kinds.
const (
	RowResponse   RowKind = iota // {prompt, response}: adds reward
	RowPair                      // {prompt, chosen, rejected}: adds reward_chosen, reward_rejected
	RowUnlabelled                // a dataset's {prompt, response_a, response_b}: adds reward_a, reward_b
)

// Row is one record to score: the JSON object it is (as read, or as built
// from a dataset's pair), to which rewards are added, and its texts.
type Row struct {
	Raw    []byte // a JSON object
	File   string
	Line   int
	Kind   RowKind
	Prompt string
	// Turns, for a {"messages": [...]} row, is the conversation before the
	// response, as its turns (Prompt then writes them as HH-RLHF does);
	// nil for other rows.
	Turns []Turn
	A, B  string // the response (A), or the pair's two responses
}

// RewardFields are the fields scoring adds to a row; a row that has one
// already is refused, so that no reward is silently replaced.
var RewardFields = []string{"reward", "reward_chosen", "reward_rejected"}

// WithRewards returns the row's JSON object with its rewards added: ra (the
// response's, or the first of a pair's) and rb (the second's; ignored for a
// single response). The object's own bytes are kept as they were.
func (r *Row) WithRewards(ra, rb float64) []byte {
	obj := bytes.TrimSuffix(bytes.TrimSpace(r.Raw), []byte("}"))
	sep := ","
	if bytes.HasSuffix(bytes.TrimSpace(obj), []byte("{")) {
		sep = ""
	}
	num := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	var add string
	switch r.Kind {
	case RowUnlabelled:
		add = fmt.Sprintf(`%s"reward_a":%s,"reward_b":%s}`, sep, num(ra), num(rb))
	case RowPair:
		add = fmt.Sprintf(`%s"reward_chosen":%s,"reward_rejected":%s}`, sep, num(ra), num(rb))
	default:
		add = fmt.Sprintf(`%s"reward":%s}`, sep, num(ra))
	}
	return append(append([]byte(nil), obj...), add...)
}

// RowReader streams the rows of a file to score. A file of JSONL rows of
// {prompt, response}, {prompt, chosen, rejected} or {"messages": [...]}
// (a chat: the last message is the assistant's response, the turns before
// it the prompt) is read row by row, each kept as it is. Any other file the
// readers take (Parquet, HH-RLHF transcripts, UltraFeedback, or any file
// when Options.Format names a format) is read with the dataset readers, one
// row a pair, written as {file, line, prompt, chosen, rejected} (or
// response_a, response_b), with its subset and id.
type RowReader struct {
	name    string
	opts    Options
	br      *bufio.Reader // rows
	closer  io.Closer
	ds      *Reader // datasets
	line    int
	skipped map[string]int
}

// OpenRows opens a file to score (see RowReader).
func OpenRows(path string, opts Options) (*RowReader, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	magic := make([]byte, 4)
	n, _ := io.ReadFull(f, magic)
	if n == 4 && string(magic) == "PAR1" {
		f.Close()
		ds, err := Open(path, opts)
		if err != nil {
			return nil, err
		}
		return &RowReader{name: path, opts: opts, ds: ds}, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	r, err := newRows(f, path, f, opts)
	if err != nil {
		f.Close()
	}
	return r, err
}

// NewRows reads rows to score from a stream (JSONL, gzip-compressed or not;
// see RowReader), named name in errors.
func NewRows(in io.Reader, name string, opts Options) (*RowReader, error) {
	closer, _ := in.(io.Closer)
	return newRows(in, name, closer, opts)
}

func newRows(in io.Reader, name string, closer io.Closer, opts Options) (*RowReader, error) {
	if opts.MaxLine <= 0 {
		opts.MaxLine = DefaultMaxLine
	}
	br := bufio.NewReaderSize(in, 1<<20)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, &Error{File: name, Msg: "bad gzip stream: " + err.Error()}
		}
		br = bufio.NewReaderSize(zr, 1<<20)
	}
	if opts.Format != Auto || !rowsAhead(br) {
		ds, err := newStreamReader(name, br, closer, opts)
		if err != nil {
			return nil, err
		}
		ds.subset = subsetOfStream(name)
		return &RowReader{name: name, opts: opts, ds: ds}, nil
	}
	return &RowReader{name: name, opts: opts, br: br, closer: closer}, nil
}

// subsetOfStream is the subset of pairs read from a stream: the folder of
// a named file, as for Open, and none for standard input.
func subsetOfStream(name string) string {
	if strings.HasPrefix(name, "<") {
		return ""
	}
	return subsetFromPath(name)
}

// rowsAhead says whether the stream's first record is a row to score as it
// is: it has a prompt (with a response, or chosen and rejected) or
// messages. A first line that does not parse (or is beyond the buffer) is
// left to the row reader to report.
func rowsAhead(br *bufio.Reader) bool {
	for n := 4096; ; n *= 2 {
		peek, err := br.Peek(n)
		start := 0
		for {
			i := bytes.IndexByte(peek[start:], '\n')
			if i < 0 {
				break
			}
			line := bytes.TrimSpace(bytes.TrimPrefix(peek[start:start+i], []byte("\xef\xbb\xbf")))
			if len(line) > 0 {
				return isRow(line)
			}
			start += i + 1
		}
		if err != nil { // the end of the stream, or of the buffer
			line := bytes.TrimSpace(bytes.TrimPrefix(peek[start:], []byte("\xef\xbb\xbf")))
			return len(line) == 0 || errors.Is(err, bufio.ErrBufferFull) || isRow(line)
		}
	}
}

func isRow(line []byte) bool {
	var obj map[string]json.RawMessage
	if json.Unmarshal(line, &obj) != nil {
		return true // the row reader reports it
	}
	_, prompt := obj["prompt"]
	_, messages := obj["messages"]
	_, chosen := obj["chosen"]
	_, rejected := obj["rejected"]
	if prompt && chosen && rejected {
		return true
	}
	return prompt || messages
}

// Next returns the next row, or io.EOF after the last. A bad row is an
// *Error naming the file, line and field; with Options.SkipBad it is
// counted (Skipped) and the next row returned.
func (r *RowReader) Next() (Row, error) {
	if r.ds != nil {
		p, err := r.ds.Next()
		if err != nil {
			return Row{}, err
		}
		return pairRow(&p)
	}
	for {
		raw, tooLong, err := readLine(r.br, r.opts.MaxLine)
		if len(raw) == 0 && !tooLong && err != nil {
			if errors.Is(err, io.EOF) {
				return Row{}, io.EOF
			}
			return Row{}, &Error{File: r.name, Line: r.line + 1, Msg: err.Error()}
		}
		r.line++
		if r.line == 1 {
			raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
		}
		var row Row
		var perr error
		switch t := bytes.TrimSpace(raw); {
		case tooLong:
			perr = &Error{File: r.name, Line: r.line, Msg: fmt.Sprintf("the line is longer than %d bytes (raise the limit to read it)", r.opts.MaxLine)}
		case len(t) == 0:
			continue
		default:
			row, perr = parseRow(t, r.name, r.line)
		}
		if perr == nil {
			return row, nil
		}
		if !r.opts.SkipBad {
			return Row{}, perr
		}
		if r.skipped == nil {
			r.skipped = map[string]int{}
		}
		r.skipped[perr.(*Error).Msg]++
	}
}

// Skipped counts the bad rows skipped so far, by reason (Options.SkipBad).
func (r *RowReader) Skipped() map[string]int {
	if r.ds != nil {
		return r.ds.Stats().Skipped
	}
	return r.skipped
}

// Close closes the file.
func (r *RowReader) Close() error {
	if r.ds != nil {
		return r.ds.Close()
	}
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}

// pairRow is a dataset's pair as a row to score.
func pairRow(p *Pair) (Row, error) {
	obj := map[string]any{"file": p.File, "line": p.Line, "prompt": p.Prompt}
	if p.Subset != "" {
		obj["subset"] = p.Subset
	}
	if p.ID != "" {
		obj["id"] = p.ID
	}
	kind := RowPair
	if p.Labelled {
		obj["chosen"], obj["rejected"] = p.Chosen, p.Rejected
	} else {
		obj["response_a"], obj["response_b"] = p.Chosen, p.Rejected
		kind = RowUnlabelled
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return Row{}, err
	}
	return Row{Raw: raw, File: p.File, Line: p.Line, Kind: kind, Prompt: p.Prompt, A: p.Chosen, B: p.Rejected}, nil
}

// parseRow reads one JSONL row to score.
func parseRow(raw []byte, name string, line int) (Row, error) {
	bad := func(field, msg string) (Row, error) {
		return Row{}, &Error{File: name, Line: line, Field: field, Msg: msg}
	}
	if !utf8.Valid(raw) || LoneSurrogate(raw) {
		return bad("", "the line is not valid UTF-8 (or escapes half a surrogate pair)")
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return bad("", "not a JSON object")
	}
	for _, f := range RewardFields {
		if _, ok := obj[f]; ok {
			return bad(f, "already present: ser score adds it (rename or drop the field first)")
		}
	}
	str := func(field string) (string, error) {
		v, ok := obj[field]
		if !ok {
			return "", &Error{File: name, Line: line, Field: field, Msg: "missing"}
		}
		s, ok := v.(string)
		if !ok {
			return "", &Error{File: name, Line: line, Field: field, Msg: "is not a string"}
		}
		return s, nil
	}
	r := Row{Raw: raw, File: name, Line: line}
	var err error
	if msgs, ok := obj["messages"]; ok {
		if _, has := obj["prompt"]; !has {
			turns, response, why := chatTurns(msgs)
			if why != "" {
				return bad("messages", why)
			}
			r.Turns, r.Prompt, r.A = turns, RenderHH(turns), response
			return r, nil
		}
	}
	if r.Prompt, err = str("prompt"); err != nil {
		return r, err
	}
	if _, ok := obj["response"]; ok {
		r.A, err = str("response")
		return r, err
	}
	if _, ok := obj["chosen"]; !ok {
		return r, &Error{File: name, Line: line, Field: "response", Msg: "missing (give response, or chosen and rejected)"}
	}
	r.Kind = RowPair
	if r.A, err = str("chosen"); err != nil {
		return r, err
	}
	r.B, err = str("rejected")
	return r, err
}

// chatTurns turns a messages list into (turns, response): the last message
// must be the assistant's, and it is the response; the turns before it are
// the prompt (an empty list, not nil, when there are none).
func chatTurns(v any) ([]Turn, string, string) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, "", "is not a non-empty list of messages"
	}
	turns := []Turn{}
	for i, e := range list {
		msg, ok := e.(map[string]any)
		role, _ := msg["role"].(string)
		content, cok := msg["content"].(string)
		if !ok || !cok {
			return nil, "", fmt.Sprintf("message %d: want {role, content} with a string content", i)
		}
		switch role {
		case RoleSystem, RoleUser, RoleAssistant:
		default:
			return nil, "", fmt.Sprintf("message %d: role %q is not system, user or assistant", i, role)
		}
		if i == len(list)-1 {
			if role != RoleAssistant {
				return nil, "", "the last message is not the assistant's"
			}
			return turns, content, ""
		}
		turns = append(turns, Turn{Role: role, Content: strings.TrimSpace(content)}) // as a parsed prompt's turns are
	}
	return nil, "", "no messages"
}
