package evolve

import (
	"encoding/json"
	"fmt"

	"github.com/ser-rl/ser/eval"
	"github.com/ser-rl/ser/head"
	"github.com/ser-rl/ser/internal/jsonsafe"
)

// Loop is one row of the report.
type Loop struct {
	Loop       int     `json:"loop"`
	PoolSize   int     `json:"pool_size"`
	Selected   int     `json:"selected"`
	Status1    int     `json:"selected_status1"`
	Status2    int     `json:"selected_status2_only"`
	TrainPairs int     `json:"train_pairs"`
	EstPrec    float64 `json:"estimated_precision"`   // of the rule on the labelled validation pairs
	EstN       int     `json:"estimated_precision_n"` // validation pairs the rule picked
	TruePrec   float64 `json:"pseudo_label_accuracy"` // of the selected pool pairs, when the pool's labels are known (-1 otherwise)
	ValAcc     float64 `json:"val_accuracy"`
	ValLoss    float64 `json:"val_loss"` // breaks ties of validation accuracy (small validation sets tie often)
	TestAcc    float64 `json:"test_accuracy"`
	// TestBySubset is the test accuracy per subset, when the test set has several.
	TestBySubset map[string]float64 `json:"test_accuracy_by_subset,omitempty"`
	// Scores counts the pool's scores sigmoid(r) (both responses of every
	// pool pair) under the head that made this loop's selection, in
	// ScoreBins equal bins over [0, 1]: where they sit against the
	// thresholds says why the rule selects what it does.
	Scores     []int   `json:"pool_score_histogram,omitempty"`
	Note       string  `json:"note,omitempty"`
	Seconds    float64 `json:"seconds"`
	Added      bool    `json:"added"`                 // whether this loop's pseudo-labels were trained on
	Asked      int     `json:"asked,omitempty"`       // human labels asked this loop (Options.Ask)
	HumanPairs int     `json:"human_pairs,omitempty"` // human labels trained on: the seed's and every loop's asked
}

// Report is the outcome of a run.
type Report struct {
	Loops     []Loop      `json:"loops"`
	SeedOnly  float64     `json:"seed_only"`           // test accuracy of loop 0
	SeedCI    [2]float64  `json:"seed_only_ci"`        // its bootstrap 95% interval
	Final     float64     `json:"final"`               // test accuracy of the head kept
	FinalLoop int         `json:"final_loop"`          // which loop's head is kept (the best on validation)
	FullData  *float64    `json:"full_data,omitempty"` // test accuracy when trained on every labelled pair
	Split     SplitCounts `json:"split"`
	Stopped   string      `json:"stopped"`     // why the loops ended, in words
	Reason    StopReason  `json:"stop_reason"` // the same, as a constant
	Seconds   float64     `json:"seconds"`
	Options   Options     `json:"options"`
	// Gain is the kept head's test accuracy less the seed head's, paired on
	// the same test pairs, with its 95% interval; FullGap is the full-data
	// head's less the kept head's; GapClosed is Gain over the full-data
	// head's gain on the seed head (when that gain is positive).
	Gain      eval.Diff  `json:"ser_gain"`
	FullGap   *eval.Diff `json:"full_minus_final,omitempty"`
	GapClosed *float64   `json:"gap_closed,omitempty"`
	// Advice says, in words, whether SER helped and what to try next (see
	// Advise).
	Advice []string `json:"advice"`
	// About is what the run was on, and Earlier the runs written before it
	// into the same folder on the same data and backbone (newest last): the
	// advice names what is known of this data and backbone, and never
	// suggests what this run or an earlier one already used. Set by the
	// caller (Run leaves them empty); Advise then writes the advice again.
	About   *About    `json:"about,omitempty"`
	Earlier []Earlier `json:"earlier_runs,omitempty"`

	Heads []*head.Head `json:"-"` // loop k's head at index k
	Full  *head.Head   `json:"-"`
}

// ScoreBins is the number of bins of Loop.Scores.
const ScoreBins = 20

// SplitCounts says how the data was divided.
type SplitCounts struct {
	Seed         int  `json:"seed"`
	Val          int  `json:"val"`
	Pool         int  `json:"pool"`
	Test         int  `json:"test"`
	PoolLabelled bool `json:"pool_labelled"`
}

// Known data sets, whose SER results the README reports for the default
// backbone (About.Dataset).
const (
	DatasetHH     = "hh-rlhf"       // Anthropic HH-RLHF (format hh)
	DatasetUF     = "ultrafeedback" // UltraFeedback (uf-raw or uf-binarized)
	DatasetSample = "sample"        // ser's built-in sample (ser demo)
)

// About is what a run was on.
type About struct {
	Data    string `json:"data"`              // the data as given (files or folders)
	Dataset string `json:"dataset,omitempty"` // a known data set (DatasetHH, ...), or ""
	// Backbone is the backbone's name and Fingerprint its fingerprint;
	// DefaultBackbone says whether it is ser's built-in default (USE-lite).
	Backbone        string `json:"backbone"`
	Fingerprint     string `json:"fingerprint"`
	DefaultBackbone bool   `json:"default_backbone"`
}

// Same reports whether two runs were on the same data and backbone.
func (a *About) Same(b *About) bool {
	return a != nil && b != nil && a.Data == b.Data && a.Fingerprint == b.Fingerprint
}

// Earlier is what an earlier run on the same data and backbone used and got.
type Earlier struct {
	Options Options    `json:"options"`
	Gain    float64    `json:"ser_gain"` // the kept head's test accuracy less the seed head's
	Reason  StopReason `json:"stop_reason"`
}

// MarshalJSON writes the options in snake_case.
func (e Earlier) MarshalJSON() ([]byte, error) {
	type alias Earlier
	return jsonsafe.Marshal(struct {
		alias
		Options optionsJSON `json:"options"`
	}{alias(e), toJSON(e.Options)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *Earlier) UnmarshalJSON(b []byte) error {
	type alias Earlier
	aux := struct {
		*alias
		Options *optionsJSON `json:"options"`
	}{alias: (*alias)(e)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	if aux.Options != nil {
		e.Options = aux.Options.options()
	}
	return nil
}

// Previous is what r, an earlier run, leaves to the next run on the same
// data and backbone: its own options and outcome after those it had.
func (r *Report) Previous() []Earlier {
	out := append([]Earlier(nil), r.Earlier...)
	out = append(out, Earlier{Options: r.Options, Gain: r.Gain.Mean, Reason: r.Reason})
	if len(out) > MaxEarlier {
		out = out[len(out)-MaxEarlier:]
	}
	return out
}

// MaxEarlier is how many earlier runs a report remembers.
const MaxEarlier = 20

// Advise writes the advice again, from About and Earlier as they are now.
func (r *Report) Advise() { r.Advice = advice(r) }

// MarshalJSON writes the report with every key in snake_case (the options
// included) and, for a loop that did not train, what happened instead of
// accuracies it does not have (see Loop.MarshalJSON).
func (r Report) MarshalJSON() ([]byte, error) {
	type alias Report
	return jsonsafe.Marshal(struct {
		alias
		Options optionsJSON `json:"options"`
	}{alias(r), toJSON(r.Options)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Report) UnmarshalJSON(b []byte) error {
	type alias Report
	aux := struct {
		*alias
		Options *optionsJSON `json:"options"`
	}{alias: (*alias)(r)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	if aux.Options != nil {
		r.Options = aux.Options.options()
	}
	return nil
}

// MarshalJSON writes a loop; one that did not train (the valve closed, or
// the selection ran dry) has "trained": false and "not_trained_because", and
// null accuracies and loss: it has no head of its own to measure.
func (l Loop) MarshalJSON() ([]byte, error) {
	type alias Loop
	type nullable struct {
		alias
		Trained bool     `json:"trained"`
		Why     string   `json:"not_trained_because,omitempty"`
		ValAcc  *float64 `json:"val_accuracy"`
		ValLoss *float64 `json:"val_loss"`
		TestAcc *float64 `json:"test_accuracy"`
		// unmeasured (no validation pair picked; the pool's labels unknown): null
		EstPrec  *float64 `json:"estimated_precision"`
		TruePrec *float64 `json:"pseudo_label_accuracy"`
	}
	out := nullable{alias: alias(l), Trained: l.Added}
	if l.EstPrec >= 0 && l.EstN > 0 {
		out.EstPrec = &l.EstPrec
	}
	if l.TruePrec >= 0 {
		out.TruePrec = &l.TruePrec
	}
	if l.Added {
		out.ValAcc, out.ValLoss, out.TestAcc = &l.ValAcc, &l.ValLoss, &l.TestAcc
	} else {
		out.Why = l.Note
		if out.Why == "" {
			out.Why = "no head was trained in this loop"
		}
	}
	return jsonsafe.Marshal(out)
}

// optionsJSON is Options as report.json writes it: snake_case keys (Options
// itself, a library type, carries none).
type optionsJSON struct {
	SeedFrac       float64   `json:"seed_frac"`
	ValFrac        float64   `json:"seed_val_frac"`
	TestFrac       float64   `json:"test_frac"`
	MaxLoops       int       `json:"max_loops"`
	TauHigh        float64   `json:"tau_high"`
	TauLow         float64   `json:"tau_low"`
	TauDelta       float64   `json:"tau_delta"`
	Statuses       string    `json:"statuses"`
	MinPrecision   float64   `json:"min_precision"`
	MinValSelected int       `json:"min_val_selected"`
	NoValve        bool      `json:"no_valve"`
	Warm           bool      `json:"warm"`
	DropSeed       bool      `json:"drop_seed"`
	Stop           string    `json:"stop"`
	KeepBy         string    `json:"keep_by"`
	Cumulative     bool      `json:"cumulative"`
	Ask            int       `json:"ask"`
	AskRule        string    `json:"ask_rule"`
	NoSelfLabel    bool      `json:"no_self_label"`
	Head           trainJSON `json:"head"`
	Seed           uint64    `json:"seed"`
	FullData       bool      `json:"full_data"`
}

// trainJSON is head.TrainOptions as report.json writes it (Init, a head
// used for warm starts inside a run, is not an option of the run).
type trainJSON struct {
	Kind        string         `json:"kind"`
	Hidden      []int          `json:"hidden,omitempty"`
	L2          float64        `json:"l2"`
	L2Grid      []float64      `json:"l2_grid,omitempty"`
	Margin      float64        `json:"margin"`
	Seed        uint64         `json:"seed"`
	Optimizer   head.Optimizer `json:"optimizer"`
	Epochs      int            `json:"epochs"`
	Batch       int            `json:"batch"`
	LR          float64        `json:"lr"`
	Patience    int            `json:"patience"`
	Calibration string         `json:"calibration"`
}

func toJSON(o Options) optionsJSON {
	h := o.Head
	return optionsJSON{o.SeedFrac, o.ValFrac, o.TestFrac, o.MaxLoops, o.TauHigh, o.TauLow, o.TauDelta, o.Statuses,
		o.MinPrecision, o.MinValSelected, o.NoValve, o.Warm, o.DropSeed, o.Stop, o.KeepBy, o.Cumulative, o.Ask, o.AskRule, o.NoSelfLabel,
		trainJSON{h.Kind, h.Hidden, h.L2, h.L2Grid, h.Margin, h.Seed, h.Optimizer, h.Epochs, h.Batch, h.LR, h.Patience, h.Calibration},
		o.Seed, o.FullData}
}

func (j optionsJSON) options() Options {
	h := j.Head
	return Options{SeedFrac: j.SeedFrac, ValFrac: j.ValFrac, TestFrac: j.TestFrac, MaxLoops: j.MaxLoops,
		TauHigh: j.TauHigh, TauLow: j.TauLow, TauDelta: j.TauDelta, Statuses: j.Statuses,
		MinPrecision: j.MinPrecision, MinValSelected: j.MinValSelected, NoValve: j.NoValve,
		Warm: j.Warm, DropSeed: j.DropSeed, Stop: j.Stop, KeepBy: j.KeepBy, Cumulative: j.Cumulative,
		Ask: j.Ask, AskRule: j.AskRule, NoSelfLabel: j.NoSelfLabel,
		Head: head.TrainOptions{Kind: h.Kind, Hidden: h.Hidden, L2: h.L2, L2Grid: h.L2Grid, Margin: h.Margin, Seed: h.Seed,
			Optimizer: h.Optimizer, Epochs: h.Epochs, Batch: h.Batch, LR: h.LR, Patience: h.Patience, Calibration: h.Calibration},
		Seed: j.Seed, FullData: j.FullData}
}

// poolPair is an unlabelled pair in the order shown to the model; truth is

// StopReason says why the loops ended.
type StopReason int

// Stop reasons.
const (
	Running         StopReason = iota // not stopped
	MaxLoopsRun                       // MaxLoops loops ran
	SelectionDry                      // the rule selected no pool pair
	ValveUnmeasured                   // safety valve: too few validation pairs picked to measure precision
	ValveLow                          // safety valve: estimated precision below MinPrecision
	NoImprovement                     // the loop's head did not beat the best on validation, by KeepBy (StopVal)
)

var reasonNames = [...]string{"running", "max_loops", "selection_dry", "valve_unmeasured", "valve_low_precision", "no_improvement"}

func (r StopReason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("StopReason(%d)", int(r))
}

// MarshalText writes the reason's name.
func (r StopReason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads a reason's name.
func (r *StopReason) UnmarshalText(b []byte) error {
	for i, n := range reasonNames {
		if n == string(b) {
			*r = StopReason(i)
			return nil
		}
	}
	return fmt.Errorf("evolve: unknown stop reason %q", b)
}
