package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/onnx"
)

// globalFlags are accepted before the command (ser --device cuda eval ...)
// and after it (ser eval --device cuda ...); global reads them wherever given.
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "home", Usage: "where backbones, the runtime and the feature cache live (default: $SER_HOME, else a .ser-home beside the folder of the ser binary as make builds it, else the user cache dir + /ser)"},
		&cli.StringFlag{Name: "ort-lib", Usage: "the ONNX Runtime library (default: $ORT_LIB, else the one ser setup installed)"},
		&cli.StringFlag{Name: "device", Value: "cpu", Usage: "cpu, cuda or cuda:N"},
		&cli.IntFlag{Name: "threads", Usage: "CPU threads for the backbone", DefaultText: "all cores"},
		&cli.StringFlag{Name: "length-buckets", Usage: "on or off: pad each batch to its rows' length bucket, so that a text's vector does not depend on its batch-mates (default: on for CUDA, off on the CPU)"},
		&cli.StringFlag{Name: "pool-in", Usage: "graph or host: where a dense backbone's token states are pooled, in the ONNX graph (on the device: only pooled vectors leave it) or by ser on the host (default: graph on CUDA, host on the CPU)"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress on stderr"},
	}
}

// withoutFlags leaves out the named flags.
func withoutFlags(flags []cli.Flag, names ...string) []cli.Flag {
	var out []cli.Flag
	for _, f := range flags {
		drop := false
		for _, n := range names {
			drop = drop || f.Names()[0] == n
		}
		if !drop {
			out = append(out, f)
		}
	}
	return out
}

// addGlobalFlags gives every command (and subcommand) the global flags.
func addGlobalFlags(cmds []*cli.Command) {
	for _, c := range cmds {
		have := map[string]bool{}
		for _, f := range c.Flags {
			for _, n := range f.Names() {
				have[n] = true
			}
		}
		for _, f := range globalFlags() {
			if !have[f.Names()[0]] {
				c.Flags = append(c.Flags, f)
			}
		}
		addGlobalFlags(c.Subcommands)
	}
}

// set reports whether a flag was given in c or a context above it, and the
// context it was given in (the innermost).
func set(c *cli.Context, name string) (*cli.Context, bool) {
	for _, ctx := range c.Lineage() {
		for _, n := range ctx.LocalFlagNames() {
			if n == name {
				return ctx, true
			}
		}
	}
	return c, false
}

func globalString(c *cli.Context, name string) string {
	ctx, _ := set(c, name)
	return ctx.String(name)
}

func globalInt(c *cli.Context, name string) int {
	ctx, _ := set(c, name)
	return ctx.Int(name)
}

func globalBool(c *cli.Context, name string) bool {
	ctx, _ := set(c, name)
	return ctx.Bool(name)
}

// checkGlobals refuses bad global flags before a command does anything.
func checkGlobals(c *cli.Context) error {
	if n := globalInt(c, "threads"); n < 0 {
		return fmt.Errorf("--threads %d: want 1 or more (0 or unset: all cores)", n)
	}
	if _, err := onnx.ParseDevice(globalString(c, "device")); err != nil {
		return fmt.Errorf("--device: %w", err)
	}
	if b := globalString(c, "length-buckets"); b != "" && b != "on" && b != "off" {
		return fmt.Errorf("--length-buckets %q: want on or off", b)
	}
	if p := globalString(c, "pool-in"); p != "" && p != "graph" && p != "host" {
		return fmt.Errorf("--pool-in %q: want graph or host", p)
	}
	return nil
}

// need reports the first required flag not given, in one line: urfave's own
// check prints the whole help before its error.
func need(c *cli.Context, names ...string) error {
	for _, n := range names {
		if _, ok := set(c, n); !ok {
			return fmt.Errorf("%s: --%s is required (see ser %s --help)", c.Command.Name, n, c.Command.Name)
		}
	}
	return nil
}

// needHead requires --head, or --model: a reward model's own reward.
func needHead(c *cli.Context) error {
	for _, n := range []string{"head", "model"} {
		if _, ok := set(c, n); ok {
			return nil
		}
	}
	return fmt.Errorf("%s: --head is required, or --model naming a reward model to use its own reward (see ser %s --help)", c.Command.Name, c.Command.Name)
}

// defaultHome is the home when neither --home nor $SER_HOME is given: the
// .ser-home that make uses, when this binary is bin/ser of such a checkout,
// else the user cache dir + /ser.
func defaultHome() (string, error) {
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			h := filepath.Join(filepath.Dir(filepath.Dir(exe)), ".ser-home")
			if fi, err := os.Stat(filepath.Join(h, "models")); err == nil && fi.IsDir() {
				return h, nil
			}
		}
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no --home, no $SER_HOME and no user cache dir: %w", err)
	}
	return filepath.Join(dir, "ser"), nil
}
