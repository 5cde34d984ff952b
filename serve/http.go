package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ser-rl/ser/data"
)

// AssistantMarker is where /get_reward splits a query sent without its
// prompt: the prompt runs up to and including the last marker (as HH-RLHF
// writes a conversation), the response is the rest.
const AssistantMarker = "\n\nAssistant:"

// Handler serves the endpoints:
//
//	POST /get_reward    OpenRLHF's remote reward model: {"query": [text, ...],
//	                    "prompts": [text, ...] (optional)} -> {"rewards": [...], "scores": [...]}
//	POST /v1/reward     {"items": [{"prompt", "response"}, ...]} -> {"rewards": [...]}, or
//	                    {"pairs": [{"prompt", "chosen", "rejected"}, ...]} ->
//	                    {"pairs": [{"reward_chosen", "reward_rejected", "p_chosen"}, ...]}
//	GET  /healthz       200 once warm and until shutdown begins, else 503
//	GET  /metrics       Prometheus text format
//	POST /admin/reload  read the head file again (as SIGHUP does)
//
// Every answer carries a head's checksum in X-Ser-Head: the one that scored
// the request's items, else the one serving. Errors are
// {"error": "..."} with 400 (bad request), 413 (body too large), 429 (queue
// full, with Retry-After), 503 (timed out, shutting down) or 500.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /get_reward", s.timed("/get_reward", s.getReward))
	mux.HandleFunc("POST /v1/reward", s.timed("/v1/reward", s.reward))
	mux.HandleFunc("GET /healthz", s.timed("/healthz", s.healthz))
	mux.HandleFunc("GET /metrics", s.metricsPage)
	mux.HandleFunc("POST /admin/reload", s.timed("/admin/reload", s.reload))
	return mux
}

// HTTPServer is an http.Server for Handler on addr, with timeouts that
// bound slow clients: headers within 10 s, the whole request within the
// request timeout, headers of at most 64 KiB. Serve it on Listen's listener.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.opt.Timeout,
		WriteTimeout:      s.opt.Timeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ConnState:         s.connState,
	}
}

// connState tells the listener which connections sit idle between
// requests, so that at MaxConns one of them gives way to a new client.
func (s *Server) connState(c net.Conn, st http.ConnState) {
	if s.ln != nil {
		s.ln.state(c, st)
	}
}

// Listen listens on addr (host:port) for HTTPServer, holding at most
// MaxConns connections open. At the limit, a new connection takes the place
// of the one that has sat idle between requests the longest (a keep-alive
// connection a client no longer uses); with none idle, it waits until one
// closes.
func (s *Server) Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.ln = &limitListener{Listener: ln, sem: make(chan struct{}, s.opt.MaxConns), done: make(chan struct{}), idle: map[net.Conn]time.Time{}}
	return s.ln, nil
}

type limitListener struct {
	net.Listener
	sem  chan struct{}
	done chan struct{}
	once sync.Once
	mu   sync.Mutex
	idle map[net.Conn]time.Time // idle between requests, since
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}: // room
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.sem
			return nil, err
		}
		return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
	default:
	}
	// full: wait for a new connection, then make room for it
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.closeIdle()
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		c.Close()
		return nil, net.ErrClosed
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

// state records whether a connection sits idle between requests.
func (l *limitListener) state(c net.Conn, st http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st == http.StateIdle {
		l.idle[c] = time.Now()
	} else {
		delete(l.idle, c)
	}
}

// closeIdle closes the connection idle the longest, if any.
func (l *limitListener) closeIdle() {
	l.mu.Lock()
	var oldest net.Conn
	var since time.Time
	for c, t := range l.idle {
		if oldest == nil || t.Before(since) {
			oldest, since = c, t
		}
	}
	delete(l.idle, oldest)
	l.mu.Unlock()
	if oldest != nil {
		oldest.Close()
	}
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// httpError is an error with the status code it is answered with.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

// handler answers a request with a value to write as JSON, or an error.
type handler func(http.ResponseWriter, *http.Request) (any, error)

// timed wraps a handler that returns a value to write as JSON, or an error;
// it counts the request and its time, and answers errors with their code.
func (s *Server) timed(endpoint string, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code := s.answer(w, r, h)
		s.m.requests.Add(1, endpoint, strconv.Itoa(code))
		s.m.requestSeconds.Observe(time.Since(start).Seconds(), endpoint)
	}
}

// clientGone is the code counted for a request whose client left (nginx's 499).
const clientGone = 499

func (s *Server) answer(w http.ResponseWriter, r *http.Request, h handler) int {
	if hd := s.head.Load(); hd != nil {
		w.Header().Set("X-Ser-Head", hd.SHA256)
	}
	v, err := s.bounded(w, r, h)
	code := http.StatusOK
	if err != nil {
		var he *httpError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &he) && he.code == http.StatusRequestTimeout:
			code = he.code // a stalled body: the read deadline also ended the request's context
		case r.Context().Err() != nil:
			// The connection's read side ended: the client left, or
			// half-closed its side after sending. Answer with a status in
			// case it still reads (never an empty 200); count it as gone.
			s.write(w, http.StatusServiceUnavailable, map[string]string{
				"error": "the client closed its side of the connection before the answer; the request was dropped (send it again, without closing)"})
			return clientGone
		case errors.As(err, &he):
			code = he.code
		case errors.As(err, &mbe):
			code, err = http.StatusRequestEntityTooLarge, fmt.Errorf("the body is larger than %d bytes (the server's --max-body-mb)", mbe.Limit)
		case errors.Is(err, ErrBusy), errors.Is(err, ErrBodies):
			code = http.StatusTooManyRequests
			w.Header().Set("Retry-After", "1")
		case errors.As(err, new(timeoutError)):
			code = http.StatusServiceUnavailable
		case errors.Is(err, context.DeadlineExceeded):
			code, err = http.StatusServiceUnavailable, fmt.Errorf("not answered within %s", s.opt.Timeout)
		case errors.Is(err, ErrClosed):
			code = http.StatusServiceUnavailable
		default:
			code = http.StatusInternalServerError
		}
		v = map[string]string{"error": err.Error()}
	}
	return s.write(w, code, v)
}

// write answers with code and v as JSON, and returns the code written.
func (s *Server) write(w http.ResponseWriter, code int, v any) int {
	body, merr := json.Marshal(v)
	if merr != nil {
		code, body = http.StatusInternalServerError, []byte(`{"error":"the answer could not be written as JSON"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(body, '\n'))
	return code
}

// bounded runs h on r with its body bounded: one body by MaxBody (a
// declared length over it is refused before reading), bodies handled at
// once by MaxBytes, so that memory is bounded however many clients send at
// once. A body counts as its bytes arrive, whatever length it declares, so
// that an upload left unfinished holds only what it sent; one that sends
// nothing for BodyIdle is cut (408) and its share freed.
func (s *Server) bounded(w http.ResponseWriter, r *http.Request, h handler) (any, error) {
	if r.ContentLength > s.opt.MaxBody {
		return nil, &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", s.opt.MaxBody)}
	}
	b := &budgetBody{s: s, idle: s.opt.BodyIdle, rc: http.NewResponseController(w), end: time.Now().Add(s.opt.Timeout)}
	defer func() { s.bodies.Add(-b.held) }()
	b.body = http.MaxBytesReader(w, r.Body, s.opt.MaxBody)
	r.Body = b
	return h(w, r)
}

// budgetBody reads a request body, charging its bytes to the server's body
// budget as they arrive, with a deadline of BodyIdle for each read.
type budgetBody struct {
	body io.ReadCloser
	s    *Server
	rc   *http.ResponseController
	idle time.Duration
	end  time.Time // the whole body must be in by then (the request timeout)
	held int64     // bytes charged to the budget
}

func (b *budgetBody) Read(p []byte) (int, error) {
	deadline := time.Now().Add(b.idle)
	if b.end.Before(deadline) {
		deadline = b.end
	}
	b.rc.SetReadDeadline(deadline)
	n, err := b.body.Read(p)
	if n > 0 {
		if b.s.bodies.Add(int64(n)) > b.s.opt.MaxBytes {
			b.s.bodies.Add(-int64(n))
			return 0, ErrBodies
		}
		b.held += int64(n)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = &httpError{http.StatusRequestTimeout, fmt.Sprintf("the body stalled: no bytes for %s, or not all in within the request timeout", b.idle)}
	}
	return n, err
}

func (b *budgetBody) Close() error { return b.body.Close() }

// decode reads a JSON request body (bounded by MaxBody, see answer) into
// v; strict refuses fields v does not have. A body that is not valid UTF-8
// is refused, as the readers refuse such a line (a JSON decoder would put
// U+FFFD in its place and score another text than the one sent).
func decode(r *http.Request, v any, strict bool) error {
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	return unmarshal(raw, v, strict)
}

// decodeNaN is decode for OpenRLHF's body, whose labels Python's json.dumps
// may write as NaN or Infinity (not JSON): such a bare token is read as
// null. Fields the body has beyond v's are ignored.
func decodeNaN(r *http.Request, v any) error {
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	return unmarshal(nanToNull(raw), v, false)
}

// nanToNull replaces the tokens NaN, Infinity and -Infinity outside strings
// with null.
func nanToNull(raw []byte) []byte {
	var out []byte // nil until a token is found
	inString, from := false, 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
			continue
		}
		for _, tok := range []string{"-Infinity", "Infinity", "NaN"} {
			if bytes.HasPrefix(raw[i:], []byte(tok)) {
				out = append(append(out, raw[from:i]...), "null"...)
				i += len(tok) - 1
				from = i + 1
				break
			}
		}
	}
	if out == nil {
		return raw
	}
	return append(out, raw[from:]...)
}

// readBody reads a request body (bounded: see bounded), refusing one that
// is not valid UTF-8 or escapes half a surrogate pair.
func readBody(r *http.Request) ([]byte, error) {
	raw, err := io.ReadAll(r.Body)
	var he *httpError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he), errors.As(err, &mbe), errors.Is(err, ErrBodies):
		return nil, err
	case err != nil:
		return nil, badRequest("reading the body: %v", err)
	case !utf8.Valid(raw):
		return nil, badRequest("the body is not valid UTF-8")
	case data.LoneSurrogate(raw):
		return nil, badRequest("the body escapes half a UTF-16 surrogate pair (\\ud800 without its pair): it would be read as U+FFFD, another text than the one sent")
	}
	return raw, nil
}

// unmarshal reads one JSON value into v; strict refuses fields v does not
// have.
func unmarshal(raw []byte, v any, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return badRequest("field %s: a JSON %s where another type belongs", te.Field, te.Value)
		case errors.Is(err, io.EOF):
			return badRequest("the body is empty; want a JSON object")
		}
		return badRequest("the body is not the JSON object expected: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("the body holds more than one JSON value")
	}
	return nil
}

// nonEmpty refuses an empty (or blank) prompt, as the readers do.
// timeoutError is a request not answered in its time: the timeout and
// the time its work was expected to take (Server.Deadline).
type timeoutError struct{ limit time.Duration }

func (e timeoutError) Error() string {
	return fmt.Sprintf("not answered within %s (--timeout, with the time the items queued ahead and its own were expected to take)", e.limit.Round(time.Millisecond))
}

func (e timeoutError) Unwrap() error { return context.DeadlineExceeded }

// nonEmpty refuses a prompt that is blank, or holds turn markers and no
// message (read as the server reads prompts).
func (s *Server) nonEmpty(field, prompt string) error {
	if strings.TrimSpace(prompt) == "" {
		return badRequest("field %s: is empty", field)
	}
	if data.EmptyConversation(prompt, s.f.PromptFormat()) {
		return badRequest("field %s: holds turn markers and no message", field)
	}
	return nil
}

func (s *Server) checkCount(field string, n int) error {
	if n == 0 {
		return badRequest("field %s: empty", field)
	}
	if n > s.opt.MaxItems {
		return badRequest("field %s: %d items; at most %d in one request (send several requests: they are batched together)", field, n, s.opt.MaxItems)
	}
	return nil
}

// score runs items with the request's context, bounded by the timeout, and
// names the head that scored them in X-Ser-Head.
//
// The timeout grows with the work queued ahead of the request and its own
// (Server.Deadline): a request of 2,048 items behind a full queue has the
// time its items take at the measured pace, on top of Options.Timeout.
// X-Ser-Conversation says how the items' prompts were written and in what
// form the backbone reads them (a head trained on the backbone's form sees
// every prompt in that form).
func (s *Server) score(w http.ResponseWriter, r *http.Request, items []Item) ([]float64, error) {
	limit := s.Deadline(len(items))
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(limit + 10*time.Second))
	ctx, cancel := context.WithTimeout(r.Context(), limit)
	defer cancel()
	count := s.sayConversation(w, items)
	rewards, h, err := s.Score(ctx, items)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil && r.Context().Err() == nil {
		err = timeoutError{limit}
	}
	if err == nil {
		w.Header().Set("X-Ser-Head", h.SHA256)
		for f, n := range count { // items scored, not those refused
			s.m.conversations.Add(float64(n), f)
		}
	}
	return rewards, err
}

// sayConversation names in X-Ser-Conversation the formats the items'
// prompts were read in (where a prompt did not parse in the format its
// start or --template named, plain: one user message), with the form the
// backbone writes them in: "backbone=hh; read=llama3:3,hh:1" means three
// prompts in Llama-3's chat format, read as conversations and written as
// HH-RLHF transcripts, and one already so. A backbone of the older form
// (a pair template, no conversation) takes prompts as they are: "as-is".
// It returns the counts, for the metric ser_conversation_items_total.
func (s *Server) sayConversation(w http.ResponseWriter, items []Item) map[string]int {
	count := map[string]int{}
	form := s.f.Manifest().Conversation
	for _, it := range items {
		f := "whole" // a query sent whole, for a joint head
		switch {
		case it.Joint != "":
		case form == "":
			f = "as-is"
		default:
			_, f = data.ParsePrompt(it.Prompt, s.f.PromptFormat())
		}
		count[f]++
	}
	var read []string
	for _, f := range sortedKeys(count) {
		read = append(read, fmt.Sprintf("%s:%d", f, count[f]))
	}
	if form == "" {
		form = "pair-template"
	}
	w.Header().Set("X-Ser-Conversation", fmt.Sprintf("backbone=%s; read=%s", form, strings.Join(read, ",")))
	return count
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// getRewardRequest is OpenRLHF's body. Pointers tell a null apart from an
// empty text; labels (which OpenRLHF sends and ser ignores) may hold NaN,
// which Python's json.dumps writes.
type getRewardRequest struct {
	Query   []*string       `json:"query"`
	Prompts []*string       `json:"prompts"`
	Labels  json.RawMessage `json:"labels"`
}

// getReward answers OpenRLHF's remote reward model protocol. Each query is
// a whole conversation; with prompts[i] a prefix of query[i] the response is
// the rest, else the query is split at its last AssistantMarker. A query
// that cannot be split goes whole to a joint head (it is the text the
// head's features are made of) and is refused by other heads.
func (s *Server) getReward(w http.ResponseWriter, r *http.Request) (any, error) {
	var req getRewardRequest
	if err := decodeNaN(r, &req); err != nil {
		return nil, err
	}
	if err := s.checkCount("query", len(req.Query)); err != nil {
		return nil, err
	}
	if req.Prompts != nil && len(req.Prompts) != len(req.Query) {
		return nil, badRequest("field prompts: %d prompts for %d queries", len(req.Prompts), len(req.Query))
	}
	for i, p := range req.Prompts {
		if p == nil {
			return nil, badRequest("field prompts[%d]: null; want the prompt's text", i)
		}
		if err := s.nonEmpty(fmt.Sprintf("prompts[%d]", i), *p); err != nil {
			return nil, err
		}
	}
	joint := s.head.Load().Features == "joint"
	items := make([]Item, len(req.Query))
	for i, qp := range req.Query {
		if qp == nil {
			return nil, badRequest("field query[%d]: null; want the conversation's text", i)
		}
		q := *qp
		if req.Prompts != nil && strings.HasPrefix(q, *req.Prompts[i]) {
			if response, ok := data.AfterPrompt(*req.Prompts[i], q[len(*req.Prompts[i]):]); ok {
				items[i] = Item{Prompt: *req.Prompts[i], Response: response}
				continue
			}
		}
		if prompt, response, _, ok := data.SplitConversation(q); ok {
			if err := s.nonEmpty(fmt.Sprintf("query[%d] (the conversation before its last assistant turn)", i), prompt); err != nil {
				return nil, err
			}
			items[i] = Item{Prompt: prompt, Response: response}
			continue
		}
		if !joint {
			if req.Prompts != nil {
				return nil, badRequest("field query[%d]: does not start with prompts[%d], and has no assistant turn (HH-RLHF, ChatML, Llama-3, Gemma) to split it at", i, i)
			}
			return nil, badRequest("field query[%d]: has no assistant turn (HH-RLHF's %q, ChatML, Llama-3, Gemma) to split it at; this head's features need the prompt apart from the response: send \"prompts\" too", i, AssistantMarker)
		}
		items[i] = Item{Joint: q}
	}
	rewards, err := s.score(w, r, items)
	if err != nil {
		return nil, err
	}
	return map[string][]float64{"rewards": rewards, "scores": rewards}, nil
}

type rewardRequest struct {
	Items []struct {
		Prompt   *string `json:"prompt"`
		Response *string `json:"response"`
	} `json:"items"`
	Pairs []struct {
		Prompt   *string `json:"prompt"`
		Chosen   *string `json:"chosen"`
		Rejected *string `json:"rejected"`
	} `json:"pairs"`
}

// PairReward is one pair's answer: both rewards and sigmoid(chosen -
// rejected), the probability that chosen is preferred under Bradley-Terry.
type PairReward struct {
	Chosen   float64 `json:"reward_chosen"`
	Rejected float64 `json:"reward_rejected"`
	PChosen  float64 `json:"p_chosen"`
}

func (s *Server) reward(w http.ResponseWriter, r *http.Request) (any, error) {
	var req rewardRequest
	if err := decode(r, &req, true); err != nil {
		return nil, err
	}
	if (req.Items == nil) == (req.Pairs == nil) {
		return nil, badRequest(`want one of "items" ([{prompt, response}]) or "pairs" ([{prompt, chosen, rejected}])`)
	}
	need := func(field string, i int, v *string) (string, error) {
		if v == nil {
			return "", badRequest("field %s: missing", fmt.Sprintf(field, i))
		}
		return *v, nil
	}
	var err error
	if req.Items != nil {
		if err := s.checkCount("items", len(req.Items)); err != nil {
			return nil, err
		}
		items := make([]Item, len(req.Items))
		for i, it := range req.Items {
			if items[i].Prompt, err = need("items[%d].prompt", i, it.Prompt); err != nil {
				return nil, err
			}
			if err := s.nonEmpty(fmt.Sprintf("items[%d].prompt", i), items[i].Prompt); err != nil {
				return nil, err
			}
			if items[i].Response, err = need("items[%d].response", i, it.Response); err != nil {
				return nil, err
			}
		}
		rewards, err := s.score(w, r, items)
		if err != nil {
			return nil, err
		}
		return map[string][]float64{"rewards": rewards}, nil
	}
	if err := s.checkCount("pairs", 2*len(req.Pairs)); err != nil {
		return nil, err
	}
	items := make([]Item, 2*len(req.Pairs))
	for i, p := range req.Pairs {
		prompt, err := need("pairs[%d].prompt", i, p.Prompt)
		if err != nil {
			return nil, err
		}
		if err := s.nonEmpty(fmt.Sprintf("pairs[%d].prompt", i), prompt); err != nil {
			return nil, err
		}
		items[2*i].Prompt, items[2*i+1].Prompt = prompt, prompt
		if items[2*i].Response, err = need("pairs[%d].chosen", i, p.Chosen); err != nil {
			return nil, err
		}
		if items[2*i+1].Response, err = need("pairs[%d].rejected", i, p.Rejected); err != nil {
			return nil, err
		}
	}
	rewards, err := s.score(w, r, items)
	if err != nil {
		return nil, err
	}
	out := make([]PairReward, len(req.Pairs))
	for i := range out {
		c, rj := rewards[2*i], rewards[2*i+1]
		out[i] = PairReward{Chosen: c, Rejected: rj, PChosen: 1 / (1 + math.Exp(rj-c))}
	}
	return map[string][]PairReward{"pairs": out}, nil
}

func (s *Server) healthz(http.ResponseWriter, *http.Request) (any, error) {
	if !s.ready.Load() {
		return nil, &httpError{http.StatusServiceUnavailable, "not ready: warming up or shutting down"}
	}
	h := s.head.Load()
	return map[string]string{"status": "ok", "backbone": h.Backbone.Name, "features": h.Features, "head": h.SHA256}, nil
}

func (s *Server) reload(w http.ResponseWriter, _ *http.Request) (any, error) {
	if err := s.Reload(); err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, ErrNoHeadFile) {
			code = http.StatusConflict // nothing to reload: not a fault
		}
		return nil, &httpError{code, "the head was not reloaded (the previous one serves on): " + err.Error()}
	}
	sha := s.head.Load().SHA256
	w.Header().Set("X-Ser-Head", sha)
	return map[string]string{"status": "reloaded", "head": sha}, nil
}

func (s *Server) metricsPage(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	s.m.reg.write(&b)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	w.Write(b.Bytes())
}
