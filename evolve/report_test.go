package evolve

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/ser-rl/ser/eval"
	"github.com/ser-rl/ser/head"
)

var snake = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// keys checks every object key of a JSON value (but the keys of maps named
// by the data: test_accuracy_by_subset) and returns the offenders.
func keys(v any, path string, bad *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if !snake.MatchString(k) {
				*bad = append(*bad, path+"."+k)
			}
			if k == "test_accuracy_by_subset" {
				continue
			}
			keys(e, path+"."+k, bad)
		}
	case []any:
		for _, e := range x {
			keys(e, path+"[]", bad)
		}
	}
}

// valveStopped runs the loop on planted data with a valve no rule passes:
// loop 0 trains, loop 1 is stopped before it trains.
func valveStopped(t *testing.T) *Report {
	t.Helper()
	set := planted(3000, 10, 0.5, 2)
	rep, err := Run(context.Background(), Input{Labelled: set, Backbone: head.Backbone{}, Form: head.Separate}, opts(func(o *Options) {
		o.Seed, o.MinPrecision, o.FullData = 1, 0.99, true
		o.Head.Hidden, o.Head.L2Grid = []int{8}, []float64{0.1, 1}
	}))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestReportJSON: every key of report.json is snake_case (the options and
// the split included), the options read back as they were, and a loop that
// never trained says so and why, with no accuracies of its own.
func TestReportJSON(t *testing.T) {
	rep := valveStopped(t)
	rep.About = &About{Data: "x.jsonl", Backbone: "default", Fingerprint: "f"}
	rep.Earlier = []Earlier{{Options: rep.Options, Reason: ValveLow}}
	raw, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	var bad []string
	keys(v, "report", &bad)
	if len(bad) > 0 {
		t.Errorf("keys not in snake_case: %v", bad)
	}
	for _, k := range []string{"seed", "val", "pool", "test", "pool_labelled"} {
		if _, ok := v["split"].(map[string]any)[k]; !ok {
			t.Errorf("split lacks %q: %v", k, v["split"])
		}
	}
	var back Report
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Options, rep.Options) || !reflect.DeepEqual(back.Earlier[0].Options, rep.Options) || back.Split != rep.Split {
		t.Errorf("options read back as\n%+v\nwant\n%+v", back.Options, rep.Options)
	}

	// the valve stopped loop 1 before it trained
	loops := v["loops"].([]any)
	last := loops[len(loops)-1].(map[string]any)
	if len(loops) != 2 || last["trained"] != false || !strings.Contains(last["not_trained_because"].(string), "safety valve") {
		t.Fatalf("the untrained loop: %v", last)
	}
	for _, k := range []string{"val_accuracy", "val_loss", "test_accuracy"} {
		if val, ok := last[k]; !ok || val != nil {
			t.Errorf("untrained loop: %s = %v, want null (it has no head of its own)", k, val)
		}
	}
	first := loops[0].(map[string]any)
	if first["trained"] != true || first["test_accuracy"] != rep.Loops[0].TestAcc || first["not_trained_because"] != nil {
		t.Errorf("loop 0: %v", first)
	}
}

// TestOptionsJSONComplete: every field of Options (and of the head's
// options, but the warm-start head) goes into report.json and comes back:
// a field added to Options without a key fails here.
func TestOptionsJSONComplete(t *testing.T) {
	var o Options
	fill(reflect.ValueOf(&o).Elem(), 1)
	o.Head.Init = nil
	back := toJSON(o).options()
	if !reflect.DeepEqual(back, o) {
		t.Errorf("options after report.json:\n%+v\nwant\n%+v", back, o)
	}
}

// fill sets every field to a value that is not its zero.
func fill(v reflect.Value, n int) int {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			n = fill(v.Field(i), n+1)
		}
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(n))
	case reflect.Uint64:
		v.SetUint(uint64(n))
	case reflect.Float64:
		v.SetFloat(float64(n) + 0.5)
	case reflect.String:
		v.SetString("s" + strings.Repeat("x", n))
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0), n)
		v.Set(s)
	}
	return n
}

// stopped is a report of a run that stopped for reason with options o, on
// about, after earlier runs with the options given.
func stopped(reason StopReason, o Options, about *About, earlier ...Options) *Report {
	r := &Report{Options: o, Reason: reason, About: about, Split: SplitCounts{PoolLabelled: true},
		Loops: []Loop{{Loop: 0, Added: true}, {Loop: 1, Scores: make([]int, ScoreBins)}}, Gain: eval.Diff{N: 100}}
	for _, e := range earlier {
		r.Earlier = append(r.Earlier, Earlier{Options: e, Reason: reason})
	}
	return r
}

// suggested is the advice's "To try next" sentence.
func suggested(advice []string) string {
	for _, a := range advice {
		if strings.HasPrefix(a, "To try next: ") {
			return a
		}
	}
	return ""
}

// TestAdviceNeverRepeats is the sequence: each run follows the
// advice of the one before, into the same folder; no run is advised what it
// or an earlier one used, each says what it no longer suggests, and the
// suggestions run out instead of going round.
func TestAdviceNeverRepeats(t *testing.T) {
	o := DefaultOptions()
	var earlier []Options
	seen := map[string]bool{}
	for step := 0; ; step++ {
		if step > 12 {
			t.Fatalf("still advising after %d runs", step)
		}
		r := stopped(ValveUnmeasured, o, &About{Data: "d", Fingerprint: "f"}, earlier...)
		r.Advise()
		tips := suggested(r.Advice)
		all := strings.Join(r.Advice, " ")
		t.Logf("run %d: %s", step, all)
		if step > 0 && !strings.Contains(all, "Already tried") {
			t.Errorf("run %d does not say what it no longer suggests: %q", step, all)
		}
		if o.Head.Calibration == "temperature" && strings.Contains(tips, "--calibration temperature") {
			t.Errorf("run %d used --calibration temperature and is advised it: %q", step, tips)
		}
		if strings.Contains(tips, "built-in sample") || strings.Contains(all, "built-in sample") {
			t.Errorf("advice on other data names the built-in sample: %q", all)
		}
		// take the first option suggested, as a user would
		flags := regexp.MustCompile("`(--[a-z-]+[^`]*)`").FindAllStringSubmatch(tips, -1)
		if len(flags) == 0 {
			break
		}
		f := flags[0][1]
		if seen[f] {
			t.Fatalf("run %d advises %q again", step, f)
		}
		seen[f] = true
		earlier = append(earlier, o)
		apply(t, &o, f)
	}
	if len(seen) < 3 {
		t.Errorf("only %v suggested in all", seen)
	}
}

// apply sets the options a suggestion names.
func apply(t *testing.T, o *Options, flags string) {
	t.Helper()
	f := strings.Fields(flags)
	for i := 0; i < len(f); i++ {
		var err error
		switch f[i] {
		case "--calibration":
			i++
			o.Head.Calibration = f[i]
		case "--no-valve":
			o.NoValve = true
		case "--stop":
			i++
			o.Stop = f[i]
		default:
			var x float64
			name := f[i]
			i++
			_, err = fmtSscan(f[i], &x)
			switch name {
			case "--tau-high":
				o.TauHigh = x
			case "--tau-low":
				o.TauLow = x
			case "--tau-delta":
				o.TauDelta = x
			case "--seed-frac":
				o.SeedFrac = x
			case "--max-loops":
				o.MaxLoops = int(x)
			case "--ask":
				o.Ask = int(x)
			default:
				t.Fatalf("advice names %s, which this test cannot apply", name)
			}
		}
		if err != nil {
			t.Fatalf("%q: %v", flags, err)
		}
	}
}

// TestAdviceUsesWhatIsKnown: on HH-RLHF or UltraFeedback with the default
// backbone the advice names the README's measured result and suggests none
// of the loop's settings it found useless; a run that already used
// temperature calibration or narrow thresholds is not advised them; the
// note on the built-in sample's annotator is for the built-in sample only.
func TestAdviceUsesWhatIsKnown(t *testing.T) {
	o := DefaultOptions()
	for _, d := range []string{DatasetHH, DatasetUF} {
		r := stopped(ValveUnmeasured, o, &About{Data: "d", Dataset: d, Backbone: "default", DefaultBackbone: true})
		r.Advise()
		all := strings.Join(r.Advice, " ")
		if !strings.Contains(all, "README measured this case") || !strings.Contains(all, "+0.00 points") {
			t.Errorf("%s, default backbone: the README's result is not named: %q", d, all)
		}
		if tips := suggested(r.Advice); strings.Contains(tips, "--calibration") || strings.Contains(tips, "--tau") || strings.Contains(tips, "--no-valve") {
			t.Errorf("%s: advised a setting the README found changes nothing here: %q", d, tips)
		}
		if strings.Contains(all, "built-in sample") {
			t.Errorf("%s: %q", d, all)
		}
		// another backbone: no claim from the README
		r = stopped(ValveUnmeasured, o, &About{Data: "d", Dataset: d, Backbone: "llama"})
		r.Advise()
		if all := strings.Join(r.Advice, " "); strings.Contains(all, "README measured") || !strings.Contains(suggested(r.Advice), "--calibration temperature") {
			t.Errorf("%s on another backbone: %q", d, all)
		}
	}

	used := o
	used.Head.Calibration, used.TauHigh, used.TauLow = "temperature", 0.52, 0.48
	for _, reason := range []StopReason{ValveUnmeasured, SelectionDry} {
		r := stopped(reason, used, &About{Data: "d"})
		r.Advise()
		tips := suggested(r.Advice)
		if strings.Contains(tips, "--calibration temperature") || strings.Contains(tips, "--tau-high 0.52") {
			t.Errorf("%v: advised what the run used: %q", reason, tips)
		}
		if !strings.Contains(strings.Join(r.Advice, " "), "Already tried (this run)") {
			t.Errorf("%v: does not say what it no longer suggests: %q", reason, r.Advice)
		}
	}

	sample := stopped(NoImprovement, o, &About{Data: "d", Dataset: DatasetSample})
	sample.Advise()
	if all := strings.Join(sample.Advice, " "); strings.Contains(all, "Pseudo-label accuracy") {
		t.Errorf("no loop trained on pseudo-labels, yet the advice speaks of their accuracy: %q", all)
	}
	sample.Loops[1].Added, sample.FinalLoop = true, 1
	sample.Advise()
	if all := strings.Join(sample.Advice, " "); !strings.Contains(all, "built-in sample's annotator") {
		t.Errorf("the built-in sample's advice lacks its annotator's note: %q", all)
	}
	other := stopped(NoImprovement, o, nil)
	other.Advise()
	if all := strings.Join(other.Advice, " "); strings.Contains(all, "built-in sample") {
		t.Errorf("advice on other data names the built-in sample: %q", all)
	}
}

func fmtSscan(s string, x *float64) (int, error) { return fmt.Sscan(s, x) }

// TestReportNotANumber: figures that are not numbers (a loss over no pairs)
// are null in report.json rather than a failed write; a share of the gap
// closed by a gain not told from none says so.
func TestReportNotANumber(t *testing.T) {
	rep := valveStopped(t)
	rep.Loops[0].ValLoss, rep.Loops[0].EstPrec, rep.Loops[0].EstN, rep.Loops[0].TruePrec = math.NaN(), -1, 0, -1
	rep.Gain.Mean, rep.Gain.CI = math.Inf(1), [2]float64{-0.01, 0.02}
	closed := 1.0
	rep.GapClosed = &closed
	dir := t.TempDir()
	if err := rep.Write(dir, "t"); err != nil {
		t.Fatalf("writing a report with NaN and Inf: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	loop0 := v["loops"].([]any)[0].(map[string]any)
	for _, k := range []string{"val_loss", "estimated_precision", "pseudo_label_accuracy"} {
		if got, ok := loop0[k]; !ok || got != nil {
			t.Errorf("loop 0's %s written %v, want null (NaN, or unmeasured)", k, got)
		}
	}
	if got := v["ser_gain"].(map[string]any)["mean"]; got != nil {
		t.Errorf("+Inf gain written %v, want null", got)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "SER closes 100% of the seed-to-full gap, the share of a gain whose 95% interval includes 0") {
		t.Errorf("report.md does not qualify the share:\n%s", md)
	}
}

// TestAdviceFitsStatuses: thresholds the run's statuses never read are not
// suggested (tau-delta under status 1, tau-high and tau-low under status 2).
func TestAdviceFitsStatuses(t *testing.T) {
	o := DefaultOptions()
	for _, c := range []struct {
		statuses string
		never    []string
	}{{Status1, []string{"--tau-delta"}}, {Status2, []string{"--tau-high", "--tau-low"}}} {
		o.Statuses = c.statuses
		for _, reason := range []StopReason{SelectionDry, ValveUnmeasured, ValveLow} {
			r := stopped(reason, o, &About{Data: "d"})
			r.Advise()
			tips := suggested(r.Advice)
			for _, n := range c.never {
				if strings.Contains(tips, n) {
					t.Errorf("statuses %s, %v: suggests %s, which they never read: %q", c.statuses, reason, n, tips)
				}
			}
		}
	}
}
