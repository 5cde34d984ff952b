package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/internal/safefile"
	"github.com/ser-rl/ser/label"
)

func labelCommand() *cli.Command {
	return &cli.Command{
		Name: "label",
		UsageText: `ser label --in to-label.jsonl --out answers/ --annotator alice    # then open the URL it prints
ser label --in to-label.jsonl --out answers/ --addr 0.0.0.0:8080        # several people: each gives a name; a token guards it
ser label export --out answers/ --stats > labelled.jsonl
ser train --data seed.jsonl --data labelled.jsonl --out rm2.head.json          # or --data answers/ directly`,
		Usage: "label preference pairs on a local web page (blind to the source's labels; every answer fsynced; export by majority vote)",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "in", Usage: "(required) the pairs to label: `ser ask` output (shown in ask_rank order, sides by ask_first) or any file the readers take"},
			&cli.StringFlag{Name: "out", Usage: "(required) the answers folder: one append-only JSONL log per annotator (created if need be)"},
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "address to listen on; beyond the loopback every request needs the random token printed in the URL (port 0: any free port)"},
			&cli.StringFlag{Name: "annotator", Usage: "label as this annotator only (else the page asks each person for a name)"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "draws the side each response is shown on when a row has no ask_first"},
			&cli.StringFlag{Name: "format", Usage: "hh, uf-raw, uf-binarized, pairs or unlabelled (default: detected)"},
			&cli.IntFlag{Name: "max-line-mb", Value: data.DefaultMaxLine >> 20, Usage: "longest JSONL line read, in MiB"},
		},
		Action: labelServe,
		Subcommands: []*cli.Command{{
			Name:      "export",
			Usage:     "write the answers as {prompt, chosen, rejected} rows by majority vote across annotators (votes kept; ties and skips counted and left out)",
			UsageText: "ser label export --out answers/ [--ties] [--stats] [--to labelled.jsonl]",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "out", Usage: "(required) the answers folder `ser label --out` wrote"},
				&cli.BoolFlag{Name: "ties", Usage: "keep pairs with no majority for one response too, with equal score_chosen and score_rejected (training sets them aside as tied)"},
				&cli.BoolFlag{Name: "stats", Usage: "print the counts and the agreement figures (percent agreement and Cohen's kappa between annotators; agreement with the source labels) to stderr"},
				&cli.StringFlag{Name: "to", Usage: "write the rows to this file (atomically) instead of stdout (-)"},
			},
			Action: labelExport,
		}},
	}
}

func labelServe(c *cli.Context) error {
	if err := need(c, "in", "out"); err != nil {
		return err
	}
	out := c.String("out")
	ins := c.StringSlice("in")
	if fi, err := os.Stat(out); err == nil && !fi.IsDir() {
		return fmt.Errorf("--out %s: not a folder (the answers go in a folder, one file per annotator)", out)
	}
	for _, in := range ins {
		if inside(in, out) {
			return fmt.Errorf("--in %s is inside the answers folder --out %s: keep the answers folder for the annotators' logs", in, out)
		}
	}
	if name := c.String("annotator"); name != "" {
		if err := label.CheckName(name); err != nil {
			return fmt.Errorf("--annotator: %w", err)
		}
	}
	mb := c.Int("max-line-mb")
	if mb < 1 || mb > 1<<14 {
		return fmt.Errorf("--max-line-mb %d: want 1 to %d", mb, 1<<14)
	}
	store, err := label.OpenStore(out)
	if err != nil {
		return err
	}
	defer store.Close()
	set, err := label.Load(ins, label.LoadOptions{Format: c.String("format"), MaxLine: mb << 20, Seed: c.Uint64("seed"), Key: store.Key})
	if errors.Is(err, data.ErrUnknownFormat) {
		return fmt.Errorf("%w: name it with --format hh, uf-raw, uf-binarized, pairs or unlabelled", err)
	}
	if err != nil {
		return err
	}
	for _, n := range set.Notes {
		notef(c, "note: %s", n)
	}
	store.Notef = func(format string, a ...any) { notef(c, format, a...) }
	who := "each person gives a name on the page"
	if name := c.String("annotator"); name != "" {
		l, err := store.Log(name)
		if err != nil {
			return err
		}
		done := 0
		final := l.Final()
		for _, p := range set.Pairs {
			if _, ok := final[p.ID]; ok {
				done++
			}
		}
		who = fmt.Sprintf("annotator %s, %d of %d answered", name, done, len(set.Pairs))
	}
	addr := c.String("addr")
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %s: %w", addr, err)
	}
	loopback := label.IsLoopback(host)
	o := label.Options{Set: set, Store: store, Annotator: c.String("annotator"), LoopbackHosts: loopback}
	if !loopback {
		o.Token = label.NewToken()
	}
	s, err := label.NewServer(o)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--addr %s: %w (--addr 127.0.0.1:0 takes any free port)", addr, err)
	}
	url := "http://" + reachable(ln.Addr()) + "/"
	if o.Token != "" {
		url += "?token=" + o.Token
	}
	// the URL is printed even under --quiet: without it (and its token) the page cannot be reached
	fmt.Fprintf(c.App.ErrWriter, "labelling %d pairs (%s) into %s at %s\n", len(set.Pairs), who, out, url)
	if !loopback {
		fmt.Fprintf(c.App.ErrWriter, "listening beyond the loopback: every request needs the token above (it is printed only here)\n")
	}
	srv := s.HTTPServer()
	failed := make(chan error, 1)
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			failed <- err
		}
	}()
	select {
	case err := <-failed:
		return err
	case <-c.Context.Done():
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	notef(c, "stopped; every answer confirmed on the page is in %s", out)
	return nil
}

// reachable is an address that others can open for a listener: the
// machine's name for one on every interface (0.0.0.0, ::).
func reachable(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return net.JoinHostPort(host, fmt.Sprint(tcp.Port))
}

// inside reports whether path is dir or lies under it, links followed
// (also for a path not there yet, through its folder).
func inside(path, dir string) bool {
	rel, err := filepath.Rel(realPath(dir), realPath(path))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func labelExport(c *cli.Context) error {
	if err := need(c, "out"); err != nil {
		return err
	}
	dir := c.String("out")
	to := c.String("to")
	if to == "-" {
		to = ""
	}
	if to != "" && inside(to, dir) {
		return fmt.Errorf("--to %s is inside the answers folder %s: write the export elsewhere", to, dir)
	}
	if err := checkOutputs([]file{{"--to", to}}, []file{{"--out", dir}}); err != nil {
		return err
	}
	a, err := label.ReadAnswers(dir)
	if err != nil {
		return err
	}
	rows := a.Rows()
	n := 0
	write := func(w io.Writer) error {
		var err error
		n, err = label.WriteRows(w, rows, c.Bool("ties"))
		return err
	}
	if to != "" {
		err = safefile.Write(to, write)
	} else {
		err = write(c.App.Writer)
	}
	if err != nil {
		return err
	}
	st := a.Stats()
	left := "left out"
	if c.Bool("ties") {
		left = "kept as tied"
	}
	notef(c, "%s: %d pairs from %s: %d written; %d ties and %d without a majority %s; %d skipped by all left out",
		dir, st.Pairs, annotators(len(a.Annotators)), n, st.Ties, st.NoMajority, left, st.Skipped)
	if c.Bool("stats") {
		return st.WriteStats(c.App.ErrWriter)
	}
	return nil
}

// labelAnswers reads an answers folder of `ser label` as labelled pairs,
// by majority vote across annotators.
func labelAnswers(c *cli.Context, dir string) ([]data.Pair, error) {
	a, err := label.ReadAnswers(dir)
	if err != nil {
		return nil, err
	}
	got, st := a.Pairs(), a.Stats()
	if len(got) == 0 {
		return nil, fmt.Errorf("%s: no pair has a majority for one response yet (%d answered by %s: %d ties, %d without a majority, %d skipped)",
			dir, st.Pairs, annotators(len(a.Annotators)), st.Ties, st.NoMajority, st.Skipped)
	}
	notef(c, "%s: %d pairs by majority vote of %s (%d ties, %d without a majority and %d skipped left out)",
		dir, len(got), annotators(len(a.Annotators)), st.Ties, st.NoMajority, st.Skipped)
	return got, nil
}

func annotators(n int) string {
	if n == 1 {
		return "1 annotator"
	}
	return fmt.Sprintf("%d annotators", n)
}
