// Package atomic writes files so that a crash, a kill -9 or a full disk never
// leaves a half-written file under the final name: the data goes to a
// temporary file in the same folder, is synced, and is renamed into place.
package atomic

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// WriteFile writes data to path atomically, creating the folder if needed.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write streams fill's output to path atomically. If fill fails, nothing
// changes at path.
func Write(path string, fill func(w io.Writer) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cleanStale(dir, "."+filepath.Base(path)+".tmp")
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := fill(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil { // make the rename itself durable
		d.Sync()
		d.Close()
	}
	return nil
}

// staleAfter is how old a temporary file must be before it is taken for the
// remains of a killed write (rather than a write in progress) and removed.
const staleAfter = 10 * time.Minute

// cleanStale removes dir's temporary files (or folders) named prefix* that
// are older than staleAfter.
func cleanStale(dir, prefix string) {
	matches, _ := filepath.Glob(filepath.Join(dir, globEscape(prefix)+"*"))
	for _, m := range matches {
		if fi, err := os.Lstat(m); err == nil && time.Since(fi.ModTime()) > staleAfter {
			os.RemoveAll(m)
		}
	}
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// WriteSet replaces the files of a set in the folder dir all at once: fill
// writes the new set into a staging folder beside dir; the files of dir that
// the set does not own (owned reports whether a name is one of its files)
// are linked into it; then the staging folder takes dir's place. A reader
// sees the old set or the new one, never a mix; a crash at any point leaves
// one of the two under dir (a crash between the two renames is repaired on
// the next write), and the set's files of an earlier run that the new one
// lacks are gone.
func WriteSet(dir string, owned func(name string) bool, fill func(stage string) error) error {
	dir = filepath.Clean(dir)
	parent, base := filepath.Dir(dir), filepath.Base(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	newPrefix, oldPrefix := "."+base+".new-", "."+base+".old-"
	if _, err := os.Stat(dir); os.IsNotExist(err) { // a crash between the renames
		if olds, _ := filepath.Glob(filepath.Join(parent, globEscape(oldPrefix)+"*")); len(olds) == 1 {
			os.Rename(olds[0], dir)
		}
	}
	for _, p := range []string{newPrefix, oldPrefix} {
		matches, _ := filepath.Glob(filepath.Join(parent, globEscape(p)+"*"))
		for _, m := range matches {
			os.RemoveAll(m)
		}
	}
	stage, err := os.MkdirTemp(parent, newPrefix)
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage) // a no-op once renamed
	if err := fill(stage); err != nil {
		return err
	}
	var moveLater []string
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if owned(e.Name()) || strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".tmp") {
				continue
			}
			if _, err := os.Lstat(filepath.Join(stage, e.Name())); err == nil {
				continue // the new set has it
			}
			if e.Type().IsRegular() {
				if err := os.Link(filepath.Join(dir, e.Name()), filepath.Join(stage, e.Name())); err != nil {
					return fmt.Errorf("write %s: keeping %s: %w", dir, e.Name(), err)
				}
			} else {
				moveLater = append(moveLater, e.Name())
			}
		}
	} else if !os.IsNotExist(err) {
		return err
	}
	if d, err := os.Open(stage); err == nil {
		d.Sync()
		d.Close()
	}
	old := ""
	if _, err := os.Stat(dir); err == nil {
		o, err := os.MkdirTemp(parent, oldPrefix)
		if err != nil {
			return err
		}
		os.Remove(o)
		if err := os.Rename(dir, o); err != nil {
			return err
		}
		old = o
	}
	if err := os.Rename(stage, dir); err != nil {
		if old != "" {
			os.Rename(old, dir)
		}
		return err
	}
	if d, err := os.Open(parent); err == nil {
		d.Sync()
		d.Close()
	}
	if old != "" {
		for _, name := range moveLater { // folders and links of the user's: moved over
			os.Rename(filepath.Join(old, name), filepath.Join(dir, name))
		}
		os.RemoveAll(old)
	}
	return nil
}
