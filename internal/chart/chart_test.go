package chart

import (
	"strings"
	"testing"
)

// TestWrap: lines at most width runes, at most lines of them, every word
// kept in order until the last line, which says "..." when more was cut.
func TestWrap(t *testing.T) {
	s := "stopped: the safety valve: the rule picks too few validation pairs to measure its precision (3 of at least 20) at loop 1"
	got := Wrap(s, 40, 3)
	lines := strings.Split(got, "\n")
	if len(lines) != 3 {
		t.Fatalf("Wrap gave %d lines, want 3: %q", len(lines), got)
	}
	for _, l := range lines {
		if n := len([]rune(l)); n > 40 || n == 0 {
			t.Errorf("line %q: %d runes, want 1 to 40", l, n)
		}
	}
	if !strings.HasSuffix(got, "...") {
		t.Errorf("Wrap cut %q without saying so", got)
	}
	if !strings.HasPrefix(strings.ReplaceAll(s, " ", ""), strings.ReplaceAll(strings.ReplaceAll(strings.TrimSuffix(got, "..."), "\n", ""), " ", "")) {
		t.Errorf("Wrap changed the words: %q", got)
	}
	if got := Wrap("short one", 40, 3); got != "short one" {
		t.Errorf("Wrap(short) = %q", got)
	}
	long := strings.Repeat("x", 100)
	if got := Wrap(long, 20, 2); len([]rune(got)) != 20 || !strings.HasSuffix(got, "...") {
		t.Errorf("Wrap(one long word) = %q", got)
	}
}
