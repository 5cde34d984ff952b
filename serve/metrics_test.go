package serve

import (
	"strings"
	"testing"
)

// TestMetricsText: label values are escaped as the exposition format says
// (backslash, double quote and newline only; a tab or other byte is written
// as it is, where %q wrote \t and \x01, which Prometheus reads as other
// text), families are written in name order with their help and type, and
// a label value given for a family without labels is a bug caught at once.
func TestMetricsText(t *testing.T) {
	r := newRegistry()
	c := r.counterVec("x_total", "Counts\nthings \\ here.", "path")
	c.Add(2, "a\"b\\c\nd\te\x01é")
	h := r.histogram("a_seconds", "Time.", []float64{1, 2})
	h.Observe(1.5)
	r.gauge("g", "A gauge.", func() float64 { return 7 })
	var b strings.Builder
	if err := r.write(&b); err != nil {
		t.Fatal(err)
	}
	want := "# HELP a_seconds Time.\n# TYPE a_seconds histogram\n" +
		"a_seconds_bucket{le=\"1\"} 0\na_seconds_bucket{le=\"2\"} 1\na_seconds_bucket{le=\"+Inf\"} 1\na_seconds_sum 1.5\na_seconds_count 1\n" +
		"# HELP g A gauge.\n# TYPE g gauge\ng 7\n" +
		"# HELP x_total Counts\\nthings \\\\ here.\n# TYPE x_total counter\n" +
		"x_total{path=\"a\\\"b\\\\c\\nd\te\x01é\"} 2\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	defer func() {
		if recover() == nil {
			t.Error("a counter without labels took a label value")
		}
	}()
	r.counter("y_total", "Y.").f.addTo(1, "extra")
}

// TestNaNToNull: bare NaN and infinities become null, in strings nothing
// changes, and no input makes it panic (before, "NaN", shorter than
// "null", did).
func TestNaNToNull(t *testing.T) {
	for in, want := range map[string]string{
		`[NaN, Infinity, -Infinity, "NaN", "a\"NaN"]`: `[null, null, null, "NaN", "a\"NaN"]`,
		`{"a": 1}`: `{"a": 1}`,
		`NaN`:      `null`,
		`"\\"NaN`:  `"\\"null`,
	} {
		if got := string(nanToNull([]byte(in))); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

func FuzzNaNToNull(f *testing.F) {
	f.Add([]byte(`[NaN, "x\"", -Infinity]`))
	f.Fuzz(func(t *testing.T, raw []byte) { nanToNull(raw) })
}
