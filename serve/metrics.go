package serve

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
)

// registry holds metric families and writes them in Prometheus' text
// exposition format (version 0.0.4). A family is registered once, with its
// help, type and label names, and returns a typed handle (as
// VictoriaMetrics/metrics does): code that counts cannot misspell a name or
// give a label the family lacks.
type registry struct {
	mu       sync.Mutex
	families map[string]*family
}

// family is one metric: a counter, histogram or gauge, and its series, one
// per set of label values.
type family struct {
	name, help, kind string
	labels           []string
	bounds           []float64          // histogram buckets' upper bounds
	series           map[string]*series // by the label values, joined
	read             func() float64     // the value of a gauge or of a counter kept elsewhere, read when written
	reg              *registry
}

// series is one family's values for one set of label values.
type series struct {
	values []string
	v      float64  // counter
	counts []uint64 // histogram, per bucket, not cumulative; the last is +Inf
	sum    float64
	n      uint64
}

func newRegistry() *registry { return &registry{families: map[string]*family{}} }

func (r *registry) add(name, help, kind string, bounds []float64, labels []string) *family {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.families[name]; ok {
		panic("serve: metric " + name + " registered twice")
	}
	f := &family{name: name, help: help, kind: kind, labels: labels, bounds: bounds, series: map[string]*series{}, reg: r}
	r.families[name] = f
	return f
}

// with returns the series of the label values (one per label name), made on
// first use.
func (f *family) with(values ...string) *series {
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("serve: metric %s has labels %v, given %d values", f.name, f.labels, len(values)))
	}
	key := strings.Join(values, "\x00")
	s := f.series[key]
	if s == nil {
		s = &series{values: values}
		if f.kind == "histogram" {
			s.counts = make([]uint64, len(f.bounds)+1)
		}
		f.series[key] = s
	}
	return s
}

// counter is a counter without labels; counterVec one with.
type counter struct{ f *family }
type counterVec struct{ f *family }

func (r *registry) counter(name, help string) counter {
	f := r.add(name, help, "counter", nil, nil)
	f.with() // written as 0 before the first count
	return counter{f}
}

func (r *registry) counterVec(name, help string, labels ...string) counterVec {
	return counterVec{r.add(name, help, "counter", nil, labels)}
}

// Add adds v to the counter.
func (c counter) Add(v float64) { c.f.addTo(v) }

// Add adds v to the series of the label values.
func (c counterVec) Add(v float64, values ...string) { c.f.addTo(v, values...) }

func (f *family) addTo(v float64, values ...string) {
	f.reg.mu.Lock()
	f.with(values...).v += v
	f.reg.mu.Unlock()
}

// histogram is a histogram without labels; histogramVec one with.
type histogram struct{ f *family }
type histogramVec struct{ f *family }

func (r *registry) histogram(name, help string, bounds []float64) histogram {
	return histogram{r.add(name, help, "histogram", bounds, nil)}
}

func (r *registry) histogramVec(name, help string, bounds []float64, labels ...string) histogramVec {
	return histogramVec{r.add(name, help, "histogram", bounds, labels)}
}

// Observe records v.
func (h histogram) Observe(v float64) { h.f.observe(v) }

// Observe records v in the series of the label values.
func (h histogramVec) Observe(v float64, values ...string) { h.f.observe(v, values...) }

func (f *family) observe(v float64, values ...string) {
	f.reg.mu.Lock()
	s := f.with(values...)
	s.counts[sort.SearchFloat64s(f.bounds, v)]++
	s.sum += v
	s.n++
	f.reg.mu.Unlock()
}

// gauge registers a gauge whose value is read from get when written.
func (r *registry) gauge(name, help string, get func() float64) {
	f := r.add(name, help, "gauge", nil, nil)
	f.read = get
	f.with()
}

// counterFunc registers a counter kept elsewhere, read from get when written.
func (r *registry) counterFunc(name, help string, get func() float64) {
	f := r.add(name, help, "counter", nil, nil)
	f.read = get
	f.with()
}

// escapeLabel escapes a label value as the exposition format wants:
// backslash, double quote and newline.
var escapeLabel = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// escapeHelp escapes help text: backslash and newline.
var escapeHelp = strings.NewReplacer(`\`, `\\`, "\n", `\n`)

// labelText is a series' labels as {k="v",...}, with extra pairs after the
// family's, or "" when there are none.
func (f *family) labelText(s *series, extra ...string) string {
	var pairs []string
	for i, k := range f.labels {
		pairs = append(pairs, fmt.Sprintf(`%s="%s"`, k, escapeLabel.Replace(s.values[i])))
	}
	for i := 0; i+1 < len(extra); i += 2 {
		pairs = append(pairs, fmt.Sprintf(`%s="%s"`, extra[i], escapeLabel.Replace(extra[i+1])))
	}
	if len(pairs) == 0 {
		return ""
	}
	return "{" + strings.Join(pairs, ",") + "}"
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

// write writes every family that has a series, in name order, each
// family's series in the order of their label text.
func (r *registry) write(w io.Writer) error {
	read := map[*family]float64{} // values kept elsewhere
	r.mu.Lock()
	var fams []*family
	for _, f := range r.families {
		fams = append(fams, f)
	}
	r.mu.Unlock()
	for _, f := range fams { // outside the lock: a gauge may take locks of its own
		if f.read != nil {
			read[f] = f.read()
		}
	}
	sort.Slice(fams, func(i, j int) bool { return fams[i].name < fams[j].name })
	var b strings.Builder
	r.mu.Lock()
	for _, f := range fams {
		if len(f.series) == 0 {
			continue
		}
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp.Replace(f.help), f.name, f.kind)
		ss := make([]*series, 0, len(f.series))
		for _, s := range f.series {
			ss = append(ss, s)
		}
		sort.Slice(ss, func(i, j int) bool { return f.labelText(ss[i]) < f.labelText(ss[j]) })
		for _, s := range ss {
			switch f.kind {
			case "histogram":
				var cum uint64
				for i, c := range s.counts {
					cum += c
					le := math.Inf(1)
					if i < len(f.bounds) {
						le = f.bounds[i]
					}
					fmt.Fprintf(&b, "%s_bucket%s %d\n", f.name, f.labelText(s, "le", num(le)), cum)
				}
				fmt.Fprintf(&b, "%s_sum%s %s\n%s_count%s %d\n", f.name, f.labelText(s), num(s.sum), f.name, f.labelText(s), s.n)
			case "gauge":
				fmt.Fprintf(&b, "%s%s %s\n", f.name, f.labelText(s), num(read[f]))
			default:
				v := s.v
				if f.read != nil {
					v = read[f]
				}
				fmt.Fprintf(&b, "%s%s %s\n", f.name, f.labelText(s), num(v))
			}
		}
	}
	r.mu.Unlock()
	_, err := io.WriteString(w, b.String())
	return err
}

// Histogram bounds: seconds of a request, items of a batch.
var (
	secondsBounds = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	itemsBounds   = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096}
)

// metrics are the server's metrics, registered once.
type metrics struct {
	reg            *registry
	requests       counterVec   // endpoint, code
	requestSeconds histogramVec // endpoint
	batchItems     histogram
	itemsScored    counter
	abandoned      counter
	reloads        counter
	reloadFailures counter
	conversations  counterVec // format
}

func newMetrics(queued, capacity func() float64, memory func() (hits, misses int64)) *metrics {
	r := newRegistry()
	m := &metrics{
		reg:            r,
		requests:       r.counterVec("ser_requests_total", "HTTP requests answered, by endpoint and status code.", "endpoint", "code"),
		requestSeconds: r.histogramVec("ser_request_seconds", "Time from a request's arrival to its answer, by endpoint.", secondsBounds, "endpoint"),
		batchItems:     r.histogram("ser_batch_items", "Items scored per batch of the feature path.", itemsBounds),
		itemsScored:    r.counter("ser_items_scored_total", "Items (responses) scored."),
		abandoned:      r.counter("ser_items_abandoned_total", "Items whose request had ended (client gone or timed out) before their batch ran."),
		reloads:        r.counter("ser_head_reloads_total", "Head files reloaded and serving."),
		reloadFailures: r.counter("ser_head_reload_failures_total", "Head reloads refused (the current head kept serving)."),
		conversations:  r.counterVec("ser_conversation_items_total", "Items by the format their prompt was written in (hh, chatml, llama3, gemma, plain; whole: a query sent whole), each read as a conversation and written in the backbone's form.", "format"),
	}
	r.counterFunc("ser_vector_memory_hits_total", "Texts whose vector was in the server's memory of recent texts.",
		func() float64 { h, _ := memory(); return float64(h) })
	r.counterFunc("ser_vector_memory_misses_total", "Texts read from the feature cache or embedded by the backbone.",
		func() float64 { _, m := memory(); return float64(m) })
	r.gauge("ser_queue_items", "Items accepted and not yet answered.", queued)
	r.gauge("ser_queue_capacity", "Items the queue holds before requests get 429.", capacity)
	return m
}
