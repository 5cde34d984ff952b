package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/models"
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
		abs := realPath(out.path)
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
			if realPath(in.path) == abs {
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
// owned reports) would replace an input: an input, existing or not, that
// lies in the folder under one of those names.
func checkOutputFolder(flag, dir string, owned func(string) bool, inputs []file) error {
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return fmt.Errorf("%s %s: is a file; give a folder", flag, dir)
	}
	d := realPath(dir)
	for _, in := range inputs {
		if in.path == "" || in.path == "-" {
			continue
		}
		p := realPath(in.path)
		if filepath.Dir(p) == d && owned(filepath.Base(p)) {
			return fmt.Errorf("%s %s is the run's own %s in %s %s: an output never replaces an input (keep it elsewhere)", in.flag, in.path, filepath.Base(p), flag, dir)
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

// realPath is p absolute with its links followed; for a path not there yet,
// its folder's real path and its name (so that a file about to be created
// through a linked folder is still known for what it is).
func realPath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r
	}
	if r, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		return filepath.Join(r, filepath.Base(abs))
	}
	return abs
}

// backboneFiles are what a command reads of its backbone, as inputs no
// output may replace: the feature cache it uses (the home's by default),
// the manifest and the backbone's files.
func backboneFiles(c *cli.Context, m *models.Manifest) []file {
	var out []file
	if p, err := cachePath(c, m); err == nil {
		out = append(out, file{"the feature cache", p})
	}
	out = append(out, file{"the backbone's manifest", filepath.Join(m.Dir, "manifest.json")})
	for _, f := range m.Files {
		out = append(out, file{"the backbone's file", m.Path(f.Name)})
	}
	return out
}
