package data

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Files turns paths (files and folders) into the data files to read: a
// file as it is; a folder as the data files under it (.jsonl, .jsonl.gz,
// .json.gz, .parquet; regular files only, in name order). With split set,
// only the files of that split are kept (see SplitOf); without it, notes
// say which folders hold several splits, all of which are read.
func Files(paths []string, split string) (files, notes []string, err error) {
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, nil, err
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		n := len(files)
		root := p
		if li, err := os.Lstat(p); err == nil && li.Mode()&os.ModeSymlink != 0 {
			// a link to a folder (datasets/hh-rlhf -> the copy elsewhere) is
			// the folder it names: WalkDir would list the link alone
			root = p + string(filepath.Separator)
		}
		linked := 0 // links to folders inside p: not followed (they may lead anywhere)
		err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type()&os.ModeSymlink != 0 && path != root {
				if fi, err := os.Stat(path); err == nil && fi.IsDir() {
					linked++
					return nil
				}
			}
			if !d.IsDir() && IsDataFile(path) {
				// regular files only (following links): a FIFO or device named
				// *.jsonl would block or never end
				if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
					files = append(files, path)
				}
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		skipped := ""
		if linked > 0 {
			skipped = fmt.Sprintf("%d links to folders in %s were not followed (give each as --data itself)", linked, p)
		}
		if len(files) == n {
			if skipped != "" {
				return nil, nil, fmt.Errorf("%s: no .jsonl, .jsonl.gz or .parquet files; %s", p, skipped)
			}
			return nil, nil, fmt.Errorf("%s: no .jsonl, .jsonl.gz or .parquet files", p)
		}
		if skipped != "" {
			notes = append(notes, skipped)
		}
	}
	files, more, err := pickSplit(files, split)
	return files, append(notes, more...), err
}

// IsDataFile says whether a file's name is one the readers take in a folder.
func IsDataFile(path string) bool {
	for _, ext := range []string{".jsonl", ".jsonl.gz", ".json.gz", ".parquet"} {
		if len(path) > len(ext) && strings.HasSuffix(path, ext) {
			return true
		}
	}
	return false
}

// SplitOf is the split a data file's name says: "test_prefs" for
// test_prefs-00000-of-00001.parquet, "train" for train.jsonl.gz.
func SplitOf(path string) string {
	base := filepath.Base(path)
	if i := strings.Index(base, "-0"); i > 0 {
		return base[:i]
	}
	if i := strings.Index(base, "."); i > 0 {
		return base[:i]
	}
	return base
}

// pickSplit keeps the files of split; without one, a folder that holds
// several splits is read whole, with a note (a Hugging Face dataset folder
// holds train and test files side by side).
func pickSplit(files []string, want string) ([]string, []string, error) {
	splits := map[string]map[string]bool{} // folder -> splits
	var out, notes []string
	for _, f := range files {
		dir, s := filepath.Dir(f), SplitOf(f)
		if splits[dir] == nil {
			splits[dir] = map[string]bool{}
		}
		splits[dir][s] = true
		if want == "" || s == want {
			out = append(out, f)
		}
	}
	if want != "" && len(out) == 0 {
		return nil, nil, fmt.Errorf("--split %s: no data file of that split (files: %s)", want, strings.Join(files, ", "))
	}
	if want == "" {
		dirs := make([]string, 0, len(splits))
		for d := range splits {
			dirs = append(dirs, d)
		}
		sort.Strings(dirs)
		for _, dir := range dirs {
			if ss := splits[dir]; len(ss) > 1 {
				var names []string
				for s := range ss {
					names = append(names, s)
				}
				sort.Strings(names)
				notes = append(notes, fmt.Sprintf("warning: %s holds several splits (%s); reading them all (pick one with --split)", dir, strings.Join(names, ", ")))
			}
		}
	}
	return out, notes, nil
}
