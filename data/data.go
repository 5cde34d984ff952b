// Package data reads preference data: HH-RLHF transcripts, UltraFeedback (raw
// and binarized), generic {prompt, chosen, rejected} pairs and unlabelled
// {prompt, response_a, response_b} pairs, each as JSONL, JSONL.gz or Parquet.
//
// Reading streams: a Reader holds one record at a time, so a file of any size
// reads in constant memory. Bad input is an error that names the file, the
// line (the row, for Parquet) and the field; with SkipBad the record is
// skipped and counted by reason instead.
package data

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Formats. Auto detects the format from the first record.
const (
	Auto         = ""
	HH           = "hh"           // {"chosen": transcript, "rejected": transcript}
	UFRaw        = "uf-raw"       // openbmb/UltraFeedback: {source, instruction, completions: [...]}
	UFBinarized  = "uf-binarized" // {prompt, chosen: [{role, content}] or str, rejected: ..., score_chosen, score_rejected}
	Pairs        = "pairs"        // {prompt, chosen, rejected}
	Unlabelled   = "unlabelled"   // {prompt, response_a, response_b}
	formatsKnown = "hh, uf-raw, uf-binarized, pairs, unlabelled"
)

// Pair is one preference pair. When Labelled is false (unlabelled data),
// Chosen and Rejected are only the two responses A and B, in file order.
type Pair struct {
	Prompt   string
	Chosen   string
	Rejected string
	Labelled bool
	// Subset is the record's subset (a "subset" field, as RewardBench's), or
	// its source (UltraFeedback's "source"), else the name of the folder the
	// file is in (as HH-RLHF's subsets are laid out).
	Subset string
	// ID is the record's "id" or "prompt_id" field, when it has one.
	ID string
	// Scores of the two responses when the data has ratings (UltraFeedback).
	HasScores                  bool
	ScoreChosen, ScoreRejected float64
	// Rated, for pairs read from UltraFeedback's raw records, is the
	// record's completions with their ratings, shared by the pairs built
	// from it (nil otherwise).
	Rated *Rated
	// Where the pair came from: file, and line (JSONL) or row (Parquet), 1-based.
	File string
	Line int
}

// Rated is one prompt's completions with their ratings, as UltraFeedback's
// raw records give them: the overall score, and the 1-5 rating of each
// aspect (Aspects), NaN where an aspect is not rated ("N/A" or absent).
type Rated struct {
	Prompt    string
	Responses []string
	Overall   []float64
	Aspects   map[string][]float64 // by aspect name, one rating a completion
}

// Aspects are UltraFeedback's rated aspects, in its order.
var Aspects = []string{"helpfulness", "honesty", "instruction_following", "truthfulness"}

// Where names the pair's origin for messages.
func (p *Pair) Where() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Problems a pair can have (Problem).
const (
	ProblemIdentical  = "identical responses"
	ProblemTiedScores = "tied scores"
)

// Problem is why the pair cannot teach a preference, or "". A tie in
// ratings has no preferred answer; identical responses cannot be told
// apart (evaluation counts them, as ties).
func (p *Pair) Problem() string {
	switch {
	case p.Chosen == p.Rejected:
		return ProblemIdentical
	case p.HasScores && p.ScoreChosen == p.ScoreRejected:
		return ProblemTiedScores
	}
	return ""
}

// Options configure reading.
type Options struct {
	Format  string // Auto or one of the format names
	SkipBad bool   // skip malformed records (counted in Stats) instead of failing
	// MaxRecords stops after this many records (lines or rows); 0 reads all.
	MaxRecords int
	// MaxLine is the longest JSONL line read, in bytes (default
	// DefaultMaxLine); a longer line is a bad record, read through without
	// being kept, so memory does not grow with it.
	MaxLine int
}

// DefaultMaxLine is the default cap on a JSONL line: UltraFeedback's longest
// records are a few hundred kilobytes.
const DefaultMaxLine = 16 << 20

// Stats counts what a read kept and skipped.
type Stats struct {
	Records int            // lines or rows read
	Pairs   int            // pairs returned
	Skipped map[string]int // bad records skipped, by reason (SkipBad)
	Dropped map[string]int // records that yield no pair by design (UltraFeedback ties), by reason
	Kept    map[string]int // oddities kept, by kind ("empty response")
	Format  string         // the format read (detected, or Options.Format)
}

func (s *Stats) add(m *map[string]int, why string) {
	if *m == nil {
		*m = map[string]int{}
	}
	(*m)[why]++
}

// Error is a located input error.
type Error struct {
	File  string
	Line  int // line (JSONL) or row (Parquet), 1-based; 0 for the file as a whole
	Field string
	Msg   string
	Err   error // the cause, when it is a sentinel callers test for (ErrUnknownFormat)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ErrUnknownFormat is the cause of an Error on a record whose format the
// reader cannot tell from its keys (name the format instead).
var ErrUnknownFormat = errors.New("cannot tell the format")

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": field %q", e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// subsetFromPath is the parent folder's name, as HH-RLHF names its subsets
// (harmless-base/test.jsonl.gz).
func subsetFromPath(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	return filepath.Base(filepath.Dir(abs))
}
