package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/internal/testsupport/tiny"
	"github.com/ser-rl/ser/models"
)

// serProcess runs the ser binary with a deadline, so that a hang is a
// failure rather than a stuck test, and returns its combined output.
func serProcess(t *testing.T, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, serBin, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("ser %v did not finish within %s (a hang):\n%s", args, timeout, out)
	}
	return string(out), err
}

// TestHostileModelFiles: every file ser reads from a model folder or its
// home is a regular file read with a bound. (Before, a manifest.json linked
// to /dev/zero ran `ser embed` out of memory, a FIFO manifest.json hung `ser
// models list` for good, and a FIFO chat_template.jinja was read as "no chat
// template".)
func TestHostileModelFiles(t *testing.T) {
	home := testenv.Home(t)
	lib := testenv.ORTLib(t, home)
	data := sampleFile(t, t.TempDir(), 5, 1)

	zero := t.TempDir()
	if err := os.Symlink("/dev/zero", filepath.Join(zero, "manifest.json")); err != nil {
		t.Fatal(err)
	}
	out, err := serProcess(t, time.Minute, "--home", home, "embed", "--model", zero, "--data", data)
	if err == nil || !strings.Contains(out, "not a regular file") {
		t.Errorf("manifest.json -> /dev/zero: %v\n%s", err, out)
	}

	fifoHome := t.TempDir()
	os.MkdirAll(filepath.Join(fifoHome, "models", "f"), 0o755)
	if err := syscall.Mkfifo(filepath.Join(fifoHome, "models", "f", "manifest.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifoCache := filepath.Join(fifoHome, "c.feat")
	syscall.Mkfifo(fifoCache, 0o644)
	head := filepath.Join(t.TempDir(), "rm.head")
	if _, stderr, err := run(t, home, "-q", "train", "--data", sampleFile(t, t.TempDir(), 30, 2), "--out", head, "--cache", filepath.Join(t.TempDir(), "c.feat")); err != nil {
		t.Fatal(stderr)
	}
	out, err = serProcess(t, time.Minute, "--home", home, "score", "--head", head, "--in", data, "--cache", fifoCache)
	if err == nil || !strings.Contains(out, "not a regular file") {
		t.Errorf("score --cache FIFO: %v\n%s", err, out)
	}
	out, err = serProcess(t, time.Minute, "--home", fifoHome, "--ort-lib", lib, "models", "list")
	if err != nil || !strings.Contains(out, "not a regular file") {
		t.Errorf("a FIFO manifest.json under the home: %v\n%s", err, out)
	}

	llama := map[string]any{"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama", "hidden_size": tiny.Dim, "eos_token_id": 128001}
	dir := exportedFolder(t, "llama3", tiny.Options{Pooling: models.PoolLast}, llama)
	var tc map[string]any
	json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "tokenizer_config.json"))), &tc)
	delete(tc, "chat_template")
	raw, _ := json.Marshal(tc)
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), raw, 0o644)
	if err := syscall.Mkfifo(filepath.Join(dir, "chat_template.jinja"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = serProcess(t, time.Minute, "--home", home, "models", "import", "--no-check", dir)
	if err == nil || !strings.Contains(out, "chat_template.jinja: not a regular file") {
		t.Errorf("a FIFO chat_template.jinja: %v\n%s", err, out)
	}
}

// TestMaxTokensAlwaysACap: a model_max_length that is not a positive whole
// number is ignored (the import's default cap stands), and a manifest's
// max_tokens must be 1 or more. (Before, 0.5 became max_tokens 0, which
// meant no cap: a 3,000,005-token text reached the graph.)
func TestMaxTokensAlwaysACap(t *testing.T) {
	home := testenv.Home(t)
	llama := map[string]any{"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama", "hidden_size": tiny.Dim,
		"eos_token_id": 128001, "max_position_embeddings": 512}
	for _, bad := range []any{0.5, -3, 1e-9, 100.5, "512", []int{1}} {
		dir := exportedFolder(t, "llama3", tiny.Options{Pooling: models.PoolLast}, llama)
		var tc map[string]any
		json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "tokenizer_config.json"))), &tc)
		tc["model_max_length"] = bad
		raw, _ := json.Marshal(tc)
		os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), raw, 0o644)
		_, stderr, err := run(t, home, "models", "import", "--no-check", dir)
		if err != nil {
			t.Fatalf("model_max_length %v: %v", bad, err)
		}
		m, err := models.ReadManifest(dir)
		if err != nil {
			t.Fatal(err)
		}
		if m.MaxTokens != 512 || !strings.Contains(stderr, "not a positive whole number") {
			t.Errorf("model_max_length %v: max_tokens %d (want the context, 512)\n%s", bad, m.MaxTokens, stderr)
		}
		var raw2 map[string]any
		json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "manifest.json"))), &raw2)
		raw2["max_tokens"] = 0
		b, _ := json.Marshal(raw2)
		os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644)
		if _, err := models.ReadManifest(dir); err == nil || !strings.Contains(err.Error(), "field max_tokens") {
			t.Errorf("max_tokens 0 read: %v", err)
		}
	}
}

// TestImportTemplateInterrupted: Ctrl-C stops `ser models import` while a
// hostile chat template renders (before, SIGINT and SIGTERM were ignored for
// over ten minutes), and nothing is written.
func TestImportTemplateInterrupted(t *testing.T) {
	home := testenv.Home(t)
	llama := map[string]any{"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama", "hidden_size": tiny.Dim, "eos_token_id": 128001}
	dir := exportedFolder(t, "llama3", tiny.Options{Pooling: models.PoolLast}, llama)
	var tc map[string]any
	json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "tokenizer_config.json"))), &tc)
	tc["chat_template"] = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
	raw, _ := json.Marshal(tc)
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), raw, 0o644)
	cmd := exec.Command(serBin, "--home", home, "models", "import", "--no-check", dir)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, _ := err.(*exec.ExitError); ee == nil || ee.ExitCode() != 130 || !strings.Contains(out.String(), "interrupted") {
			t.Errorf("exit %v after SIGINT (want 130, interrupted):\n%s", err, out.String())
		}
	case <-time.After(8 * time.Second): // the renderer's own limit is 10 s
		cmd.Process.Kill()
		t.Fatal("SIGINT did not stop the import")
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
		t.Error("a manifest was written")
	}
}
