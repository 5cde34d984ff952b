package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/cache"
	"github.com/ser-rl/ser/internal/progress"
	"github.com/ser-rl/ser/internal/safefile"
	"github.com/ser-rl/ser/models"
)

// embedReport says on stderr what an embedding is about to do and how long
// it will take, before any batch runs, then how far it is: the plan's size
// (texts, tokens, what is cached), an estimate from the rate this machine
// measured on its last run (stored under the home), and, once the batches
// sampled across the plan are in, the estimate they give (see
// progress.Estimate). The measured rate is stored for the next run.
type embedReport struct {
	c     *cli.Context
	m     *models.Manifest
	bar   *progress.Bar
	rates string // the file of stored rates ("" when there is no home)
	key   string // this backbone and machine set-up's entry in it

	mu    sync.Mutex
	est   *progress.Estimate
	plan  cache.Plan
	saved bool
}

func newEmbedReport(c *cli.Context, m *models.Manifest, bar *progress.Bar, home string) *embedReport {
	r := &embedReport{c: c, m: m, bar: bar}
	if home != "" {
		r.rates = filepath.Join(home, "cache", "embed-rates.json")
	}
	o := backboneOptions(c)
	r.key = fmt.Sprintf("%s %s sessions=%d threads=%d cpus=%d", m.Fingerprint(), o.Device, o.Sessions, o.Threads, runtime.NumCPU())
	return r
}

// say writes a line on stderr, above the progress line (nothing under --quiet).
func (r *embedReport) say(format string, a ...any) {
	if stderr(r.c) == nil {
		return
	}
	r.bar.Println(fmt.Sprintf(format, a...))
}

// onPlan is told the plan before any batch runs.
func (r *embedReport) onPlan(p cache.Plan) {
	shapes := make([]progress.Shape, len(p.Batches))
	for i, b := range p.Batches {
		shapes[i] = progress.Shape{Rows: b.Rows, Tokens: b.Tokens}
	}
	prior := r.load()
	est := progress.NewEstimate(shapes, p.Sample, prior)
	r.mu.Lock()
	r.est, r.plan = est, p
	r.mu.Unlock()
	r.say("embed: %s distinct texts (%s tokens, at most %d a text for %s), %s already cached: %s texts to embed, %s tokens in %s batches",
		progress.Count(p.Unique), progress.Count(p.Tokens), r.m.MaxTokens, r.m.Name, progress.Count(p.Cached),
		progress.Count(p.ToEmbed), progress.Count(p.TokensToEmbed), progress.Count(len(p.Batches)))
	var sampleTokens int64
	for _, i := range p.Sample {
		sampleTokens += p.Batches[i].Tokens
	}
	measuring := ""
	if len(p.Sample) > 0 && len(p.Sample) < len(p.Batches) {
		measuring = fmt.Sprintf("%d batches spread over the plan (%.1f%% of the tokens) run first to measure the rate", len(p.Sample), 100*float64(sampleTokens)/float64(max(p.TokensToEmbed, 1)))
	}
	if d, rate, ok := est.Prior(); ok {
		r.say("embed: estimate %s, at the rate this machine measured on its last run (%s)%s", progress.Human(d), rate.Measured.Local().Format("2006-01-02 15:04"), prefixed("; ", measuring))
	} else if measuring != "" {
		r.say("embed: %s; the estimate follows them", measuring)
	}
	r.bar.Restart()
	est.Start(time.Now())
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

// onProgress is told of each batch stored.
func (r *embedReport) onProgress(p cache.Progress) {
	r.mu.Lock()
	est := r.est
	r.mu.Unlock()
	if est == nil {
		r.bar.SetWork(p.Texts, p.TotalTexts, p.Tokens, p.TotalTokens)
		return
	}
	now := time.Now()
	if est.Done(p.Batch, p.Seconds) {
		r.save(est, now) // a run cut short still leaves its rate
		if len(r.plan.Sample) < len(r.plan.Batches) {
			rows, _, wall, _ := est.Sampled(now)
			left, _ := est.Left(now)
			r.say("embed: the %d sampled batches (%s texts) took %s: estimate %s for the rest, %s in all",
				len(r.plan.Sample), progress.Count(rows), progress.Human(wall), progress.Human(left), progress.Human(wall+left))
		}
	}
	left, known := est.Left(now)
	r.bar.SetLeft(p.Texts, p.TotalTexts, left, known)
	if p.Texts == p.TotalTexts {
		r.save(est, now)
	}
}

// Below these a run's rate is not stored: a run of a few batches measures
// mostly its fixed costs, and would make the next large run's estimate
// many times too long.
const (
	minRateBatches = 16
	minRateTokens  = 50_000
)

// worthStoring says whether this run's plan is large enough for its rate
// to estimate later runs.
func (r *embedReport) worthStoring() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.plan.Batches) >= minRateBatches && r.plan.TokensToEmbed >= minRateTokens
}

// rates is the file of stored rates: per backbone and machine set-up, the
// last run's.
type ratesFile map[string]progress.Rate

func (r *embedReport) load() *progress.Rate {
	if r.rates == "" {
		return nil
	}
	raw, err := safefile.ReadRegular(r.rates, 1<<20)
	if err != nil {
		return nil
	}
	var all ratesFile
	if json.Unmarshal(raw, &all) != nil {
		return nil
	}
	if rate, ok := all[r.key]; ok && rate.Valid() && !rate.Measured.IsZero() && rate.Measured.Before(time.Now().Add(time.Hour)) {
		return &rate
	}
	return nil
}

// save stores the rate measured so far (at the sample, and at the end); a
// rate that cannot be written is said once and otherwise ignored.
func (r *embedReport) save(est *progress.Estimate, now time.Time) {
	rate, ok := est.Rate(now)
	if !ok || r.rates == "" || !r.worthStoring() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	all := ratesFile{}
	if raw, err := safefile.ReadRegular(r.rates, 1<<20); err == nil {
		if json.Unmarshal(raw, &all) != nil || all == nil { // a damaged file (or null) is replaced
			all = ratesFile{}
		}
	}
	all[r.key] = rate
	raw, _ := json.MarshalIndent(all, "", " ")
	err := os.MkdirAll(filepath.Dir(r.rates), 0o755)
	if err == nil {
		err = safefile.WriteFile(r.rates, append(raw, '\n'))
	}
	if err != nil && !r.saved && !errors.Is(err, os.ErrPermission) {
		r.saved = true
		r.say("embed: note: could not store the measured rate for the next estimate: %v", err)
	}
}
