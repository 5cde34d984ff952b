package serve

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
)

// metrics holds the server's counters and histograms and writes them in
// Prometheus' text exposition format (version 0.0.4). A series is named by
// its metric and labels, as Prometheus writes it: name{k="v",...}.
type metrics struct {
	mu       sync.Mutex
	counters map[string]float64
	hists    map[string]*histogram
}

// histogram counts observations into cumulative buckets (upper bounds).
type histogram struct {
	bounds []float64
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	sum    float64
	n      uint64
}

// The metric families, their help and type; series not listed here are a bug.
var families = map[string][2]string{
	"ser_requests_total":             {"counter", "HTTP requests answered, by endpoint and status code."},
	"ser_request_seconds":            {"histogram", "Time from a request's arrival to its answer, by endpoint."},
	"ser_batch_items":                {"histogram", "Items scored per batch of the feature path."},
	"ser_items_scored_total":         {"counter", "Items (responses) scored."},
	"ser_items_abandoned_total":      {"counter", "Items whose request had ended (client gone or timed out) before their batch ran."},
	"ser_vector_memory_hits_total":   {"counter", "Texts whose vector was in the server's memory of recent texts."},
	"ser_vector_memory_misses_total": {"counter", "Texts read from the feature cache or embedded by the backbone."},
	"ser_head_reloads_total":         {"counter", "Head files reloaded and serving."},
	"ser_head_reload_failures_total": {"counter", "Head reloads refused (the current head kept serving)."},
	"ser_queue_items":                {"gauge", "Items accepted and not yet answered."},
	"ser_queue_capacity":             {"gauge", "Items the queue holds before requests get 429."},
}

// Histogram bounds: seconds of a request, items of a batch.
var (
	secondsBounds = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	itemsBounds   = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096}
)

func newMetrics() *metrics {
	return &metrics{counters: map[string]float64{}, hists: map[string]*histogram{}}
}

// series names a metric with labels given as key, value, key, value...
func series(name string, labels ...string) string {
	if len(labels) == 0 {
		return name
	}
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i := 0; i+1 < len(labels); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", labels[i], labels[i+1])
	}
	b.WriteByte('}')
	return b.String()
}

// add adds v to a counter.
func (m *metrics) add(s string, v float64) {
	m.mu.Lock()
	m.counters[s] += v
	m.mu.Unlock()
}

// observe records v in a histogram, made with bounds on first use.
func (m *metrics) observe(s string, bounds []float64, v float64) {
	m.mu.Lock()
	h := m.hists[s]
	if h == nil {
		h = &histogram{bounds: bounds, counts: make([]uint64, len(bounds)+1)}
		m.hists[s] = h
	}
	h.counts[sort.SearchFloat64s(h.bounds, v)]++
	h.sum += v
	h.n++
	m.mu.Unlock()
}

// family is the metric name of a series.
func family(s string) string {
	if i := strings.IndexByte(s, '{'); i >= 0 {
		return s[:i]
	}
	return s
}

// withLabel adds a label to a series name.
func withLabel(s, k, v string) string {
	if i := strings.IndexByte(s, '{'); i >= 0 {
		return fmt.Sprintf("%s_bucket{%s=%q,%s", s[:i], k, v, s[i+1:])
	}
	return fmt.Sprintf("%s_bucket{%s=%q}", s, k, v)
}

// suffixed is a histogram series' _sum or _count series.
func suffixed(s, suffix string) string {
	if i := strings.IndexByte(s, '{'); i >= 0 {
		return s[:i] + suffix + s[i:]
	}
	return s + suffix
}

func num(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%g", v)
}

// write writes every series, families in name order, with gauges given.
func (m *metrics) write(w io.Writer, gauges map[string]float64) error {
	m.mu.Lock()
	byFamily := map[string][]string{}
	for s := range m.counters {
		byFamily[family(s)] = append(byFamily[family(s)], s)
	}
	for s := range m.hists {
		byFamily[family(s)] = append(byFamily[family(s)], s)
	}
	for s := range gauges {
		byFamily[family(s)] = append(byFamily[family(s)], s)
	}
	var b strings.Builder
	names := make([]string, 0, len(byFamily))
	for f := range byFamily {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		fam := families[f]
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f, fam[1], f, fam[0])
		ss := byFamily[f]
		sort.Strings(ss)
		for _, s := range ss {
			if h, ok := m.hists[s]; ok {
				var cum uint64
				for i, c := range h.counts {
					cum += c
					le := math.Inf(1)
					if i < len(h.bounds) {
						le = h.bounds[i]
					}
					fmt.Fprintf(&b, "%s %d\n", withLabel(s, "le", num(le)), cum)
				}
				fmt.Fprintf(&b, "%s %s\n%s %d\n", suffixed(s, "_sum"), num(h.sum), suffixed(s, "_count"), h.n)
				continue
			}
			v, ok := m.counters[s]
			if !ok {
				v = gauges[s]
			}
			fmt.Fprintf(&b, "%s %s\n", s, num(v))
		}
	}
	m.mu.Unlock()
	_, err := io.WriteString(w, b.String())
	return err
}
