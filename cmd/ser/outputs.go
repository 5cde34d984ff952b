package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/ser-rl/ser/data"
	"github.com/urfave/cli/v2"
)

// file is a path a command reads or writes, and the flag that named it.
type file struct {
	flag, path string
}

// checkOutputs refuses a command's outputs that would replace one of its
// inputs (the same file, or a link to it) or each other: an output never
// overwrites an input. Folders among the inputs stand for the data files
// under them. Paths that are empty or "-" (a stream) are left out.
func checkOutputs(outputs, inputs []file) error {
	var ins []file
	for _, in := range inputs {
		if in.path == "" || in.path == "-" {
			continue
		}
		if fi, err := os.Stat(in.path); err == nil && fi.IsDir() {
			files, _, _ := data.Files([]string{in.path}, "")
			for _, f := range files {
				ins = append(ins, file{in.flag, f})
			}
			continue
		}
		ins = append(ins, in)
	}
	seen := map[string]file{}
	for _, out := range outputs {
		if out.path == "" || out.path == "-" {
			continue
		}
		abs, err := filepath.Abs(out.path)
		if err != nil {
			return err
		}
		if prev, ok := seen[abs]; ok {
			return fmt.Errorf("%s %s and %s %s name one file: give each output its own", prev.flag, prev.path, out.flag, out.path)
		}
		seen[abs] = out
		fo, err := os.Stat(out.path)
		if err == nil && fo.IsDir() {
			return fmt.Errorf("%s %s: is a folder; give a file name", out.flag, out.path)
		}
		for _, in := range ins {
			same := false
			if inAbs, err := filepath.Abs(in.path); err == nil && inAbs == abs {
				same = true // by name, even before either exists (a cache the command creates)
			} else if fi, err := os.Stat(in.path); err == nil && fo != nil && os.SameFile(fo, fi) {
				same = true // the same file through a link
			}
			if same {
				return fmt.Errorf("%s %s is the input %s %s: an output never replaces an input (write it elsewhere)", out.flag, out.path, in.flag, in.path)
			}
		}
	}
	return nil
}

// checkOutputFolder refuses an output folder whose own files (the names
// owned reports) would replace an input, and one that holds the current
// folder: a run replaces its output folder as a whole (see
// safefile.WriteSet), which would leave the shell that ran it in a folder
// that is gone.
func checkOutputFolder(flag, dir string, owned func(string) bool, inputs []file) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return fmt.Errorf("%s %s: is a file; give a folder", flag, dir)
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(abs, wd); err == nil && (rel == "." || filepath.IsLocal(rel)) {
			return fmt.Errorf("%s %s: is the current folder (or holds it); the run replaces its output folder as a whole, so give a folder of its own, such as %s", flag, dir, filepath.Join(dir, "ser-run"))
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil // not there yet: nothing in it to replace
	}
	var mine []file
	for _, e := range entries {
		if owned(e.Name()) {
			mine = append(mine, file{flag, filepath.Join(dir, e.Name())})
		}
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].path < mine[j].path })
	for _, m := range mine {
		if err := checkOutputs([]file{m}, inputs); err != nil {
			return err
		}
	}
	return nil
}

// flagFiles are the paths a slice flag names, as inputs.
func flagFiles(c *cli.Context, flag string) []file {
	var out []file
	for _, p := range c.StringSlice(flag) {
		out = append(out, file{"--" + flag, p})
	}
	return out
}
