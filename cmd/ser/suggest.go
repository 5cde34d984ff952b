package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"
)

// suggest returns the candidate a mistyped name most likely meant, or "":
// one within a small edit distance (a swap of two neighbouring letters counts
// as one edit: trian, emebd), else one that the name starts with or that
// starts with it, at three letters or more (evalute, evaluate: eval; evolv:
// evolve). Ties go to the earlier candidate.
func suggest(name string, candidates []string) string {
	best, bestD := "", max(1, len(name)/3)+1
	for _, c := range candidates {
		if d := osaDistance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best != "" || len(name) < 3 {
		return best
	}
	for _, c := range candidates {
		if len(c) >= 3 && (strings.HasPrefix(name, c) || strings.HasPrefix(c, name)) {
			return c
		}
	}
	return ""
}

// osaDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of adjacent letters, each one edit.
func osaDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// commandNotFound suggests the nearest command (or, under a command with
// subcommands, subcommand) name.
func commandNotFound(c *cli.Context, name string) {
	cmds, where := c.App.Commands, "ser"
	if cmd := c.Command; cmd != nil && len(cmd.Subcommands) > 0 && cmd.Name != "" && cmd.Name != c.App.Name {
		cmds, where = cmd.Subcommands, "ser "+cmd.Name
	}
	var names []string
	for _, cmd := range cmds {
		if cmd.Name != "help" {
			names = append(names, cmd.Name)
		}
	}
	msg := fmt.Sprintf("no command %q", strings.TrimSpace(strings.TrimPrefix(where, "ser")+" "+clip(name)))
	if best := suggest(name, names); best != "" {
		msg += fmt.Sprintf("; did you mean %q?", strings.TrimSpace(strings.TrimPrefix(where, "ser")+" "+best))
	}
	notFound = fmt.Errorf("%s (%s --help lists them)", msg, where)
}

// notFound is the error of an unknown command, which urfave's hook cannot return.
var notFound error

// onUsageError makes a command's (path, as "models list"; "" for the
// program's own) flag errors
// one line, with the flag it most likely meant, instead of urfave's line
// followed by the whole help.
func onUsageError(path string, flags []cli.Flag) cli.OnUsageErrorFunc {
	where, help := "", "ser --help"
	if path != "" {
		where, help = path+": ", "ser "+path+" --help"
	}
	return func(_ *cli.Context, err error, _ bool) error {
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
			name = strings.TrimLeft(name, "-")
			var names []string
			for _, f := range flags {
				names = append(names, f.Names()...)
			}
			out := fmt.Sprintf("%sno flag %s", where, dashes(clip(name)))
			if best := suggest(name, names); best != "" {
				out += fmt.Sprintf("; did you mean %s?", dashes(best))
			}
			return fmt.Errorf("%s (%s lists them)", out, help)
		}
		// the flag package writes -name; the help writes --name
		msg = strings.ReplaceAll(msg, "flag -", "flag --")
		msg = strings.ReplaceAll(msg, "argument: -", "argument: --")
		return fmt.Errorf("%s%s (see %s)", where, msg, help)
	}
}

// clip cuts a name the user typed to 60 characters for a message.
func clip(s string) string {
	if r := []rune(s); len(r) > 60 {
		return string(r[:57]) + "..."
	}
	return s
}

// dashes writes a flag name as the help does: -n, --name.
func dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// setUsageErrors gives the commands (and their subcommands) one-line flag errors.
func setUsageErrors(cmds []*cli.Command, parent string) {
	for _, c := range cmds {
		path := strings.TrimSpace(parent + " " + c.Name)
		c.OnUsageError = onUsageError(path, c.Flags)
		setUsageErrors(c.Subcommands, path)
	}
}

// version is what `ser --version` prints: the module version and the VCS
// revision Go recorded when it built this binary (go build in a git
// checkout records them; go build -buildvcs=false and copies of the source
// outside git do not, and it says so), and the Go version.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel) (no build information)"
	}
	return versionOf(bi)
}

func versionOf(bi *debug.BuildInfo) string {
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	set := map[string]string{}
	for _, s := range bi.Settings {
		set[s.Key] = s.Value
	}
	var rev []string
	if r := set["vcs.revision"]; r != "" {
		rev = append(rev, "commit "+r[:min(12, len(r))])
		if t := set["vcs.time"]; t != "" {
			rev = append(rev, t)
		}
		if set["vcs.modified"] == "true" {
			rev = append(rev, "with uncommitted changes")
		}
	} else {
		rev = append(rev, "no VCS revision recorded (built outside a git checkout, or with -buildvcs=false: make build records it)")
	}
	return fmt.Sprintf("%s (%s; %s)", v, strings.Join(rev, ", "), bi.GoVersion)
}
