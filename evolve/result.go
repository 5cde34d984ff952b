package evolve

import (
	"fmt"

	"github.com/ser-rl/ser/eval"
	"github.com/ser-rl/ser/head"
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
	// Advice says, in words, whether SER helped and what to try next.
	Advice []string `json:"advice"`

	Heads []*head.Head `json:"-"` // loop k's head at index k
	Full  *head.Head   `json:"-"`
}

// ScoreBins is the number of bins of Loop.Scores.
const ScoreBins = 20

// SplitCounts says how the data was divided.
type SplitCounts struct {
	Seed, Val, Pool, Test int
	PoolLabelled          bool
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
