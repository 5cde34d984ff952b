package label

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

type testServer struct {
	*httptest.Server
	s     *Server
	dir   string
	set   *Set
	token string
}

func newTestServer(t *testing.T, set *Set, o Options) *testServer {
	t.Helper()
	return newTestServerIn(t, set, o, t.TempDir())
}

// newTestServerIn is newTestServer on the answers folder dir.
func newTestServerIn(t *testing.T, set *Set, o Options, dir string) *testServer {
	t.Helper()
	o.Set, o.Store = set, openStore(t, dir)
	if o.Now == nil {
		var k int
		o.Now = func() time.Time { k++; return t0.Add(time.Duration(k) * 3 * time.Second) }
	}
	s, err := NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return &testServer{hs, s, dir, set, o.Token}
}

// do sends a request and returns the status and the body.
func (ts *testServer) do(t *testing.T, method, path, body string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == "POST" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-Ser-Label", "1")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (ts *testServer) ok(t *testing.T, method, path, body string, v any) {
	t.Helper()
	code, b := ts.do(t, method, path, body)
	if code != 200 {
		t.Fatalf("%s %s: %d %s", method, path, code, b)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(b), v); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

func answerJSONBody(name, id, a string) string {
	return fmt.Sprintf(`{"annotator":%q,"id":%q,"answer":%q}`, name, id, a)
}

// TestAPIBlind: nothing the server sends tells which response the source
// preferred, nor a head's rewards: a pair is its prompt and its two
// responses as shown, and the keys are fixed.
func TestAPIBlind(t *testing.T) {
	dir := t.TempDir()
	path := writeJSONL(t, filepath.Join(dir, "to-label.jsonl"),
		map[string]any{"prompt": "p0", "response_a": "a0", "response_b": "b0", "ask_id": "id0", "ask_rank": 0, "ask_first": "a",
			"source_chosen": "a", "reward_a": 3.25, "reward_b": -1.5, "p_a": 0.987654, "chosen": "a0", "rejected": "b0", "ask_score": 0.123456},
		map[string]any{"prompt": "p1", "response_a": "a1", "response_b": "b1", "ask_id": "id1", "ask_rank": 1, "ask_first": "b",
			"source_chosen": "b", "reward_a": 7.75, "reward_b": 2.5, "p_a": 0.111222})
	set, err := Load([]string{path}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, set, Options{Annotator: "alice"})
	var bodies []string
	get := func(method, path, body string) map[string]any {
		code, b := ts.do(t, method, path, body)
		if code != 200 {
			t.Fatalf("%s %s: %d %s", method, path, code, b)
		}
		bodies = append(bodies, b)
		var m map[string]any
		json.Unmarshal([]byte(b), &m)
		return m
	}
	for _, p := range []string{"/", "/app.js", "/style.css"} {
		get("GET", p, "")
	}
	for i := range 2 {
		m := get("GET", fmt.Sprintf("/api/pair?i=%d", i), "")
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if strings.Join(keys, ",") != "a,answer,b,i,id,note,prompt" {
			t.Fatalf("pair keys %v", keys)
		}
		get("POST", "/api/answer", answerJSONBody("", m["id"].(string), "A"))
	}
	get("GET", "/api/session", "")
	get("POST", "/api/undo", `{}`)
	get("POST", "/api/answer", answerJSONBody("", set.Pairs[1].ID, "B"))
	get("GET", "/api/stats", "")
	for _, b := range bodies {
		for _, leak := range []string{"source", "chosen", "rejected", "reward", "p_a", "3.25", "0.98765", "7.75", "id0", "ask_", "0.12345"} {
			if strings.Contains(b, leak) {
				t.Fatalf("a response holds %q:\n%s", leak, b)
			}
		}
	}
	// the sides follow ask_first: pair 1 shows b1 on the left
	var p pairJSON
	ts.ok(t, "GET", "/api/pair?i=1", "", &p)
	if p.A != "b1" || p.B != "a1" || p.Answer != "B" {
		t.Fatalf("pair 1 as shown: %+v", p)
	}
	// "B" as shown on pair 1 is response a: stored as a
	if r, _ := openLogT(t, ts.s.o.Store, "alice").Current(set.Pairs[1].ID); r.Answer != "a" {
		t.Fatalf("stored %q for B shown on the left-b pair, want a", r.Answer)
	}
}

// TestAPIHostile: what a hostile or broken client sends is refused with the
// field named, and nothing is written.
func TestAPIHostile(t *testing.T) {
	set := testSet(t, 3)
	ts := newTestServer(t, set, Options{})
	id := set.Pairs[0].ID
	cases := []struct {
		name, method, path, body string
		hdr                      []string
		code                     int
		want                     string
	}{
		{"huge body", "POST", "/api/answer", `{"annotator":"alice","id":"` + id + `","answer":"A","note":"` + strings.Repeat("x", 100<<10) + `"}`, nil, 413, "over 65536 bytes"},
		{"unknown id", "POST", "/api/answer", answerJSONBody("alice", "0123456789abcdef0123456789abcdef", "A"), nil, 404, `"field":"id"`},
		{"bad json", "POST", "/api/answer", `{"annotator":"alice",`, nil, 400, "ends early"},
		{"syntax", "POST", "/api/answer", `{"annotator" "alice"}`, nil, 400, "malformed JSON"},
		{"not an object", "POST", "/api/answer", `[1,2]`, nil, 400, "want an object"},
		{"empty", "POST", "/api/answer", ``, nil, 400, "empty body"},
		{"two objects", "POST", "/api/answer", answerJSONBody("alice", id, "A") + `{}`, nil, 400, "after the JSON object"},
		{"wrong type", "POST", "/api/answer", `{"annotator":"alice","id":5,"answer":"A"}`, nil, 400, `"field":"id"`},
		{"unknown field", "POST", "/api/answer", `{"annotator":"alice","id":"` + id + `","answer":"A","chosen":"a"}`, nil, 400, `"field":"chosen"`},
		{"missing answer", "POST", "/api/answer", `{"annotator":"alice","id":"` + id + `"}`, nil, 400, `"field":"answer"`},
		{"bad answer", "POST", "/api/answer", answerJSONBody("alice", id, "a"), nil, 400, `"field":"answer"`},
		{"long note", "POST", "/api/answer", `{"annotator":"alice","id":"` + id + `","answer":"A","note":"` + strings.Repeat("é", MaxNote+1) + `"}`, nil, 400, `"field":"note"`},
		{"name ../", "POST", "/api/answer", answerJSONBody("../etc", id, "A"), nil, 400, `"field":"annotator"`},
		{"name /", "GET", "/api/session?annotator=a%2Fb", "", nil, 400, `"field":"annotator"`},
		{"hidden name", "GET", "/api/pair?i=0&annotator=.x", "", nil, 400, `"field":"annotator"`},
		{"no name", "POST", "/api/answer", answerJSONBody("", id, "A"), nil, 400, `"field":"annotator"`},
		{"i out of range", "GET", "/api/pair?i=3&annotator=alice", "", nil, 404, `"field":"i"`},
		{"i not a number", "GET", "/api/pair?i=x&annotator=alice", "", nil, 404, `"field":"i"`},
		{"no content type", "POST", "/api/answer", answerJSONBody("alice", id, "A"), []string{"Content-Type", "text/plain"}, 415, "application/json"},
		{"other origin", "POST", "/api/answer", answerJSONBody("alice", id, "A"), []string{"Origin", "http://evil.example"}, 403, "another origin"},
		{"GET to answer", "GET", "/api/answer", "", nil, 405, ""},
		{"unknown path", "GET", "/etc/passwd", "", nil, 404, ""},
		{"dotdot path", "GET", "/../label.go", "", nil, 404, ""},
	}
	for _, c := range cases {
		code, b := ts.do(t, c.method, c.path, c.body, c.hdr...)
		if code != c.code || !strings.Contains(b, c.want) {
			t.Errorf("%s: %d %s, want %d %q", c.name, code, clip(b, 200), c.code, c.want)
		}
	}
	a, err := ReadAnswers(ts.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Rows()) != 0 {
		t.Fatalf("a refused request wrote %d answers", len(a.Rows()))
	}
	// no file for the names refused
	if m, _ := filepath.Glob(filepath.Join(ts.dir, "*.jsonl")); len(m) != 0 {
		t.Fatalf("files written: %v", m)
	}
}

// TestAPIToken: with a token (a server bound beyond the loopback) every
// request needs it, the page and its files too; the page hands it on.
func TestAPIToken(t *testing.T) {
	set := testSet(t, 2)
	tok := NewToken()
	ts := newTestServer(t, set, Options{Token: tok, Annotator: "alice"})
	for _, p := range []string{"/", "/app.js", "/style.css", "/api/session", "/api/pair?i=0", "/api/stats"} {
		if code, _ := ts.do(t, "GET", p, ""); code != 401 {
			t.Errorf("GET %s without the token: %d", p, code)
		}
		sep := "?"
		if strings.Contains(p, "?") {
			sep = "&"
		}
		if code, _ := ts.do(t, "GET", p+sep+"token=wrong", ""); code != 401 {
			t.Errorf("GET %s with a wrong token: %d", p, code)
		}
		if code, b := ts.do(t, "GET", p+sep+"token="+tok, ""); code != 200 {
			t.Errorf("GET %s with the token: %d %s", p, code, b)
		}
	}
	if code, _ := ts.do(t, "POST", "/api/answer", answerJSONBody("", set.Pairs[0].ID, "A")); code != 401 {
		t.Errorf("POST without the token: %d", code)
	}
	if code, b := ts.do(t, "POST", "/api/answer", answerJSONBody("", set.Pairs[0].ID, "A"), "X-Ser-Token", tok); code != 200 {
		t.Errorf("POST with the token header: %d %s", code, b)
	}
	_, page := ts.do(t, "GET", "/?token="+tok, "")
	if !strings.Contains(page, `content="`+tok+`"`) || !strings.Contains(page, `app.js?token=`+tok) {
		t.Fatalf("the page does not pass the token on:\n%s", page)
	}
	if NewToken() == tok || len(tok) < 32 {
		t.Fatal("tokens are not random")
	}
}

// TestAPILoopbackHosts: a server on the loopback answers only to loopback
// names, so a web page elsewhere cannot reach it by rebinding its DNS name.
func TestAPILoopbackHosts(t *testing.T) {
	ts := newTestServer(t, testSet(t, 1), Options{LoopbackHosts: true, Annotator: "alice"})
	for host, want := range map[string]int{"evil.example": 403, "evil.example:80": 403, "localhost": 200, "127.0.0.1:8080": 200, "[::1]:8080": 200, "127.5.5.5": 200} {
		if code, _ := ts.do(t, "GET", "/api/session", "", "Host", host); code != want {
			t.Errorf("Host %s: %d, want %d", host, code, want)
		}
	}
	for _, h := range []string{"127.0.0.1", "::1", "localhost", "127.1.2.3"} {
		if !IsLoopback(h) {
			t.Errorf("%s not loopback", h)
		}
	}
	for _, h := range []string{"", "0.0.0.0", "::", "10.0.0.1", "example.com", "localhost.example.com"} {
		if IsLoopback(h) {
			t.Errorf("%s taken for loopback", h)
		}
	}
}

// TestAPIHeaders: the page is served with a policy that runs only its own
// script file and no inline code.
func TestAPIHeaders(t *testing.T) {
	ts := newTestServer(t, testSet(t, 1), Options{})
	res, err := http.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	csp := res.Header.Get("Content-Security-Policy")
	for _, w := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, w) {
			t.Errorf("CSP %q lacks %q", csp, w)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP allows unsafe code: %q", csp)
	}
	if res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
	html, _ := web.ReadFile("web/index.html")
	js, _ := web.ReadFile("web/app.js")
	if strings.Contains(string(html), "<script>") || strings.Contains(string(html), "style=") || strings.Contains(string(html), "onclick") {
		t.Error("inline script or style in the page")
	}
	if strings.Contains(string(js), "innerHTML") || strings.Contains(string(js), "insertAdjacentHTML") || strings.Contains(string(js), "document.write") {
		t.Error("app.js builds HTML from strings")
	}
}

// TestAPIFlow: answers, changes, undo, progress, and the agreement figures,
// which show only once the annotator has answered every pair, computed on
// the answers as they stood then.
func TestAPIFlow(t *testing.T) {
	set := testSet(t, 4)
	ts := newTestServer(t, set, Options{})
	var s sessionJSON
	ts.ok(t, "GET", "/api/session", "", &s)
	if !s.NeedName || s.Total != 4 {
		t.Fatalf("no name: %+v", s)
	}
	ts.ok(t, "GET", "/api/session?annotator=alice", "", &s)
	if s.Done != 0 || s.Next != 0 || s.States != "...." {
		t.Fatalf("start: %+v", s)
	}
	// alice prefers the source's response on all but the last pair
	good := func(i int) string { // the side "good i" is shown on
		if set.Pairs[i].First == "a" {
			return "A"
		}
		return "B"
	}
	bad := func(i int) string { return map[string]string{"A": "B", "B": "A"}[good(i)] }
	var st statsJSON
	for i := 0; i < 3; i++ {
		ts.ok(t, "POST", "/api/answer", answerJSONBody("alice", set.Pairs[i].ID, good(i)), &s)
		ts.ok(t, "GET", "/api/stats?annotator=alice", "", &st)
		if st.Finished || st.Others != nil {
			t.Fatalf("figures before the end: %+v", st)
		}
	}
	if s.Done != 3 || s.Next != 3 || s.Rate == nil || *s.Rate != 20 || s.Left == nil || *s.Left != 3 {
		t.Fatalf("progress: %+v (answers 3 s apart: 20 a minute, 3 s left)", s)
	}
	var u undoJSONOut
	ts.ok(t, "POST", "/api/undo", `{"annotator":"alice"}`, &u)
	if u.Undone == nil || *u.Undone != 2 || u.Done != 2 {
		t.Fatalf("undo: %+v", u)
	}
	ts.ok(t, "POST", "/api/answer", answerJSONBody("alice", set.Pairs[2].ID, good(2)), &s)
	ts.ok(t, "POST", "/api/answer", answerJSONBody("alice", set.Pairs[3].ID, bad(3)), &s)
	if s.Done != 4 || s.Next != -1 || !s.Finished {
		t.Fatalf("finished: %+v", s)
	}
	var raw map[string]any
	ts.ok(t, "GET", "/api/stats?annotator=alice", "", &raw)
	if raw["finished"] != true || len(raw) > 2 {
		// agreement with the source's labels is never served: a figure of 0%
		// or 100% would tell every label (before, it was shown once finished)
		t.Fatalf("figures at the end: %v (want finished, and agreement with other annotators only)", raw)
	}
	// bob, on the same server, writes his own file; agreement with alice shows once he is done
	for i := 0; i < 4; i++ {
		ts.ok(t, "POST", "/api/answer", answerJSONBody("bob", set.Pairs[i].ID, good(i)), &s)
	}
	ts.ok(t, "GET", "/api/stats?annotator=bob", "", &st)
	if len(st.Others) != 1 || st.Others[0].Annotator != "alice" || st.Others[0].N != 4 || st.Others[0].Percent != 75 {
		t.Fatalf("bob's figures: %+v", st)
	}
	for _, name := range []string{"alice", "bob"} {
		recs, err := ReadLog(filepath.Join(ts.dir, name+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Annotator != name {
				t.Fatalf("%s's file holds %s's record", name, r.Annotator)
			}
		}
	}
}

// TestAPIFixedAnnotator: a server started for one annotator writes no other.
func TestAPIFixedAnnotator(t *testing.T) {
	set := testSet(t, 2)
	ts := newTestServer(t, set, Options{Annotator: "alice"})
	if code, b := ts.do(t, "POST", "/api/answer", answerJSONBody("mallory", set.Pairs[0].ID, "A")); code != 403 {
		t.Fatalf("another name: %d %s", code, b)
	}
	var s sessionJSON
	ts.ok(t, "GET", "/api/session", "", &s)
	if s.Annotator != "alice" || !s.Fixed || s.NeedName {
		t.Fatalf("%+v", s)
	}
	if _, err := NewServer(Options{Set: set, Store: ts.s.o.Store, Annotator: "../x"}); err == nil {
		t.Fatal("a server for the annotator ../x")
	}
}

// TestAPILocked: a name another process is labelling under is refused with
// 409, and no record is written.
func TestAPILocked(t *testing.T) {
	set := testSet(t, 2)
	ts := newTestServer(t, set, Options{})
	other := openStore(t, ts.dir) // as another process would
	openLogT(t, other, "alice")
	code, b := ts.do(t, "POST", "/api/answer", answerJSONBody("alice", set.Pairs[0].ID, "A"))
	if code != 409 || !strings.Contains(b, "another") {
		t.Fatalf("%d %s", code, b)
	}
}

// TestRate: the pace counts the latest run of answers only.
func TestRate(t *testing.T) {
	at := func(secs ...int) []time.Time {
		var out []time.Time
		for _, s := range secs {
			out = append(out, t0.Add(time.Duration(s)*time.Second))
		}
		return out
	}
	if _, ok := ratePerMinute(at(0, 1)); ok {
		t.Fatal("a pace from two answers")
	}
	if r, _ := ratePerMinute(at(0, 6, 12, 18)); r != 10 {
		t.Fatalf("%v, want 10 a minute", r)
	}
	// a lunch break: only the run after it counts
	if r, _ := ratePerMinute(at(0, 1, 2, 3, 3600, 3606, 3612)); r != 10 {
		t.Fatalf("after a break: %v, want 10", r)
	}
}

// TestAPICrossSite: a page on another site can make the browser send simple
// requests (an <img>, a form) to the server; without the page's header they
// do nothing, not even open a log.
func TestAPICrossSite(t *testing.T) {
	set := testSet(t, 2)
	ts := newTestServer(t, set, Options{})
	for _, path := range []string{"/api/session?annotator=eve", "/api/pair?i=0&annotator=eve", "/api/stats?annotator=eve"} {
		res, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 403 {
			t.Errorf("GET %s without the header: %d", path, res.StatusCode)
		}
	}
	res, err := http.Post(ts.URL+"/api/answer", "application/json", strings.NewReader(answerJSONBody("eve", set.Pairs[0].ID, "A")))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 403 {
		t.Errorf("POST without the header: %d", res.StatusCode)
	}
	if m, _ := filepath.Glob(filepath.Join(ts.dir, "*.jsonl")); len(m) != 0 {
		t.Fatalf("files written: %v", m)
	}
}

// TestAPIManyNames: one process holds a bounded number of logs open; only
// an answer opens one (before, any GET naming an annotator made a log and
// took a name: 256 GETs locked everyone out).
func TestAPIManyNames(t *testing.T) {
	set := testSet(t, 1)
	ts := newTestServer(t, set, Options{})
	for i := 0; i < 2*MaxAnnotators; i++ {
		if code, b := ts.do(t, "GET", fmt.Sprintf("/api/session?annotator=g%d", i), ""); code != 200 {
			t.Fatalf("a read for name %d: %d %s", i, code, b)
		}
	}
	if entries, _ := os.ReadDir(ts.dir); len(entries) != 1 { // the marker alone
		t.Fatalf("reads made %d files", len(entries)-1)
	}
	for i := 0; i < MaxAnnotators; i++ {
		if code, b := ts.do(t, "POST", "/api/answer", answerJSONBody(fmt.Sprintf("n%d", i), set.Pairs[0].ID, "A")); code != 200 {
			t.Fatalf("name %d: %d %s", i, code, b)
		}
	}
	if code, b := ts.do(t, "POST", "/api/answer", answerJSONBody("one-too-many", set.Pairs[0].ID, "A")); code != 503 || !strings.Contains(b, "too many annotators") {
		t.Fatalf("beyond the bound: %d %s", code, b)
	}
	if code, _ := ts.do(t, "GET", "/api/session?annotator=n7", ""); code != 200 {
		t.Fatal("an open log refused")
	}
}

// BenchmarkStoreAnswer: one answer appended and fsynced.
func BenchmarkStoreAnswer(b *testing.B) {
	set := testSet(b, 64)
	l := openLogT(b, openStore(b, b.TempDir()), "alice")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Answer(&set.Pairs[i%64], AnswerA, "", t0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "answers/s")
}

// BenchmarkAPIAnswer: what the page asks of the server per answer, over
// HTTP: the answer (saved and fsynced) and the next pair.
func BenchmarkAPIAnswer(b *testing.B) {
	set := testSet(b, 1000)
	store := openStore(b, b.TempDir())
	s, err := NewServer(Options{Set: set, Store: store, Annotator: "alice"})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(s)
	defer hs.Close()
	post := func(body string) {
		req, _ := http.NewRequest("POST", hs.URL+"/api/answer", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Ser-Label", "1")
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			b.Fatal(err, res.StatusCode)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	get := func(path string) {
		req, _ := http.NewRequest("GET", hs.URL+path, nil)
		req.Header.Set("X-Ser-Label", "1")
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		post(answerJSONBody("", set.Pairs[i%1000].ID, "A"))
		get(fmt.Sprintf("/api/pair?i=%d", (i+1)%1000))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "answers/s")
}
