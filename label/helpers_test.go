package label

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testSet is n pairs "Q i" / "good i" / "bad i"; the source prefers good
// (A), and the side shown is the seeded coin's.
func testSet(t testing.TB, n int) *Set {
	t.Helper()
	var ps []Pair
	for i := 0; i < n; i++ {
		ps = append(ps, Pair{Prompt: fmt.Sprintf("Q %d", i), A: fmt.Sprintf("good %d", i), B: fmt.Sprintf("bad %d", i), Source: "a"})
	}
	s, err := NewSet(ps, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openStore(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openLogT(t testing.TB, s *Store, name string) *Log {
	t.Helper()
	l, err := s.Log(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func answer(t testing.TB, l *Log, p *Pair, a string, k int) Record {
	t.Helper()
	r, err := l.Answer(p, a, "", t0.Add(time.Duration(k)*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func writeFile(t testing.TB, path, text string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newHTTPTest(h http.Handler) *httptest.Server { return httptest.NewServer(h) }
