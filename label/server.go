package label

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed web/index.html web/app.js web/style.css
var web embed.FS

var page = template.Must(template.ParseFS(web, "web/index.html"))

// DefaultMaxBody bounds a request body.
const DefaultMaxBody = 64 << 10

// Options configure a Server.
type Options struct {
	Set   *Set
	Store *Store
	// Annotator, when set, is the only annotator this server labels as (the
	// page does not ask for a name); else the page asks, and each name
	// writes its own log.
	Annotator string
	// Token, when set, must come with every request (?token= or the
	// X-Ser-Token header): a server bound beyond the loopback needs one.
	Token string
	// LoopbackHosts refuses requests whose Host is not a loopback name (a web
	// page elsewhere that rebinds its DNS name to 127.0.0.1 cannot reach the
	// server). For a server bound to the loopback.
	LoopbackHosts bool
	MaxBody       int64            // default DefaultMaxBody
	Now           func() time.Time // default time.Now
}

// Server is the labelling page and its JSON API.
type Server struct {
	o       Options
	mux     *http.ServeMux
	mu      sync.Mutex
	replays map[string]*replayState // annotator -> where finished stands

	answersMu  sync.Mutex // one reading of the folder at a time
	answersKey string     // the logs' names, sizes and times when last read
	answersGot *Answers
}

// answers reads the folder's answers (every annotator's, written by this
// process or another), again only when a log has changed since.
func (s *Server) answers() (*Answers, error) {
	s.answersMu.Lock()
	defer s.answersMu.Unlock()
	entries, err := os.ReadDir(s.o.Store.Dir)
	if err != nil {
		return nil, err
	}
	var key strings.Builder
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && strings.HasSuffix(e.Name(), ".jsonl") {
			fmt.Fprintf(&key, "%s %d %d\n", e.Name(), fi.Size(), fi.ModTime().UnixNano())
		}
	}
	if s.answersGot != nil && key.String() == s.answersKey {
		return s.answersGot, nil
	}
	a, err := ReadAnswers(s.o.Store.Dir)
	if err != nil {
		return nil, err
	}
	s.answersKey, s.answersGot = key.String(), a
	return a, nil
}

// NewServer makes the handler.
func NewServer(o Options) (*Server, error) {
	if o.Set == nil || len(o.Set.Pairs) == 0 {
		return nil, errors.New("label: no pairs to label")
	}
	if o.Store == nil {
		return nil, errors.New("label: no answers store")
	}
	if o.Annotator != "" {
		if err := CheckName(o.Annotator); err != nil {
			return nil, err
		}
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{o: o, mux: http.NewServeMux(), replays: map[string]*replayState{}}
	s.mux.HandleFunc("GET /{$}", s.index)
	s.mux.HandleFunc("GET /app.js", s.static("web/app.js", "text/javascript; charset=utf-8"))
	s.mux.HandleFunc("GET /style.css", s.static("web/style.css", "text/css; charset=utf-8"))
	s.mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	s.mux.HandleFunc("GET /api/session", s.session)
	s.mux.HandleFunc("GET /api/pair", s.pair)
	s.mux.HandleFunc("GET /api/stats", s.stats)
	s.mux.HandleFunc("POST /api/answer", s.answer)
	s.mux.HandleFunc("POST /api/undo", s.undo)
	return s, nil
}

// NewToken is a random token for a server bound beyond the loopback.
func NewToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// IsLoopback reports whether a listening host (of host:port) is a loopback
// address only; "" and 0.0.0.0 listen on every interface.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// HTTPServer serves the handler with timeouts and bounded headers.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 32 << 10}
}

// ServeHTTP checks every request (host, token, body size, same origin for
// writes) and sets the security headers before routing it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	if s.o.LoopbackHosts && !loopbackHost(r.Host) {
		fail(w, http.StatusForbidden, "", "this server answers only to localhost, 127.0.0.1 or [::1] (Host "+strconv.Quote(clip(r.Host, 80))+")")
		return
	}
	if s.o.Token != "" {
		got := r.URL.Query().Get("token")
		if got == "" {
			got = r.Header.Get("X-Ser-Token")
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(s.o.Token)) != 1 {
			fail(w, http.StatusUnauthorized, "token", "missing or wrong token: open the URL ser label printed, with its ?token=")
			return
		}
	}
	if strings.HasPrefix(r.URL.Path, "/api/") && r.Header.Get("X-Ser-Label") != "1" {
		// the page's own calls send it; a page elsewhere cannot without the
		// browser asking this server first (which it does not answer)
		fail(w, http.StatusForbidden, "", "an API call without the X-Ser-Label: 1 header (the page sends it)")
		return
	}
	if r.Method == http.MethodPost {
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			fail(w, http.StatusUnsupportedMediaType, "", "want Content-Type: application/json")
			return
		}
		if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
			fail(w, http.StatusForbidden, "", "a request from another origin ("+clip(o, 80)+")")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.o.MaxBody)
	}
	s.mux.ServeHTTP(w, r)
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return IsLoopback(strings.Trim(host, "[]"))
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	if err := page.Execute(&b, struct{ Token string }{s.o.Token}); err != nil {
		fail(w, http.StatusInternalServerError, "", err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b.Bytes())
}

func (s *Server) static(name, ctype string) http.HandlerFunc {
	b, err := web.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.Write(b)
	}
}

// apiError is an error answer: the message, and the field at fault.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func fail(w http.ResponseWriter, code int, field, msg string) {
	if field != "" && !strings.Contains(msg, strconv.Quote(field)) {
		msg = fmt.Sprintf("field %q: %s", field, msg)
	}
	writeJSON(w, code, apiError{msg, field})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// httpError is a request's fault, with its status.
type httpError struct {
	code  int
	field string
	msg   string
}

func (e *httpError) Error() string { return e.msg }

func failErr(w http.ResponseWriter, err error) {
	var he *httpError
	if errors.As(err, &he) {
		fail(w, he.code, he.field, he.msg)
		return
	}
	if errors.Is(err, ErrLocked) {
		fail(w, http.StatusConflict, "annotator", err.Error())
		return
	}
	if errors.Is(err, ErrTooMany) {
		fail(w, http.StatusServiceUnavailable, "annotator", err.Error())
		return
	}
	fail(w, http.StatusInternalServerError, "", err.Error())
}

// decode reads a JSON body into v (a struct of pointers), naming the field
// at fault.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			return &httpError{http.StatusBadRequest, "", "data after the JSON object"}
		}
		return nil
	}
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return &httpError{http.StatusRequestEntityTooLarge, "", fmt.Sprintf("request body over %d bytes", mbe.Limit)}
	case errors.Is(err, io.EOF):
		return &httpError{http.StatusBadRequest, "", "empty body: want a JSON object"}
	case errors.As(err, &se):
		return &httpError{http.StatusBadRequest, "", fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se)}
	case errors.As(err, &te):
		if te.Field == "" {
			return &httpError{http.StatusBadRequest, "", fmt.Sprintf("the body is a JSON %s, want an object", te.Value)}
		}
		return &httpError{http.StatusBadRequest, te.Field, fmt.Sprintf("is a JSON %s, want %s", te.Value, te.Type)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return &httpError{http.StatusBadRequest, f, "unknown field"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &httpError{http.StatusBadRequest, "", "the JSON body ends early"}
	}
	return &httpError{http.StatusBadRequest, "", "bad body: " + err.Error()}
}

// logOf opens the log of the annotator a request names, creating it.
func (s *Server) logOf(name string) (*Log, error) {
	name, err := s.nameOf(name)
	if err != nil {
		return nil, err
	}
	return s.o.Store.Log(name)
}

// readLogOf is logOf for a request that only reads: an annotator with no log
// yet gets nil, and none is created (nor a name taken of the MaxAnnotators).
func (s *Server) readLogOf(name string) (*Log, string, error) {
	name, err := s.nameOf(name)
	if err != nil {
		return nil, "", err
	}
	if !s.o.Store.Has(name) {
		return nil, name, nil
	}
	l, err := s.o.Store.Log(name)
	return l, name, err
}

// nameOf is the annotator a request names, checked.
func (s *Server) nameOf(name string) (string, error) {
	if s.o.Annotator != "" {
		if name != "" && name != s.o.Annotator {
			return "", &httpError{http.StatusForbidden, "annotator", fmt.Sprintf("this server labels as %s only (started with --annotator)", s.o.Annotator)}
		}
		name = s.o.Annotator
	}
	if name == "" {
		return "", &httpError{http.StatusBadRequest, "annotator", "missing: name the annotator"}
	}
	if err := CheckName(name); err != nil {
		return "", &httpError{http.StatusBadRequest, "annotator", err.Error()}
	}
	return name, nil
}

// sessionJSON is an annotator's progress.
type sessionJSON struct {
	Annotator string `json:"annotator"`
	Fixed     bool   `json:"fixed"`     // the server labels as this annotator only
	NeedName  bool   `json:"need_name"` // no annotator named yet: the page asks
	Total     int    `json:"total"`
	Done      int    `json:"done"`
	// States holds one character per pair, in order: '.' not answered, 'A'
	// or 'B' (the response preferred, as shown), 't' tie, 's' skip.
	States   string   `json:"states"`
	Next     int      `json:"next"`              // first pair not answered, -1 when all are
	Rate     *float64 `json:"per_min,omitempty"` // answers a minute lately
	Left     *float64 `json:"left_s,omitempty"`  // seconds left at that rate
	Finished bool     `json:"finished"`          // every pair has been answered at some time
}

func (s *Server) sessionOf(l *Log) sessionJSON {
	set := s.o.Set
	final := map[string]Record{}
	if l != nil {
		final = l.Final()
	}
	st := make([]byte, len(set.Pairs))
	done, next := 0, -1
	for i := range set.Pairs {
		p := &set.Pairs[i]
		r, ok := final[p.ID]
		switch {
		case !ok:
			st[i] = '.'
			if next < 0 {
				next = i
			}
		case r.Answer == AnswerTie:
			st[i], done = 't', done+1
		case r.Answer == AnswerSkip:
			st[i], done = 's', done+1
		default:
			st[i], done = p.displayed(r)[0], done+1
		}
	}
	out := sessionJSON{Fixed: s.o.Annotator != "", Total: len(set.Pairs), Done: done, States: string(st), Next: next}
	if l == nil {
		return out
	}
	out.Annotator = l.Name
	if rate, ok := ratePerMinute(l.AnswerTimes()); ok {
		out.Rate = &rate
		left := float64(len(set.Pairs)-done) / rate * 60
		out.Left = &left
	}
	out.Finished = s.finished(l) != nil
	return out
}

// ratePerMinute is the pace of the latest run of answers (no gap over five
// minutes, at most the last 60): answers a minute.
func ratePerMinute(times []time.Time) (float64, bool) {
	const maxGap, maxN = 5 * time.Minute, 60
	n := len(times)
	if n < 3 {
		return 0, false
	}
	k := 1
	for k < maxN && k < n && times[n-k].Sub(times[n-k-1]) <= maxGap && times[n-k].Sub(times[n-k-1]) >= 0 {
		k++
	}
	span := times[n-1].Sub(times[n-k]).Minutes()
	if k < 3 || span <= 0 {
		return 0, false
	}
	return float64(k-1) / span, true
}

// finished is the answers in force when the annotator first had answered
// every pair of the set (nil if never): what the page's agreement figures
// are computed on, so that changing an answer afterwards cannot reveal a
// source label by moving them. The log's records are replayed once, as they
// come.
func (s *Server) finished(l *Log) map[string]Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.replays[l.Name]
	if r == nil {
		r = &replayState{h: newHistory()}
		s.replays[l.Name] = r
	}
	if r.done != nil {
		return r.done
	}
	set := s.o.Set
	for _, rec := range l.RecordsFrom(r.next) {
		r.next++
		before := len(r.h.live[rec.ID])
		r.h.apply(rec, l.Name)
		if set.Index(rec.ID) < 0 {
			continue
		}
		after := len(r.h.live[rec.ID])
		switch {
		case before == 0 && after > 0:
			r.answered++
		case before > 0 && after == 0:
			r.answered--
		}
		if r.answered == len(set.Pairs) {
			f := map[string]Record{}
			for _, p := range set.Pairs {
				f[p.ID], _ = r.h.current(p.ID)
			}
			r.done, r.h = f, nil
			return f
		}
	}
	return nil
}

// replayState is how far finished has replayed an annotator's log.
type replayState struct {
	h        *history
	next     int // records replayed
	answered int // pairs of the set with an answer in force
	done     map[string]Record
}

func (s *Server) session(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("annotator")
	if name == "" && s.o.Annotator == "" {
		writeJSON(w, http.StatusOK, sessionJSON{NeedName: true, Total: len(s.o.Set.Pairs), Next: 0})
		return
	}
	l, name, err := s.readLogOf(name)
	if err != nil {
		failErr(w, err)
		return
	}
	out := s.sessionOf(l)
	out.Annotator = name
	writeJSON(w, http.StatusOK, out)
}

// pairJSON is a pair as the page shows it: the prompt, and the responses as
// "A" (left) and "B" (right). Nothing else of the pair is served.
type pairJSON struct {
	I      int    `json:"i"`
	ID     string `json:"id"`
	Prompt string `json:"prompt"`
	A      string `json:"a"`
	B      string `json:"b"`
	Answer string `json:"answer"` // the annotator's answer in force: A, B, tie, skip or ""
	Note   string `json:"note"`
}

func (s *Server) pair(w http.ResponseWriter, r *http.Request) {
	i, err := strconv.Atoi(r.URL.Query().Get("i"))
	if err != nil || i < 0 || i >= len(s.o.Set.Pairs) {
		fail(w, http.StatusNotFound, "i", fmt.Sprintf("%q: want a pair number from 0 to %d", clip(r.URL.Query().Get("i"), 20), len(s.o.Set.Pairs)-1))
		return
	}
	l, _, err := s.readLogOf(r.URL.Query().Get("annotator"))
	if err != nil {
		failErr(w, err)
		return
	}
	p := &s.o.Set.Pairs[i]
	left, right := p.Shown()
	out := pairJSON{I: i, ID: p.ID, Prompt: p.Prompt, A: left, B: right}
	if l != nil {
		if a, ok := l.Current(p.ID); ok {
			out.Answer, out.Note = p.displayed(a), a.Note
		}
	}
	writeJSON(w, http.StatusOK, out)
}

type answerBody struct {
	Annotator *string `json:"annotator"`
	ID        *string `json:"id"`
	Answer    *string `json:"answer"`
	Note      *string `json:"note"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request) {
	var body answerBody
	if err := decode(r, &body); err != nil {
		failErr(w, err)
		return
	}
	switch {
	case body.ID == nil:
		fail(w, http.StatusBadRequest, "id", "missing")
		return
	case body.Answer == nil:
		fail(w, http.StatusBadRequest, "answer", "missing (A, B, tie or skip)")
		return
	}
	i := s.o.Set.Index(*body.ID)
	if i < 0 {
		fail(w, http.StatusNotFound, "id", fmt.Sprintf("%q is not a pair of this set", clip(*body.ID, 40)))
		return
	}
	switch *body.Answer {
	case "A", "B", AnswerTie, AnswerSkip:
	default:
		fail(w, http.StatusBadRequest, "answer", fmt.Sprintf("%q: want A, B, tie or skip", clip(*body.Answer, 40)))
		return
	}
	if err := checkNote(str(body.Note)); err != nil {
		fail(w, http.StatusBadRequest, "note", strings.TrimPrefix(err.Error(), "note: "))
		return
	}
	l, err := s.logOf(str(body.Annotator))
	if err != nil {
		failErr(w, err)
		return
	}
	p := &s.o.Set.Pairs[i]
	if _, err := l.Answer(p, p.canonical(*body.Answer), str(body.Note), s.o.Now()); err != nil {
		failErr(w, err)
		return
	}
	out := answerOut{sessionJSON: s.sessionOf(l)}
	// the pair to show next, in the same round trip: the first one open after
	// this one (wrapping), none when every pair is answered
	n := len(s.o.Set.Pairs)
	for k := 1; k <= n; k++ {
		if j := (i + k) % n; out.States[j] == '.' {
			q := &s.o.Set.Pairs[j]
			left, right := q.Shown()
			out.Pair = &pairJSON{I: j, ID: q.ID, Prompt: q.Prompt, A: left, B: right}
			break
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// answerOut is the annotator's progress after an answer, and the pair to
// show next (null when none is open).
type answerOut struct {
	sessionJSON
	Pair *pairJSON `json:"pair"`
}

type undoBody struct {
	Annotator *string `json:"annotator"`
}

type undoJSONOut struct {
	Undone *int `json:"undone"` // the pair whose answer was taken back, or null
	sessionJSON
}

func (s *Server) undo(w http.ResponseWriter, r *http.Request) {
	var body undoBody
	if err := decode(r, &body); err != nil {
		failErr(w, err)
		return
	}
	l, err := s.logOf(str(body.Annotator))
	if err != nil {
		failErr(w, err)
		return
	}
	a, ok, err := l.Undo(func(id string) bool { return s.o.Set.Index(id) >= 0 }, s.o.Now())
	if err != nil {
		failErr(w, err)
		return
	}
	out := undoJSONOut{sessionJSON: s.sessionOf(l)}
	if ok {
		i := s.o.Set.Index(a.ID)
		out.Undone = &i
	}
	writeJSON(w, http.StatusOK, out)
}

// statsJSON is what the page shows once an annotator has answered every
// pair, computed on the answers as they stood then: agreement with the
// other annotators. Agreement with the source's labels is not shown on the
// page (only by `ser label export --stats`): a figure of 0% or 100% would
// tell the annotator every label, to change answers by afterwards.
type statsJSON struct {
	Finished bool        `json:"finished"`
	Others   []otherJSON `json:"others,omitempty"`
}

type otherJSON struct {
	Annotator string   `json:"annotator"`
	N         int      `json:"n"`
	Percent   float64  `json:"percent"`
	Kappa     *float64 `json:"kappa"`
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	l, _, err := s.readLogOf(r.URL.Query().Get("annotator"))
	if err != nil {
		failErr(w, err)
		return
	}
	var f map[string]Record
	if l != nil {
		f = s.finished(l)
	}
	if f == nil {
		writeJSON(w, http.StatusOK, statsJSON{})
		return
	}
	out := statsJSON{Finished: true}
	if all, err := s.answers(); err == nil {
		for _, other := range all.Annotators {
			if other == l.Name {
				continue
			}
			ag := pairAgreement(f, all.Final[other])
			if ag.N == 0 {
				continue
			}
			o := otherJSON{Annotator: other, N: ag.N, Percent: ag.Percent}
			if !math.IsNaN(ag.Kappa) {
				k := ag.Kappa
				o.Kappa = &k
			}
			out.Others = append(out.Others, o)
		}
	}
	writeJSON(w, http.StatusOK, out)
}
