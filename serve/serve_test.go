package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ser-rl/ser/cache"
	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/features"
	"github.com/ser-rl/ser/head"
	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/models"
)

// fixture is the default backbone, a head trained on made-up pairs, and the
// featurizer to serve it with; texts are the pairs' prompts and responses.
type fixture struct {
	home, headPath, form string
	cachePath            string
	f                    *features.Featurizer
	pairs                []data.Pair
}

var words = strings.Fields(`the a reward model answer question helpful harmless honest assistant user
explain how why what when good bad better worse step first then finally because however example code
python recipe bread oven travel city history science energy music garden health sleep money budget`)

func sentence(rng *rand.Rand, k int) string {
	w := make([]string, k)
	for i := range w {
		w[i] = words[rng.IntN(len(words))]
	}
	return strings.Join(w, " ")
}

// newFixture trains a head of the given form on 80 made-up pairs (the
// chosen response is longer: something a linear head can learn).
func newFixture(t *testing.T, form string, seed uint64) *fixture {
	t.Helper()
	home := testenv.Home(t)
	m, err := models.Find(home, models.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(seed, 7))
	pairs := make([]data.Pair, 80)
	for i := range pairs {
		pairs[i] = data.Pair{Prompt: "\n\nHuman: " + sentence(rng, 6) + "?\n\nAssistant:",
			Chosen: " " + sentence(rng, 12), Rejected: " " + sentence(rng, 3), Labelled: true}
	}
	cachePath := filepath.Join(dir, "features.feat")
	f, err := features.New(features.Options{Manifest: m, Form: form, CachePath: cachePath, ORTLib: testenv.ORTLib(t, home)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fx := &fixture{home: home, headPath: filepath.Join(dir, "rm.head"), form: f.Form(), f: f, pairs: pairs, cachePath: cachePath}
	fx.train(t, pairs[:60], seed)
	return fx
}

// train writes a head trained on pairs to the fixture's head path.
func (fx *fixture) train(t *testing.T, pairs []data.Pair, seed uint64) *head.Head {
	t.Helper()
	x, _, err := fx.f.Pairs(context.Background(), pairs)
	if err != nil {
		t.Fatal(err)
	}
	h, err := head.Train(context.Background(), head.Problem{Train: head.Data{X: x}, Backbone: fx.f.Backbone(), Form: fx.form}, head.TrainOptions{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Save(fx.headPath); err != nil {
		t.Fatal(err)
	}
	h, err = head.Load(fx.headPath) // with its checksum
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// want is what `ser score` computes for (prompt, response) rows: the head on
// the featurizer's vectors, one response per pair.
func (fx *fixture) want(t *testing.T, h *head.Head, items []Item) []float64 {
	t.Helper()
	pairs := make([]data.Pair, len(items))
	for i, it := range items {
		pairs[i] = data.Pair{Prompt: it.Prompt, Chosen: it.Response, Rejected: it.Response}
	}
	vecs, err := fx.f.Vectors(context.Background(), fx.f.Texts(pairs))
	if err != nil {
		t.Fatal(err)
	}
	return h.Rewards(fx.f.PairsOf(vecs, len(pairs)).A)
}

func (fx *fixture) items() []Item {
	var items []Item
	for _, p := range fx.pairs {
		items = append(items, Item{Prompt: p.Prompt, Response: p.Chosen}, Item{Prompt: p.Prompt, Response: p.Rejected})
	}
	return items
}

func (fx *fixture) server(t *testing.T, opt Options) (*Server, *httptest.Server) {
	t.Helper()
	opt.HeadPath = fx.headPath
	s, err := New(fx.f, opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })
	return s, ts
}

func post(t *testing.T, url string, body any) (*http.Response, []byte) {
	t.Helper()
	raw, ok := body.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, out
}

func rewardsOf(t *testing.T, raw []byte) []float64 {
	t.Helper()
	var v struct{ Rewards []float64 }
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	return v.Rewards
}

// tolerance bounds |served - direct| for one reward: the same head on the
// same backbone, but the texts embedded in batches of other compositions,
// and a backbone's kernels may round differently at another padded length
// (seen: 2.7e-7 on long HH-RLHF texts; the made-up texts here give 0). A
// reward of another item or head is off by far more.
const tolerance = 1e-5

func near(a, b float64) bool { return math.Abs(a-b) <= tolerance }

// postRewards posts body to url and checks the answer: 200, one reward per
// item, each near want's.
func postRewards(t *testing.T, url string, body any, want []float64) {
	t.Helper()
	resp, raw := post(t, url, body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s", resp.Status, raw)
	}
	got := rewardsOf(t, raw)
	if len(got) != len(want) {
		t.Fatalf("%d rewards for %d items", len(got), len(want))
	}
	for i, r := range got {
		if !near(r, want[i]) {
			t.Errorf("item %d: %v, want %v", i, r, want[i])
		}
	}
}

// TestConcurrentClients sends every item through many concurrent requests of
// both endpoints and checks each reward against the direct computation, and
// that requests were batched together.
func TestConcurrentClients(t *testing.T) {
	fx := newFixture(t, "", 1)
	s, ts := fx.server(t, Options{MaxWait: 20 * time.Millisecond})
	items := fx.items()
	want := fx.want(t, s.Head(), items)
	const clients = 16
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := c * 3; i < len(items); i += clients * 3 { // 3 items per request
				part := items[i:min(i+3, len(items))]
				var got []float64
				if c%2 == 0 {
					req := map[string]any{"items": []map[string]string{}}
					for _, it := range part {
						req["items"] = append(req["items"].([]map[string]string), map[string]string{"prompt": it.Prompt, "response": it.Response})
					}
					resp, raw := post(t, ts.URL+"/v1/reward", req)
					if resp.StatusCode != 200 {
						errs <- fmt.Errorf("/v1/reward: %s: %s", resp.Status, raw)
						return
					}
					got = rewardsOf(t, raw)
				} else { // OpenRLHF: whole conversations, split at the last "\n\nAssistant:"
					var q []string
					for _, it := range part {
						q = append(q, it.Prompt+it.Response)
					}
					resp, raw := post(t, ts.URL+"/get_reward", map[string]any{"query": q})
					if resp.StatusCode != 200 {
						errs <- fmt.Errorf("/get_reward: %s: %s", resp.Status, raw)
						return
					}
					got = rewardsOf(t, raw)
				}
				if len(got) != len(part) {
					errs <- fmt.Errorf("items %d..: %d rewards for %d items", i, len(got), len(part))
					return
				}
				for k := range got {
					if !near(got[k], want[i+k]) {
						errs <- fmt.Errorf("item %d: reward %v, want %v", i+k, got[k], want[i+k])
						return
					}
				}
			}
		}(c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	page := metricsOf(t, ts.URL)
	if page["ser_items_scored_total"] < float64(len(items)) {
		t.Errorf("ser_items_scored_total %v, want at least %d", page["ser_items_scored_total"], len(items))
	}
	requests := float64(len(items)+2) / 3
	if n := page["ser_batch_items_count"]; n >= requests {
		t.Errorf("%v batches for about %v requests: concurrent requests were not batched together", n, requests)
	}
	if page["ser_queue_items"] != 0 {
		t.Errorf("ser_queue_items %v after every answer", page["ser_queue_items"])
	}
}

// metricsOf reads /metrics, checking that every line is a comment or a
// series and a number, and returns the series' values.
func metricsOf(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("/metrics Content-Type %q", ct)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	typed := map[string]bool{}
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# TYPE ") {
			typed[strings.Fields(line)[2]] = true
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		k := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[k+1:], 64)
		if k < 0 || err != nil {
			t.Fatalf("/metrics line %q is not a series and a number", line)
		}
		name := line[:k]
		fam := name
		if i := strings.IndexByte(fam, '{'); i >= 0 {
			fam = fam[:i]
		}
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(fam, "_bucket"), "_sum"), "_count")
		if !typed[fam] && !typed[base] {
			t.Errorf("/metrics: %s has no # TYPE line", name)
		}
		out[name] = v
	}
	return out
}

// TestGetRewardPrompts: with "prompts" the response is the query after its
// prompt, whatever the template; a query that is not split goes whole to a
// joint head and is refused by a separate one.
func TestGetRewardPrompts(t *testing.T) {
	fx := newFixture(t, head.Separate, 2)
	s, ts := fx.server(t, Options{})
	items := []Item{{Prompt: "<|user|>What is bread?<|assistant|>", Response: "Flour, water, salt and yeast, baked."}}
	want := fx.want(t, s.Head(), items)
	resp, raw := post(t, ts.URL+"/get_reward", map[string]any{
		"query": []string{items[0].Prompt + items[0].Response}, "prompts": []string{items[0].Prompt}, "labels": []string{"x"}})
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %s", resp.Status, raw)
	}
	if got := rewardsOf(t, raw); len(got) != 1 || !near(got[0], want[0]) {
		t.Errorf("rewards %v, want %v", got, want)
	}
	resp, raw = post(t, ts.URL+"/get_reward", map[string]any{"query": []string{"no marker here"}})
	if resp.StatusCode != 400 || !strings.Contains(string(raw), "prompts") {
		t.Errorf("a separate head given an unsplittable query: %s %s", resp.Status, raw)
	}

	jx := newFixture(t, head.Joint, 3)
	js, jts := jx.server(t, Options{})
	resp, raw = post(t, jts.URL+"/get_reward", map[string]any{"query": []string{"no marker here"}})
	if resp.StatusCode != 200 {
		t.Fatalf("a joint head given a whole text: %s %s", resp.Status, raw)
	}
	vec, err := jx.f.Vectors(context.Background(), []string{"no marker here", "no marker here"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rewardsOf(t, raw), js.Head().Rewards(head.Assemble(head.Joint, len(vec)/2, 1, vec).A); !near(got[0], want[0]) {
		t.Errorf("joint whole text: reward %v, want %v", got, want)
	}
}

// TestPairs: the pair endpoint answers both rewards and sigmoid of their difference.
func TestPairs(t *testing.T) {
	fx := newFixture(t, "", 4)
	s, ts := fx.server(t, Options{})
	p := fx.pairs[70]
	want := fx.want(t, s.Head(), []Item{{Prompt: p.Prompt, Response: p.Chosen}, {Prompt: p.Prompt, Response: p.Rejected}})
	resp, raw := post(t, ts.URL+"/v1/reward", map[string]any{"pairs": []map[string]string{{"prompt": p.Prompt, "chosen": p.Chosen, "rejected": p.Rejected}}})
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %s", resp.Status, raw)
	}
	var v struct{ Pairs []PairReward }
	if err := json.Unmarshal(raw, &v); err != nil || len(v.Pairs) != 1 {
		t.Fatalf("%v: %s", err, raw)
	}
	got := v.Pairs[0]
	if !near(got.Chosen, want[0]) || !near(got.Rejected, want[1]) {
		t.Errorf("rewards %v %v, want %v", got.Chosen, got.Rejected, want)
	}
	if p := 1 / (1 + math.Exp(want[1]-want[0])); math.Abs(got.PChosen-p) > 1e-15 {
		t.Errorf("p_chosen %v, want %v", got.PChosen, p)
	}
}

// TestBadRequests: every malformed request gets its code and an error that
// names the field; none reaches the batcher.
func TestBadRequests(t *testing.T) {
	fx := newFixture(t, "", 5)
	_, ts := fx.server(t, Options{MaxBody: 4096, MaxItems: 4, QueueSize: 16})
	big := `{"items":[{"prompt":"` + strings.Repeat("x", 5000) + `","response":"y"}]}`
	five := `{"query":["a\n\nAssistant: b","a\n\nAssistant: b","a\n\nAssistant: b","a\n\nAssistant: b","a\n\nAssistant: b"]}`
	for _, c := range []struct {
		path, body string
		code       int
		says       string
	}{
		{"/v1/reward", big, 413, "larger than 4096 bytes"},
		{"/get_reward", five, 400, "at most 4"},
		{"/get_reward", `{"query":[]}`, 400, "field query: empty"},
		{"/get_reward", `{}`, 400, "field query: empty"},
		{"/get_reward", `{"query":"text"}`, 400, "field query"},
		{"/get_reward", `{"query":[1]}`, 400, "field query"},
		{"/get_reward", `{"query":["a"],"prompts":["a","b"]}`, 400, "2 prompts for 1 queries"},
		{"/get_reward", `{"query":["x"],"prompts":["y"]}`, 400, "does not start with prompts[0]"},
		{"/get_reward", ``, 400, "empty"},
		{"/get_reward", `[1,2]`, 400, "field"},
		{"/get_reward", `{"query":["a"]} {"query":["b"]}`, 400, "more than one JSON value"},
		{"/get_reward", `{"query":["a`, 400, "not the JSON object expected"},
		{"/v1/reward", `{"items":[{"prompt":"a"}]}`, 400, "field items[0].response: missing"},
		{"/v1/reward", `{"pairs":[{"prompt":"a","chosen":"b"}]}`, 400, "field pairs[0].rejected: missing"},
		{"/v1/reward", `{"items":[{"prompt":"a","response":"b"}],"pairs":[]}`, 400, "want one of"},
		{"/v1/reward", `{}`, 400, "want one of"},
		{"/v1/reward", `{"items":[{"prompt":"a","respons":"b"}]}`, 400, `unknown field \"respons\"`},
		{"/v1/reward", `{"pairs":[{"prompt":"a","chosen":"b","rejected":"c"},{"prompt":"a","chosen":"b","rejected":"c"},{"prompt":"a","chosen":"b","rejected":"c"}]}`, 400, "at most 4"},
		// as the readers refuse them (before, served: invalid bytes read as U+FFFD)
		{"/v1/reward", "{\"items\":[{\"prompt\":\"a\xff\",\"response\":\"b\"}]}", 400, "not valid UTF-8"},
		{"/v1/reward", `{"items":[{"prompt":"  ","response":"b"}]}`, 400, "field items[0].prompt: is empty"},
		{"/v1/reward", `{"items":[{"prompt":"a\ud800","response":"b"}]}`, 400, "surrogate"},
		{"/v1/reward", `{"pairs":[{"prompt":"","chosen":"b","rejected":"c"}]}`, 400, "field pairs[0].prompt: is empty"},
		{"/get_reward", `{"query":["a\n\nAssistant: b"],"prompts":[""]}`, 400, "field prompts[0]: is empty"},
	} {
		resp, raw := post(t, ts.URL+c.path, []byte(c.body))
		if resp.StatusCode != c.code || !strings.Contains(string(raw), c.says) {
			t.Errorf("%s %.60q: %s %s; want %d saying %q", c.path, c.body, resp.Status, raw, c.code, c.says)
		}
		var v map[string]any
		if json.Unmarshal(raw, &v) != nil || v["error"] == nil {
			t.Errorf("%s %.60q: the answer is not {\"error\": ...}: %s", c.path, c.body, raw)
		}
	}
	resp, err := http.Get(ts.URL + "/get_reward")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /get_reward: %s", resp.Status)
	}
	page := metricsOf(t, ts.URL)
	if page["ser_items_scored_total"] != 1 { // the warm-up item alone
		t.Errorf("ser_items_scored_total %v after bad requests alone", page["ser_items_scored_total"])
	}
	if page[`ser_requests_total{endpoint="/get_reward",code="400"}`] < 10 {
		t.Errorf("400s not counted: %v", page)
	}
}

// TestBusy: a request that would overfill the queue gets 429 with
// Retry-After at once, and the queue takes requests again when it drains.
func TestBusy(t *testing.T) {
	fx := newFixture(t, "", 6)
	s, ts := fx.server(t, Options{QueueSize: 3, MaxItems: 3, MaxBatch: 1000, MaxWait: 500 * time.Millisecond})
	body := map[string]any{"query": []string{"a\n\nAssistant: b", "c\n\nAssistant: d"}}
	first := make(chan int)
	go func() {
		resp, _ := post(t, ts.URL+"/get_reward", body)
		first <- resp.StatusCode
	}()
	waitPending(t, s, 2) // the first waits for its batch to fill (500 ms)
	resp, raw := post(t, ts.URL+"/get_reward", body)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a second request of 2 items beside 2 of 3 queued: %s %s (Retry-After %q)", resp.Status, raw, resp.Header.Get("Retry-After"))
	}
	if code := <-first; code != 200 {
		t.Errorf("the first request: %d", code)
	}
	if resp, raw := post(t, ts.URL+"/get_reward", body); resp.StatusCode != 200 {
		t.Errorf("after the queue drained: %s %s", resp.Status, raw)
	}
}

// TestClientGone: requests whose clients leave before their batch runs are
// not scored, release their place in the queue, and harm no other request.
func TestClientGone(t *testing.T) {
	fx := newFixture(t, "", 7)
	s, ts := fx.server(t, Options{MaxBatch: 1000, MaxWait: time.Second})
	items := fx.items()[:6]
	want := fx.want(t, s.Head(), items)
	ctx, leave := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() { // leaves once queued, long before the batch runs
			defer wg.Done()
			raw, _ := json.Marshal(map[string]any{"query": []string{"gone\n\nAssistant: " + strconv.Itoa(i)}})
			req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/get_reward", bytes.NewReader(raw))
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				t.Errorf("a client that left got an answer: %s", resp.Status)
			}
		}()
	}
	waitPending(t, s, 4)
	leave()
	wg.Wait()
	var q []string
	for _, it := range items {
		q = append(q, it.Prompt+it.Response)
	}
	postRewards(t, ts.URL+"/get_reward", map[string]any{"query": q}, want)
	var page map[string]float64
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(10 * time.Millisecond) {
		// the handlers of the requests whose clients left count themselves when they notice
		if page = metricsOf(t, ts.URL); page[`ser_requests_total{endpoint="/get_reward",code="499"}`] >= 4 {
			break
		}
	}
	if got := page["ser_items_abandoned_total"]; got != 4 {
		t.Errorf("ser_items_abandoned_total %v, want 4", got)
	}
	if got := page[`ser_requests_total{endpoint="/get_reward",code="499"}`]; got != 4 {
		t.Errorf("client-gone requests counted %v, want 4", got)
	}
	if s.pending.Load() != 0 {
		t.Errorf("%d items still pending", s.pending.Load())
	}
}

// waitPending waits until n items are queued (or fails after 10 s).
func waitPending(t *testing.T, s *Server, n int64) {
	t.Helper()
	for start := time.Now(); s.pending.Load() < n; time.Sleep(time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%d items queued after 10 s, want %d", s.pending.Load(), n)
		}
	}
}

// TestTimeout: a request not answered within the timeout gets 503.
func TestTimeout(t *testing.T) {
	fx := newFixture(t, "", 8)
	_, ts := fx.server(t, Options{Timeout: 50 * time.Millisecond, MaxBatch: 1000, MaxWait: time.Second})
	resp, raw := post(t, ts.URL+"/get_reward", map[string]any{"query": []string{"a\n\nAssistant: b"}})
	if resp.StatusCode != 503 || !strings.Contains(string(raw), "not answered within") {
		t.Errorf("%s %s", resp.Status, raw)
	}
}

// TestReload swaps the head under load: every request is answered, each
// with the head its X-Ser-Head names; a damaged head file is refused and the
// old head serves on.
func TestReload(t *testing.T) {
	fx := newFixture(t, "", 9)
	s, ts := fx.server(t, Options{MaxWait: time.Millisecond})
	items := fx.items()[:8]
	old := s.Head()
	wantOld := fx.want(t, old, items)
	var q []string
	for _, it := range items {
		q = append(q, it.Prompt+it.Response)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string][]float64{}
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, raw := post(t, ts.URL+"/get_reward", map[string]any{"query": q})
				if resp.StatusCode != 200 {
					t.Errorf("during reload: %s %s", resp.Status, raw)
					return
				}
				mu.Lock()
				seen[resp.Header.Get("X-Ser-Head")] = rewardsOf(t, raw)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	nw := fx.train(t, fx.pairs[20:80], 99)
	resp, raw := post(t, ts.URL+"/admin/reload", []byte("{}"))
	if resp.StatusCode != 200 || !strings.Contains(string(raw), nw.SHA256) {
		t.Errorf("reload: %s %s", resp.Status, raw)
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	wantNew := fx.want(t, nw, items)
	for sha, want := range map[string][]float64{old.SHA256: wantOld, nw.SHA256: wantNew} {
		got, ok := seen[sha]
		if !ok {
			t.Errorf("no answer from head %.12s", sha)
			continue
		}
		for i := range want {
			if !near(got[i], want[i]) {
				t.Errorf("head %.12s item %d: %v, want %v (an answer mixed heads?)", sha, i, got[i], want[i])
			}
		}
	}
	if len(seen) != 2 {
		t.Errorf("answers name %d heads, want 2", len(seen))
	}

	// a damaged head file: refused, the new head serves on
	raw, _ = os.ReadFile(fx.headPath)
	os.WriteFile(fx.headPath, bytes.Replace(raw, []byte(`"kind"`), []byte(`"kinf"`), 1), 0o644)
	resp, raw = post(t, ts.URL+"/admin/reload", []byte("{}"))
	if resp.StatusCode != 500 || !strings.Contains(string(raw), "previous one serves on") {
		t.Errorf("a damaged head reloaded: %s %s", resp.Status, raw)
	}
	if s.Head().SHA256 != nw.SHA256 {
		t.Errorf("a failed reload changed the head")
	}
	if metricsOf(t, ts.URL)["ser_head_reload_failures_total"] != 1 {
		t.Errorf("the failed reload was not counted")
	}
	// a head of other features: refused
	jx := newFixture(t, head.Joint, 10)
	raw, _ = os.ReadFile(jx.headPath)
	os.WriteFile(fx.headPath, raw, 0o644)
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "joint features") {
		t.Errorf("a joint head reloaded into a separate server: %v", err)
	}
}

// TestClose: work accepted before Close is answered; Score after it fails
// with ErrClosed, and /healthz says not ready.
func TestClose(t *testing.T) {
	fx := newFixture(t, "", 11)
	opt := Options{HeadPath: fx.headPath, MaxBatch: 1000, MaxWait: 200 * time.Millisecond}
	s, err := New(fx.f, opt)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	if resp, _ := post(t, ts.URL+"/v1/reward", []byte(`{"items":[{"prompt":"a","response":"b"}]}`)); resp.StatusCode != 200 {
		t.Errorf("before Warm: %s", resp.Status)
	}
	resp, err := http.Get(ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("/healthz before Warm: %s", resp.Status)
	}
	items := fx.items()[:5]
	want := fx.want(t, s.Head(), items)
	got := make(chan []float64)
	go func() {
		r, _, err := s.Score(context.Background(), items)
		if err != nil {
			t.Error(err)
		}
		got <- r
	}()
	waitPending(t, s, 5) // queued, its batch waiting to fill
	s.Close()
	r := <-got
	for i := range want {
		if !near(r[i], want[i]) {
			t.Errorf("item %d: %v, want %v", i, r[i], want[i])
		}
	}
	if _, _, err := s.Score(context.Background(), items); !errors.Is(err, ErrClosed) {
		t.Errorf("Score after Close: %v", err)
	}
}

// TestNewRefuses: a head of another form, a missing head, a queue smaller
// than a request.
func TestNewRefuses(t *testing.T) {
	fx := newFixture(t, head.Separate, 12)
	jx := newFixture(t, head.Joint, 13)
	for _, c := range []struct {
		opt  Options
		says string
	}{
		{Options{HeadPath: jx.headPath}, "joint features"},
		{Options{HeadPath: filepath.Join(t.TempDir(), "none.head")}, "no such file"},
		{Options{HeadPath: fx.headPath, QueueSize: 10, MaxItems: 20}, "cannot take a request of 20 items"},
	} {
		if _, err := New(fx.f, c.opt); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%+v: %v, want an error saying %q", c.opt, err, c.says)
		}
	}
}

// TestBodyBudget: while bodies take the whole byte budget, a request gets
// 429 before its body is read; a declared body over the limit gets 413
// TestBodyBudget: bodies are bounded together by MaxBytes, each counted as
// its bytes arrive, so a slow body holds what it sent: beside one holding
// 3,000 of 4,096 bytes, a request of 1,200 bytes gets 429 and one of 100
// bytes is served; slow bodies that declare 1 MiB each and send a byte
// hold a byte each (before, a declared length held the budget in full
// from the start). A declared body over MaxBody gets 413 before it is
// read.
func TestBodyBudget(t *testing.T) {
	fx := newFixture(t, "", 14)
	s, ts := fx.server(t, Options{MaxBody: 4096, MaxBytes: 4096})
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() }) // before the server's cleanup, which waits for this request
	first := make(chan int, 1)
	go func() { // a body of undeclared length, sent slowly
		resp, err := http.Post(ts.URL+"/get_reward", "application/json", pr)
		if err != nil {
			t.Error(err)
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	pw.Write([]byte(`{"query": [` + strings.Repeat(" ", 2989)))
	for start := time.Now(); s.bodies.Load() < 3000; time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the slow request holds %d bytes of the budget, want 3000", s.bodies.Load())
		}
	}
	big := []byte(`{"query":["a\n\nAssistant: b"]}` + strings.Repeat(" ", 1200))
	if resp, raw := post(t, ts.URL+"/get_reward", big); resp.StatusCode != 429 {
		t.Fatalf("1,200 bytes beside a body holding 3,000 of 4,096: %s %s", resp.Status, raw)
	}
	if resp, raw := post(t, ts.URL+"/get_reward", []byte(`{"query":["a\n\nAssistant: b"]}`)); resp.StatusCode != 200 {
		t.Fatalf("a small request beside it: %s %s", resp.Status, raw)
	}
	pw.Write([]byte(`"a\n\nAssistant: b"]}`))
	pw.Close()
	if code := <-first; code != 200 {
		t.Errorf("the slow request: %d", code)
	}
	if resp, raw := post(t, ts.URL+"/get_reward", big); resp.StatusCode != 200 {
		t.Errorf("after the budget was freed: %s %s", resp.Status, raw)
	}
	if s.bodies.Load() != 0 {
		t.Errorf("%d bytes still held", s.bodies.Load())
	}
	var slow []net.Conn
	for i := 0; i < 4; i++ { // each declares 2,000 bytes and sends one
		conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /get_reward HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n{")
		slow = append(slow, conn)
	}
	for start := time.Now(); s.bodies.Load() < 4; time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the declared bodies hold %d bytes, want 4", s.bodies.Load())
		}
	}
	if resp, raw := post(t, ts.URL+"/get_reward", big); resp.StatusCode != 200 {
		t.Errorf("beside 4 slow bodies declaring 2,000 bytes each: %s %s", resp.Status, raw)
	}
	for _, c := range slow {
		c.Close()
	}
	req, _ := http.NewRequest("POST", ts.URL+"/v1/reward", strings.NewReader("{}"))
	req.ContentLength = 1 << 20 // declared, never sent
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("a declared 1 MiB body: %s", resp.Status)
		}
	}
}

// TestUnfinishedUploads: chunked uploads left unfinished hold no more of the
// budget than they sent, and a stalled one is cut after BodyIdle (408), its
// share freed. (Before, 16 such uploads each held MaxBody: every other
// client got 429 for the 60 s of the request timeout.)
func TestUnfinishedUploads(t *testing.T) {
	fx := newFixture(t, "", 18)
	s, ts := fx.server(t, Options{BodyIdle: 500 * time.Millisecond})
	codes := make(chan int, 16)
	for i := 0; i < 16; i++ {
		pr, pw := io.Pipe()
		t.Cleanup(func() { pw.Close() })
		go func() {
			resp, err := http.Post(ts.URL+"/get_reward", "application/json", pr)
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
		pw.Write([]byte(`{"query": [`))
	}
	for start := time.Now(); s.bodies.Load() < 16*11; time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the uploads hold %d bytes, want 176", s.bodies.Load())
		}
	}
	if resp, raw := post(t, ts.URL+"/get_reward", []byte(`{"query":["a\n\nAssistant: b"]}`)); resp.StatusCode != 200 {
		t.Fatalf("beside 16 unfinished uploads: %s %s", resp.Status, raw)
	}
	for i := 0; i < 16; i++ {
		if code := <-codes; code != http.StatusRequestTimeout {
			t.Errorf("a stalled upload: %d, want 408", code)
		}
	}
	if s.bodies.Load() != 0 {
		t.Errorf("%d bytes still held after the stalled uploads were cut", s.bodies.Load())
	}
}

// TestBadTextIsolated: a request whose text cannot be scored (here a NaN
// vector in the feature cache) fails alone: a request batched with it is
// answered, and the error names nothing of the other's data. (Before, the
// innocent request got the 500, quoting the other client's text.)
func TestBadTextIsolated(t *testing.T) {
	fx := newFixture(t, "", 19)
	m := fx.f.Manifest()
	c, err := cache.Open(fx.cachePath, m.Fingerprint(), m.Dim, cache.Format(m.FeatureStorage), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Fill(context.Background(), c, nanEmbedder{m.Dim}, []string{"a poisoned response"}, cache.FillOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	s, ts := fx.server(t, Options{MaxBatch: 1000, MaxWait: 300 * time.Millisecond})
	items := fx.items()[:4]
	want := fx.want(t, s.Head(), items)
	bad := make(chan []byte, 1)
	go func() {
		resp, raw := post(t, ts.URL+"/v1/reward", map[string]any{"items": []map[string]string{{"prompt": "x?", "response": "a poisoned response"}}})
		if resp.StatusCode != 500 {
			t.Errorf("the poisoned request: %s %s", resp.Status, raw)
		}
		bad <- raw
	}()
	waitPending(t, s, 1)
	var q []map[string]string
	for _, it := range items {
		q = append(q, map[string]string{"prompt": it.Prompt, "response": it.Response})
	}
	postRewards(t, ts.URL+"/v1/reward", map[string]any{"items": q}, want)
	raw := <-bad
	for _, it := range items {
		if strings.Contains(string(raw), strings.TrimSpace(it.Response)) {
			t.Errorf("the poisoned request's error shows another client's text: %s", raw)
		}
	}
	if page := metricsOf(t, ts.URL); page["ser_batch_items"+"_count"] == 0 {
		t.Log(page)
	}
}

// TestHalfClose: a client that half-closes its side after sending gets a
// status, never an empty 200. (Before: 200 OK, Content-Length 0.)
func TestHalfClose(t *testing.T) {
	fx := newFixture(t, "", 20)
	_, ts := fx.server(t, Options{MaxBatch: 1000, MaxWait: 200 * time.Millisecond})
	body := `{"query":["a\n\nAssistant: b"]}`
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /get_reward HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 && !strings.Contains(string(raw), "rewards") {
		t.Fatalf("200 with %q", raw)
	}
	if resp.StatusCode != 200 && !strings.Contains(string(raw), "error") {
		t.Fatalf("%s with %q", resp.Status, raw)
	}
	t.Logf("a half-closed client got %s %s", resp.Status, raw)
}

// nanEmbedder gives every text a vector of NaN: what a broken backbone writes.
type nanEmbedder struct{ dim int }

func (nanEmbedder) Tokenize(texts []string) ([][]int32, error) {
	ids := make([][]int32, len(texts))
	for i := range ids {
		ids[i] = []int32{1}
	}
	return ids, nil
}

func (nanEmbedder) Batches(ids [][]int32) [][]int {
	b := make([]int, len(ids))
	for i := range b {
		b[i] = i
	}
	return [][]int{b}
}

func (e nanEmbedder) EmbedTokens(_ context.Context, ids [][]int32) ([]float32, error) {
	v := make([]float32, len(ids)*e.dim)
	for i := range v {
		v[i] = float32(math.NaN())
	}
	return v, nil
}

// TestMaxConns: beyond MaxConns open connections a new one is not served
// until one closes.
func TestMaxConns(t *testing.T) {
	fx := newFixture(t, "", 15)
	s, err := New(fx.f, Options{HeadPath: fx.headPath, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ln, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := s.HTTPServer(ln.Addr().String())
	go hs.Serve(ln)
	defer hs.Close()
	url := "http://" + ln.Addr().String() + "/metrics"
	var idle []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	client := &http.Client{Timeout: 300 * time.Millisecond}
	if resp, err := client.Get(url); err == nil {
		resp.Body.Close()
		t.Errorf("a third connection was served beside 2 open of MaxConns 2: %s", resp.Status)
	}
	idle[0].Close()
	client.Timeout = 10 * time.Second
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("after one closed: %v", err)
	}
	resp.Body.Close()
	idle[1].Close()
}

// TestIdleGivesWay: at MaxConns, a new client takes the place of a
// keep-alive connection that sits idle (before, idle connections held
// their slots for the 2 minutes of IdleTimeout).
func TestIdleGivesWay(t *testing.T) {
	fx := newFixture(t, "", 21)
	s, err := New(fx.f, Options{HeadPath: fx.headPath, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ln, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := s.HTTPServer(ln.Addr().String())
	go hs.Serve(ln)
	defer hs.Close()
	url := "http://" + ln.Addr().String() + "/metrics"
	for i := 0; i < 2; i++ { // two clients, each keeping its connection open after a request
		c := &http.Client{Transport: &http.Transport{}}
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		defer c.CloseIdleConnections()
	}
	third := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	resp, err := third.Get(url)
	if err != nil {
		t.Fatalf("a third client beside two idle connections of MaxConns 2: %v", err)
	}
	resp.Body.Close()
}

// TestTinyMemory: a memory that holds one vector (features' TestMemory
// checks that it does) evicts within a batch, and the answers are still
// right.
func TestTinyMemory(t *testing.T) {
	fx := newFixture(t, "", 16)
	s, ts := fx.server(t, Options{Memory: 1, MaxWait: 50 * time.Millisecond})
	items := fx.items()[:10]
	want := fx.want(t, s.Head(), items)
	var its []map[string]string
	for _, it := range items {
		its = append(its, map[string]string{"prompt": it.Prompt, "response": it.Response})
	}
	postRewards(t, ts.URL+"/v1/reward", map[string]any{"items": its}, want)
}

// TestHugeText: a 15 MiB response is answered (the tokenizer sees only the
// bytes its truncation can keep), and equals the direct computation.
func TestHugeText(t *testing.T) {
	fx := newFixture(t, "", 17)
	s, ts := fx.server(t, Options{MaxBody: 20 << 20, MaxBytes: 20 << 20})
	items := []Item{{Prompt: "\n\nHuman: Say a lot.\n\nAssistant:", Response: strings.Repeat("so much to say ", 1<<20)}}
	want := fx.want(t, s.Head(), items)
	resp, raw := post(t, ts.URL+"/v1/reward", map[string]any{"items": []map[string]string{{"prompt": items[0].Prompt, "response": items[0].Response}}})
	if resp.StatusCode != 200 {
		t.Fatalf("%s %.200s", resp.Status, raw)
	}
	if got := rewardsOf(t, raw); !near(got[0], want[0]) {
		t.Errorf("reward %v, want %v", got[0], want[0])
	}
}

// TestOpenRLHFShapes: what OpenRLHF sends, as it sends it. A rollout batch
// of 2,048 queries in one request is taken at the defaults (before,
// --max-items 1,024 answered 400 and training stopped) and scored in
// batches of at most MaxBatch (before, one large request made a batch of
// all its items); labels holding NaN and Infinity (Python's json.dumps) are
// ignored, not a 400; a null prompt or query is named.
func TestOpenRLHFShapes(t *testing.T) {
	fx := newFixture(t, "", 22)
	s, ts := fx.server(t, Options{MaxBatch: 256})
	items := fx.items()
	var q []string
	for len(q) < 2048 {
		for _, it := range items {
			q = append(q, it.Prompt+" "+it.Response+fmt.Sprintf(" %d", len(q)))
		}
	}
	q = q[:2048]
	body := []byte(`{"query": ` + mustJSON(t, q) + `, "labels": [NaN, Infinity, -Infinity, "x"]}`)
	resp, raw := post(t, ts.URL+"/get_reward", body)
	if resp.StatusCode != 200 || len(rewardsOf(t, raw)) != 2048 {
		t.Fatalf("2,048 queries with NaN labels: %s %.200s", resp.Status, raw)
	}
	page := metricsOf(t, ts.URL)
	if n := page[`ser_batch_items_count`]; n < 8 { // 2,048 items (and the warm-up) in batches of 256 at most
		t.Errorf("%v batches for 2,048 items of MaxBatch 256", n)
	}
	if over := page[`ser_batch_items_count`] - page[`ser_batch_items_bucket{le="256"}`]; over != 0 {
		t.Errorf("%v batches larger than MaxBatch", over)
	}
	if s.opt.MaxItems < 2048 {
		t.Errorf("MaxItems %d by default", s.opt.MaxItems)
	}
	for _, c := range []struct{ body, says string }{
		{`{"query": ["a\n\nAssistant: b"], "prompts": [null]}`, "field prompts[0]: null"},
		{`{"query": [null]}`, "field query[0]: null"},
	} {
		if resp, raw := post(t, ts.URL+"/get_reward", []byte(c.body)); resp.StatusCode != 400 || !strings.Contains(string(raw), c.says) {
			t.Errorf("%s: %s %s", c.body, resp.Status, raw)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// TestPaceAndLatest: the pace a request's time grows by is a fading
// maximum (a batch of new texts is not forgotten after one of cached
// texts: a request of new texts timed at the cached pace got 503s), and
// Latest is the end of the latest request's time, which a shutdown waits
// for (it waited --timeout + 5 s, and a long request's graceful stop
// exited 1).
func TestPaceAndLatest(t *testing.T) {
	fx := newFixture(t, "", 9)
	s, _ := fx.server(t, Options{Timeout: time.Second})
	s.pace.Store(0)
	s.observePace(time.Second, 100) // 10 ms an item: new texts
	s.observePace(time.Millisecond, 100)
	if p := s.Pace(); p != time.Duration(0.98*float64(10*time.Millisecond)) {
		t.Errorf("pace %v after a slow batch and a fast one, want 9.8ms", p)
	}
	s.observePace(time.Second, 50) // 20 ms an item: at once
	if p := s.Pace(); p != 20*time.Millisecond {
		t.Errorf("pace %v after a slower batch, want 20ms", p)
	}
	before := time.Now()
	d := s.Deadline(1000)
	if d < 21*time.Second || s.Latest().Before(before.Add(d)) {
		t.Errorf("deadline %v (1,000 items at 20 ms, and the 1 s timeout), latest %v", d, s.Latest().Sub(before))
	}
	s.Deadline(1) // a shorter request does not move the latest end back
	if s.Latest().Before(before.Add(d)) {
		t.Error("a shorter request moved the latest end back")
	}
}
