// Command tokenizers benchmarks ser's tokenizer against Hugging Face
// tokenizers (Rust v0.22.2, through its Node binding: tokenize/reference/peer.js),
// side by side in one run on the same texts (the parity corpus: HH-RLHF
// conversations, UltraFeedback prompts and answers from ../shared/data, and
// the adversarial set), for every family of the parity fixture. Both sides
// load the same tokenizer.json, encode with add_special_tokens, and are timed
// over one cold pass (a fresh tokenizer, empty word cache) and warm passes:
// on one thread (Go: one goroutine; Rust: TOKENIZERS_PARALLELISM=false) and
// on every core (Go: a goroutine per core; Rust: its rayon pool).
// github.com/sugarme/tokenizer, the design card's tokenizer, is measured on
// the first -sugarme texts for ids and speed, where it loads.
//
//	(cd tokenize/reference && npm ci --ignore-scripts)
//	go run ./bench/tokenizers                       # every family
//	go run ./bench/tokenizers -dump-corpus c.jsonl  # the corpus, for tokenize/reference/parity.js
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"time"

	sugar "github.com/sugarme/tokenizer/pretrained"

	"github.com/ser-rl/ser/internal/testsupport/corpus"
	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/tokenize"
)

func main() {
	shared := flag.String("shared", "../shared/data", "the shared data folder")
	dump := flag.String("dump-corpus", "", "write the parity corpus as JSONL to this file, fetch every family's tokenizer files and print their paths, and stop")
	home := flag.String("home", os.Getenv("SER_HOME"), "ser home (tokenizer files are fetched under it)")
	variants := flag.String("dump-variants", "", "write the variants' corpus as JSONL to this file, write the variants' tokenizer.json files and print their paths, and stop")
	reps := flag.Int("reps", 3, "warm passes per measurement (the fastest is reported)")
	only := flag.String("families", "", "comma-separated families (default: all)")
	peer := flag.Bool("peer", true, "run the Hugging Face peer (tokenize/reference; npm ci first)")
	sugarN := flag.Int("sugarme", 300, "texts for the sugarme/tokenizer measurement (0: skip)")
	flag.Parse()
	if *home == "" {
		*home = ".ser-home"
	}
	// npm pack writes into a destination it resolves from its own working
	// folder: a relative home would be named twice.
	if abs, err := filepath.Abs(*home); err == nil {
		*home = abs
	}
	texts, err := corpus.All(*shared)
	if err != nil {
		fail(err)
	}
	var specs []string
	for _, fam := range testenv.TokenizerFamilies {
		if *only != "" && !strings.Contains(","+*only+",", ","+fam.Name+",") {
			continue
		}
		dir, err := testenv.FetchTokenizer(*home, fam.Name)
		if err != nil {
			fail(err)
		}
		specs = append(specs, fam.Name+"="+filepath.Join(dir, "tokenizer.json"))
	}
	if *variants != "" {
		vt, err := corpus.Variants(*shared)
		if err != nil {
			fail(err)
		}
		if err := writeCorpus(*variants, vt); err != nil {
			fail(err)
		}
		vs, err := testenv.WriteTokenizerVariants(*home)
		if err != nil {
			fail(err)
		}
		for _, s := range vs {
			fmt.Println(s)
		}
		return
	}
	if *dump != "" {
		if err := writeCorpus(*dump, texts); err != nil {
			fail(err)
		}
		for _, s := range specs {
			fmt.Println(s)
		}
		return
	}
	if err := run(texts, specs, *reps, *peer, *sugarN); err != nil {
		fail(err)
	}
}

func writeCorpus(path string, texts []corpus.Text) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := corpus.WriteJSONL(f, texts); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// timing is one side's figures for one family.
type timing struct {
	Load   float64   `json:"load_s"`
	Cold   float64   `json:"cold_s"`
	Warm   []float64 `json:"warm_s"`
	Tokens int       `json:"tokens"`
}

func (t timing) best() float64 {
	b := t.Cold
	for _, w := range t.Warm {
		b = min(b, w)
	}
	return b
}

func run(texts []corpus.Text, specs []string, reps int, peer bool, sugarN int) error {
	strs := make([]string, len(texts))
	chars := 0
	for i, t := range texts {
		strs[i] = t.Text
		chars += len(t.Text)
	}
	fmt.Printf("corpus: %d texts, %.1f MB, %d cores\n\n", len(strs), float64(chars)/1e6, runtime.NumCPU())
	var peer1, peerN map[string]timing
	if peer {
		tmp, err := os.CreateTemp("", "ser-corpus-*.jsonl")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		tmp.Close()
		if err := writeCorpus(tmp.Name(), texts); err != nil {
			return err
		}
		if peer1, err = runPeer(tmp.Name(), specs, reps, true); err != nil {
			return err
		}
		if peerN, err = runPeer(tmp.Name(), specs, reps, false); err != nil {
			return err
		}
	}
	fmt.Println("| family | ser 1 thread texts/s | HF 1 thread texts/s | ratio | ser all cores texts/s | HF all cores texts/s | ratio | cold pass, 1 thread: ratio | load s (ser / HF) |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	var sugarRows []string
	for _, spec := range specs {
		name, path, _ := strings.Cut(spec, "=")
		g1, err := timeGo(path, strs, reps, 1)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		gN, err := timeGo(path, strs, reps, runtime.NumCPU())
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		n := float64(len(strs))
		row := fmt.Sprintf("| %s | %.0f |", name, n/g1.best())
		if p, ok := peer1[name]; ok {
			row += fmt.Sprintf(" %.0f | **%.2fx** |", n/p.best(), p.best()/g1.best())
		} else {
			row += " | |"
		}
		row += fmt.Sprintf(" %.0f |", n/gN.best())
		if p, ok := peerN[name]; ok {
			row += fmt.Sprintf(" %.0f | **%.2fx** | %.2fx | %.2f / %.2f |", n/p.best(), p.best()/gN.best(), peer1[name].Cold/g1.Cold, g1.Load, p.Load)
			if p.Tokens != g1.Tokens {
				row += fmt.Sprintf(" TOKEN COUNTS DIFFER: ser %d, HF %d", g1.Tokens, p.Tokens)
			}
		} else {
			row += " | | | |"
		}
		fmt.Println(row)
		if sugarN > 0 && name != "use" {
			sugarRows = append(sugarRows, sugarme(name, path, strs[:min(sugarN, len(strs))]))
		}
	}
	if len(sugarRows) > 0 {
		fmt.Printf("\ngithub.com/sugarme/tokenizer on the first %d texts (ids compared with ser's, which equal HF's):\n\n", min(sugarN, len(strs)))
		fmt.Println("| family | sugarme | ids equal | sugarme texts/s | ser texts/s (1 thread) |")
		fmt.Println("| --- | --- | ---: | ---: | ---: |")
		for _, r := range sugarRows {
			fmt.Println(r)
		}
	}
	return nil
}

// timeGo loads the tokenizer and times one cold and reps warm passes over
// texts on the given number of goroutines.
func timeGo(path string, texts []string, reps, workers int) (timing, error) {
	var t timing
	start := time.Now()
	tk, err := tokenize.LoadHF(path)
	if err != nil {
		return t, err
	}
	t.Load = time.Since(start).Seconds()
	counts := make([]int, len(texts))
	pass := func() (float64, error) {
		start := time.Now()
		errs := make([]error, workers)
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < len(texts); i += workers {
					ids, err := tk.Encode(texts[i])
					if err != nil {
						errs[w] = err
						return
					}
					counts[i] = len(ids)
				}
			}(w)
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return 0, err
			}
		}
		return time.Since(start).Seconds(), nil
	}
	if t.Cold, err = pass(); err != nil {
		return t, err
	}
	for i := 0; i < reps; i++ {
		s, err := pass()
		if err != nil {
			return t, err
		}
		t.Warm = append(t.Warm, s)
	}
	for _, c := range counts {
		t.Tokens += c
	}
	return t, nil
}

func runPeer(corpusPath string, specs []string, reps int, oneThread bool) (map[string]timing, error) {
	dir := filepath.Join("tokenize", "reference")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@anush008", "tokenizers")); err != nil {
		return nil, fmt.Errorf("the peer is not installed: run (cd %s && npm ci --ignore-scripts)", dir)
	}
	cmd := exec.Command("node", append([]string{filepath.Join(dir, "peer.js"), corpusPath, fmt.Sprint(reps)}, specs...)...)
	cmd.Env = append(os.Environ(), "TOKENIZERS_PARALLELISM=true")
	if oneThread {
		cmd.Env = append(os.Environ(), "TOKENIZERS_PARALLELISM=false", "RAYON_NUM_THREADS=1")
	}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("peer: %v: %s", err, stderr.String())
	}
	var res map[string]timing
	return res, json.Unmarshal(out.Bytes(), &res)
}

// sugarme measures github.com/sugarme/tokenizer on texts: whether it loads,
// how many ids equal ser's, and its speed on one goroutine.
func sugarme(name, path string, texts []string) (row string) {
	defer func() {
		if r := recover(); r != nil {
			row = fmt.Sprintf("| %s | panics at load: %.60s | | | |", name, strings.ReplaceAll(fmt.Sprint(r), "|", "/"))
		}
	}()
	sk, err := sugar.FromFile(path)
	if err != nil {
		return fmt.Sprintf("| %s | fails to load: %.60v | | | |", name, err)
	}
	ours, err := tokenize.LoadHF(path)
	if err != nil {
		return fmt.Sprintf("| %s | | | | ser fails: %v |", name, err)
	}
	equal, failed := 0, 0
	start := time.Now()
	got := make([][]int, len(texts))
	for i, t := range texts {
		func() {
			defer func() {
				if recover() != nil {
					failed++
				}
			}()
			enc, err := sk.EncodeSingle(t, true)
			if err != nil {
				failed++
				return
			}
			got[i] = enc.Ids
		}()
	}
	sugarS := time.Since(start).Seconds()
	start = time.Now()
	want := make([][]int, len(texts))
	for i, t := range texts {
		ids, _ := ours.Encode(t)
		for _, id := range ids {
			want[i] = append(want[i], int(id))
		}
	}
	oursS := time.Since(start).Seconds()
	for i := range texts {
		if got[i] != nil && reflect.DeepEqual(got[i], want[i]) {
			equal++
		}
	}
	note := "loads"
	if failed > 0 {
		note = fmt.Sprintf("loads; fails or panics on %d texts", failed)
	}
	return fmt.Sprintf("| %s | %s | %d of %d | %.0f | %.0f |", name, note, equal, len(texts), float64(len(texts))/sugarS, float64(len(texts))/oursS)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
