package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/head"
	"github.com/ser-rl/ser/serve"
)

func serveCommand() *cli.Command {
	var o serve.Options
	return &cli.Command{
		Name: "serve",
		UsageText: `ser serve --head rm.head.json --addr 127.0.0.1:5000
curl -s localhost:5000/get_reward -d '{"query": ["\n\nHuman: Hi\n\nAssistant: Hello!"]}'
kill -HUP $(pidof ser)   # read rm.head.json again, after ser train wrote a new one`,
		Usage: "serve rewards over HTTP to RLHF trainers (OpenRLHF's --remote_rm_url: POST /get_reward; native: POST /v1/reward)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "head", Destination: &o.HeadPath, Usage: "(required, or --model a reward model) head file, read again on SIGHUP or POST /admin/reload; or model:NAME for a reward model's own reward"},
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:5000", Usage: "address to listen on (0.0.0.0:5000 for every interface)"},
			&cli.StringFlag{Name: "model", Usage: "backbone (default: the one the head names); without --head, a reward model whose own reward is used"},
			&cli.StringFlag{Name: "cache", Usage: "feature cache to read vectors from when present (default: the backbone's)"},
			&cli.IntFlag{Name: "max-batch", Value: 256, Destination: &o.MaxBatch, Usage: "items per batch of the backbone, gathered across requests"},
			&cli.DurationFlag{Name: "max-wait", Value: 5 * time.Millisecond, Destination: &o.MaxWait, Usage: "longest wait for a batch to fill after its first item"},
			&cli.IntFlag{Name: "queue", Value: 16384, Destination: &o.QueueSize, Usage: "items accepted and not yet answered, beyond which requests get 429 with Retry-After"},
			&cli.IntFlag{Name: "max-items", Destination: &o.MaxItems, Usage: "items in one request (split into batches of --max-batch)", DefaultText: "--queue: OpenRLHF sends a whole rollout batch in one"},
			&cli.Int64Flag{Name: "max-body-mb", Value: 16, Usage: "MiB of one request body"},
			&cli.Int64Flag{Name: "max-bytes-mb", Value: 256, Usage: "MiB of request bodies handled at once (beyond it: 429), which bounds the memory requests take"},
			&cli.IntFlag{Name: "max-conns", Value: 1024, Destination: &o.MaxConns, Usage: "open connections (beyond them new ones wait)"},
			&cli.DurationFlag{Name: "timeout", Value: 60 * time.Second, Destination: &o.Timeout, Usage: "per request, from arrival to answer (503 after it), on top of the time the items queued ahead of it and its own take at the measured pace"},
			&cli.DurationFlag{Name: "drain", Value: 3 * time.Second, Usage: "on SIGTERM, how long /healthz answers 503 (so that a load balancer stops sending) while requests are still taken, before the server stops taking them and finishes those it has"},
			&cli.DurationFlag{Name: "body-idle", Value: 10 * time.Second, Destination: &o.BodyIdle, Usage: "longest wait for the next bytes of a request body (408 after it, its share of --max-bytes-mb freed)"},
			&cli.Int64Flag{Name: "memory-mb", Value: 256, Usage: "MiB of recent texts' vectors kept in memory (prompts recur across rollouts)"},
			templateFlag(),
		},
		Action: func(c *cli.Context) error {
			if err := needHead(c); err != nil {
				return err
			}
			if c.Int("max-items") < 0 || c.Duration("drain") < 0 {
				return fmt.Errorf("--max-items and --drain: want 0 or more")
			}
			if c.Int("max-items") > c.Int("queue") {
				return fmt.Errorf("--max-items %d: at most --queue (%d): a request must fit the queue", c.Int("max-items"), c.Int("queue"))
			}
			for _, f := range []string{"max-batch", "queue", "max-body-mb", "max-bytes-mb", "max-conns", "memory-mb"} {
				if c.Int64(f) < 1 {
					return fmt.Errorf("--%s %d: want 1 or more", f, c.Int64(f))
				}
			}
			for _, f := range []string{"max-wait", "timeout", "body-idle"} {
				if c.Duration(f) <= 0 {
					return fmt.Errorf("--%s %s: want a positive duration", f, c.Duration(f))
				}
			}
			for _, f := range []string{"max-body-mb", "max-bytes-mb", "memory-mb"} {
				if mb := c.Int64(f); mb > 1<<16 {
					return fmt.Errorf("--%s %d: at most 65536", f, mb)
				}
			}
			o.MaxBody, o.MaxBytes, o.Memory = c.Int64("max-body-mb")<<20, c.Int64("max-bytes-mb")<<20, c.Int64("memory-mb")<<20
			o.Logf = func(format string, a ...any) { notef(c, format, a...) }
			h, m, err := loadHead(c)
			if err != nil {
				return err
			}
			if strings.HasPrefix(h.SHA256, head.ModelSHA256Prefix) { // a reward model's own reward: no file to reload
				o.HeadPath, o.Head = "", h
			}
			f, _, err := featurizer(c, m, h.Features)
			if err != nil {
				return err
			}
			defer f.Close()
			s, err := serve.New(f, o)
			if err != nil {
				return err
			}
			defer s.Close()
			ln, err := s.Listen(c.String("addr"))
			if err != nil {
				return err
			}
			return serveUntilSignal(c, s, ln)
		},
	}
}

// headName is how a note names a head: its checksum's first 12 digits, or
// the reward model's fingerprint.
func headName(h *head.Head) string {
	if strings.HasPrefix(h.SHA256, head.ModelSHA256Prefix) {
		return h.SHA256
	}
	return "sha256 " + h.SHA256[:min(12, len(h.SHA256))]
}

// serveUntilSignal warms the backbone, serves on ln, reloads the head on
// SIGHUP, and on SIGTERM or SIGINT (c.Context ends) stops listening,
// finishes the requests accepted, and returns nil.
func serveUntilSignal(c *cli.Context, s *serve.Server, ln net.Listener) error {
	srv := s.HTTPServer(ln.Addr().String())
	failed := make(chan error, 1)
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			failed <- err
		}
	}()
	start := time.Now()
	if err := s.Warm(c.Context); err != nil {
		srv.Close()
		return runtimeHint(err)
	}
	hd := s.Head()
	notef(c, "serving %s (%s %s head on %s, %s) at http://%s, ready in %.1fs",
		orDefault(c.String("head"), "the reward model's own reward"), hd.Features, hd.Kind, hd.Backbone.Name, headName(hd), ln.Addr(), time.Since(start).Seconds())
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			if err := s.Reload(); err != nil {
				notef(c, "SIGHUP: the head was not reloaded (the previous one serves on): %v", err)
			}
		case err := <-failed:
			return err
		case <-c.Context.Done():
			s.Drain() // /healthz: 503, so that a load balancer stops sending
			if d := c.Duration("drain"); d > 0 {
				notef(c, "draining: /healthz answers 503 for %s while requests are still taken", d)
				time.Sleep(d)
			}
			notef(c, "shutting down: finishing the requests accepted")
			// every request accepted has its time (which grows with the work
			// queued ahead of it): wait for the latest to end
			end := time.Now().Add(s.Timeout() + 5*time.Second)
			if l := s.Latest().Add(5 * time.Second); l.After(end) {
				end = l
			}
			ctx, cancel := context.WithDeadline(context.Background(), end)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				return fmt.Errorf("shutdown: %w", err)
			}
			s.Close()
			notef(c, "stopped")
			return nil
		}
	}
}
