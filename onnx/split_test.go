package onnx

import (
	"errors"
	"testing"
)

// TestRunSplitting: a batch that runs out of device memory is split and
// retried until it fits; other errors are returned as they are.
func TestRunSplitting(t *testing.T) {
	rows := make([][]int32, 13)
	for i := range rows {
		rows[i] = []int32{int32(i)}
	}
	calls := 0
	run := func(b [][]int32, dst []float32) error {
		calls++
		if len(b) > 3 {
			return errors.New("CUDA failure 2: out of memory; BFCArena::AllocateRawInternal")
		}
		for i, r := range b {
			dst[i] = float32(r[0])
		}
		return nil
	}
	dst := make([]float32, len(rows))
	if err := runSplitting(run, rows, dst, 1); err != nil {
		t.Fatal(err)
	}
	for i, v := range dst {
		if v != float32(i) {
			t.Fatalf("row %d got %v: rows landed in the wrong place", i, v)
		}
	}
	if calls < 5 {
		t.Errorf("%d calls: the batch was not split", calls)
	}
	bad := func([][]int32, []float32) error { return errors.New("invalid input") }
	if err := runSplitting(bad, rows, dst, 1); err == nil || err.Error() != "invalid input" {
		t.Errorf("a non-memory error: %v", err)
	}
}
