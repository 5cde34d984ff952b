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
	"runtime"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/cache"
	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/features"
	"github.com/ser-rl/ser/internal/progress"
	"github.com/ser-rl/ser/label"
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
		Action: func(c *cli.Context) error { // no command: the help; a word that names none (ser ""): an error
			if c.NArg() > 0 {
				commandNotFound(c, c.Args().First())
				err := notFound
				notFound = nil
				return err
			}
			return cli.ShowAppHelp(c)
		},
	}
	addGlobalFlags(app.Commands)
	app.OnUsageError = onUsageError("", app.Flags)
	setUsageErrors(app.Commands, "")
	refuseArgs(app.Commands, "ser")
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

// refuseArgs makes the commands that take no arguments (no ArgsUsage, no
// subcommands) refuse them: `--data a.jsonl b.jsonl` would otherwise read a
// alone and say nothing of b.
func refuseArgs(cmds []*cli.Command, path string) {
	for _, cmd := range cmds {
		name := path + " " + cmd.Name
		if len(cmd.Subcommands) > 0 {
			refuseArgs(cmd.Subcommands, name)
			continue
		}
		if cmd.ArgsUsage != "" || cmd.Action == nil || cmd.Name == "help" {
			continue
		}
		action := cmd.Action
		cmd.Action = func(c *cli.Context) error {
			if c.Args().Len() > 0 {
				arg := c.Args().First()
				if r := []rune(arg); len(r) > 80 {
					arg = string(r[:77]) + "..."
				}
				return fmt.Errorf("%s takes no argument, and was given %d: %q first (a flag takes one value: repeat it, --data a.jsonl --data b.jsonl, or give their folder)", strings.TrimPrefix(name, "ser "), c.Args().Len(), arg)
			}
			return action(c)
		}
	}
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
	opts := onnx.Options{Device: globalString(c, "device"), LengthBuckets: globalString(c, "length-buckets"), PoolIn: globalString(c, "pool-in")}
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
	pf, err := promptFormat(c)
	if err != nil {
		return nil, nil, err
	}
	bar := progress.New(stderr(c), "embed", "texts", 0, globalBool(c, "quiet"))
	rep := newEmbedReport(c, m, bar, h)
	f, err := features.New(features.Options{Manifest: m, Form: form, CachePath: p, ORTLib: ortLib(c, h),
		PromptFormat: pf, Backbone: backboneOptions(c), Plan: rep.onPlan, Progress: rep.onProgress,
		LockWait: func(path string) {
			notef(c, "feature cache %s: another ser process is writing it (a ser embed?); waiting for it to finish (Ctrl-C to stop)", path)
		}})
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
	return features.HomeCache(h, m), nil
}

func openCache(c *cli.Context, m *models.Manifest, writable bool) (*cache.Cache, error) {
	p, err := cachePath(c, m)
	if err != nil {
		return nil, err
	}
	var cc *cache.Cache
	if writable {
		cc, err = cache.OpenWait(c.Context, p, m.Fingerprint(), m.Dim, cache.Format(m.FeatureStorage), func() {
			notef(c, "feature cache %s: another ser process is writing it (a ser embed?); waiting for it to finish (Ctrl-C to stop)", p)
		})
	} else {
		cc, err = cache.Open(p, m.Fingerprint(), m.Dim, cache.Format(m.FeatureStorage), false)
	}
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
		templateFlag(),
	}
}

// templateFlag is --template: how prompts are written, when not as each
// prompt's own markers say.
func templateFlag() cli.Flag {
	return &cli.StringFlag{Name: "template", Usage: "how prompts are written: auto (each detected: HH-RLHF transcript, ChatML, Llama-3, Gemma, else a plain message), " +
		strings.Join(data.PromptFormats, ", ") + " (raw: the backbone reads the prompt as it is, with no conversation rendering)", Value: "auto"}
}

// promptFormat is --template, checked.
func promptFormat(c *cli.Context) (string, error) {
	if !defined(c, "template") {
		return data.FormatAuto, nil
	}
	f := c.String("template")
	if err := data.CheckPromptFormat(f); err != nil {
		return "", fmt.Errorf("--template: %w", err)
	}
	if f == "auto" {
		f = data.FormatAuto
	}
	return f, nil
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

// readFiles reads data files and folders, in the order given, noting
// what was skipped: an answers folder of `ser label` gives its pairs by
// majority vote, any other path its data files (see data.Files).
func readFiles(c *cli.Context, paths []string) ([]data.Pair, error) {
	pairs, _, err := readFilesFormats(c, paths)
	return pairs, err
}

// readFilesFormats is readFiles, also counting the pairs read in each
// format (as detected, or --format; "answers" for a `ser label` folder).
func readFilesFormats(c *cli.Context, paths []string) ([]data.Pair, map[string]int, error) {
	formats := map[string]int{}
	mb := data.DefaultMaxLine >> 20
	if defined(c, "max-line-mb") { // demo reads its own sample without the data flags
		mb = c.Int("max-line-mb")
	}
	if mb < 1 || mb > 1<<14 {
		return nil, nil, fmt.Errorf("--max-line-mb %d: want 1 to %d", mb, 1<<14)
	}
	var pairs []data.Pair
	var all []string
	for _, p := range paths {
		if label.IsAnswers(p) {
			got, err := labelAnswers(c, p)
			if err != nil {
				return nil, nil, err
			}
			formats["answers"] += len(got)
			pairs = append(pairs, got...)
			all = append(all, p)
			continue
		}
		files, notes, err := data.Files([]string{p}, c.String("split"))
		if err != nil {
			return nil, nil, err
		}
		for _, n := range notes {
			notef(c, "%s", n)
		}
		got, stats, err := data.ReadAll(files, data.Options{Format: c.String("format"), SkipBad: c.Bool("skip-bad"), MaxLine: mb << 20})
		if errors.Is(err, data.ErrUnknownFormat) {
			return nil, nil, fmt.Errorf("%w: name it with --format hh, uf-raw, uf-binarized, pairs or unlabelled", err)
		}
		if err != nil {
			return nil, nil, err
		}
		for _, s := range stats {
			formats[s.Format] += s.Pairs
		}
		for i, s := range stats {
			for _, why := range sortedKeys(s.Skipped) {
				notef(c, "%s: skipped %d bad records: %s", files[i], s.Skipped[why], why)
			}
			for _, why := range sortedKeys(s.Dropped) {
				notef(c, "%s: %d pairs not built: %s", files[i], s.Dropped[why], why)
			}
			for _, why := range sortedKeys(s.Kept) {
				notef(c, "%s: note: %d pairs with an %s", files[i], s.Kept[why], why)
			}
		}
		pairs = append(pairs, got...)
		all = append(all, files...)
	}
	if len(pairs) == 0 {
		return nil, nil, fmt.Errorf("no pairs in %v", all)
	}
	return pairs, formats, nil
}
