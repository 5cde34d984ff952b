// Package serve is the reward model as an HTTP service for RLHF trainers:
// OpenRLHF's remote reward protocol (POST /get_reward) and a native endpoint
// (POST /v1/reward), with dynamic batching across concurrent requests, a
// bounded queue, limits on bodies and items, per-request timeouts, /healthz,
// /metrics in Prometheus text format, and hot reload of the head file.
//
// One goroutine, the batcher, owns the feature path: it gathers the items of
// waiting requests into batches (up to MaxBatch items, waiting at most
// MaxWait after the first), finds their texts' vectors (recently seen texts
// in memory, then the feature cache, then the backbone), and answers each
// request with its rewards.
package serve

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ser-rl/ser/features"
	"github.com/ser-rl/ser/head"
)

// Options configure a Server; zero fields take the defaults in brackets.
type Options struct {
	HeadPath string // the head file, read again on Reload
	// Head, when HeadPath is empty, is the head served, fixed (a reward
	// model's own reward: head.FromRewardModel).
	Head      *head.Head
	MaxBatch  int           // items per batch [256]
	MaxWait   time.Duration // longest wait for a batch to fill after its first item [5ms]
	QueueSize int           // items waiting or in a batch, beyond which requests get 429 [16384]
	MaxBody   int64         // bytes of a request body [16 MiB]
	MaxBytes  int64         // bytes of request bodies handled at once, beyond which requests get 429 [256 MiB]
	MaxConns  int           // open connections (see Listen) [1024]
	MaxItems  int           // items of one request [QueueSize]
	Timeout   time.Duration // per request, waiting included, on top of the time the items queued ahead and its own take (Deadline) [60s]
	BodyIdle  time.Duration // longest wait for the next bytes of a request body [10s]
	Memory    int64         // bytes of recent texts' vectors kept in memory, keyed by the texts' sha256 [256 MiB]
	Logf      func(format string, a ...any)
}

func (o *Options) defaults() {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 5 * time.Millisecond
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 16384
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 16 << 20
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 256 << 20
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 1024
	}
	if o.MaxItems <= 0 {
		o.MaxItems = o.QueueSize // any request the queue can hold: OpenRLHF sends a rollout batch (2,048 and more) in one
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.BodyIdle <= 0 {
		o.BodyIdle = 10 * time.Second
	}
	if o.Memory <= 0 {
		o.Memory = 256 << 20
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// Item is one response to score: a prompt and a response, or (Joint, for
// heads of the joint form) the whole formatted text as a trainer sent it.
type Item = features.Item

// Server scores items with a head on a backbone's features.
type Server struct {
	opt     Options
	f       *features.Featurizer
	bb      head.Backbone
	head    atomic.Pointer[head.Head]
	jobs    chan *job
	ln      *limitListener // from Listen, for HTTPServer's ConnState
	pace    atomic.Uint64  // float64 bits: seconds an item takes in a batch (observePace)
	latest  atomic.Int64   // unix nanoseconds: the latest end of a request's time (Deadline)
	pending atomic.Int64   // items accepted and not yet answered
	bodies  atomic.Int64   // bytes of the request bodies being handled
	m       *metrics
	ready   atomic.Bool  // warm, and not shutting down
	mu      sync.RWMutex // held to write by Close, to read while queueing
	closed  bool
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// job is one call of Score: its items, scored in chunks of at most
// MaxBatch (a request of thousands spans batches), all by one head.
type job struct {
	ctx     context.Context
	items   []Item
	next    int         // items handed to batches so far
	scored  int         // items scored so far
	rewards []float64   // filled as chunks are scored
	head    *head.Head  // pinned by the first chunk: every item of a call is scored by one head
	err     error       // the first chunk's failure
	done    chan result // buffered: the batcher never waits on a request
}

type result struct {
	rewards []float64
	head    *head.Head
	err     error
}

// chunk is the part of a job's items one batch scores.
type chunk struct {
	j      *job
	lo, hi int
}

// ErrBusy is returned by Score when the queue is full.
var ErrBusy = errors.New("the queue is full: try again shortly")

// ErrBodies is a request refused because the bodies being read already
// hold Options.MaxBytes.
var ErrBodies = errors.New("the server is reading as many request bytes as it takes at once: try again shortly")

// ErrNoHeadFile is Reload's error for a server of a reward model's own
// reward: there is no head file to read again.
var ErrNoHeadFile = errors.New("serving a reward model's own reward: there is no head file to read again")

// ErrClosed is returned by Score once Close has begun.
var ErrClosed = errors.New("the server is shutting down")

// New starts a server on the featurizer's backbone with the head in
// opt.HeadPath, which must have been trained on that backbone's features in
// the featurizer's form.
func New(f *features.Featurizer, opt Options) (*Server, error) {
	opt.defaults()
	if opt.MaxBytes < opt.MaxBody {
		return nil, fmt.Errorf("serve: %d bytes of bodies at once cannot take one body of %d bytes", opt.MaxBytes, opt.MaxBody)
	}
	if opt.QueueSize < opt.MaxItems {
		return nil, fmt.Errorf("serve: a queue of %d items cannot take a request of %d items", opt.QueueSize, opt.MaxItems)
	}
	f.SetMemory(opt.Memory)
	s := &Server{opt: opt, f: f, bb: f.Backbone(), jobs: make(chan *job, opt.QueueSize), quit: make(chan struct{}), done: make(chan struct{})}
	s.m = newMetrics(func() float64 { return float64(s.pending.Load()) }, func() float64 { return float64(opt.QueueSize) }, f.MemoryStats)
	h, err := s.loadHead()
	if err != nil {
		return nil, err
	}
	s.head.Store(h)
	go s.batcher()
	return s, nil
}

func (s *Server) loadHead() (*head.Head, error) {
	h := s.opt.Head
	if s.opt.HeadPath != "" || h == nil {
		var err error
		if h, err = head.Load(s.opt.HeadPath); err != nil {
			return nil, err
		}
	}
	if err := h.Check(s.bb); err != nil {
		return nil, err
	}
	if h.Features != s.f.Form() {
		return nil, fmt.Errorf("serve: %s uses %s features; this server embeds %s features", s.opt.HeadPath, h.Features, s.f.Form())
	}
	return h, nil
}

// Reload reads the head file again and swaps it in: batches that started
// keep the head they read; none is dropped. A head that does not load, or
// was trained on other features, leaves the current one serving.
func (s *Server) Reload() error {
	if s.opt.HeadPath == "" {
		s.m.reloadFailures.Add(1)
		return ErrNoHeadFile
	}
	h, err := s.loadHead()
	if err != nil {
		s.m.reloadFailures.Add(1)
		return err
	}
	s.head.Store(h)
	s.m.reloads.Add(1)
	s.opt.Logf("serve: reloaded %s", s.opt.HeadPath)
	return nil
}

// Timeout is the per-request timeout the server was made with.
func (s *Server) Timeout() time.Duration { return s.opt.Timeout }

// Head is the head serving now.
func (s *Server) Head() *head.Head { return s.head.Load() }

// Drain marks the server not ready (/healthz answers 503), so that a load
// balancer sends no more requests; those that come are still served.
func (s *Server) Drain() { s.ready.Store(false) }

// Close answers the work queued, then stops the batcher; Score fails with
// ErrClosed from then on. Call it after the HTTP server has shut down, so
// that no request is refused that had been accepted.
func (s *Server) Close() {
	s.Drain()
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.quit)
	})
	<-s.done
}

// Warm embeds one text so that the backbone's sessions are open before the
// first request (and /healthz says ready only then).
func (s *Server) Warm(ctx context.Context) error {
	_, _, err := s.Score(ctx, []Item{{Prompt: "Hello", Response: "Hello! How can I help?"}})
	if err != nil {
		return fmt.Errorf("serve: warming up on a greeting (\"Hello\" / \"Hello! How can I help?\"): %w", err)
	}
	s.ready.Store(true)
	return nil
}

// Score queues items, waits for their batch, and returns their calibrated
// rewards in order and the head that gave them (all items of one call are
// scored by one head, across reloads). It fails with ErrBusy when the queue
// is full, with ErrClosed once Close has begun, and with ctx's error when
// ctx ends first.
func (s *Server) Score(ctx context.Context, items []Item) ([]float64, *head.Head, error) {
	if len(items) == 0 {
		return nil, s.head.Load(), nil
	}
	n := int64(len(items))
	if s.pending.Add(n) > int64(s.opt.QueueSize) {
		s.pending.Add(-n)
		return nil, nil, ErrBusy
	}
	j := &job{ctx: ctx, items: items, rewards: make([]float64, len(items)), done: make(chan result, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		s.pending.Add(-n)
		return nil, nil, ErrClosed
	}
	s.jobs <- j // never blocks: the channel holds QueueSize jobs, and pending bounds them
	s.mu.RUnlock()
	select {
	case r := <-j.done:
		return r.rewards, r.head, r.err
	case <-ctx.Done():
		return nil, nil, ctx.Err() // the batcher skips or discards it, and releases its items
	}
}

// batcher gathers the items of waiting jobs into batches of at most
// MaxBatch (a job larger than that goes out in several) and runs them,
// until Close; after Close it answers what is queued, then stops.
func (s *Server) batcher() {
	defer close(s.done)
	var open *job // a job whose items are not all handed out yet
	for {
		if open == nil {
			select {
			case open = <-s.jobs:
			case <-s.quit:
				for { // answer what is queued, then stop
					select {
					case j := <-s.jobs:
						for j.next < len(j.items) {
							s.run(s.take(j, nil))
						}
					default:
						return
					}
				}
			}
		}
		batch := s.take(open, nil)
		n := batch[0].hi - batch[0].lo
		if open.next == len(open.items) {
			open = nil
		}
		timer := time.NewTimer(s.opt.MaxWait)
	fill:
		for n < s.opt.MaxBatch && open == nil {
			select {
			case j := <-s.jobs:
				batch = s.take(j, batch)
				n += batch[len(batch)-1].hi - batch[len(batch)-1].lo
				if j.next < len(j.items) {
					open = j // the rest goes in the next batch
				}
			case <-timer.C:
				break fill
			}
		}
		timer.Stop()
		s.run(batch)
	}
}

// take hands out the next chunk of j's items, as many as fit the batch.
func (s *Server) take(j *job, batch []chunk) []chunk {
	room := s.opt.MaxBatch
	for _, c := range batch {
		room -= c.hi - c.lo
	}
	hi := min(len(j.items), j.next+max(room, 1))
	batch = append(batch, chunk{j, j.next, hi})
	j.next = hi
	return batch
}

// run scores one batch and answers the jobs it finishes. A job whose client
// left (or timed out) costs nothing more: its chunks are dropped.
func (s *Server) run(batch []chunk) {
	var live []chunk
	var items []Item
	cur := s.head.Load()
	for _, c := range batch {
		j := c.j
		if j.ctx.Err() != nil || j.err != nil { // gone, or failed already
			s.release(c, j.ctx.Err() != nil)
			continue
		}
		if j.head == nil {
			j.head = cur
		}
		live = append(live, c)
	}
	// items by the head their job is pinned to: almost always one head
	for len(live) > 0 {
		h := live[0].j.head
		var mine, rest []chunk
		items = items[:0]
		for _, c := range live {
			if c.j.head == h {
				mine = append(mine, c)
				items = append(items, c.j.items[c.lo:c.hi]...)
			} else {
				rest = append(rest, c)
			}
		}
		s.scoreChunks(h, mine, items)
		live = rest
	}
}

// scoreChunks scores chunks with head h (items: theirs, in order) and records
// each chunk's rewards or error in its job; a job with all its items
// scored, or failed, is answered.
func (s *Server) scoreChunks(h *head.Head, chunks []chunk, items []Item) {
	s.m.batchItems.Observe(float64(len(items)))
	jobs := make([]*job, len(chunks))
	for i, c := range chunks {
		jobs[i] = c.j
	}
	ctx, cancel := batchContext(jobs)
	defer cancel()
	start := time.Now()
	rewards, err := s.rewards(ctx, h, items)
	if err == nil {
		s.observePace(time.Since(start), len(items))
	}
	off := 0
	for _, c := range chunks {
		j, n := c.j, c.hi-c.lo
		switch {
		case err == nil:
			copy(j.rewards[c.lo:c.hi], rewards[off:off+n])
		case len(chunks) > 1:
			// one request's bad text must not fail the others batched with
			// it, nor show them its text: each is scored again on its own
			r, e := s.rewards(j.ctx, h, j.items[c.lo:c.hi])
			if e != nil {
				j.err = e
			} else {
				copy(j.rewards[c.lo:c.hi], r)
			}
		default:
			j.err = err
		}
		off += n
		s.release(c, false)
	}
}

// release counts a chunk as done: its items leave the queue, and a job with
// nothing left to score (or failed, or gone) is answered.
func (s *Server) release(c chunk, gone bool) {
	j, n := c.j, c.hi-c.lo
	s.pending.Add(-int64(n))
	if gone {
		s.m.abandoned.Add(float64(n))
	}
	j.scored += n
	if j.scored == len(j.items) { // every chunk back: answered once
		j.done <- result{rewards: j.rewards, head: j.head, err: j.err}
	}
}

// observePace keeps the seconds an item takes in a batch (Pace), from
// which a request's timeout grows with the work queued ahead of it. It is a
// slowly fading maximum, not a mean: batches of texts seen before (in
// memory, in the cache) take a hundredth of the time of new ones, and a
// request of new texts must not be timed at their pace; a slower batch
// raises it at once, and each faster one lowers it by 2%.
func (s *Server) observePace(d time.Duration, items int) {
	if items == 0 {
		return
	}
	per := d.Seconds() / float64(items)
	for {
		old := s.pace.Load()
		next := per
		if old != 0 {
			next = max(per, 0.98*math.Float64frombits(old))
		}
		if s.pace.CompareAndSwap(old, math.Float64bits(next)) {
			return
		}
	}
}

// Pace is the seconds an item takes, batched (see observePace).
func (s *Server) Pace() time.Duration {
	return time.Duration(math.Float64frombits(s.pace.Load()) * float64(time.Second))
}

// Deadline is how long a request of n items may take: the timeout, and the
// time the items queued ahead of it and its own take at the Pace. The
// latest end of a request's time is kept (Latest), so that a shutdown
// waits for every request accepted.
func (s *Server) Deadline(n int) time.Duration {
	d := s.opt.Timeout + time.Duration(s.pending.Load()+int64(n))*s.Pace()
	end := time.Now().Add(d).UnixNano()
	for {
		old := s.latest.Load()
		if end <= old || s.latest.CompareAndSwap(old, end) {
			return d
		}
	}
}

// Latest is when the time of the latest request given one (Deadline) ends.
func (s *Server) Latest() time.Time { return time.Unix(0, s.latest.Load()) }

// batchContext ends when every job of the batch has ended (their clients
// left or timed out): embedding for nobody stops.
func batchContext(jobs []*job) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	var left atomic.Int64
	left.Store(int64(len(jobs)))
	stops := make([]func() bool, len(jobs))
	for i, j := range jobs {
		stops[i] = context.AfterFunc(j.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

// rewards computes the items' calibrated rewards with head h, embedding
// (when the memory and the cache lack a text) under ctx.
func (s *Server) rewards(ctx context.Context, h *head.Head, items []Item) ([]float64, error) {
	r, err := s.f.Rewards(ctx, h, items)
	var nf *features.NonFiniteError
	if errors.As(err, &nf) {
		return nil, fmt.Errorf("serve: %w", err)
	}
	if err != nil {
		return nil, err
	}
	s.m.itemsScored.Add(float64(len(items)))
	return r, nil
}
