package models_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ser-rl/ser/internal/testsupport/tiny"
	"github.com/ser-rl/ser/models"
)

// backbone writes a tiny backbone with external data into a fresh home and
// returns the home and the backbone's folder.
func backbone(t testing.TB) (string, string) {
	t.Helper()
	home := t.TempDir()
	dir := filepath.Join(home, "models", "tiny")
	if _, err := tiny.Write(dir, tiny.Options{Pooling: models.PoolMean, External: true}); err != nil {
		t.Fatal(err)
	}
	return home, dir
}

// editManifest rewrites the backbone's manifest.json through fn.
func editManifest(t *testing.T, dir string, fn func(m map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, "manifest.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	raw, _ = json.Marshal(m)
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err %v; want one mentioning %q", err, want)
	}
}

// TestFindChecksFiles: a backbone whose files changed after its manifest was
// written is refused, even after a first use stamped it, so that its vectors
// never mix with the genuine ones under the same fingerprint.
func TestFindChecksFiles(t *testing.T) {
	home, dir := backbone(t)
	if _, err := models.Find(home, "tiny"); err != nil {
		t.Fatal(err)
	}
	if stamps, _ := filepath.Glob(filepath.Join(home, "cache", "stamps", "*.json")); len(stamps) != 1 {
		t.Fatalf("stamps %v", stamps)
	}
	tok := filepath.Join(dir, "tokenizer.json")
	raw, _ := os.ReadFile(tok)
	time.Sleep(10 * time.Millisecond)
	// the same size, other bytes: the stamp's time no longer matches, so it is hashed again
	if err := os.WriteFile(tok, []byte(strings.Replace(string(raw), "good", "goof", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := models.Find(home, "tiny")
	wantErr(t, err, "has sha256")
	if err := os.WriteFile(tok, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := models.Find(home, "tiny"); err != nil {
		t.Fatalf("restored: %v", err)
	}
	// external data changed
	data := filepath.Join(dir, "model.onnx.data")
	blob, _ := os.ReadFile(data)
	blob[0] ^= 1
	if err := os.WriteFile(data, blob, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = models.Find(home, "tiny")
	wantErr(t, err, "model.onnx.data has sha256")
}

// TestFindRequiresExternalData: external data the manifest does not list
// would be read unchecked; it is an error.
func TestFindRequiresExternalData(t *testing.T) {
	home, dir := backbone(t)
	editManifest(t, dir, func(m map[string]any) {
		files := m["files"].([]any)
		var kept []any
		for _, f := range files {
			if f.(map[string]any)["name"] != "model.onnx.data" {
				kept = append(kept, f)
			}
		}
		m["files"] = kept
	})
	_, err := models.Find(home, "tiny")
	wantErr(t, err, "does not list")
}

// TestManifestPathsStayInside: file names, the model and the tokenizer must
// name files inside the folder; links out, devices and FIFOs are refused.
func TestManifestPathsStayInside(t *testing.T) {
	cases := []struct {
		name  string
		patch func(m map[string]any)
		want  string
	}{
		{"dot-dot file", func(m map[string]any) {
			m["files"] = append(m["files"].([]any), map[string]any{"name": "../../../../etc/passwd", "sha256": strings.Repeat("0", 64)})
		}, "not a path inside"},
		{"absolute file", func(m map[string]any) {
			m["files"] = append(m["files"].([]any), map[string]any{"name": "/dev/zero", "sha256": strings.Repeat("0", 64)})
		}, "not a path inside"},
		{"model outside", func(m map[string]any) { m["model"] = "../other/model.onnx" }, "field model"},
		{"name with dot-dot", func(m map[string]any) { m["name"] = "../../evil" }, "field name"},
		{"bad sha", func(m map[string]any) { m["files"].([]any)[0].(map[string]any)["sha256"] = "xyz" }, "sha256"},
		{"huge dim", func(m map[string]any) { m["dim"] = 1 << 30 }, "field dim"},
		{"negative pad", func(m map[string]any) { m["pad_id"] = -7 }, "field pad_id"},
		{"negative max tokens", func(m map[string]any) { m["max_tokens"] = -5 }, "field max_tokens"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			home, dir := backbone(t)
			editManifest(t, dir, c.patch)
			_, err := models.Find(home, "tiny")
			wantErr(t, err, c.want)
		})
	}
	t.Run("symlink out", func(t *testing.T) {
		home, dir := backbone(t)
		outside := filepath.Join(t.TempDir(), "tokenizer.json")
		raw, _ := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
		os.WriteFile(outside, raw, 0o644)
		os.Remove(filepath.Join(dir, "tokenizer.json"))
		if err := os.Symlink(outside, filepath.Join(dir, "tokenizer.json")); err != nil {
			t.Fatal(err)
		}
		_, err := models.Find(home, "tiny")
		wantErr(t, err, "outside the backbone folder")
	})
	t.Run("fifo", func(t *testing.T) {
		home, dir := backbone(t)
		os.Remove(filepath.Join(dir, "tokenizer.json"))
		if err := syscall.Mkfifo(filepath.Join(dir, "tokenizer.json"), 0o644); err != nil {
			t.Skip("no FIFOs here:", err)
		}
		done := make(chan error, 1)
		go func() { _, err := models.Find(home, "tiny"); done <- err }()
		select {
		case err := <-done:
			wantErr(t, err, "not a regular file")
		case <-time.After(10 * time.Second):
			t.Fatal("Find hangs on a FIFO")
		}
	})
	t.Run("symlink to a device", func(t *testing.T) {
		home, dir := backbone(t)
		os.Remove(filepath.Join(dir, "tokenizer.json"))
		if err := os.Symlink("/dev/zero", filepath.Join(dir, "tokenizer.json")); err != nil {
			t.Fatal(err)
		}
		_, err := models.Find(home, "tiny")
		wantErr(t, err, "outside the backbone folder")
	})
}

// TestReadGraphInfo reads a graph's inputs, outputs and external data, and
// refuses what is not an ONNX model without reading past its end.
func TestReadGraphInfo(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.onnx")
	if err := tiny.WriteModel(path, tiny.Options{Pooling: models.PoolLast, External: true, DataFile: "weights.bin", PositionIDs: true}); err != nil {
		t.Fatal(err)
	}
	g, err := models.ReadGraphInfo(path)
	if err != nil {
		t.Fatal(err)
	}
	var ins []string
	for _, in := range g.Inputs {
		ins = append(ins, in.Name)
	}
	if strings.Join(ins, ",") != "input_ids,attention_mask,position_ids" || len(g.Outputs) != 1 ||
		g.Outputs[0].Name != "last_hidden_state" || g.Outputs[0].Rank != 3 || g.Outputs[0].ElemType != 1 ||
		strings.Join(g.External, ",") != "weights.bin" {
		t.Fatalf("%+v", g)
	}
	raw, _ := os.ReadFile(path)
	for i, bad := range [][]byte{[]byte("not onnx at all"), raw[:len(raw)/2], {0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f}} {
		p := filepath.Join(dir, "bad.onnx")
		os.WriteFile(p, bad, 0o644)
		if _, err := models.ReadGraphInfo(p); err == nil {
			t.Errorf("case %d: no error", i)
		}
	}
}

// FuzzManifest reads arbitrary bytes as a backbone's manifest.json and
// checks its files: an error or a backbone whose files verify, never a panic,
// a hang or a read outside the folder.
func FuzzManifest(f *testing.F) {
	home, dir := backbone(f)
	raw, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
	f.Add(raw)
	f.Add([]byte(`{"name":"x","files":[{"name":"../../etc/passwd","sha256":"00"}],"model":"../../etc/passwd"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if err := os.WriteFile(filepath.Join(dir, "manifest.json"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := models.Find(home, "tiny")
		if err != nil {
			return
		}
		for _, file := range m.Files {
			if !filepath.IsLocal(file.Name) {
				t.Fatalf("a manifest naming %q was accepted", file.Name)
			}
		}
	})
}

// TestManifestSizeChecked: a manifest that would be larger than a manifest
// may be read (a chat template writing 750,000 '<', each escaped to six
// bytes) is refused when written, not written and then unreadable.
func TestManifestSizeChecked(t *testing.T) {
	m := &models.Manifest{Name: "huge", Dir: t.TempDir(), PairTemplate: strings.Repeat("<", 750_000) + "{prompt}{response}"}
	err := models.WriteManifest(m)
	if err == nil || !strings.Contains(err.Error(), "over the") {
		t.Fatalf("err %v", err)
	}
	if _, err := os.Stat(filepath.Join(m.Dir, "manifest.json")); !os.IsNotExist(err) {
		t.Errorf("a manifest was written: %v", err)
	}
}
