package main

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/models"
)

// TestShardMerge embeds a dataset as three shards into three caches, merges
// them, and compares with one unsharded run: the same keys and the same
// vectors, bit for bit, with duplicates collapsed.
func TestShardMerge(t *testing.T) {
	home := testenv.Home(t)
	dir := t.TempDir()
	data := synthPairs(t, dir, 150, 11)
	m, err := models.Find(home, models.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	whole := filepath.Join(dir, "whole.feat")
	if _, stderr, err := ser(t, home, "--quiet", "embed", "--data", data, "--cache", whole); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var shards []string
	total := 0
	for i := 0; i < 3; i++ {
		p := filepath.Join(dir, "shard"+string(rune('0'+i))+".feat")
		if _, stderr, err := ser(t, home, "--quiet", "embed", "--data", data, "--cache", p, "--shard", string(rune('0'+i))+"/3"); err != nil {
			t.Fatalf("shard %d: %v\n%s", i, err, stderr)
		}
		n := len(readCache(t, p, m))
		if n == 0 {
			t.Fatalf("shard %d is empty", i)
		}
		total += n
		shards = append(shards, p)
	}
	merged := filepath.Join(dir, "merged.feat")
	// the first shard twice: its records must be collapsed, not doubled
	_, stderr, err := ser(t, home, append([]string{"cache", "merge", "--cache", merged}, append(shards, shards[0])...)...)
	if err != nil {
		t.Fatalf("merge: %v\n%s", err, stderr)
	}
	want, got := readCache(t, whole, m), readCache(t, merged, m)
	worst, differ := float32(0), 0
	for k, w := range want {
		d := float32(0)
		for i := range w {
			d = max(d, abs32(got[k][i]-w[i]))
		}
		if d > 0 {
			differ++
		}
		worst = max(worst, d)
	}
	t.Logf("max difference %g, %d vectors differ", worst, differ)
	if total != len(want) || !reflect.DeepEqual(got, want) {
		t.Fatalf("shards hold %d, merged %d, unsharded %d vectors; equal: %v", total, len(got), len(want), reflect.DeepEqual(got, want))
	}
	if !strings.Contains(stderr, "already present") {
		t.Errorf("merge said nothing of duplicates:\n%s", stderr)
	}
	if _, _, err := ser(t, home, "embed", "--data", data, "--shard", "3/3", "--cache", merged); err == nil {
		t.Error("--shard 3/3 accepted")
	}
}
