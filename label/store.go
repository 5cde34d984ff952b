package label

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/ser-rl/ser/internal/safefile"
)

// Marker is the file that makes a folder an answers folder. The store writes
// it; `ser train --data DIR` and the export recognise the folder by it.
const Marker = ".ser-label"

// marker is the marker file's content. Key is the folder's secret (random,
// made with the folder): it draws the side each response is shown on when
// the input does not say, so that nobody who knows the seed and the code
// can tell from a pair's id or place which side is the source's choice.
type marker struct {
	SerLabel int    `json:"ser_label"`
	What     string `json:"what"`
	Key      string `json:"key"`
}

const markerWhat = "answers of ser label: one append-only JSONL log per annotator (NAME.jsonl); ser label export --out DIR turns them into {prompt, chosen, rejected} pairs"

// Answers a record may hold.
const (
	AnswerA    = "a"
	AnswerB    = "b"
	AnswerTie  = "tie"
	AnswerSkip = "skip"
)

// MaxNote is the longest note kept with an answer, in characters.
const MaxNote = 1000

// maxRecord bounds one line of a log when read back (three texts the readers
// bound, JSON-escaped).
const maxRecord = 256 << 20

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// CheckName reports whether name can name an annotator: it is the name of
// the annotator's file, so 1 to 64 letters, digits, '-' and '_', starting
// with a letter or digit (no '.', '/', spaces or hidden files).
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("annotator name %q: want 1 to 64 letters, digits, '-' or '_', starting with a letter or digit", clip(name, 80))
	}
	return nil
}

// Record is one line of an annotator's log: an answer, or the undoing of
// one. An answer holds everything needed to use it without the set it came
// from: the prompt, both responses, and which one it prefers.
type Record struct {
	Seq       int64     // 1, 2, ... within the log
	Time      time.Time // when it was written
	Annotator string
	ID        string // the pair's id (PairID of the texts)

	// An answer:
	Answer     string // a, b, tie or skip (a: response A is better)
	Note       string
	ShownFirst string // the response shown on the left, a or b
	Prompt     string
	A, B       string
	Source     string // the source's preference, a or b, when the set knew it
	AskID      string
	Subset     string

	// An undo: the seq of the answer undone (then the fields above are empty).
	Undo int64
}

type answerJSON struct {
	Seq        int64     `json:"seq"`
	Time       time.Time `json:"time"`
	Annotator  string    `json:"annotator"`
	ID         string    `json:"id"`
	Answer     string    `json:"answer"`
	Note       string    `json:"note,omitempty"`
	ShownFirst string    `json:"shown_first"`
	Prompt     string    `json:"prompt"`
	A          string    `json:"response_a"`
	B          string    `json:"response_b"`
	Source     string    `json:"source_chosen,omitempty"`
	AskID      string    `json:"ask_id,omitempty"`
	Subset     string    `json:"subset,omitempty"`
}

type undoJSON struct {
	Seq       int64     `json:"seq"`
	Time      time.Time `json:"time"`
	Annotator string    `json:"annotator"`
	ID        string    `json:"id"`
	Undo      int64     `json:"undo"`
}

// MarshalJSON writes an answer or an undo record.
func (r Record) MarshalJSON() ([]byte, error) {
	var v any
	if r.Undo > 0 {
		v = undoJSON{r.Seq, r.Time, r.Annotator, r.ID, r.Undo}
	} else {
		v = answerJSON{r.Seq, r.Time, r.Annotator, r.ID, r.Answer, r.Note, r.ShownFirst, r.Prompt, r.A, r.B, r.Source, r.AskID, r.Subset}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// parseRecord reads one line of a log, checking every field.
func parseRecord(line []byte) (Record, *fieldError) {
	var raw struct {
		Seq        *int64     `json:"seq"`
		Time       *time.Time `json:"time"`
		Annotator  *string    `json:"annotator"`
		ID         *string    `json:"id"`
		Answer     *string    `json:"answer"`
		Note       *string    `json:"note"`
		ShownFirst *string    `json:"shown_first"`
		Prompt     *string    `json:"prompt"`
		A          *string    `json:"response_a"`
		B          *string    `json:"response_b"`
		Source     *string    `json:"source_chosen"`
		AskID      *string    `json:"ask_id"`
		Subset     *string    `json:"subset"`
		Undo       *int64     `json:"undo"`
	}
	if !utf8.Valid(line) {
		return Record{}, &fieldError{"", "not valid UTF-8"}
	}
	if err := json.Unmarshal(line, &raw); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return Record{}, &fieldError{te.Field, fmt.Sprintf("is a JSON %s, want %s", te.Value, te.Type)}
		}
		return Record{}, &fieldError{"", "malformed JSON: " + err.Error()}
	}
	var r Record
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	switch {
	case raw.Seq == nil || *raw.Seq < 1:
		return r, &fieldError{"seq", "missing or below 1"}
	case raw.Time == nil:
		return r, &fieldError{"time", "missing"}
	case raw.Annotator == nil:
		return r, &fieldError{"annotator", "missing"}
	case raw.ID == nil || *raw.ID == "":
		return r, &fieldError{"id", "missing"}
	}
	r.Seq, r.Time, r.Annotator, r.ID = *raw.Seq, *raw.Time, *raw.Annotator, *raw.ID
	if raw.Undo != nil {
		if *raw.Undo < 1 || *raw.Undo >= r.Seq {
			return r, &fieldError{"undo", fmt.Sprintf("%d: want the seq of an earlier answer", *raw.Undo)}
		}
		if raw.Answer != nil {
			return r, &fieldError{"answer", "an undo record has no answer"}
		}
		r.Undo = *raw.Undo
		return r, nil
	}
	if raw.Answer == nil {
		return r, &fieldError{"answer", "missing (want a, b, tie or skip, or an undo record)"}
	}
	switch *raw.Answer {
	case AnswerA, AnswerB, AnswerTie, AnswerSkip:
	default:
		return r, &fieldError{"answer", fmt.Sprintf("%q: want a, b, tie or skip", clip(*raw.Answer, 40))}
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"prompt", raw.Prompt}, {"response_a", raw.A}, {"response_b", raw.B}} {
		if f.v == nil {
			return r, &fieldError{f.name, "missing"}
		}
	}
	r.Answer, r.Note, r.Prompt, r.A, r.B = *raw.Answer, str(raw.Note), *raw.Prompt, *raw.A, *raw.B
	r.ShownFirst, r.Source, r.AskID, r.Subset = str(raw.ShownFirst), str(raw.Source), str(raw.AskID), str(raw.Subset)
	for _, f := range []struct{ name, v string }{{"shown_first", r.ShownFirst}, {"source_chosen", r.Source}} {
		if f.v != "" && f.v != "a" && f.v != "b" {
			return r, &fieldError{f.name, fmt.Sprintf("%q: want a or b", clip(f.v, 40))}
		}
	}
	if r.A == r.B {
		return r, &fieldError{"response_b", "the same text as response_a"}
	}
	if id := PairID(r.Prompt, r.A, r.B); id != r.ID {
		return r, &fieldError{"id", fmt.Sprintf("%s is not the id of this record's texts (%s): was the record edited?", clip(r.ID, 40), id)}
	}
	return r, nil
}

// history is the state a log's records build: the answers in force (the
// latest answer to each pair that was not undone) and the order they were
// given in (what undo takes back, last first).
type history struct {
	lastSeq int64
	answers map[int64]Record    // answers not undone, by seq
	live    map[string][]int64  // pair id -> seqs of its answers not undone, in order
	stack   []int64             // seqs of answers not undone, in order
	count   int                 // answers given, undone or not
	times   []time.Time         // times of the answers given, in order
	undone  map[int64]time.Time // seq -> when undone
}

func newHistory() *history {
	return &history{answers: map[int64]Record{}, live: map[string][]int64{}, undone: map[int64]time.Time{}}
}

// apply adds a record; name is the log's annotator.
func (h *history) apply(r Record, name string) *fieldError {
	if r.Seq <= h.lastSeq {
		return &fieldError{"seq", fmt.Sprintf("%d after %d: want increasing numbers", r.Seq, h.lastSeq)}
	}
	if r.Annotator != name {
		return &fieldError{"annotator", fmt.Sprintf("%q in the log of %q", clip(r.Annotator, 80), name)}
	}
	if r.Undo > 0 {
		a, ok := h.answers[r.Undo]
		if !ok {
			return &fieldError{"undo", fmt.Sprintf("%d is not an answer in force", r.Undo)}
		}
		if a.ID != r.ID {
			return &fieldError{"id", fmt.Sprintf("the answer undone (seq %d) is to pair %s", r.Undo, a.ID)}
		}
		delete(h.answers, r.Undo)
		h.live[r.ID] = remove(h.live[r.ID], r.Undo)
		if len(h.live[r.ID]) == 0 {
			delete(h.live, r.ID)
		}
		h.stack = remove(h.stack, r.Undo)
		h.undone[r.Undo] = r.Time
	} else {
		h.answers[r.Seq] = r
		h.live[r.ID] = append(h.live[r.ID], r.Seq)
		h.stack = append(h.stack, r.Seq)
		h.count++
		h.times = append(h.times, r.Time)
	}
	h.lastSeq = r.Seq
	return nil
}

func remove(s []int64, v int64) []int64 {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == v {
			return append(s[:i], s[i+1:]...)
		}
	}
	return s
}

// current is the answer in force for a pair.
func (h *history) current(id string) (Record, bool) {
	s := h.live[id]
	if len(s) == 0 {
		return Record{}, false
	}
	return h.answers[s[len(s)-1]], true
}

// final is the answer in force for every pair answered.
func (h *history) final() map[string]Record {
	out := make(map[string]Record, len(h.live))
	for id := range h.live {
		out[id], _ = h.current(id)
	}
	return out
}

// readLog reads a log's records. A last line with no line end that does not
// parse is a write a crash cut short: it is left out, and tail is its length
// (the caller that writes cuts it). Any other bad line is an error naming the
// file, the line and the field.
func readLog(path, name string, r io.Reader) (recs []Record, h *history, good int64, tail int64, err error) {
	br := bufio.NewReaderSize(r, 1<<20)
	h = newHistory()
	texts := map[string]*Record{} // the first answer of each pair: its texts, shared by the later ones
	for line := 1; ; line++ {
		raw, long, rerr := readRecordLine(br)
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return nil, nil, 0, 0, fmt.Errorf("%s:%d: %w", path, line, rerr)
		}
		if len(raw) == 0 && !long && rerr != nil {
			return recs, h, good, 0, nil
		}
		complete := len(raw) > 0 && raw[len(raw)-1] == '\n'
		text := bytes.TrimSpace(raw)
		if long {
			return nil, nil, 0, 0, &lineError{path, line, "", fmt.Sprintf("a line longer than %d MiB", maxRecord>>20)}
		}
		if len(text) > 0 {
			rec, ferr := parseRecord(text)
			if ferr == nil {
				ferr = h.apply(rec, name)
			}
			if ferr != nil {
				if !complete && !json.Valid(text) {
					return recs, h, good, int64(len(raw)), nil // a torn last line: a write a crash cut short
				}
				// a whole record that does not check out is a hand's edit, torn or not: said, never dropped
				msg := ferr.msg
				if line == 1 && len(recs) == 0 {
					msg += " (is this a data file? an answers folder holds only its annotators' logs)"
				}
				return nil, nil, 0, 0, &lineError{path, line, ferr.field, msg}
			}
			if rec.Undo == 0 {
				if first, ok := texts[rec.ID]; ok && first.Prompt == rec.Prompt && first.A == rec.A && first.B == rec.B {
					rec.Prompt, rec.A, rec.B = first.Prompt, first.A, first.B // one copy of a pair's texts in memory
				} else if !ok {
					texts[rec.ID] = &rec
				}
			}
			recs = append(recs, rec)
		}
		good += int64(len(raw))
		if rerr != nil {
			return recs, h, good, 0, nil
		}
	}
}

// lineError names a log's file, line and field.
type lineError struct {
	file  string
	line  int
	field string
	msg   string
}

func (e *lineError) Error() string {
	if e.field != "" {
		return fmt.Sprintf("%s:%d: field %q: %s", e.file, e.line, e.field, e.msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.msg)
}

// readRecordLine reads one line with its end; a line longer than maxRecord
// is read through and reported as long.
func readRecordLine(br *bufio.Reader) (line []byte, long bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !long {
			if len(line)+len(chunk) > maxRecord {
				long, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return line, long, err
	}
}

// IsAnswers reports whether dir is an answers folder (it holds the marker).
func IsAnswers(dir string) bool {
	_, err := os.Lstat(filepath.Join(dir, Marker)) // any kind: one that is not a file is an error when read, not a data folder
	return err == nil
}

// Store is an answers folder opened for writing: one log per annotator,
// each locked (flock) while this store holds it open, so two processes never
// write one log; in one process a log's mutex orders its writers (two tabs).
type Store struct {
	Dir string
	// Key is the folder's secret, for the sides of pairs whose input does
	// not give them (see LoadOptions.Key).
	Key []byte
	// Notef, when set, is told of what opening a log repaired (a torn last line cut).
	Notef func(format string, a ...any)
	mu    sync.Mutex
	logs  map[string]*Log
}

// OpenStore opens (creating it if need be) an answers folder. A folder that
// holds data files but no marker is not taken for one.
func OpenStore(dir string) (*Store, error) {
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("%s: not a folder (the answers go in a folder, one file per annotator)", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(filepath.Join(dir, Marker)); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: is not a regular file (a link, FIFO or folder): an answers folder's marker is a file ser label writes", filepath.Join(dir, Marker))
	}
	if !IsAnswers(dir) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".jsonl") || strings.HasSuffix(e.Name(), ".gz") || strings.HasSuffix(e.Name(), ".parquet") {
				return nil, fmt.Errorf("%s holds data files (%s) and is not an answers folder (no %s): name a new or empty folder", dir, e.Name(), Marker)
			}
		}
	}
	m, _ := readMarker(dir)
	if m.Key == "" { // a new folder, or one an older ser made
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		m = marker{SerLabel: 1, What: markerWhat, Key: hex.EncodeToString(key)}
		raw, _ := json.Marshal(m)
		if err := safefile.WriteFile(filepath.Join(dir, Marker), append(raw, '\n')); err != nil {
			return nil, err
		}
	}
	key, err := hex.DecodeString(m.Key)
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("%s: field \"key\": not the hex of 16 or more bytes", filepath.Join(dir, Marker))
	}
	return &Store{Dir: dir, Key: key, logs: map[string]*Log{}}, nil
}

// readMarker reads an answers folder's marker (a regular file of at most
// 64 KiB).
func readMarker(dir string) (marker, error) {
	var m marker
	raw, err := safefile.ReadRegular(filepath.Join(dir, Marker), 64<<10)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return marker{}, fmt.Errorf("%s: %w", filepath.Join(dir, Marker), err)
	}
	return m, nil
}

// Log opens an annotator's log (once per store; later calls return it),
// locking it against other processes and reading what it holds. A torn last
// line left by a crash is cut.
func (s *Store) Log(name string) (*Log, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logs == nil {
		return nil, errors.New("the answers store is closed")
	}
	if l, ok := s.logs[name]; ok {
		return l, nil
	}
	if len(s.logs) >= MaxAnnotators {
		return nil, fmt.Errorf("%w: %d annotators have answered through this process already", ErrTooMany, len(s.logs))
	}
	l, err := openLog(filepath.Join(s.Dir, name+".jsonl"), name)
	if err != nil {
		return nil, err
	}
	s.logs[name] = l
	if l.Cut > 0 && s.Notef != nil {
		s.Notef("%s: cut a torn last line (%d bytes) that a crash left: an answer in flight, never confirmed to the page", l.Path, l.Cut)
	}
	return l, nil
}

// Has says whether name has a log: open in this store, or a file in the folder.
func (s *Store) Has(name string) bool {
	s.mu.Lock()
	_, open := s.logs[name]
	s.mu.Unlock()
	if open {
		return true
	}
	_, err := os.Lstat(filepath.Join(s.Dir, name+".jsonl"))
	return err == nil
}

// Opened returns the names of the logs open, sorted.
func (s *Store) Opened() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for n := range s.logs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Close closes every log, releasing their locks.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for _, l := range s.logs {
		if err := l.close(); err != nil && first == nil {
			first = err
		}
	}
	s.logs = nil
	return first
}

// MaxAnnotators bounds the logs one store holds open (each holds a file and its lock).
const MaxAnnotators = 256

// ErrTooMany is the cause of an error opening a log beyond MaxAnnotators.
var ErrTooMany = errors.New("too many annotators")

// ErrLocked is the cause of an error opening a log another process holds.
var ErrLocked = errors.New("another process is writing this annotator's answers")

// Log is one annotator's answers, open for appending.
type Log struct {
	Name string
	Path string
	// Cut is the length of a torn last line cut when the log was opened (0: none).
	Cut int64

	mu   sync.Mutex
	f    *os.File
	size int64
	recs []Record
	h    *history
	bad  error // a failed write that could not be undone: no more writes
}

func openLog(path, name string) (*Log, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND|syscall.O_NOFOLLOW, 0o644)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s: is a link: an annotator's log is a plain file in the answers folder, never followed out of it", path)
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w (annotator %s is labelling in another ser label; one process per annotator)", path, ErrLocked, name)
		}
		return nil, fmt.Errorf("%s: lock: %w", path, err)
	}
	recs, h, good, tail, err := readLog(path, name, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	l := &Log{Name: name, Path: path, f: f, size: good, recs: recs, h: h}
	if tail > 0 {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: cutting a torn last line: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
		l.Cut = tail
	}
	if good > 0 {
		// a last line with no line end that parsed (written by hand): end it
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, good-1); err == nil && b[0] != '\n' {
			if err := l.write([]byte{'\n'}); err != nil {
				f.Close()
				return nil, err
			}
		}
	}
	return l, nil
}

func (l *Log) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close() // releases the lock
	l.f = nil
	return err
}

// write appends b and syncs it; on failure the file is cut back to what it
// held, so that a half-written record never stays.
func (l *Log) write(b []byte) error {
	if l.bad != nil {
		return l.bad
	}
	if l.f == nil {
		return errors.New("the log is closed")
	}
	_, err := l.f.Write(b)
	if err == nil {
		err = l.f.Sync()
	}
	if err != nil {
		if terr := l.f.Truncate(l.size); terr != nil {
			l.bad = fmt.Errorf("%s: a write failed (%v) and could not be taken back (%v): restart ser label", l.Path, err, terr)
		}
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is said once
		}
		return fmt.Errorf("%s: writing the answer: %w", l.Path, err)
	}
	l.size += int64(len(b))
	return nil
}

func (l *Log) appendRecord(r Record) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // ends the line
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return err
	}
	if ferr := l.h.apply(r, l.Name); ferr != nil { // checked before it is written
		return fmt.Errorf("%s: field %q: %s", l.Path, ferr.field, ferr.msg)
	}
	if err := l.write(buf.Bytes()); err != nil {
		// take the record back out of the history: rebuild it
		h := newHistory()
		for _, old := range l.recs {
			h.apply(old, l.Name)
		}
		l.h = h
		return err
	}
	l.recs = append(l.recs, r)
	return nil
}

// Answer appends an answer to p (a, b, tie or skip) and returns it once it is
// on disk (written and fsynced).
func (l *Log) Answer(p *Pair, answer, note string, now time.Time) (Record, error) {
	switch answer {
	case AnswerA, AnswerB, AnswerTie, AnswerSkip:
	default:
		return Record{}, fmt.Errorf("answer %q: want a, b, tie or skip", clip(answer, 40))
	}
	if err := checkNote(note); err != nil {
		return Record{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	r := Record{Seq: l.h.lastSeq + 1, Time: now.UTC(), Annotator: l.Name, ID: p.ID, Answer: answer, Note: note,
		ShownFirst: p.First, Prompt: p.Prompt, A: p.A, B: p.B, Source: p.Source, AskID: p.AskID, Subset: p.Subset}
	if err := l.appendRecord(r); err != nil {
		return Record{}, err
	}
	return r, nil
}

func checkNote(note string) error {
	if !utf8.ValidString(note) {
		return errors.New("note: not valid UTF-8")
	}
	if n := utf8.RuneCountInString(note); n > MaxNote {
		return fmt.Errorf("note: %d characters, at most %d", n, MaxNote)
	}
	return nil
}

// Undo takes back the latest answer in force whose pair keep accepts (nil:
// any), appending an undo record, and returns the answer taken back; ok is
// false when there is none.
func (l *Log) Undo(keep func(id string) bool, now time.Time) (undone Record, ok bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.h.stack) - 1; i >= 0; i-- {
		a := l.h.answers[l.h.stack[i]]
		if keep != nil && !keep(a.ID) {
			continue
		}
		r := Record{Seq: l.h.lastSeq + 1, Time: now.UTC(), Annotator: l.Name, ID: a.ID, Undo: a.Seq}
		if err := l.appendRecord(r); err != nil {
			return Record{}, false, err
		}
		return a, true, nil
	}
	return Record{}, false, nil
}

// Current is the answer in force for a pair.
func (l *Log) Current(id string) (Record, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.h.current(id)
}

// Final is the answer in force for every pair answered, by pair id.
func (l *Log) Final() map[string]Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.h.final()
}

// RecordsFrom returns a copy of the records from the i-th on (0: all), in order.
func (l *Log) RecordsFrom(i int) []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i >= len(l.recs) {
		return nil
	}
	return append([]Record(nil), l.recs[i:]...)
}

// Records returns a copy of every record, in order.
func (l *Log) Records() []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Record(nil), l.recs...)
}

// AnswerTimes returns when each answer was given (undone or not), in order.
func (l *Log) AnswerTimes() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.h.times...)
}

// ReadLog reads an annotator's log without locking it or changing it (a torn
// last line, as a write in progress in another process leaves, is left out).
func ReadLog(path string) ([]Record, error) {
	name := strings.TrimSuffix(filepath.Base(path), ".jsonl")
	if err := CheckName(name); err != nil {
		return nil, fmt.Errorf("%s: not an annotator's log: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, _, _, _, err := readLog(path, name, f)
	return recs, err
}

// replay builds the history of records.
func replay(recs []Record) *history {
	h := newHistory()
	for _, r := range recs {
		h.apply(r, r.Annotator)
	}
	return h
}
