// Package openrlhf is OpenRLHF's reward client, in its two shapes, written
// from its protocol (POST {"query", "prompts", "labels"} to --remote_rm_url,
// read "rewards" (or "scores") back; five tries a second apart, a 180 s
// timeout) for the benchmarks to drive `ser serve` as a trainer does:
//
//   - Batch: one request per rollout batch, every query in it, as OpenRLHF
//     up to v0.9.0 sends them (its example scripts: 128 prompts x 16 samples
//     = 2,048 queries);
//   - PerSample: one request per sample, many at once, as its agent
//     executor does from v0.9.1.
//
// A query is the whole conversation as the policy's tokenizer decodes it,
// special tokens kept (its chat template, then the response and the end of
// its turn); prompts[i] is the prompt as the template wrote it.
package openrlhf

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Client posts to one reward server.
type Client struct {
	URL     string        // http://host:port/get_reward
	Tries   int           // [5]
	Pause   time.Duration // between tries [1s]
	Timeout time.Duration // per request [180s]
}

func (c *Client) defaults() {
	if c.Tries <= 0 {
		c.Tries = 5
	}
	if c.Pause <= 0 {
		c.Pause = time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 180 * time.Second
	}
}

// post sends one request, trying again as OpenRLHF does, and returns the
// rewards and how many tries failed.
func (c *Client) post(ctx context.Context, queries, prompts []string) ([]float64, int, error) {
	c.defaults()
	labels := make([]any, len(queries)) // OpenRLHF sends its datasets' labels; a reward model ignores them
	body, err := json.Marshal(map[string]any{"query": queries, "prompts": prompts, "labels": labels})
	if err != nil {
		return nil, 0, err
	}
	failed := 0
	var last error
	for try := 0; try < c.Tries; try++ {
		if try > 0 {
			select {
			case <-time.After(c.Pause):
			case <-ctx.Done():
				return nil, failed, ctx.Err()
			}
		}
		r, err := c.once(ctx, body)
		if err == nil && len(r) == len(queries) {
			return r, failed, nil
		}
		if err == nil {
			err = fmt.Errorf("%d rewards for %d queries", len(r), len(queries))
		}
		failed, last = failed+1, err
	}
	return nil, failed, fmt.Errorf("%d tries failed, the last: %w", c.Tries, last)
}

func (c *Client) once(ctx context.Context, body []byte) ([]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", c.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var v struct {
		Rewards []float64 `json:"rewards"`
		Scores  []float64 `json:"scores"`
		Error   string    `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return nil, fmt.Errorf("%s: %w", resp.Status, err)
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: %s", resp.Status, v.Error)
	}
	if v.Scores != nil && v.Rewards == nil {
		return v.Scores, nil
	}
	return v.Rewards, nil
}

// Stats are what a run of a client saw.
type Stats struct {
	Requests, FailedTries int
	Seconds               float64
}

// Batch scores every query in one request.
func (c *Client) Batch(ctx context.Context, queries, prompts []string) ([]float64, Stats, error) {
	start := time.Now()
	r, failed, err := c.post(ctx, queries, prompts)
	return r, Stats{Requests: 1, FailedTries: failed, Seconds: time.Since(start).Seconds()}, err
}

// PerSample scores each query in a request of its own, concurrency at a
// time.
func (c *Client) PerSample(ctx context.Context, queries, prompts []string, concurrency int) ([]float64, Stats, error) {
	start := time.Now()
	out := make([]float64, len(queries))
	var mu sync.Mutex
	st := Stats{Requests: len(queries)}
	var first error
	sem := make(chan struct{}, max(1, concurrency))
	var wg sync.WaitGroup
	for i := range queries {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			r, failed, err := c.post(ctx, queries[i:i+1], prompts[i:i+1])
			mu.Lock()
			defer mu.Unlock()
			st.FailedTries += failed
			if err != nil && first == nil {
				first = err
			}
			if err == nil {
				out[i] = r[0]
			}
		}()
	}
	wg.Wait()
	st.Seconds = time.Since(start).Seconds()
	return out, st, first
}
