package label

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/ser-rl/ser/label/labeltest"
)

// goodKey is the key that prefers the source's response of the pair shown,
// after checking that the page shows that pair's texts.
func goodKey(t *testing.T, set *Set, s labeltest.Shown) string {
	t.Helper()
	i := set.Index(s.ID)
	if i != s.Index {
		t.Fatalf("the page shows pair %d with the id of pair %d", s.Index, i)
	}
	p := set.Pairs[i]
	left, right := p.Shown()
	if s.Prompt != p.Prompt || s.A != left || s.B != right {
		t.Fatalf("pair %d shown as %q | %q | %q, want %q | %q | %q", i, s.Prompt, s.A, s.B, p.Prompt, left, right)
	}
	if left == p.A {
		return "1"
	}
	return "2"
}

// TestBrowserKeyboard labels 20 pairs with the keyboard as a person would:
// answers (1, 2, t, s), a note, an undo, a reload mid-way (it resumes), the
// arrows back to an answered pair to change it, the mouse on the buttons
// and the list of pairs; then checks every answer in the annotator's file.
func TestBrowserKeyboard(t *testing.T) {
	ctx := labeltest.Browser(t)
	set := testSet(t, 24)
	ts := newTestServer(t, set, Options{Annotator: "alice", Now: time.Now})
	w := labeltest.WatchTab(ctx)
	labeltest.Run(t, ctx, chromedp.Navigate(ts.URL+"/"), labeltest.WaitShown(0))

	want := map[string]string{} // pair id -> the answer stored
	keyAnswer := func(s labeltest.Shown, key string) string {
		p := set.Pairs[s.Index]
		switch key {
		case "t":
			return AnswerTie
		case "s":
			return AnswerSkip
		case "1":
			return p.First
		}
		return other(p.First)
	}
	start := time.Now()
	for k := 0; k < 20; k++ {
		s := labeltest.Read(t, ctx)
		if s.Index != k || s.Done != k {
			t.Fatalf("step %d: the page shows pair %d with %d done", k, s.Index, s.Done)
		}
		key := goodKey(t, set, s)
		switch k {
		case 3:
			key = "t"
		case 4:
			key = "s"
		case 5: // a note, typed after n; Esc leaves the field
			labeltest.Run(t, ctx, labeltest.Key("n"), labeltest.Key("needs a second look"), labeltest.Key(kb.Escape))
		case 10: // answer wrong, then take it back with u
			wrong := map[string]string{"1": "2", "2": "1"}[key]
			labeltest.Run(t, ctx, labeltest.Key(wrong), labeltest.WaitDone(11), labeltest.Key("u"), labeltest.WaitDone(10), labeltest.WaitShown(10))
			if got := labeltest.Read(t, ctx); got.Answer != "" || got.ID != s.ID {
				t.Fatalf("after undo the page shows %+v, want pair 10 unanswered", got)
			}
		case 14: // a reload mid-way resumes at the first pair not answered
			labeltest.Run(t, ctx, chromedp.Reload(), labeltest.WaitShown(14))
		}
		want[s.ID] = keyAnswer(s, key)
		labeltest.Run(t, ctx, labeltest.Key(key), labeltest.WaitDone(k+1))
	}
	elapsed := time.Since(start)
	t.Logf("20 answers (plus an undo and a reload) through the page in %v: %.1f answers/s", elapsed.Round(time.Millisecond), 20/elapsed.Seconds())

	// the arrows go back to pair 17; 1 or 2 changes its answer; the page then moves to the first pair open
	labeltest.Run(t, ctx, labeltest.WaitShown(20), labeltest.Key(kb.ArrowLeft), labeltest.WaitShown(19),
		labeltest.Key(kb.ArrowLeft), labeltest.WaitShown(18), labeltest.Key(kb.ArrowLeft), labeltest.WaitShown(17))
	s := labeltest.Read(t, ctx)
	if s.Answer == "" {
		t.Fatal("pair 17 shows no answer")
	}
	change := map[string]string{"1": "2", "2": "1"}[goodKey(t, set, s)]
	want[s.ID] = keyAnswer(s, change)
	labeltest.Run(t, ctx, labeltest.Key(change), labeltest.WaitShown(20))
	if got := labeltest.Read(t, ctx); got.Done != 20 {
		t.Fatalf("a change counted as a new answer: %d done", got.Done)
	}
	// the mouse: the tie button, then a pair from the list, the note there kept
	labeltest.Run(t, ctx, chromedp.Click(chromedp.CSS(`#btnTie`)), labeltest.WaitDone(21),
		chromedp.Click(chromedp.CSS(`#strip button[data-i="5"]`)), labeltest.WaitShown(5))
	want[set.Pairs[20].ID] = AnswerTie
	if got := labeltest.Read(t, ctx); got.Note != "needs a second look" || got.Answer == "" {
		t.Fatalf("pair 5 from the list: %+v", got)
	}
	progress := labeltest.Eval[string](t, ctx, `document.getElementById('figures').textContent`)
	if !strings.HasPrefix(progress, "21 / 24 answered") || !strings.Contains(progress, "per minute") || !strings.Contains(progress, "left") {
		t.Fatalf("progress line %q", progress)
	}

	a, err := ReadAnswers(ts.dir)
	if err != nil {
		t.Fatal(err)
	}
	final := a.Final["alice"]
	if len(final) != len(want) {
		t.Fatalf("%d answers in the file, want %d", len(final), len(want))
	}
	for id, ans := range want {
		if final[id].Answer != ans {
			t.Errorf("pair %d: %q in the file, want %q", set.Index(id), final[id].Answer, ans)
		}
	}
	if final[set.Pairs[5].ID].Note != "needs a second look" {
		t.Errorf("note not saved: %+v", final[set.Pairs[5].ID])
	}
	if p := w.Problems(); len(p) > 0 {
		t.Errorf("the console: %v", p)
	}
}

// Payloads a response may hold: each must show as text and do nothing.
var xssPayloads = []string{
	`<script>window.__xss = 'script'</script>`,
	`<img src=x onerror="window.__xss = 'img'">`,
	`<a href="javascript:window.__xss = 'link'">click me</a>`,
	`[click me](javascript:window.__xss='md')`,
	`<svg onload="window.__xss = 'svg'"></svg>`,
	`</div></pre><script>window.__xss = 'close'</script>`,
	"```html\n<script>window.__xss = 'fence'</script>\n<img src=x onerror=\"window.__xss='fence-img'\">\n```",
	`<iframe srcdoc="<script>parent.__xss='iframe'</script>"></iframe>`,
	`{{.Token}} <style>body{display:none}</style>`,
	`javascript:window.__xss='bare'`,
}

// TestBrowserXSS: every text from the data is shown as text: a prompt or a
// response holding HTML, script, a javascript: link or a code fence of them
// runs nothing, loads nothing, opens no dialog and makes no element but the
// page's own text blocks; clicking on it does nothing.
func TestBrowserXSS(t *testing.T) {
	ctx := labeltest.Browser(t)
	var pairs []Pair
	for i, x := range xssPayloads {
		pairs = append(pairs, Pair{Prompt: "prompt " + x, A: x, B: fmt.Sprintf("plain %d\n\nline two", i)})
	}
	set, err := NewSet(pairs, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, set, Options{Annotator: "alice"})
	w := labeltest.WatchTab(ctx)
	labeltest.Run(t, ctx, chromedp.Navigate(ts.URL+"/"), labeltest.WaitShown(0))
	flat := func(s string) string { return strings.ReplaceAll(s, "\n", "") }
	for i := range set.Pairs {
		p := set.Pairs[i]
		if i > 0 {
			labeltest.Run(t, ctx, labeltest.Key(kb.ArrowRight), labeltest.WaitShown(i))
		}
		s := labeltest.Read(t, ctx)
		left, right := p.Shown()
		// block boundaries drop a line end from textContent: compare without them
		if flat(s.Prompt) != flat(p.Prompt) || flat(s.A) != flat(left) || flat(s.B) != flat(right) {
			t.Fatalf("pair %d not shown as text: %q | %q", i, s.A, s.B)
		}
		// click on every text block, links or not
		labeltest.Run(t, ctx, chromedp.Click(chromedp.CSS(`#textA > *`)), chromedp.Click(chromedp.CSS(`#textB > *`)), chromedp.Click(chromedp.CSS(`#prompt > *`)))
		tags := labeltest.Eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#prompt *, #textA *, #textB *')).map(e => e.tagName)`)
		for _, tag := range tags {
			if tag != "DIV" && tag != "PRE" {
				t.Fatalf("pair %d: the texts made a <%s> element", i, tag)
			}
		}
	}
	time.Sleep(200 * time.Millisecond) // let a stray onerror or onload fire, if there were one
	if got := labeltest.Eval[string](t, ctx, `String(window.__xss)`); got != "undefined" {
		t.Fatalf("a payload ran: window.__xss = %s", got)
	}
	if url := labeltest.Eval[string](t, ctx, `location.pathname + location.search`); url != "/" {
		t.Fatalf("a click navigated to %s", url)
	}
	if d := w.Dialogs(); len(d) > 0 {
		t.Fatalf("dialogs opened: %v", d)
	}
	if p := w.Problems(); len(p) > 0 {
		t.Fatalf("the console: %v", p)
	}
	// a code fence shows as a code block, its line breaks kept
	labeltest.Run(t, ctx, chromedp.Click(chromedp.CSS(`#strip button[data-i="6"]`)), labeltest.WaitShown(6))
	code := labeltest.Eval[string](t, ctx, `Array.from(document.querySelectorAll('#textA pre.code, #textB pre.code')).map(e => e.textContent).join('|')`)
	if code != xssPayloads[6] {
		t.Fatalf("code block %q, want %q", code, xssPayloads[6])
	}
}

// TestBrowserTwoAnnotators: two people on one server, each in a tab with a
// name (one typed on the page, one in the URL), answer in turn: each file
// holds its annotator's answers only; a third tab as one of them adds to
// that one's file; a name that is not a file name is refused on the page.
func TestBrowserTwoAnnotators(t *testing.T) {
	ctx := labeltest.Browser(t)
	set := testSet(t, 8)
	ts := newTestServer(t, set, Options{})
	alice := ctx
	bob := labeltest.Tab(t, ctx)
	labeltest.Run(t, alice, chromedp.Navigate(ts.URL+"/"),
		chromedp.Poll[chromedp.Void](`document.body.dataset.state === 'name'`),
		chromedp.SendKeys(chromedp.CSS(`#name`), "../etc"), chromedp.Click(chromedp.CSS(`#nameform button`)))
	if msg := labeltest.Eval[string](t, alice, `document.getElementById('nameerror').textContent`); msg == "" {
		t.Fatal("the page took ../etc for a name")
	}
	labeltest.Run(t, alice, chromedp.Evaluate[chromedp.Void](`document.getElementById('name').value = ''`), chromedp.SendKeys(chromedp.CSS(`#name`), "alice"),
		chromedp.Click(chromedp.CSS(`#nameform button`)), labeltest.WaitShown(0))
	if u := labeltest.Eval[string](t, alice, `location.search`); u != "?annotator=alice" {
		t.Fatalf("the name is not kept in the URL: %s", u)
	}
	labeltest.Run(t, bob, chromedp.Navigate(ts.URL+"/?annotator=bob"), labeltest.WaitShown(0))
	for k := 0; k < 4; k++ {
		labeltest.Run(t, alice, labeltest.Key("1"), labeltest.WaitDone(k+1))
		labeltest.Run(t, bob, labeltest.Key("2"), labeltest.WaitDone(k+1))
	}
	alice2 := labeltest.Tab(t, ctx)
	labeltest.Run(t, alice2, chromedp.Navigate(ts.URL+"/?annotator=alice"), labeltest.WaitShown(4), labeltest.Key("t"), labeltest.WaitDone(5))
	for name, n := range map[string]int{"alice": 5, "bob": 4} {
		recs, err := ReadLog(filepath.Join(ts.dir, name+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != n {
			t.Fatalf("%s: %d records, want %d", name, len(recs), n)
		}
		for _, r := range recs {
			if r.Annotator != name {
				t.Fatalf("%s's file holds a record of %s", name, r.Annotator)
			}
		}
	}
	if m, _ := filepath.Glob(filepath.Join(ts.dir, "*.jsonl")); len(m) != 2 {
		t.Fatalf("files %v", m)
	}
	// each page counts its own annotator's answers
	if got := labeltest.Read(t, bob); got.Done != 4 {
		t.Fatalf("bob's page: %d done", got.Done)
	}
}

// TestBrowserScreenshot writes a PNG of the page at a pair when
// SER_LABEL_SCREENSHOT names the file (bench/results/label-page.png).
func TestBrowserScreenshot(t *testing.T) {
	out := os.Getenv("SER_LABEL_SCREENSHOT")
	if out == "" {
		t.Skip("set SER_LABEL_SCREENSHOT=FILE.png to write a screenshot of the page")
	}
	ctx := labeltest.Browser(t)
	var pairs []Pair
	prompt := "How do I reverse a string in Python? Show me a short example and explain it."
	a := "Use slicing with a step of -1:\n\n```python\ns = \"hello\"\nprint(s[::-1])  # olleh\n```\n\nThe slice `[::-1]` walks the string from its end to its start, one character at a time, and builds a new string: strings are immutable, so the original is unchanged."
	b := "You can call reversed() and join the characters:\n\n```python\ns = \"hello\"\nprint(\"\".join(reversed(s)))\n```\n\nreversed() returns an iterator over the characters from the last to the first; \"\".join puts them back into one string."
	pairs = append(pairs, Pair{Prompt: prompt, A: a, B: b, First: "a"})
	for i := 1; i < 40; i++ {
		pairs = append(pairs, Pair{Prompt: fmt.Sprintf("Question %d", i), A: fmt.Sprintf("answer %d", i), B: fmt.Sprintf("other answer %d", i)})
	}
	set, err := NewSet(pairs, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, set, Options{Annotator: "alice"})
	// answer pairs 1 to 12 through the API, at a person's pace, so the progress line has figures
	l := openLogT(t, ts.s.o.Store, "alice")
	for i := 1; i <= 12; i++ {
		if _, err := l.Answer(&set.Pairs[i], []string{AnswerA, AnswerB, AnswerTie}[i%3], "", time.Now().Add(time.Duration(i-13)*9*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	labeltest.Run(t, ctx, chromedp.Navigate(ts.URL+"/"), labeltest.WaitShown(0))
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", out, len(png))
}

// BenchmarkBrowserAnswers: answers a second through the page, each one a key
// press, saved (written and fsynced) and the next pair shown before the next
// key: what the page costs a labeller.
func BenchmarkBrowserAnswers(b *testing.B) {
	ctx := labeltest.Browser(b)
	set := testSet(b, max(b.N, 2))
	dir := b.TempDir()
	store, err := OpenStore(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	s, err := NewServer(Options{Set: set, Store: store, Annotator: "alice"})
	if err != nil {
		b.Fatal(err)
	}
	hs := newHTTPTest(s)
	defer hs.Close()
	labeltest.Run(b, ctx, chromedp.Navigate(hs.URL+"/"), labeltest.WaitShown(0))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := chromedp.Do(ctx, labeltest.Key("1"), labeltest.WaitDone(i+1)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "answers/s")
	// the page's own share: from the key to the next pair shown, saved on
	// disk in between (the rest is the test driving the browser)
	ms, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.dataset.answerMsTotal`))
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	fmt.Sscan(ms, &total)
	b.ReportMetric(total/float64(b.N), "page-ms/answer")
}

// TestBrowserLongSet: a set longer than the list of pairs on the page: the
// list shows a window around the pair shown, and Go to # reaches any pair.
func TestBrowserLongSet(t *testing.T) {
	ctx := labeltest.Browser(t)
	set := testSet(t, 1500)
	ts := newTestServer(t, set, Options{Annotator: "alice"})
	labeltest.Run(t, ctx, chromedp.Navigate(ts.URL+"/"), labeltest.WaitShown(0))
	if n := labeltest.Eval[int](t, ctx, `document.querySelectorAll('#strip button').length`); n != 600 {
		t.Fatalf("%d cells in the list, want a window of 600", n)
	}
	labeltest.Run(t, ctx, chromedp.SendKeys(chromedp.CSS(`#goto`), "1200\r"), labeltest.WaitShown(1199))
	first := labeltest.Eval[string](t, ctx, `document.querySelector('#strip button').dataset.i`)
	if first == "0" {
		t.Fatal("the list did not follow the pair shown")
	}
	labeltest.Run(t, ctx, chromedp.Click(chromedp.CSS(`#strip button[data-i="1210"]`)), labeltest.WaitShown(1210),
		labeltest.Key("1"), labeltest.WaitDone(1))
	if got := labeltest.Read(t, ctx); got.Index != 1211 {
		t.Fatalf("after answering pair 1210 the page shows %d, want the next pair open (1211)", got.Index)
	}
	labeltest.Run(t, ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById('goto').value = ''`),
		chromedp.SendKeys(chromedp.CSS(`#goto`), "2\r"), labeltest.WaitShown(1))
	if c := labeltest.Eval[string](t, ctx, `document.querySelector('#strip button[data-i="1"]').className`); !strings.Contains(c, "current") {
		t.Fatalf("the list did not come back to the pair shown: %q", c)
	}
	if c := labeltest.Eval[string](t, ctx, `document.querySelector('#strip button[data-i="1210"]') ? 'shown' : 'not'`); c != "not" {
		t.Fatal("the list shows pairs far from the one shown")
	}
}
