// Package labeltest drives `ser label`'s page in headless Chromium for tests
// (github.com/chromedp/chromedp): it starts the browser and waits on the
// state the page keeps on its <body> (data-state, data-done, data-index,
// data-id).
package labeltest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/ser-rl/ser/internal/testsupport/testenv"
)

// Browser starts headless Chromium with a fresh profile and returns a
// context for chromedp actions (one tab); the browser stops at the test's
// end. Without Chromium the test is skipped (or fails under
// SER_TEST_REQUIRE=1).
func Browser(t testing.TB) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("a browser test: full mode only (go test without -short)")
	}
	path := testenv.Chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1360, 900),
		// the closed network here refuses Chromium's own connections: make none
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	// the first call starts the browser and binds its life to ctx: no deadline on it
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium (%s): %v", path, err)
	}
	return ctx
}

// Tab opens another tab of the browser ctx belongs to.
func Tab(t testing.TB, ctx context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	return tab
}

// Run runs actions with a deadline (a guard against a hung page, not a
// timing assertion).
func Run(t testing.TB, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// Eval evaluates a JavaScript expression in the page and decodes its value.
func Eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("browser: evaluating %.60q: %v", expr, err)
	}
	return v
}

// WaitDone waits until the page is ready with done answers saved.
func WaitDone(done int) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.body.dataset.state === 'ready' && document.body.dataset.done === '%d'`, done),
		chromedp.WithPollingInterval(5*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))
}

// WaitShown waits until the page is ready showing pair number i (from 0).
func WaitShown(i int) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.body.dataset.state === 'ready' && document.body.dataset.index === '%d'`, i),
		chromedp.WithPollingInterval(5*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))
}

// WaitReady waits until the page is ready (a pair shown, nothing in flight).
func WaitReady() chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](`document.body.dataset.state === 'ready'`,
		chromedp.WithPollingInterval(5*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))
}

// Shown is what the page shows: the pair's number, id, the texts (as text)
// and the answer in force.
type Shown struct {
	Index  int    `json:"index"`
	ID     string `json:"id"`
	Prompt string `json:"prompt"`
	A      string `json:"a"`
	B      string `json:"b"`
	Answer string `json:"answer"`
	Done   int    `json:"done"`
	Note   string `json:"note"`
}

// Read reads what the page shows.
func Read(t testing.TB, ctx context.Context) Shown {
	t.Helper()
	return Eval[Shown](t, ctx, `(() => { const d = document.body.dataset; return {
		index: Number(d.index), id: d.id || '', answer: d.answer || '', done: Number(d.done),
		prompt: document.getElementById('prompt').textContent,
		a: document.getElementById('textA').textContent, b: document.getElementById('textB').textContent,
		note: document.getElementById('note').value}; })()`)
}

// Key presses a key on the page (the keyboard goes to the focused element,
// the page itself when none is).
func Key(k string) chromedp.Action[chromedp.Void] { return chromedp.KeyEvent(k) }

// Watch records, from now on, what a tab writes to its console (exceptions,
// errors, CSP violations) and the dialogs it opens (closing each one), for
// a test to check.
type Watch struct {
	mu       sync.Mutex
	problems []string
	dialogs  []string
}

// WatchTab starts watching the tab of ctx.
func WatchTab(ctx context.Context) *Watch {
	w := &Watch{}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning {
				w.mu.Lock()
				w.problems = append(w.problems, fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1))
				w.mu.Unlock()
			}
		}
	}()
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			w.mu.Lock()
			w.dialogs = append(w.dialogs, string(ev.Type)+": "+ev.Message)
			w.mu.Unlock()
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return w
}

// Problems are the console's exceptions, errors and warnings so far.
func (w *Watch) Problems() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.problems...)
}

// Dialogs are the dialogs (alert, confirm, prompt) opened so far.
func (w *Watch) Dialogs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.dialogs...)
}
