package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/features"
	"github.com/ser-rl/ser/head"
	"github.com/ser-rl/ser/internal/progress"
	"github.com/ser-rl/ser/internal/safefile"
	"github.com/ser-rl/ser/models"
)

func scoreCommand() *cli.Command {
	return &cli.Command{
		Name: "score",
		UsageText: `ser score --head rm.head < responses.jsonl > scored.jsonl
ser score --head rm.head --in pairs.parquet --out scored.jsonl
ser score --head rm.head --in chats.jsonl --skip-bad   # {"messages": [...]} rows`,
		Usage: "add rewards to a JSONL file of {prompt, response} (or {prompt, chosen, rejected}) rows, streaming, order kept",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "head", Usage: "(required) head file"},
			&cli.StringFlag{Name: "in", Value: "-", Usage: "input JSONL, - for stdin"},
			&cli.StringFlag{Name: "out", Value: "-", Usage: "output JSONL, - for stdout (a file is written atomically)"},
			&cli.StringFlag{Name: "model", Usage: "backbone (default: the one the head names)"},
			&cli.StringFlag{Name: "cache", Usage: "feature cache to read vectors from when present (default: the backbone's)"},
			&cli.IntFlag{Name: "batch", Value: 512, Usage: "rows scored at a time"},
			&cli.BoolFlag{Name: "skip-bad", Usage: "skip malformed rows (and say how many) instead of stopping"},
			&cli.StringFlag{Name: "format", Usage: "read --in with the dataset readers: hh, uf-raw, uf-binarized, pairs or unlabelled (Parquet and files without prompt/messages rows are read so by themselves)"},
		},
		Action: func(c *cli.Context) error {
			if err := need(c, "head"); err != nil {
				return err
			}
			if b := c.Int("batch"); b < 1 {
				return fmt.Errorf("--batch %d: want 1 or more", b)
			}
			if err := checkOutputs([]file{{"--out", c.String("out")}},
				[]file{{"--in", c.String("in")}, {"--head", c.String("head")}, {"--cache", c.String("cache")}}); err != nil {
				return err
			}
			h, m, err := loadHead(c)
			if err != nil {
				return err
			}
			s := &scorer{c: c, h: h, m: m, bar: progress.New(stderr(c), "score", "rows", 0, globalBool(c, "quiet"))}
			defer s.close()
			run := func(out io.Writer) error {
				p := c.String("in")
				if p != "-" {
					asDataset, err := isDataset(p, c.String("format"))
					if err != nil {
						return err
					}
					if asDataset {
						return s.dataset(p, out, c.Int("batch"))
					}
				}
				in, inName := io.Reader(os.Stdin), "<stdin>"
				if p != "-" {
					f, err := os.Open(p)
					if err != nil {
						return err
					}
					defer f.Close()
					in, inName = f, p
				}
				return s.stream(in, inName, out, c.Int("batch"))
			}
			if p := c.String("out"); p != "-" {
				err := safefile.WritePartial(p, run) // the rows before a failure are kept
				if err != nil && s.n > 0 {
					notef(c, "%s: holds the %d rows before the failure", p, s.n)
				}
				return err
			}
			return run(c.App.Writer)
		},
	}
}

// scorer embeds what the cache lacks (without writing to it) and applies the head.
type scorer struct {
	c       *cli.Context
	h       *head.Head
	m       *models.Manifest
	f       *features.Featurizer
	name    string
	n       int
	skipped map[string]int
	bar     *progress.Bar
}

func (s *scorer) close() {
	if s.f != nil {
		s.f.Close()
	}
}

type scoreRow struct {
	raw          []byte
	line         int
	pair         bool // chosen/rejected rather than response
	unlabelled   bool // response_a/response_b: rewards named after them
	prompt, a, b string
}

// stream scores rows in batches, in order. A bad row stops it after the
// rows before it have been scored and written; with --skip-bad it is left
// out, counted, and the rest go on.
func (s *scorer) stream(in io.Reader, name string, out io.Writer, batch int) error {
	f, _, err := featurizer(s.c, s.m, s.h.Features)
	if err != nil {
		return err
	}
	s.f, s.name = f, name
	br := bufio.NewReaderSize(in, 1<<20)
	bw := bufio.NewWriter(out)
	var rows []scoreRow
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		err := s.score(rows, bw) // writes the rows before one that fails
		rows = rows[:0]
		s.bar.Set(s.n, 0)
		return errors.Join(err, bw.Flush())
	}
	line := 0
	for {
		raw, err := br.ReadBytes('\n')
		if len(raw) > 0 {
			line++
			if t := bytes.TrimSpace(raw); len(t) > 0 {
				if line == 1 {
					t = bytes.TrimPrefix(t, []byte("\xef\xbb\xbf"))
				}
				r, perr := parseScoreRow(t, name, line)
				if perr != nil {
					if !s.c.Bool("skip-bad") {
						if ferr := flush(); ferr != nil {
							return ferr
						}
						return perr
					}
					if s.skipped == nil {
						s.skipped = map[string]int{}
					}
					s.skipped[perr.(*data.Error).Msg]++
					continue
				}
				rows = append(rows, r)
			}
		}
		if len(rows) >= batch || (err != nil && len(rows) > 0) {
			if err := flush(); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, line+1, err)
		}
	}
	s.bar.Done()
	for why, n := range s.skipped {
		notef(s.c, "%s: skipped %d bad rows: %s", name, n, why)
	}
	notef(s.c, "scored %d rows", s.n)
	return bw.Flush()
}

// isDataset says whether score reads a file with the dataset readers: when
// --format names one, for Parquet, and for JSONL whose first row has neither
// prompt nor messages (HH-RLHF transcripts, raw UltraFeedback).
func isDataset(path, format string) (bool, error) {
	if format != "" {
		return true, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	head := make([]byte, 4)
	if n, _ := io.ReadFull(f, head); n == 4 && string(head) == "PAR1" {
		return true, nil
	}
	if head[0] == 0x1f && head[1] == 0x8b {
		return true, nil // gzip: the readers stream it
	}
	f.Seek(0, io.SeekStart)
	br := bufio.NewReader(f)
	for {
		line, err := br.ReadSlice('\n')
		line = bytes.TrimSpace(bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")))
		if len(line) > 0 {
			var obj map[string]json.RawMessage
			if json.Unmarshal(line, &obj) != nil {
				return false, nil // the row reader reports it
			}
			_, prompt := obj["prompt"]
			_, messages := obj["messages"]
			_, chosen := obj["chosen"]
			_, rejected := obj["rejected"]
			if prompt && chosen && rejected {
				return false, nil
			}
			return !prompt && !messages, nil
		}
		if err != nil {
			return false, nil
		}
	}
}

// dataset scores a file read with the dataset readers, writing one JSONL
// row per pair: where it came from, its texts, and both rewards.
func (s *scorer) dataset(path string, out io.Writer, batch int) error {
	f, _, err := featurizer(s.c, s.m, s.h.Features)
	if err != nil {
		return err
	}
	s.f, s.name = f, path
	r, err := data.Open(path, data.Options{Format: s.c.String("format"), SkipBad: s.c.Bool("skip-bad")})
	if err != nil {
		return err
	}
	defer r.Close()
	bw := bufio.NewWriter(out)
	var rows []scoreRow
	flush := func() error {
		err := s.score(rows, bw) // writes the rows before one that fails
		rows = rows[:0]
		s.bar.Set(s.n, 0)
		return errors.Join(err, bw.Flush())
	}
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if len(rows) > 0 {
				if ferr := flush(); ferr != nil {
					return ferr
				}
			}
			return err
		}
		obj := map[string]any{"file": p.File, "line": p.Line, "prompt": p.Prompt}
		if p.Subset != "" {
			obj["subset"] = p.Subset
		}
		if p.ID != "" {
			obj["id"] = p.ID
		}
		if p.Labelled {
			obj["chosen"], obj["rejected"] = p.Chosen, p.Rejected
		} else {
			obj["response_a"], obj["response_b"] = p.Chosen, p.Rejected
		}
		raw, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		rows = append(rows, scoreRow{raw: raw, line: p.Line, pair: true, prompt: p.Prompt, a: p.Chosen, b: p.Rejected, unlabelled: !p.Labelled})
		if len(rows) >= batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if len(rows) > 0 {
		if err := flush(); err != nil {
			return err
		}
	}
	s.bar.Done()
	for why, n := range r.Stats().Skipped {
		notef(s.c, "%s: skipped %d bad records: %s", path, n, why)
	}
	notef(s.c, "scored %d pairs", s.n)
	return bw.Flush()
}

// chatTurns turns a messages list into (prompt, response): the last message
// must be the assistant's, and it is the response; the turns before it are
// the prompt, written as HH-RLHF writes a conversation ("\n\nHuman: ..." and
// "\n\nAssistant: ...", a system message first as it is).
func chatTurns(v any) (string, string, string) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return "", "", "is not a non-empty list of messages"
	}
	var b strings.Builder
	for i, e := range list {
		msg, ok := e.(map[string]any)
		role, _ := msg["role"].(string)
		content, cok := msg["content"].(string)
		if !ok || !cok {
			return "", "", fmt.Sprintf("message %d: want {role, content} with a string content", i)
		}
		if i == len(list)-1 {
			if role != "assistant" {
				return "", "", "the last message is not the assistant's"
			}
			return strings.TrimLeft(b.String(), "\n"), content, ""
		}
		switch role {
		case "system":
			b.WriteString(content)
		case "user":
			b.WriteString("\n\nHuman: " + content)
		case "assistant":
			b.WriteString("\n\nAssistant: " + content)
		default:
			return "", "", fmt.Sprintf("message %d: role %q is not system, user or assistant", i, role)
		}
	}
	return "", "", "no messages"
}

// outputFields are the fields score adds; an input row that has one is refused.
var outputFields = []string{"reward", "reward_chosen", "reward_rejected"}

func parseScoreRow(raw []byte, name string, line int) (scoreRow, error) {
	bad := func(field, msg string) (scoreRow, error) {
		return scoreRow{}, &data.Error{File: name, Line: line, Field: field, Msg: msg}
	}
	if !utf8.Valid(raw) {
		return bad("", "the line is not valid UTF-8")
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return bad("", "not a JSON object")
	}
	for _, f := range outputFields {
		if _, ok := obj[f]; ok {
			return bad(f, "already present: ser score adds it (rename or drop the field first)")
		}
	}
	str := func(field string) (string, error) {
		v, ok := obj[field]
		if !ok {
			return "", &data.Error{File: name, Line: line, Field: field, Msg: "missing"}
		}
		s, ok := v.(string)
		if !ok {
			return "", &data.Error{File: name, Line: line, Field: field, Msg: "is not a string"}
		}
		return s, nil
	}
	r := scoreRow{raw: raw, line: line}
	var err error
	if msgs, ok := obj["messages"]; ok {
		if _, has := obj["prompt"]; !has {
			prompt, response, why := chatTurns(msgs)
			if why != "" {
				return bad("messages", why)
			}
			r.prompt, r.a = prompt, response
			return r, nil
		}
	}
	if r.prompt, err = str("prompt"); err != nil {
		return r, err
	}
	if _, ok := obj["response"]; ok {
		r.a, err = str("response")
		return r, err
	}
	if _, ok := obj["chosen"]; !ok {
		return r, &data.Error{File: name, Line: line, Field: "response", Msg: "missing (give response, or chosen and rejected)"}
	}
	r.pair = true
	if r.a, err = str("chosen"); err != nil {
		return r, err
	}
	r.b, err = str("rejected")
	return r, err
}

func (s *scorer) score(rows []scoreRow, w io.Writer) error {
	pairs := make([]data.Pair, len(rows))
	for i, r := range rows {
		pairs[i] = data.Pair{Prompt: r.prompt, Chosen: r.a, Rejected: r.b}
		if !r.pair {
			pairs[i].Rejected = r.a // a single response: both columns hold it
		}
	}
	vecs, err := s.f.Vectors(s.c.Context, s.f.Texts(pairs))
	if err != nil {
		return runtimeHint(err)
	}
	x := s.f.PairsOf(vecs, len(pairs))
	ra, rb := s.h.Rewards(x.A), s.h.Rewards(x.B)
	for i, r := range rows {
		if !finite(ra[i]) || (r.pair && !finite(rb[i])) {
			return fmt.Errorf("%s:%d: the reward is not a finite number (the backbone's vector for this text holds NaN or Inf); the %d rows before it are written", s.name, r.line, s.n)
		}
		obj := bytes.TrimSuffix(r.raw, []byte("}"))
		sep := ","
		if bytes.HasSuffix(bytes.TrimSpace(obj), []byte("{")) {
			sep = ""
		}
		var add string
		if r.unlabelled {
			add = fmt.Sprintf(`%s"reward_a":%s,"reward_b":%s}`, sep, num(ra[i]), num(rb[i]))
		} else if r.pair {
			add = fmt.Sprintf(`%s"reward_chosen":%s,"reward_rejected":%s}`, sep, num(ra[i]), num(rb[i]))
		} else {
			add = fmt.Sprintf(`%s"reward":%s}`, sep, num(ra[i]))
		}
		if _, err := fmt.Fprintf(w, "%s%s\n", obj, add); err != nil {
			return err
		}
		s.n++
	}
	return nil
}

func num(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
