package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ser-rl/ser/internal/testsupport/testenv"
)

// TestServeProcess runs `ser serve` as a process: its rewards equal `ser
// score`'s for the same rows; SIGHUP swaps in a retrained head; SIGTERM
// while a request waits in a batch answers it, then exits 0.
func TestServeProcess(t *testing.T) {
	home := testenv.Home(t)
	dir := t.TempDir()
	cache, rm := trainedHead(t, home, dir, synthPairs(t, dir, 120, 21))
	rows := []map[string]string{
		{"prompt": "\n\nHuman: How do I bake bread?\n\nAssistant:", "response": " Mix flour, water, salt and yeast; knead, let it rise, bake at 230 C."},
		{"prompt": "\n\nHuman: How do I bake bread?\n\nAssistant:", "response": " No."},
	}
	var in bytes.Buffer
	for _, r := range rows {
		json.NewEncoder(&in).Encode(r)
	}
	inFile := filepath.Join(dir, "rows.jsonl")
	os.WriteFile(inFile, in.Bytes(), 0o644)
	scored := func() []float64 {
		out, errb, err := ser(t, home, "-q", "score", "--head", rm, "--cache", cache, "--in", inFile)
		if err != nil {
			t.Fatal(errb)
		}
		var rs []float64
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var v struct{ Reward float64 }
			json.Unmarshal([]byte(line), &v)
			rs = append(rs, v.Reward)
		}
		return rs
	}
	want := scored()

	cmd := exec.Command(serBin, "--home", home, "serve", "--head", rm, "--cache", cache, "--addr", "127.0.0.1:0", "--max-batch", "1000", "--max-wait", "1500ms")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var log []string
	next := func(re *regexp.Regexp) []string {
		t.Helper()
		timeout := time.After(60 * time.Second)
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("ser serve ended; it said:\n%s", strings.Join(log, "\n"))
				}
				log = append(log, line)
				if m := re.FindStringSubmatch(line); m != nil {
					return m
				}
			case <-timeout:
				t.Fatalf("ser serve did not say %v within 60 s; it said:\n%s", re, strings.Join(log, "\n"))
			}
		}
	}
	url := next(regexp.MustCompile(`at (http://\S+), ready`))[1]

	query := map[string]any{"query": []string{rows[0]["prompt"] + rows[0]["response"], rows[1]["prompt"] + rows[1]["response"]}}
	getReward := func() ([]float64, string) {
		raw, _ := json.Marshal(query)
		resp, err := http.Post(url+"/get_reward", "application/json", bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s", resp.Status, body)
		}
		var v struct{ Rewards []float64 }
		json.Unmarshal(body, &v)
		return v.Rewards, resp.Header.Get("X-Ser-Head")
	}
	got, sha := getReward()
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: ser serve %v, ser score %v", i, got[i], want[i])
		}
	}

	// retrain on other pairs, SIGHUP: the new head serves, as ser score says
	if _, errb, err := ser(t, home, "-q", "train", "--data", synthPairs(t, t.TempDir(), 120, 22), "--cache", cache, "--out", rm); err != nil {
		t.Fatal(errb)
	}
	want = scored()
	cmd.Process.Signal(syscall.SIGHUP)
	next(regexp.MustCompile(`reloaded`))
	got, sha2 := getReward()
	if sha2 == sha || sha2 == "" {
		t.Errorf("X-Ser-Head %q after reload, %q before", sha2, sha)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("after SIGHUP, row %d: ser serve %v, ser score %v", i, got[i], want[i])
		}
	}

	// SIGTERM while a request waits for its batch (1.5 s): answered, exit 0
	done := make(chan []float64)
	go func() { r, _ := getReward(); done <- r }()
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		resp, err := http.Get(url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if bytes.Contains(page, []byte("\nser_queue_items 2\n")) {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the request was not queued within 10 s:\n%s", page)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	// while draining (--drain), /healthz answers 503 so that a balancer stops
	// sending (before, the listener closed at once: refused, not 503)
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(url + "/healthz")
		if err == nil && resp.StatusCode == 503 {
			resp.Body.Close()
			break
		}
		if err == nil {
			resp.Body.Close()
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("/healthz after SIGTERM: %v", err)
		}
	}
	if r := <-done; len(r) != 2 || r[0] != want[0] {
		t.Errorf("the request in flight at SIGTERM: %v, want %v", r, want)
	}
	next(regexp.MustCompile(`^stopped$`))
	if err := cmd.Wait(); err != nil {
		t.Errorf("ser serve after SIGTERM: %v (want exit 0)", err)
	}
}
