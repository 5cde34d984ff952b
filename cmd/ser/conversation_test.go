package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/features"
	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/models"
	"github.com/ser-rl/ser/serve"
)

// TestOneConversationEverywhere: one conversation gets one reward, to the
// last bit, through every path: an HH-RLHF transcript, a {prompt, chosen,
// rejected} row, an UltraFeedback row and a chat row (ser eval, ser
// score), and the server's two endpoints, whether the trainer writes the
// conversation as HH-RLHF does or with Llama-3's or ChatML's chat template,
// with its prompts apart or not. (Before, /get_reward kept "\n\nAssistant:"
// in the prompt and the response's leading space, and 4.8% of held-out
// pairs flipped their preference against ser eval.)
func TestOneConversationEverywhere(t *testing.T) {
	home := testenv.Home(t)
	dir := t.TempDir()
	cachePath, headPath := trainedHead(t, home, dir, sampleFile(t, dir, 200, 3))
	type conv struct {
		turns            []data.Turn
		chosen, rejected string
	}
	convs := []conv{
		{[]data.Turn{{Role: "user", Content: "How do I keep bread fresh?"}}, "Keep it in a paper bag, or freeze slices.", "Bread does not go stale."},
		{[]data.Turn{{Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Hello! How can I help?"}, {Role: "user", Content: "Name a prime."}}, "Seven.", "Nine, which is prime."},
		{[]data.Turn{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Name a colour."}}, "Red.", "I would rather talk about cheese."},
		// a system message mid-conversation, two user turns in a row, and a
		// user asking about another format's marker
		{[]data.Turn{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}, {Role: "system", Content: "Answer in French."},
			{Role: "user", Content: "What is <|im_start|>?"}, {Role: "user", Content: "And name a colour."}}, "Rouge.", "Red."},
	}
	hhText := func(c conv, resp string) string { return "\n\n" + data.RenderHH(c.turns) + "\n\nAssistant: " + resp }
	llama3 := func(c conv) string {
		var b strings.Builder
		b.WriteString("<|begin_of_text|>")
		for _, t := range c.turns {
			fmt.Fprintf(&b, "<|start_header_id|>%s<|end_header_id|>\n\n%s<|eot_id|>", t.Role, t.Content)
		}
		b.WriteString("<|start_header_id|>assistant<|end_header_id|>\n\n")
		return b.String()
	}
	chatml := func(c conv) string {
		var b strings.Builder
		for _, t := range c.turns {
			fmt.Fprintf(&b, "<|im_start|>%s\n%s<|im_end|>\n", t.Role, t.Content)
		}
		b.WriteString("<|im_start|>assistant\n")
		return b.String()
	}
	write := func(name string, rows []any) string {
		var b bytes.Buffer
		for _, r := range rows {
			raw, _ := json.Marshal(r)
			b.Write(append(raw, '\n'))
		}
		p := filepath.Join(dir, name)
		os.WriteFile(p, b.Bytes(), 0o644)
		return p
	}
	var hh, pairs, uf, chat []any
	for _, c := range convs {
		hh = append(hh, map[string]string{"chosen": hhText(c, c.chosen), "rejected": hhText(c, c.rejected)})
		prompt := data.RenderHH(c.turns)
		if len(c.turns) == 1 {
			prompt = c.turns[0].Content // a plain message: one user turn
		}
		pairs = append(pairs, map[string]string{"prompt": prompt, "chosen": c.chosen, "rejected": c.rejected})
		msgs := func(resp string) []data.Turn {
			return append(append([]data.Turn(nil), c.turns...), data.Turn{Role: "assistant", Content: resp})
		}
		uf = append(uf, map[string]any{"prompt": prompt, "prompt_id": "x", "chosen": msgs(c.chosen), "rejected": msgs(c.rejected), "score_chosen": 9, "score_rejected": 2})
		chat = append(chat, map[string]any{"messages": msgs(c.chosen)}, map[string]any{"messages": msgs(c.rejected)})
	}
	// want: ser eval on the HH-RLHF transcripts
	evalScores := func(file string) [][2]float64 {
		out := filepath.Join(dir, filepath.Base(file)+".scores")
		if _, stderr, err := run(t, home, "-q", "eval", "--head", headPath, "--cache", cachePath, "--data", file, "--scores-out", out); err != nil {
			t.Fatalf("eval %s: %v\n%s", file, err, stderr)
		}
		var got [][2]float64
		for _, l := range strings.Split(strings.TrimSpace(readFile(t, out)), "\n") {
			var r struct{ RewardChosen, RewardRejected float64 }
			json.Unmarshal([]byte(strings.NewReplacer("reward_chosen", "RewardChosen", "reward_rejected", "RewardRejected").Replace(l)), &r)
			got = append(got, [2]float64{r.RewardChosen, r.RewardRejected})
		}
		return got
	}
	want := evalScores(write("hh.jsonl", hh))
	check := func(path string, got [][2]float64) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d conversations scored, want %d", path, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: conversation %d: rewards %v, want %v (as ser eval on the HH-RLHF transcript)", path, i, got[i], want[i])
			}
		}
	}
	check("eval pairs", evalScores(write("pairs.jsonl", pairs)))
	check("eval UltraFeedback", evalScores(write("uf.jsonl", uf)))
	out, stderr, err := run(t, home, "-q", "score", "--head", headPath, "--cache", cachePath, "--in", write("chat.jsonl", chat))
	if err != nil {
		t.Fatalf("score: %v\n%s", err, stderr)
	}
	var got [][2]float64
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		var a, b struct{ Reward float64 }
		json.Unmarshal([]byte(lines[i]), &a)
		json.Unmarshal([]byte(lines[i+1]), &b)
		got = append(got, [2]float64{a.Reward, b.Reward})
	}
	check("score chat rows", got)

	// the server, in this process, on the same cache and head
	m, err := models.Find(home, "default")
	if err != nil {
		t.Fatal(err)
	}
	f, err := features.New(features.Options{Manifest: m, CachePath: cachePath, ORTLib: testenv.ORTLib(t, home)})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := serve.New(f, serve.Options{HeadPath: headPath})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	post := func(path string, body any) (map[string]any, http.Header) {
		raw, _ := json.Marshal(body)
		resp, err := http.Post(ts.URL+path, "application/json", bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		json.NewDecoder(resp.Body).Decode(&v)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s %v", path, resp.Status, v)
		}
		return v, resp.Header
	}
	rewards := func(v map[string]any) [][2]float64 {
		rs := v["rewards"].([]any)
		var out [][2]float64
		for i := 0; i+1 < len(rs); i += 2 {
			out = append(out, [2]float64{rs[i].(float64), rs[i+1].(float64)})
		}
		return out
	}
	var hhQuery, l3Query, l3Prompts, cmlQuery, cmlPrompts []string
	var items []map[string]string
	for _, c := range convs {
		for _, r := range []string{c.chosen, c.rejected} {
			hhQuery = append(hhQuery, hhText(c, " "+r)) // the response's leading space, as a policy writes it
			l3Query = append(l3Query, llama3(c)+r+"<|eot_id|>")
			l3Prompts = append(l3Prompts, llama3(c))
			cmlQuery = append(cmlQuery, chatml(c)+r+"<|im_end|>\n")
			cmlPrompts = append(cmlPrompts, chatml(c))
			items = append(items, map[string]string{"prompt": llama3(c), "response": r})
		}
	}
	v, _ := post("/get_reward", map[string]any{"query": hhQuery})
	check("/get_reward, HH-RLHF, no prompts", rewards(v))
	v, hdr := post("/get_reward", map[string]any{"query": l3Query, "prompts": l3Prompts, "labels": nil})
	check("/get_reward, Llama-3 template, with prompts", rewards(v))
	if c := hdr.Get("X-Ser-Conversation"); c != fmt.Sprintf("backbone=hh; read=llama3:%d", 2*len(convs)) {
		t.Errorf("X-Ser-Conversation %q", c)
	}
	v, _ = post("/get_reward", map[string]any{"query": l3Query})
	check("/get_reward, Llama-3 template, no prompts", rewards(v))
	v, _ = post("/get_reward", map[string]any{"query": cmlQuery, "prompts": cmlPrompts})
	check("/get_reward, ChatML, with prompts", rewards(v))
	v, _ = post("/v1/reward", map[string]any{"items": items})
	check("/v1/reward, Llama-3 prompts", rewards(v))

	// as trainers also write them: Qwen3's template with thinking off (an
	// empty reasoning block after the generation marker), a BOS before an
	// HH-RLHF transcript, and prompts without the generation marker
	var qwenQuery, qwenPrompts, bosQuery, bare, bareQuery []string
	for _, c := range convs {
		for _, r := range []string{c.chosen, c.rejected} {
			p := chatml(c) + "<think>\n\n</think>\n\n"
			qwenQuery, qwenPrompts = append(qwenQuery, p+r+"<|im_end|>\n"), append(qwenPrompts, p)
			bosQuery = append(bosQuery, "<s>"+hhText(c, r)+"</s>")
			bare = append(bare, "\n\n"+data.RenderHH(c.turns))
			bareQuery = append(bareQuery, hhText(c, r))
		}
	}
	v, _ = post("/get_reward", map[string]any{"query": qwenQuery, "prompts": qwenPrompts})
	check("/get_reward, Qwen3 without thinking, with prompts", rewards(v))
	v, _ = post("/get_reward", map[string]any{"query": qwenQuery})
	check("/get_reward, Qwen3 without thinking, no prompts", rewards(v))
	v, _ = post("/get_reward", map[string]any{"query": bosQuery})
	check("/get_reward, HH-RLHF after a BOS, ending in </s>", rewards(v))
	v, _ = post("/get_reward", map[string]any{"query": bareQuery, "prompts": bare})
	check("/get_reward, prompts without the generation marker", rewards(v))
}

// TestTemplateFlag: --template says how prompts are written when each
// prompt's own markers should not decide. The format a prompt is detected
// in gives the same rewards as naming it; reading an HH-RLHF transcript as a
// plain message (or raw) gives other rewards; a name ser does not know is
// refused, naming the flag.
func TestTemplateFlag(t *testing.T) {
	home := testenv.Home(t)
	dir := t.TempDir()
	cachePath, headPath := trainedHead(t, home, dir, sampleFile(t, dir, 200, 3))
	in := filepath.Join(dir, "rows.jsonl")
	var b strings.Builder
	for _, r := range []string{"Keep it in a paper bag.", "Bread does not go stale.", "Freeze slices."} {
		raw, _ := json.Marshal(map[string]string{"prompt": "\n\nHuman: How do I keep bread fresh?\n\nAssistant:", "response": r})
		b.Write(append(raw, '\n'))
	}
	os.WriteFile(in, []byte(b.String()), 0o644)
	score := func(template string) []float64 {
		t.Helper()
		out, stderr, err := run(t, home, "-q", "score", "--head", headPath, "--cache", cachePath, "--in", in, "--template", template)
		if err != nil {
			t.Fatalf("--template %s: %v\n%s", template, err, stderr)
		}
		var rs []float64
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var r struct{ Reward float64 }
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("--template %s: %q: %v", template, l, err)
			}
			rs = append(rs, r.Reward)
		}
		return rs
	}
	auto := score("auto")
	if hh := score("hh"); fmt.Sprint(hh) != fmt.Sprint(auto) {
		t.Errorf("--template hh gives %v, auto (which detects HH-RLHF) %v", hh, auto)
	}
	for _, other := range []string{"plain", "raw"} {
		if got := score(other); fmt.Sprint(got) == fmt.Sprint(auto) {
			t.Errorf("--template %s gives the rewards of auto (%v): the transcript was not read as %s", other, got, other)
		}
	}
	_, _, err := run(t, home, "-q", "score", "--head", headPath, "--cache", cachePath, "--in", in, "--template", "llama4")
	if err == nil || !strings.Contains(err.Error(), "--template") || !strings.Contains(err.Error(), "llama4") {
		t.Errorf("--template llama4: err %v; want a refusal naming the flag and the value", err)
	}
}
