package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"math/rand/v2"

	"github.com/ser-rl/ser/cache"
	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/models"
)

// readCache returns every vector of a cache file by key.
func readCache(t *testing.T, path string, m *models.Manifest) map[cache.Key][]float32 {
	t.Helper()
	c, err := cache.Open(path, m.Fingerprint(), m.Dim, cache.Format(m.FeatureStorage), false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := map[cache.Key][]float32{}
	c.Each(func(k cache.Key, v []float32) error {
		out[k] = append([]float32(nil), v...)
		return nil
	})
	return out
}

// TestEmbedCrash kills `ser embed` with SIGKILL at random moments, reruns it
// until it completes, and compares the cache with an uninterrupted run's: the
// same keys and the same vectors, nothing lost, nothing torn returned.
func TestEmbedCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("full mode only (go test without -short)")
	}
	home := testenv.Home(t)
	dir := t.TempDir()
	data := synthPairs(t, dir, 500, 7)
	m, err := models.Find(home, models.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	clean := filepath.Join(dir, "clean.feat")
	if _, stderr, err := ser(t, home, "--quiet", "embed", "--data", data, "--cache", clean); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, stderr)
	}
	want := readCache(t, clean, m)

	crashed := filepath.Join(dir, "crashed.feat")
	rng := rand.New(rand.NewPCG(1, 2))
	kills := 0
	// Runs are killed at a random point of the work that remains, until
	// little is left; then one runs to the end.
	records := func() int {
		c, err := cache.Open(crashed, m.Fingerprint(), m.Dim, cache.Format(m.FeatureStorage), false)
		if err != nil {
			return 0
		}
		defer c.Close()
		return c.Len()
	}
	for attempt := 0; ; attempt++ {
		cmd := exec.Command(serBin, "--home", home, "--quiet", "embed", "--data", data, "--cache", crashed)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// the kill comes when the cache has grown by a random share of what is
		// left, then a random few milliseconds into the next batch: by
		// progress, not by time, so a faster backbone cannot outrun it
		kill := make(chan struct{})
		stop := make(chan struct{})
		have := records()
		if left := len(want) - have; kills < 10 && float64(left) > 0.05*float64(len(want)) {
			target := have + 1 + int((0.05+0.45*rng.Float64())*float64(left))
			extra := time.Duration(rng.IntN(20)) * time.Millisecond
			go func() {
				for records() < target {
					select {
					case <-stop:
						return
					case <-time.After(2 * time.Millisecond):
					}
				}
				time.Sleep(extra)
				close(kill)
			}()
		}
		select {
		case err := <-done:
			close(stop)
			if err != nil {
				t.Fatalf("run %d failed: %v\n%s", attempt, err, stderr.String())
			}
		case <-kill:
			cmd.Process.Kill()
			<-done
			kills++
			continue
		}
		break
	}
	if kills < 3 {
		t.Fatalf("only %d runs were killed: the test proves little (the data embeds too fast)", kills)
	}
	got := readCache(t, crashed, m)
	if len(got) != len(want) {
		t.Fatalf("after %d kills: %d vectors, want %d", kills, len(got), len(want))
	}
	worst := float32(0)
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Fatalf("after %d kills: a key is missing", kills)
		}
		for i := range w {
			worst = max(worst, abs32(g[i]-w[i]))
		}
	}
	// Fill follows one batching plan, so a resumed run embeds every text in
	// the batch an uninterrupted run would: the vectors are identical.
	if worst != 0 {
		t.Fatalf("after %d kills: vectors differ by up to %g", kills, worst)
	}
	t.Logf("%d kills, %d vectors, max difference %g", kills, len(got), worst)
	_, stderr, err := ser(t, home, "embed", "--data", data, "--cache", crashed)
	if err != nil || !strings.Contains(stderr, "no backbone work") {
		t.Errorf("a rerun on a complete cache: %v\n%s", err, stderr)
	}
	os.Remove(clean)
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}
