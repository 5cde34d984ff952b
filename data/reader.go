package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
)

// Reader streams the pairs of one file.
type Reader struct {
	path   string
	opts   Options
	subset string
	stats  Stats

	// JSONL
	closer io.Closer
	br     *bufio.Reader
	// Parquet
	pf *parquet.File
	//lint:ignore SA1019 GenericReader wants a Go type for the rows; the readers take any schema as map[string]any, which this Reader does (and the fuzzing and hardening tests cover)
	pq *parquet.Reader

	line    int
	pending []Pair // pairs of the current record not yet returned
	format  string
	broken  bool // a damaged file's readable part is over (SkipBad)
}

// Open opens a JSONL, JSONL.gz or Parquet file (by its name's ending, or by
// the gzip and Parquet magic numbers).
func Open(path string, opts Options) (*Reader, error) {
	switch opts.Format {
	case Auto, HH, UFRaw, UFBinarized, Pairs, Unlabelled:
	default:
		return nil, &Error{File: path, Msg: fmt.Sprintf("unknown format %q (want %s)", opts.Format, formatsKnown)}
	}
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	if opts.MaxLine <= 0 {
		opts.MaxLine = DefaultMaxLine
	}
	r := &Reader{path: path, opts: opts, subset: subsetFromPath(path), format: opts.Format, closer: f}
	magic := make([]byte, 4)
	n, _ := io.ReadFull(f, magic)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	switch {
	case n == 4 && string(magic) == "PAR1":
		pf, err := openParquet(f, path)
		if err != nil {
			f.Close()
			return nil, err
		}
		r.pf, r.pq = pf, parquet.NewReader(pf)
	case n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			return nil, &Error{File: path, Msg: "bad gzip stream: " + err.Error()}
		}
		r.br = bufio.NewReaderSize(zr, 1<<20)
	default:
		r.br = bufio.NewReaderSize(f, 1<<20)
	}
	return r, nil
}

// NewReader reads a JSONL stream, gzip-compressed or not, named name in
// errors (Parquet needs a file: see Open). Close closes in when it is an
// io.Closer.
func NewReader(in io.Reader, name string, opts Options) (*Reader, error) {
	br := bufio.NewReaderSize(in, 1<<20)
	closer, _ := in.(io.Closer)
	return newStreamReader(name, br, closer, opts)
}

// newStreamReader reads JSONL from br, after its gzip header when it starts
// with one.
func newStreamReader(name string, br *bufio.Reader, closer io.Closer, opts Options) (*Reader, error) {
	switch opts.Format {
	case Auto, HH, UFRaw, UFBinarized, Pairs, Unlabelled:
	default:
		return nil, &Error{File: name, Msg: fmt.Sprintf("unknown format %q (want %s)", opts.Format, formatsKnown)}
	}
	if opts.MaxLine <= 0 {
		opts.MaxLine = DefaultMaxLine
	}
	if closer == nil {
		closer = io.NopCloser(nil)
	}
	r := &Reader{path: name, opts: opts, format: opts.Format, closer: closer}
	magic, _ := br.Peek(4)
	switch {
	case string(magic) == "PAR1":
		return nil, &Error{File: name, Msg: "a Parquet file is read from a file, not a stream"}
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, &Error{File: name, Msg: "bad gzip stream: " + err.Error()}
		}
		br = bufio.NewReaderSize(zr, 1<<20)
	}
	r.br = br
	return r, nil
}

// Close closes the file.
func (r *Reader) Close() error {
	if r.pq != nil {
		r.pq.Close()
	}
	return r.closer.Close()
}

// Stats reports what has been read so far.
func (r *Reader) Stats() Stats {
	s := r.stats
	s.Format = r.format
	return s
}

// Format is the format in use (detected from the first record when Auto).
func (r *Reader) Format() string { return r.format }

// Next returns the next pair, or io.EOF after the last.
func (r *Reader) Next() (Pair, error) {
	for len(r.pending) == 0 {
		if r.opts.MaxRecords > 0 && r.stats.Records >= r.opts.MaxRecords {
			return Pair{}, io.EOF
		}
		if r.broken {
			return Pair{}, io.EOF
		}
		rec, err := r.record()
		if err != nil {
			return Pair{}, err
		}
		if rec == nil {
			continue // a blank line
		}
		r.stats.Records++
		pairs, err := r.decode(rec)
		if err != nil {
			var e *Error
			if r.opts.SkipBad && errors.As(err, &e) {
				why := e.Msg
				if e.Field != "" {
					why = fmt.Sprintf("field %q: %s", e.Field, e.Msg)
				}
				r.stats.add(&r.stats.Skipped, why)
				continue
			}
			return Pair{}, err
		}
		r.pending = pairs
	}
	p := r.pending[0]
	r.pending = r.pending[1:]
	r.stats.Pairs++
	return p, nil
}

// record returns the next record as a JSON object, nil for a blank line.
func (r *Reader) record() (map[string]any, error) {
	r.line++
	if r.pq != nil {
		row := map[string]any{}
		if err := r.readParquetRow(&row); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, r.damaged(fmt.Sprintf("row group %d: reading the row: %v", r.rowGroupOf(r.line), err))
		}
		if field, ok := invalidString(row, ""); !ok {
			return map[string]any{invalidUTF8: field}, nil
		}
		return row, nil
	}
	raw, tooLong, err := r.readLine()
	if err != nil && !errors.Is(err, io.EOF) {
		// a damaged file (a truncated or corrupt .gz): what came before stays readable
		return nil, r.damaged(err.Error())
	}
	if len(raw) == 0 && !tooLong && err != nil {
		return nil, io.EOF
	}
	if r.line == 1 {
		raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")) // a UTF-8 byte-order mark
	}
	if tooLong {
		return map[string]any{badJSON: fmt.Sprintf("the line is longer than %d bytes (raise the limit to read it)", r.opts.MaxLine)}, nil
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, nil
	}
	if !utf8.Valid(raw) || LoneSurrogate(raw) {
		return map[string]any{invalidUTF8: ""}, nil
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return map[string]any{badJSON: fmt.Sprintf("the line is a JSON %s, not an object", te.Value)}, nil
		}
		return map[string]any{badJSON: err.Error()}, nil
	}
	if obj == nil {
		return map[string]any{badJSON: "the line is not a JSON object"}, nil
	}
	return obj, nil
}

// readLine reads one line of at most MaxLine bytes; a longer line is read
// through to its end without being kept, and reported as too long.
func (r *Reader) readLine() (line []byte, tooLong bool, err error) {
	return readLine(r.br, r.opts.MaxLine)
}

// readLine reads one line of at most max bytes from br; a longer line is
// read through to its end without being kept, and reported as too long.
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > max {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return line, tooLong, err
	}
}

// damaged reports a file that cannot be read past this point. With SkipBad
// the records before it are kept and reading ends there; either way the
// error says how many records were read.
func (r *Reader) damaged(why string) error {
	msg := fmt.Sprintf("the file is damaged here (%s); %d records were read before it", why, r.stats.Records)
	if r.opts.SkipBad {
		r.stats.add(&r.stats.Skipped, "the rest of a damaged file")
		r.broken = true
		return io.EOF
	}
	return &Error{File: r.path, Line: r.line, Msg: msg + ", which skipping bad records keeps"}
}

// invalidString finds a string that is not valid UTF-8 anywhere in a
// Parquet row (the same rule as for JSONL lines) and returns its field.
func invalidString(v any, field string) (string, bool) {
	switch x := v.(type) {
	case string:
		return field, utf8.ValidString(x)
	case []byte:
		return field, utf8.Valid(x)
	case map[string]any:
		for k, e := range x {
			if f, ok := invalidString(e, k); !ok {
				return f, false
			}
		}
	case []any:
		for _, e := range x {
			if f, ok := invalidString(e, field); !ok {
				return f, false
			}
		}
	}
	return field, true
}

// Markers for lines that did not parse, so that decode reports them (and SkipBad counts them).
const (
	invalidUTF8 = "\x00invalid-utf8"
	badJSON     = "\x00bad-json"
)

func (r *Reader) errf(field, format string, a ...any) *Error {
	return &Error{File: r.path, Line: r.line, Field: field, Msg: fmt.Sprintf(format, a...)}
}

// decode turns one record into its pairs (UltraFeedback raw yields several, or none).
func (r *Reader) decode(obj map[string]any) ([]Pair, error) {
	if f, ok := obj[invalidUTF8]; ok {
		if field, _ := f.(string); field != "" {
			return nil, r.errf(field, "not valid UTF-8")
		}
		return nil, r.errf("", "the line is not valid UTF-8 (or escapes half a surrogate pair)")
	}
	if msg, ok := obj[badJSON]; ok {
		return nil, r.errf("", "malformed JSON: %v", msg)
	}
	if r.format == Auto {
		f, err := detect(obj)
		if err != nil {
			e := r.errf("", "%v", err)
			e.Err = err
			return nil, e
		}
		r.format = f
	}
	switch r.format {
	case HH:
		return r.decodeHH(obj)
	case UFRaw:
		return r.decodeUFRaw(obj)
	case Unlabelled:
		return r.decodeUnlabelled(obj)
	default: // UFBinarized and Pairs share a shape
		return r.decodeBinarized(obj)
	}
}

// detect guesses the format from the keys of the first record.
func detect(obj map[string]any) (string, error) {
	has := func(k string) bool { _, ok := obj[k]; return ok }
	switch {
	case has("completions") && has("instruction"):
		return UFRaw, nil
	case has("response_a") && has("response_b"):
		return Unlabelled, nil
	case has("chosen") && has("rejected") && !has("prompt"):
		return HH, nil
	case has("chosen") && has("rejected") && has("prompt"):
		if _, list := obj["chosen"].([]any); list || has("prompt_id") {
			return UFBinarized, nil
		}
		return Pairs, nil
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = strconv.Quote(k) // a key is the data's: quoted, no terminal escape reaches stderr
	}
	return "", fmt.Errorf("%w from the keys [%s] (want one of %s)", ErrUnknownFormat, strings.Join(keys, " "), formatsKnown)
}

func (r *Reader) str(obj map[string]any, field string, allowEmpty bool) (string, error) {
	v, ok := obj[field]
	if !ok || v == nil {
		return "", r.errf(field, "missing")
	}
	s, ok := v.(string)
	if !ok {
		return "", r.errf(field, "is %s, want a string", typeName(v))
	}
	if !allowEmpty && strings.TrimSpace(s) == "" {
		return "", r.errf(field, "is empty")
	}
	return s, nil
}

// noteEmpty counts an empty response. Empty responses are kept: real
// preference data rates them (UltraFeedback scores an empty answer 1.0; HH-RLHF
// prefers silence to harm), and a pair with one is still comparable.
func (r *Reader) noteEmpty(response string) {
	if strings.TrimSpace(response) == "" {
		r.stats.add(&r.stats.Kept, "empty response")
	}
}

func typeName(v any) string {
	switch v.(type) {
	case float64, int64, int32, int, float32:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case int:
		return float64(x), true
	}
	return 0, false
}

const assistantTurn = "\n\nAssistant:"

// decodeHH splits both transcripts at the last "\n\nAssistant:" that lies in
// their shared beginning: before it is the prompt, after it each response. (A
// response can itself hold "Human: ... Assistant:" turns, 17 do in the test
// splits, so each transcript's own last turn is not always the place.) A final
// Assistant turn that is empty is kept as an empty response: the assistant
// said nothing (11 such in the test splits).
func (r *Reader) decodeHH(obj map[string]any) ([]Pair, error) {
	chosen, err := r.str(obj, "chosen", false)
	if err != nil {
		return nil, err
	}
	rejected, err := r.str(obj, "rejected", false)
	if err != nil {
		return nil, err
	}
	n := 0
	for n < len(chosen) && n < len(rejected) && chosen[n] == rejected[n] {
		n++
	}
	if n == len(chosen) && n == len(rejected) {
		n = len(chosen) // identical transcripts: split at the last turn
	}
	i := strings.LastIndex(chosen[:n], assistantTurn)
	if i < 0 {
		if !strings.Contains(chosen, assistantTurn) {
			return nil, r.errf("chosen", "has no %q turn", strings.TrimSpace(assistantTurn))
		}
		return nil, r.errf("rejected", "shares no conversation with chosen up to an Assistant turn")
	}
	cut := i + len(assistantTurn)
	p := Pair{Prompt: strings.TrimSpace(chosen[:i]), Chosen: strings.TrimSpace(chosen[cut:]), Rejected: strings.TrimSpace(rejected[cut:]),
		Labelled: true, Subset: r.subset, File: r.path, Line: r.line}
	r.noteEmpty(p.Chosen)
	r.noteEmpty(p.Rejected)
	return []Pair{p}, nil
}

// response reads a binarized response: a string, or a list of {role,
// content} messages whose last assistant message is the response.
func (r *Reader) response(obj map[string]any, field string) (string, error) {
	switch v := obj[field].(type) {
	case string:
		r.noteEmpty(v)
		return v, nil
	case []any:
		for i := len(v) - 1; i >= 0; i-- {
			msg, ok := v[i].(map[string]any)
			if !ok {
				return "", r.errf(fmt.Sprintf("%s[%d]", field, i), "is %s, want an object {role, content}", typeName(v[i]))
			}
			if role, _ := msg["role"].(string); role != "assistant" {
				continue
			}
			c, ok := msg["content"].(string)
			if !ok {
				return "", r.errf(fmt.Sprintf("%s[%d].content", field, i), "is %s, want a string", typeName(msg["content"]))
			}
			r.noteEmpty(c)
			return c, nil
		}
		return "", r.errf(field, "has no assistant message")
	case nil:
		return "", r.errf(field, "missing")
	default:
		return "", r.errf(field, "is %s, want a string or a list of messages", typeName(v))
	}
}

func (r *Reader) decodeBinarized(obj map[string]any) ([]Pair, error) {
	prompt, err := r.str(obj, "prompt", false)
	if err != nil {
		return nil, err
	}
	chosen, err := r.response(obj, "chosen")
	if err != nil {
		return nil, err
	}
	rejected, err := r.response(obj, "rejected")
	if err != nil {
		return nil, err
	}
	p := Pair{Prompt: prompt, Chosen: chosen, Rejected: rejected, Labelled: true, File: r.path, Line: r.line,
		Subset: r.subsetOf(obj), ID: idOf(obj)}
	scores := obj
	if meta, ok := obj["metadata"].(map[string]any); ok {
		if _, has := meta["score_chosen"]; has {
			scores = meta
		}
	}
	if v, has := scores["score_chosen"]; has && v != nil {
		c, ok1 := number(v)
		rj, ok2 := number(scores["score_rejected"])
		if !ok1 {
			return nil, r.errf("score_chosen", "is %s, want a number", typeName(v))
		}
		if !ok2 {
			return nil, r.errf("score_rejected", "is %s, want a number", typeName(scores["score_rejected"]))
		}
		p.HasScores, p.ScoreChosen, p.ScoreRejected = true, c, rj
	}
	return []Pair{p}, nil
}

func (r *Reader) decodeUnlabelled(obj map[string]any) ([]Pair, error) {
	prompt, err := r.str(obj, "prompt", false)
	if err != nil {
		return nil, err
	}
	a, err := r.str(obj, "response_a", true)
	if err != nil {
		return nil, err
	}
	b, err := r.str(obj, "response_b", true)
	if err != nil {
		return nil, err
	}
	r.noteEmpty(a)
	r.noteEmpty(b)
	return []Pair{{Prompt: prompt, Chosen: a, Rejected: b, File: r.path, Line: r.line, Subset: r.subsetOf(obj), ID: idOf(obj)}}, nil
}

// subsetOf is a record's "subset" or "source" field, else the file's folder.
func (r *Reader) subsetOf(obj map[string]any) string {
	for _, k := range []string{"subset", "source"} {
		if s, ok := obj[k].(string); ok && s != "" {
			return s
		}
	}
	return r.subset
}

// idOf is a record's "id" or "prompt_id" (a string or a number), or "".
func idOf(obj map[string]any) string {
	for _, k := range []string{"id", "prompt_id"} {
		switch v := obj[k].(type) {
		case string:
			return v
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64)
		case int64:
			return strconv.FormatInt(v, 10)
		case int32:
			return strconv.FormatInt(int64(v), 10)
		}
	}
	return ""
}

// MaxCompletions bounds the completions of one uf-raw record: every two
// make a pair (2,016 at most), each with its own features.
const MaxCompletions = 64

// decodeUFRaw builds every pair of completions whose overall scores differ,
// the higher-rated one chosen; ties yield no pair (counted in Stats.Dropped).
func (r *Reader) decodeUFRaw(obj map[string]any) ([]Pair, error) {
	prompt, err := r.str(obj, "instruction", false)
	if err != nil {
		return nil, err
	}
	source := r.subsetOf(obj)
	list, ok := obj["completions"].([]any)
	if !ok {
		return nil, r.errf("completions", "is %s, want a list", typeName(obj["completions"]))
	}
	if len(list) > MaxCompletions { // every two of them make a pair
		return nil, r.errf("completions", "%d completions; at most %d are read from one record (UltraFeedback has 4)", len(list), MaxCompletions)
	}
	type comp struct {
		text    string
		score   float64
		aspects [4]float64
	}
	var cs []comp
	for i, v := range list {
		field := fmt.Sprintf("completions[%d]", i)
		c, ok := v.(map[string]any)
		if !ok {
			return nil, r.errf(field, "is %s, want an object", typeName(v))
		}
		text, ok := c["response"].(string)
		if !ok {
			return nil, r.errf(field+".response", "is %s, want a string", typeName(c["response"]))
		}
		score, ok := number(c["overall_score"])
		if !ok {
			score, ok = number(c["fine-grained_score"])
		}
		if !ok {
			return nil, r.errf(field+".overall_score", "is %s, want a number", typeName(c["overall_score"]))
		}
		if math.IsNaN(score) || math.Abs(score) > maxRating {
			return nil, r.errf(field+".overall_score", "is %v, want a number at most %g in size", score, maxRating)
		}
		if strings.TrimSpace(text) == "" {
			r.stats.add(&r.stats.Dropped, "empty completion")
			continue
		}
		aspects, err := r.aspects(c["annotations"], field+".annotations")
		if err != nil {
			return nil, err
		}
		cs = append(cs, comp{text, score, aspects})
	}
	rated := &Rated{Prompt: prompt, Aspects: map[string][]float64{}}
	for _, c := range cs {
		rated.Responses = append(rated.Responses, c.text)
		rated.Overall = append(rated.Overall, c.score)
		for k, a := range Aspects {
			rated.Aspects[a] = append(rated.Aspects[a], c.aspects[k])
		}
	}
	var out []Pair
	for i := 0; i < len(cs); i++ {
		for j := i + 1; j < len(cs); j++ {
			a, b := cs[i], cs[j]
			if a.score == b.score {
				r.stats.add(&r.stats.Dropped, "tied ratings")
				continue
			}
			if b.score > a.score {
				a, b = b, a
			}
			out = append(out, Pair{Prompt: prompt, Chosen: a.text, Rejected: b.text, Labelled: true, Subset: source,
				HasScores: true, ScoreChosen: a.score, ScoreRejected: b.score, Rated: rated, File: r.path, Line: r.line})
		}
	}
	return out, nil
}

// maxRating bounds a rating's size (UltraFeedback's are 1 to 10): sums of
// ratings stay finite.
const maxRating = 1e6

// aspects reads a completion's "annotations": per aspect of Aspects, an
// object whose "Rating" is a number or a numeric string ("N/A", an absent
// aspect or absent annotations give NaN).
func (r *Reader) aspects(v any, field string) ([4]float64, error) {
	var out [4]float64
	for k := range out {
		out[k] = math.NaN()
	}
	if v == nil {
		return out, nil
	}
	ann, ok := v.(map[string]any)
	if !ok {
		return out, r.errf(field, "is %s, want an object", typeName(v))
	}
	for k, a := range Aspects {
		raw, ok := ann[a]
		if !ok || raw == nil {
			continue
		}
		obj, ok := raw.(map[string]any)
		if !ok {
			return out, r.errf(field+"."+a, "is %s, want an object", typeName(raw))
		}
		switch x := obj["Rating"].(type) {
		case nil:
		case string:
			if x == "N/A" || x == "" {
				continue
			}
			f, err := strconv.ParseFloat(x, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > maxRating {
				return out, r.errf(field+"."+a+".Rating", "is %q, want a number (at most %g in size) or \"N/A\"", x, maxRating)
			}
			out[k] = f
		default:
			f, ok := number(x)
			if !ok || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > maxRating {
				return out, r.errf(field+"."+a+".Rating", "is %s, want a number (at most %g in size) or \"N/A\"", typeName(x), maxRating)
			}
			out[k] = f
		}
	}
	return out, nil
}

// ReadAll reads every pair of the files, in order.
func ReadAll(paths []string, opts Options) ([]Pair, []Stats, error) {
	var all []Pair
	var stats []Stats
	for _, path := range paths {
		r, err := Open(path, opts)
		if err != nil {
			return nil, nil, err
		}
		for {
			p, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				r.Close()
				return nil, nil, err
			}
			all = append(all, p)
		}
		stats = append(stats, r.Stats())
		r.Close()
	}
	return all, stats, nil
}

// openRegular opens a regular file, refusing anything else before opening
// it (opening a FIFO waits for a writer).
func openRegular(path string) (*os.File, error) {
	if fi, err := os.Stat(path); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, &Error{File: path, Msg: "not a regular file (a FIFO, device or folder is not read)"}
	}
	return os.Open(path)
}
