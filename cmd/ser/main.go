// Command ser grows and uses reward models for LLM alignment: a frozen ONNX
// backbone turns (prompt, response) pairs into features, cached once, and a
// small reward head on them is trained, self-evolved (SER), evaluated and used
// to score files. Each subcommand lives in its own file; the packages under
// the module's root do the work.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/cache"
	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/features"
	"github.com/ser-rl/ser/internal/progress"
	"github.com/ser-rl/ser/models"
	"github.com/ser-rl/ser/onnx"
)

func main() {
	// Ctrl-C or SIGTERM cancels the context: embedding stops between batches,
	// keeping what is stored.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newApp().RunContext(ctx, os.Args)
	if err == nil {
		err = notFound
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// every long step (embedding, training, SER loops, picks) checks the
		// context and returns before writing its output
		fmt.Fprintln(os.Stderr, "ser: interrupted; nothing was half-written")
		os.Exit(130)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ser:", err)
		os.Exit(1)
	}
}

func newApp() *cli.App {
	app := &cli.App{
		Name:    "ser",
		Usage:   "self-evolved reward learning on frozen ONNX backbones",
		Version: version(),
		Flags:   globalFlags(),
		Commands: []*cli.Command{
			setupCommand(),
			modelsCommand(),
			embedCommand(),
			cacheCommand(),
			trainCommand(),
			scoreCommand(),
			serveCommand(),
			evalCommand(),
			evolveCommand(),
			askCommand(),
			labelCommand(),
			demoCommand(),
		},
		ExitErrHandler:  func(*cli.Context, error) {}, // main prints and exits
		CommandNotFound: commandNotFound,
		Before:          checkGlobals,
	}
	addGlobalFlags(app.Commands)
	for _, c := range app.Commands {
		before := c.Before
		c.Before = func(ctx *cli.Context) error { // global flags given after the command
			if err := checkGlobals(ctx); err != nil {
				return err
			}
			if before != nil {
				return before(ctx)
			}
			return nil
		}
	}
	return app
}

// home resolves --home.
func home(c *cli.Context) (string, error) {
	if h := globalString(c, "home"); h != "" {
		return h, nil
	}
	if h := os.Getenv("SER_HOME"); h != "" {
		return h, nil
	}
	return defaultHome()
}

// ortLib resolves --ort-lib.
func ortLib(c *cli.Context, home string) string {
	if p := globalString(c, "ort-lib"); p != "" {
		return p
	}
	if p := os.Getenv("ORT_LIB"); p != "" {
		return p
	}
	return models.ORTLibPath(home)
}

// stderr is where progress and notes go; nil under --quiet.
func stderr(c *cli.Context) io.Writer {
	if globalBool(c, "quiet") {
		return nil
	}
	return c.App.ErrWriter
}

func notef(c *cli.Context, format string, a ...any) {
	if w := stderr(c); w != nil {
		fmt.Fprintf(w, format+"\n", a...)
	}
}

// manifest finds a backbone by name or folder (the --model flag).
func manifest(c *cli.Context, name string) (*models.Manifest, error) {
	h, err := home(c)
	if err != nil {
		return nil, err
	}
	return models.Find(h, name)
}

// backboneOptions are the sessions the global flags ask for.
func backboneOptions(c *cli.Context) onnx.Options {
	opts := onnx.Options{Device: globalString(c, "device")}
	if n := globalInt(c, "threads"); n > 0 {
		opts.Sessions = n
		if n > runtime.NumCPU() {
			opts.Sessions = runtime.NumCPU()
		}
		opts.Threads = max(1, n/opts.Sessions)
	}
	return opts
}

// openBackbone loads the runtime and opens the backbone with the global flags.
func openBackbone(c *cli.Context, m *models.Manifest) (*onnx.Backbone, error) {
	h, err := home(c)
	if err != nil {
		return nil, err
	}
	if err := onnx.Init(ortLib(c, h)); err != nil {
		return nil, runtimeHint(err)
	}
	return onnx.Open(m, backboneOptions(c))
}

// runtimeHint says how to get the ONNX Runtime library when it is missing.
func runtimeHint(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w (run `ser setup`, or pass --ort-lib / set ORT_LIB)", err)
	}
	return err
}

// featurizer builds the feature pipeline for a backbone and form (""
// for the backbone's) from the flags: the cache (--cache, else the
// backbone's under the home), the runtime, the sessions, and a progress
// line on stderr while texts are embedded.
func featurizer(c *cli.Context, m *models.Manifest, form string) (*features.Featurizer, *progress.Bar, error) {
	h, err := home(c)
	if err != nil {
		return nil, nil, err
	}
	p, err := cachePath(c, m)
	if err != nil {
		return nil, nil, err
	}
	bar := progress.New(stderr(c), "embed", "texts", 0, globalBool(c, "quiet"))
	f, err := features.New(features.Options{Manifest: m, Form: form, CachePath: p, ORTLib: ortLib(c, h),
		Backbone: backboneOptions(c), Progress: func(p cache.Progress) { bar.SetWork(p.Texts, p.TotalTexts, p.Tokens, p.TotalTokens) }})
	return f, bar, err
}

// cachePath is the backbone's feature cache: --cache, else under the home.
func cachePath(c *cli.Context, m *models.Manifest) (string, error) {
	if p := c.String("cache"); p != "" {
		return p, nil
	}
	h, err := home(c)
	if err != nil {
		return "", err
	}
	return cache.File(filepath.Join(h, "cache", "features"), m.Fingerprint(), cache.Format(m.FeatureStorage)), nil
}

func openCache(c *cli.Context, m *models.Manifest, writable bool) (*cache.Cache, error) {
	p, err := cachePath(c, m)
	if err != nil {
		return nil, err
	}
	cc, err := cache.Open(p, m.Fingerprint(), m.Dim, cache.Format(m.FeatureStorage), writable)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no feature cache for backbone %s at %s: run `ser embed` on the data first", m.Name, p)
	}
	return cc, err
}

// dataFlags are the flags every command that reads preference data takes.
func dataFlags(usage string) []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "data", Usage: "(required) " + usage + " (files or folders; JSONL, JSONL.gz or Parquet)"},
		&cli.StringFlag{Name: "format", Usage: "hh, uf-raw, uf-binarized, pairs or unlabelled (default: detected)"},
		&cli.BoolFlag{Name: "skip-bad", Usage: "skip malformed records (and say how many) instead of stopping"},
		&cli.IntFlag{Name: "max-line-mb", Value: data.DefaultMaxLine >> 20, Usage: "longest JSONL line read, in MiB (a longer one is a bad record)"},
		&cli.StringFlag{Name: "split", Usage: "in folders, read only the files of this split (test_prefs, train, ...: the name before -00000-of-... or the extension)"},
	}
}

// defined reports whether c's command has the flag.
func defined(c *cli.Context, name string) bool {
	for _, f := range c.Command.Flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

// readData reads the files named by a data flag.
func readData(c *cli.Context, flag string) ([]data.Pair, error) {
	return readFiles(c, c.StringSlice(flag))
}

// readFiles reads data files and folders, noting what was skipped.
func readFiles(c *cli.Context, paths []string) ([]data.Pair, error) {
	mb := data.DefaultMaxLine >> 20
	if defined(c, "max-line-mb") { // demo reads its own sample without the data flags
		mb = c.Int("max-line-mb")
	}
	if mb < 1 || mb > 1<<14 {
		return nil, fmt.Errorf("--max-line-mb %d: want 1 to %d", mb, 1<<14)
	}
	paths, labelled, err := labelAnswers(c, paths) // answers folders of `ser label`: their majority votes
	if err != nil {
		return nil, err
	}
	files, err := expand(paths)
	if err != nil {
		return nil, err
	}
	if files, err = pickSplit(c, files); err != nil {
		return nil, err
	}
	pairs, stats, err := data.ReadAll(files, data.Options{Format: c.String("format"), SkipBad: c.Bool("skip-bad"), MaxLine: mb << 20})
	if errors.Is(err, data.ErrUnknownFormat) {
		return nil, fmt.Errorf("%w: name it with --format hh, uf-raw, uf-binarized, pairs or unlabelled", err)
	}
	if err != nil {
		return nil, err
	}
	pairs = append(labelled, pairs...)
	for i, s := range stats {
		for why, n := range s.Skipped {
			notef(c, "%s: skipped %d bad records: %s", files[i], n, why)
		}
		for why, n := range s.Dropped {
			notef(c, "%s: %d pairs not built: %s", files[i], n, why)
		}
		for why, n := range s.Kept {
			notef(c, "%s: note: %d pairs with an %s", files[i], n, why)
		}
	}
	if len(pairs) == 0 {
		return nil, fmt.Errorf("no pairs in %v", files)
	}
	return pairs, nil
}

// expand turns folders into the data files under them, in name order.
func expand(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, p)
			continue
		}
		n := len(out)
		err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && isDataFile(path) {
				// regular files only (following links): a FIFO or device named
				// *.jsonl would block or never end
				if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
					out = append(out, path)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(out) == n {
			return nil, fmt.Errorf("%s: no .jsonl, .jsonl.gz or .parquet files", p)
		}
	}
	return out, nil
}

// splitOf is the split a data file's name says: "test_prefs" for
// test_prefs-00000-of-00001.parquet, "train" for train.jsonl.gz.
func splitOf(path string) string {
	base := filepath.Base(path)
	if i := strings.Index(base, "-0"); i > 0 {
		return base[:i]
	}
	if i := strings.Index(base, "."); i > 0 {
		return base[:i]
	}
	return base
}

// pickSplit keeps the files of --split; without it, a folder that holds
// several splits is read whole, with a warning (a Hugging Face dataset
// folder holds train and test files side by side).
func pickSplit(c *cli.Context, files []string) ([]string, error) {
	want := c.String("split")
	splits := map[string]map[string]bool{} // folder -> splits
	var out []string
	for _, f := range files {
		dir, s := filepath.Dir(f), splitOf(f)
		if splits[dir] == nil {
			splits[dir] = map[string]bool{}
		}
		splits[dir][s] = true
		if want == "" || s == want {
			out = append(out, f)
		}
	}
	if want != "" && len(out) == 0 {
		return nil, fmt.Errorf("--split %s: no data file of that split (files: %s)", want, strings.Join(files, ", "))
	}
	if want == "" {
		for dir, ss := range splits {
			if len(ss) > 1 {
				var names []string
				for s := range ss {
					names = append(names, s)
				}
				sort.Strings(names)
				notef(c, "warning: %s holds several splits (%s); reading them all (pick one with --split)", dir, strings.Join(names, ", "))
			}
		}
	}
	return out, nil
}

func isDataFile(path string) bool {
	for _, ext := range []string{".jsonl", ".jsonl.gz", ".json.gz", ".parquet"} {
		if len(path) > len(ext) && path[len(path)-len(ext):] == ext {
			return true
		}
	}
	return false
}
