package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/label"
	"github.com/ser-rl/ser/label/labeltest"
)

// syncBuffer is a buffer a process's stderr is copied into while tests read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// labelProc is a `ser label` process.
type labelProc struct {
	cmd    *exec.Cmd
	url    string
	stderr *syncBuffer
	done   chan struct{} // closed once the process has ended
	err    error         // how it ended
}

// wait waits for the process to end and returns how it ended.
func (p *labelProc) wait() error {
	<-p.done
	return p.err
}

var urlRE = regexp.MustCompile(`http://\S+`)

// startLabel runs `ser label ARGS...` as a process and waits for the URL it
// prints; the process is killed at the test's end if still running.
func startLabel(t *testing.T, args ...string) *labelProc {
	t.Helper()
	p, err := tryLabel(args...)
	if err != nil {
		t.Fatalf("ser label %s: %v", strings.Join(args, " "), err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.wait() })
	return p
}

// tryLabel starts `ser label ARGS...` and returns once it prints its URL,
// or with its error if it ends first.
func tryLabel(args ...string) (*labelProc, error) {
	cmd := exec.Command(serBin, append([]string{"label"}, args...)...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &labelProc{cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.Write([]byte(line + "\n"))
			if u := urlRE.FindString(line); u != "" && strings.HasPrefix(line, "labelling") {
				select {
				case found <- u:
				default:
				}
			}
		}
		io.Copy(io.Discard, pipe)
		p.err = cmd.Wait()
		close(p.done)
	}()
	select {
	case p.url = <-found:
		return p, nil
	case <-p.done:
		return p, fmt.Errorf("ended before serving (%v): %s", p.err, p.stderr.String())
	case <-time.After(2 * time.Minute): // a guard against a hang, not a timing assertion
		cmd.Process.Kill()
		return nil, fmt.Errorf("no URL printed: %s", p.stderr.String())
	}
}

// toLabel writes n pairs as `ser ask --keep-labels` writes them: blind
// order (response_a the source's choice or not, by a coin), the head's
// opinion and the source's label (source_chosen), which the page must not
// show; ask_rank the reverse of the file order.
func toLabel(t *testing.T, dir string, n int) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < n; i++ {
		good, bad := fmt.Sprintf("A careful, correct answer to question %d.\nWith a second line.", i), fmt.Sprintf("a sloppy answer %d", i)
		a, bb, src := good, bad, "a"
		if i%3 == 1 {
			a, bb, src = bad, good, "b"
		}
		row := map[string]any{"prompt": fmt.Sprintf("Question %d: how?", i), "response_a": a, "response_b": bb, "id": fmt.Sprintf("r%d", i),
			"ask_id": fmt.Sprintf("r%d", i), "ask_rank": n - 1 - i, "ask_first": []string{"a", "b"}[i%2], "ask_rule": "dopt", "ask_score": 0.5,
			"reward_a": 1.25, "reward_b": -0.75, "p_a": 0.88, "source_chosen": src}
		j, _ := json.Marshal(row)
		b.Write(j)
		b.WriteByte('\n')
	}
	path := filepath.Join(dir, "to-label.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// goodKey is the key preferring the source's response of the pair shown,
// after checking the page shows that pair's texts.
func goodKey(t *testing.T, set *label.Set, s labeltest.Shown) string {
	t.Helper()
	i := set.Index(s.ID)
	if i < 0 || i != s.Index {
		t.Fatalf("the page shows pair %d with id %s (pair %d)", s.Index, s.ID, i)
	}
	p := set.Pairs[i]
	left, right := p.Shown()
	flat := func(s string) string { return strings.ReplaceAll(s, "\n", "") }
	if flat(s.Prompt) != flat(p.Prompt) || flat(s.A) != flat(left) || flat(s.B) != flat(right) {
		t.Fatalf("pair %d shown as %q | %q, want %q | %q", i, s.A, s.B, left, right)
	}
	if (left == p.A) == (p.Source == "a") {
		return "1"
	}
	return "2"
}

// labelPairs answers pairs on the page until done answers are saved, each
// with the source's preference (keys[k], when given, for the k-th answer
// of this call instead).
func labelPairs(t *testing.T, ctx context.Context, set *label.Set, done int, keys map[int]string) int {
	t.Helper()
	for k := 0; ; k++ {
		s := labeltest.Read(t, ctx)
		if s.Done >= done {
			return s.Done
		}
		key := goodKey(t, set, s)
		if kk, ok := keys[k]; ok {
			key = kk
		}
		labeltest.Run(t, ctx, labeltest.Key(key), labeltest.WaitDone(s.Done+1))
	}
}

// TestLabelKilled labels through the page of a `ser label` process, kills
// it with SIGKILL as an answer goes out, leaves a torn half record at the
// end of the log (what a crash mid-write would), and starts it again: every
// answer the page had confirmed is there, the torn line is cut, the page
// says the answer in flight was not saved and carries on once the server is
// back, and a reload resumes at the first pair open. A second process for
// the same annotator is refused; one for another annotator runs beside it.
// Then the export: majority rows, ties and skips counted, agreement with
// the source labels.
func TestLabelKilled(t *testing.T) {
	ctx := labeltest.Browser(t)
	dir := t.TempDir()
	in := toLabel(t, dir, 12)
	ans := filepath.Join(dir, "answers")
	set, err := label.Load([]string{in}, label.LoadOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := startLabel(t, "--in", in, "--out", ans, "--addr", "127.0.0.1:0", "--annotator", "alice")
	w := labeltest.WatchTab(ctx)
	labeltest.Run(t, ctx, chromedp.Navigate(p.url), labeltest.WaitShown(0))
	if s := labeltest.Read(t, ctx); s.Prompt != "Question 11: how?" {
		t.Fatalf("the first pair shown is %q, not ask_rank 0's", s.Prompt)
	}
	// five answers (one tie, one skip), each confirmed by the page
	labelPairs(t, ctx, set, 5, map[int]string{1: "t", 2: "s"})
	confirmed := labeltest.Eval[[]string](t, ctx, `[]`) // ids of the answers confirmed
	before := readAnswers(t, ans)
	for id := range before {
		confirmed = append(confirmed, id)
	}
	if len(confirmed) != 5 {
		t.Fatalf("%d answers on disk after 5 confirmed", len(confirmed))
	}
	// an answer goes out, and the server is killed as it does
	s := labeltest.Read(t, ctx)
	labeltest.Run(t, ctx, labeltest.Key(goodKey(t, set, s)))
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait()
	labeltest.Run(t, ctx, labeltest.WaitReady())
	after := readAnswers(t, ans)
	for _, id := range confirmed {
		if _, ok := after[id]; !ok {
			t.Fatalf("a confirmed answer is lost after the kill: %s", id)
		}
	}
	inFlight := len(after) - len(before) // 0 or 1: the answer in flight, saved or not
	if inFlight < 0 || inFlight > 1 {
		t.Fatalf("%d answers after the kill, %d before", len(after), len(before))
	}
	t.Logf("the answer in flight at the kill was %s", map[int]string{0: "lost (never confirmed)", 1: "saved before the kill"}[inFlight])
	// with the server gone the page says so and keeps the pair
	s = labeltest.Read(t, ctx)
	labeltest.Run(t, ctx, labeltest.Key(goodKey(t, set, s)), chromedp.Poll[chromedp.Void](`document.getElementById('status').classList.contains('error') && document.body.dataset.state === 'ready'`))
	if got := labeltest.Read(t, ctx); got.ID != s.ID {
		t.Fatal("the page moved on with an answer not saved")
	}
	// a crash mid-write leaves half a record: cut on the next start
	log := filepath.Join(ans, "alice.jsonl")
	f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"seq":99,"time":"2026-11-29T12:00:00Z","annotator":"alice","id":"`)
	f.Close()
	port := p.url[strings.LastIndex(p.url, ":")+1 : len(p.url)-1]
	p = startLabel(t, "--in", in, "--out", ans, "--addr", "127.0.0.1:"+port, "--annotator", "alice")
	if !strings.Contains(p.stderr.String(), "cut a torn last line") {
		t.Fatalf("no word of the torn line: %s", p.stderr.String())
	}
	wantDone := len(after)
	if !strings.Contains(p.stderr.String(), fmt.Sprintf("annotator alice, %d of 12 answered", wantDone)) {
		t.Fatalf("the restart does not say where alice stands: %s", p.stderr.String())
	}
	// the page carries on where it was: the answer again, now saved (a new
	// answer, or, when the kill came after the answer in flight was saved but
	// before the page heard so, the same answer again)
	if _, saved := after[s.ID]; !saved {
		wantDone++
	}
	labeltest.Run(t, ctx, labeltest.Key(goodKey(t, set, s)), labeltest.WaitDone(wantDone),
		chromedp.Poll[chromedp.Void](`!document.getElementById('status').classList.contains('error')`))
	// a reload resumes at the first pair open
	labeltest.Run(t, ctx, chromedp.Reload(), labeltest.WaitReady())
	if r := labeltest.Read(t, ctx); r.Answer != "" || r.Done != wantDone || len(readAnswers(t, ans)) != wantDone {
		t.Fatalf("after a reload: %+v, want %d done and a pair open", r, wantDone)
	}

	// a second process for alice is refused; one for bob runs beside it, and stops on SIGTERM
	if q, err := tryLabel("--in", in, "--out", ans, "--addr", "127.0.0.1:0", "--annotator", "alice"); err == nil {
		q.cmd.Process.Kill()
		t.Fatal("two processes write alice's answers")
	} else if !strings.Contains(err.Error(), "another ser label") {
		t.Fatalf("second alice: %v", err)
	}
	bob := startLabel(t, "--in", in, "--out", ans, "--addr", "127.0.0.1:0", "--annotator", "bob")
	bobTab := labeltest.Tab(t, ctx)
	labeltest.Run(t, bobTab, chromedp.Navigate(bob.url), labeltest.WaitShown(0))
	labelPairs(t, bobTab, set, 3, map[int]string{0: "t"}) // bob ties the first pair, then as the source
	bob.cmd.Process.Signal(syscall.SIGTERM)
	if err := bob.wait(); err != nil {
		t.Fatalf("bob's server on SIGTERM: %v: %s", err, bob.stderr.String())
	}

	// alice finishes; her page then shows her agreement with bob, never with
	// the source labels (a figure of 0% or 100% would tell her every label)
	labelPairs(t, ctx, set, 12, nil)
	labeltest.Run(t, ctx, chromedp.Poll[chromedp.Void](`document.getElementById('results').textContent.includes('Agreement with bob')`))
	res := labeltest.Eval[string](t, ctx, `document.getElementById('results').textContent`)
	if strings.Contains(res, "% of 10 pairs") || !strings.Contains(res, "Agreement with bob: 0.0% of 2 pairs") {
		t.Fatalf("alice's figures: %s", res)
	}
	if p := w.Problems(); len(p) == 0 {
		t.Log("the console said nothing of the dead server") // it usually logs the failed request
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(); err != nil {
		t.Fatalf("alice's server on SIGTERM: %v", err)
	}
	recs, err := label.ReadLog(log)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(log); !bytes.HasSuffix(b, []byte("}\n")) || bytes.Count(b, []byte("\n")) != len(recs) {
		t.Fatal("the log is not whole records, one a line")
	}

	// export. alice: pair 0 as the source, 1 a tie, 2 skipped, 3 to 11 as
	// the source; bob: 0 a tie, 1 and 2 as the source. Pairs 0 and 1: one
	// vote for a response, one tie: no majority, a tie; 2: one vote (and a
	// skip); 3 to 11: one vote each.
	home := t.TempDir()
	out, errb, err := run(t, home, "label", "export", "--out", ans, "--stats")
	if err != nil {
		t.Fatal(err, errb)
	}
	rows := strings.Split(strings.TrimSpace(out), "\n")
	if len(rows) != 10 {
		t.Fatalf("%d rows exported, want 10:\n%s\n%s", len(rows), out, errb)
	}
	for _, w := range []string{"pairs answered: 12", "ties: 2", "skipped by all: 0", "alice / bob", "majority against the source labels: 100.0% of 10"} {
		if !strings.Contains(errb, w) {
			t.Errorf("--stats lacks %q:\n%s", w, errb)
		}
	}
	for _, row := range rows {
		var r struct {
			Prompt, Chosen, Rejected string
			Votes                    label.Votes
		}
		if err := json.Unmarshal([]byte(row), &r); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(r.Chosen, "A careful") || r.Votes.Chosen < 1 {
			t.Fatalf("row %s", row)
		}
	}
	out, _, err = run(t, home, "label", "export", "--out", ans, "--ties")
	if err != nil || strings.Count(out, "\n") != 12 || strings.Count(out, `"score_chosen":0.5`) != 2 {
		t.Fatalf("--ties: %v\n%s", err, out)
	}
}

// readAnswers reads alice's answers in force from the folder.
func readAnswers(t *testing.T, dir string) map[string]label.Record {
	t.Helper()
	a, err := label.ReadAnswers(dir)
	if err != nil {
		t.Fatal(err)
	}
	return a.Final["alice"]
}

// TestLabelToken: bound beyond the loopback, `ser label` prints a URL with
// a random token once, and every request without it is refused.
func TestLabelToken(t *testing.T) {
	dir := t.TempDir()
	in := toLabel(t, dir, 3)
	p := startLabel(t, "--in", in, "--out", filepath.Join(dir, "answers"), "--addr", "0.0.0.0:0", "--annotator", "alice")
	u, err := url.Parse(p.url)
	if err != nil {
		t.Fatal(err)
	}
	tok := u.Query().Get("token")
	if len(tok) < 32 {
		t.Fatalf("no token in %s", p.url)
	}
	if strings.Count(p.stderr.String(), tok) != 1 {
		t.Fatalf("the token is printed more than once: %s", p.stderr.String())
	}
	base := "http://127.0.0.1:" + u.Port()
	get := func(path string, hdr ...string) int {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("X-Ser-Label", "1")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, path := range []string{"/", "/app.js", "/api/session", "/api/pair?i=0"} {
		if code := get(path); code != 401 {
			t.Errorf("%s without the token: %d", path, code)
		}
		if code := get(path, "X-Ser-Token", tok); code != 200 {
			t.Errorf("%s with the token: %d", path, code)
		}
	}
	if code := get("/?token=" + tok); code != 200 {
		t.Errorf("the printed URL: %d", code)
	}
	// on the loopback no token is asked, and other Host names are refused
	q := startLabel(t, "--in", in, "--out", filepath.Join(dir, "answers2"), "--addr", "127.0.0.1:0", "--annotator", "bob")
	if strings.Contains(q.url, "token") {
		t.Fatalf("a token on the loopback: %s", q.url)
	}
	req, _ := http.NewRequest("GET", q.url+"api/session", nil)
	req.Header.Set("X-Ser-Label", "1")
	req.Host = "attacker.example"
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 403 {
		t.Fatalf("a rebound Host: %d", res.StatusCode)
	}
}

// TestLabelFlags: what `ser label` refuses before serving, naming the fault.
func TestLabelFlags(t *testing.T) {
	dir := t.TempDir()
	home := t.TempDir()
	in := toLabel(t, dir, 3)
	ans := filepath.Join(dir, "answers")
	dataDir := filepath.Join(dir, "data")
	os.MkdirAll(dataDir, 0o755)
	os.WriteFile(filepath.Join(dataDir, "train.jsonl"), []byte(`{"prompt":"p","chosen":"a","rejected":"b"}`+"\n"), 0o644)
	inside := filepath.Join(ans, "pairs.jsonl")
	os.MkdirAll(ans, 0o755)
	os.WriteFile(inside, []byte(`{"prompt":"p","response_a":"a","response_b":"b"}`+"\n"), 0o644)
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(`{"prompt":"p","response_a":"a","response_b":"b"}`+"\n"+`{"prompt":"q","response_a":"a","response_b":"b","ask_first":"left"}`+"\n"), 0o644)
	weird := filepath.Join(dir, "weird.jsonl")
	os.WriteFile(weird, []byte(`{"question":"p"}`+"\n"), 0o644)
	gz := filepath.Join(dir, "broken.jsonl.gz")
	os.WriteFile(gz, []byte("\x1f\x8bnot gzip at all"), 0o644)
	fifo := filepath.Join(dir, "fifo.jsonl")
	syscall.Mkfifo(fifo, 0o644)
	long := filepath.Join(dir, "long.jsonl")
	os.WriteFile(long, []byte(`{"prompt":"`+strings.Repeat("x", 2<<20)+`","response_a":"a","response_b":"b"}`+"\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"label", "--in", dataDir, "--out", filepath.Join(dir, "a5")}, "not a regular file"},
		{[]string{"label", "--in", fifo, "--out", filepath.Join(dir, "a5")}, "not a regular file"},
		{[]string{"label", "--in", gz, "--out", filepath.Join(dir, "a5")}, "broken.jsonl.gz"},
		{[]string{"label", "--in", long, "--out", filepath.Join(dir, "a5"), "--max-line-mb", "1"}, "long.jsonl:1"},
		{[]string{"label", "--in", filepath.Join(dir, "missing.jsonl"), "--out", filepath.Join(dir, "a5")}, "missing.jsonl"},
		{[]string{"label"}, "--in is required"},
		{[]string{"label", "--in", in}, "--out is required"},
		{[]string{"label", "--in", inside, "--out", ans}, "inside the answers folder"},
		{[]string{"label", "--in", in, "--out", ans, "--annotator", "../../etc/passwd"}, "annotator name"},
		{[]string{"label", "--in", in, "--out", dataDir}, "not an answers folder"},
		{[]string{"label", "--in", in, "--out", in}, "not a folder"},
		{[]string{"label", "--in", bad, "--out", filepath.Join(dir, "a2")}, `bad.jsonl:2: field "ask_first"`},
		{[]string{"label", "--in", weird, "--out", filepath.Join(dir, "a3")}, "--format"},
		{[]string{"label", "--in", in, "--out", filepath.Join(dir, "a4"), "--addr", "nonsense"}, "--addr nonsense"},
		{[]string{"label", "export"}, "--out is required"},
		{[]string{"label", "export", "--out", dataDir}, "not an answers folder"},
		{[]string{"label", "export", "--out", filepath.Join(dir, "none")}, "not an answers folder"},
	} {
		_, errb, err := ser(t, home, c.args...)
		if err == nil || !strings.Contains(errb, c.want) {
			t.Errorf("ser %s: %v, want %q:\n%s", strings.Join(c.args, " "), err, c.want, errb)
		}
	}
	// an export never replaces an answers file
	ok := filepath.Join(dir, "ok")
	st, err := label.OpenStore(ok)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, to := range []string{filepath.Join(ok, "alice.jsonl"), filepath.Join(ok, "x.jsonl")} {
		if _, errb, err := ser(t, home, "label", "export", "--out", ok, "--to", to); err == nil || !strings.Contains(errb, "inside the answers folder") {
			t.Errorf("--to %s: %v %s", to, err, errb)
		}
	}
}

// TestLabelAskToRetrained is the README's walk-through, with a person's
// answers given through the page: ser ask (blind rows), ser label, ser label
// export, ser train on the seed and the answers (the export, or the answers
// folder itself), and ser eval on held-out pairs.
func TestLabelAskToRetrained(t *testing.T) {
	home := testenv.Home(t)
	ctx := labeltest.Browser(t)
	dir := t.TempDir()
	seed := sampleFile(t, filepath.Join(dir, "seed"), 60, 1)
	pool := sampleFile(t, filepath.Join(dir, "pool"), 150, 2)
	test := sampleFile(t, filepath.Join(dir, "test"), 100, 3)
	cache, rm := trainedHead(t, home, dir, seed)
	toLabel := filepath.Join(dir, "to-label.jsonl")
	if _, errb, err := ser(t, home, "-q", "ask", "--head", rm, "--cache", cache, "--pool", pool, "-n", "20", "--keep-labels", "--out", toLabel); err != nil {
		t.Fatal(errb)
	}
	set, err := label.Load([]string{toLabel}, label.LoadOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ans := filepath.Join(dir, "answers")
	p := startLabel(t, "--in", toLabel, "--out", ans, "--addr", "127.0.0.1:0", "--annotator", "alice")
	labeltest.Run(t, ctx, chromedp.Navigate(p.url), labeltest.WaitShown(0))
	labelPairs(t, ctx, set, len(set.Pairs), nil)
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(); err != nil {
		t.Fatal(err)
	}

	labelled := filepath.Join(dir, "labelled.jsonl")
	_, errb, err := ser(t, home, "label", "export", "--out", ans, "--to", labelled, "--stats")
	if err != nil {
		t.Fatal(errb)
	}
	if !strings.Contains(errb, fmt.Sprintf("100.0%% of %d", len(set.Pairs))) {
		t.Fatalf("agreement with the source labels:\n%s", errb)
	}
	heads := map[string][]string{
		"rm2.head": {"--data", seed, "--data", labelled},
		"rm3.head": {"--data", seed, "--data", ans},
	}
	for name, data := range heads {
		args := append([]string{"train", "--cache", cache, "--out", filepath.Join(dir, name)}, data...)
		_, errb, err := ser(t, home, args...)
		if err != nil {
			t.Fatalf("ser %s: %s", strings.Join(args, " "), errb)
		}
		if name == "rm3.head" && !strings.Contains(errb, fmt.Sprintf("%d pairs by majority vote of 1 annotator", len(set.Pairs))) {
			t.Fatalf("train --data %s says nothing of the answers:\n%s", ans, errb)
		}
	}
	for _, name := range []string{"rm.head", "rm2.head", "rm3.head"} {
		js := filepath.Join(dir, name+".eval.json")
		if _, errb, err := ser(t, home, "-q", "eval", "--head", filepath.Join(dir, name), "--cache", cache, "--data", test, "--json", js); err != nil {
			t.Fatal(errb)
		}
		var ev struct {
			Accuracy float64
			N        int
		}
		b, _ := os.ReadFile(js)
		json.Unmarshal(b, &ev)
		if ev.N == 0 {
			t.Fatalf("%s: no eval: %s", name, b)
		}
		t.Logf("%s: accuracy %.3f on %d held-out pairs", name, ev.Accuracy, ev.N)
	}
}

// TestLabelTrainFolder: ser train reads an answers folder by majority vote;
// one with no majority yet, or with a damaged log, is an error that says so.
func TestLabelTrainFolder(t *testing.T) {
	home := testenv.Home(t)
	dir := t.TempDir()
	ans := filepath.Join(dir, "answers")
	st, err := label.OpenStore(ans)
	if err != nil {
		t.Fatal(err)
	}
	var ps []label.Pair
	for i := 0; i < 6; i++ {
		ps = append(ps, label.Pair{Prompt: fmt.Sprintf("How do I %s?", words[i]), A: "a clear answer about " + words[i], B: "no idea", Source: "a"})
	}
	set, err := label.NewSet(ps, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	l, err := st.Log("alice")
	if err != nil {
		t.Fatal(err)
	}
	for i := range set.Pairs {
		l.Answer(&set.Pairs[i], label.AnswerTie, "", time.Now())
	}
	st.Close()
	out := filepath.Join(dir, "rm.head")
	_, errb, err := ser(t, home, "train", "--data", ans, "--cache", filepath.Join(dir, "c.feat"), "--out", out)
	if err == nil || !strings.Contains(errb, "no pair has a majority for one response yet (6 answered by 1 annotator: 6 ties") {
		t.Fatalf("a folder of ties: %v\n%s", err, errb)
	}
	os.WriteFile(filepath.Join(ans, "bob.jsonl"), []byte("{\"seq\": 1}\n{}\n"), 0o644)
	_, errb, err = ser(t, home, "train", "--data", ans, "--cache", filepath.Join(dir, "c.feat"), "--out", out)
	if err == nil || !strings.Contains(errb, "bob.jsonl:1: field \"time\"") {
		t.Fatalf("a damaged log: %v\n%s", err, errb)
	}
}
