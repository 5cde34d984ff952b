// Package safefile writes files so that a crash, a kill -9 or a full disk never
// leaves a half-written file under the final name: the data goes to a
// temporary file in the same folder, is synced, and is renamed into place.
package safefile

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
func Write(path string, fill func(w io.Writer) error) error { return write(path, fill, false) }

// WritePartial is Write for outputs made of records, where what was written
// before a failure is worth keeping: when fill fails after writing some
// bytes, those are put at path (atomically, as by Write) and fill's error is
// returned; fill must then have written only whole records. When it fails
// before writing anything, nothing changes at path.
func WritePartial(path string, fill func(w io.Writer) error) error { return write(path, fill, true) }

func write(path string, fill func(w io.Writer) error, partial bool) error {
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
		if partial {
			if off, _ := tmp.Seek(0, io.SeekCurrent); off > 0 && commit(tmp, path) == nil {
				return err // the rows before it are at path; the error already names where
			}
		}
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return commit(tmp, path)
}

// commit syncs and closes tmp, and renames it to path.
func commit(tmp *os.File, path string) error {
	dir := filepath.Dir(path)
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
	syncDir(dir) // make the rename itself durable
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
// writes the new set into a staging folder beside dir; the user's entries
// in dir (every name owned does not claim) are carried into it (regular
// files as hard links, anything else moved), it takes dir's permissions,
// and then it takes dir's place. A reader sees the old set or the new one,
// never a mix, and the set's files of an earlier run that the new one lacks
// are gone; nothing else is removed.
//
// The staging folder and the old one, beside dir, are named .DIR.ser-new-*
// and .DIR.ser-old-* and hold a marker file (.ser-set) while they exist; only
// folders with the marker are ever removed. A crash at any point leaves one
// whole set under dir, or (between the two renames) none, with the old one
// beside it: the next write puts it back, with any of the user's entries
// that the crash left in a staging folder. Since dir is replaced, a shell
// whose current folder is dir is left in the old one: callers refuse that.
func WriteSet(dir string, owned func(name string) bool, fill func(stage string) error) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real // a link to the folder: replace the folder, keep the link
	}
	parent, base := filepath.Dir(dir), filepath.Base(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	ours := func(name string) bool { return name == setMarker || owned(name) }
	newPrefix, oldPrefix := "."+base+".ser-new-", "."+base+".ser-old-"
	repairSet(dir, newPrefix, oldPrefix, ours)
	stage, err := os.MkdirTemp(parent, newPrefix)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(stage, setMarker), []byte(setMarkerText), 0o644); err != nil {
		os.RemoveAll(stage)
		return err
	}
	var moved []string // the user's entries moved from dir into stage
	swapped := false
	defer func() {
		if swapped {
			return
		}
		for _, name := range moved { // put them back before the stage goes
			os.Rename(filepath.Join(stage, name), filepath.Join(dir, name))
		}
		os.RemoveAll(stage)
	}()
	if err := fill(stage); err != nil {
		return err
	}
	mode := os.FileMode(0o755)
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("write %s: not a folder", dir)
		}
		mode = fi.Mode().Perm()
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if ours(name) || ownTemp(name, owned) {
			continue
		}
		if _, err := os.Lstat(filepath.Join(stage, name)); err == nil {
			return fmt.Errorf("write %s: the new set has %s, which the set does not own", dir, name)
		}
		from, to := filepath.Join(dir, name), filepath.Join(stage, name)
		if e.Type().IsRegular() && os.Link(from, to) == nil {
			continue // a hard link: the file stays in dir until the swap
		}
		if err := os.Rename(from, to); err != nil {
			return fmt.Errorf("write %s: keeping %s: %w", dir, name, err)
		}
		moved = append(moved, name)
	}
	if err := os.Chmod(stage, mode); err != nil {
		return err
	}
	syncDir(stage)
	old := ""
	if _, err := os.Stat(dir); err == nil {
		// mark dir as ours before it becomes the old set beside the new one
		if err := os.WriteFile(filepath.Join(dir, setMarker), []byte(setMarkerText), 0o644); err != nil {
			return err
		}
		o, err := os.MkdirTemp(parent, oldPrefix)
		if err != nil {
			return err
		}
		os.Remove(o)
		if err := os.Rename(dir, o); err != nil {
			os.Remove(filepath.Join(dir, setMarker))
			return err
		}
		old = o
	}
	if err := os.Rename(stage, dir); err != nil {
		if old != "" {
			os.Rename(old, dir)
			os.Remove(filepath.Join(dir, setMarker))
		}
		return err
	}
	swapped = true
	os.Remove(filepath.Join(dir, setMarker))
	syncDir(parent)
	if old != "" {
		os.RemoveAll(old)
	}
	return nil
}

// setMarker marks the staging and old folders of WriteSet: only folders
// that hold it are ever removed.
const (
	setMarker     = ".ser-set"
	setMarkerText = "a set of files being replaced by ser (safefile.WriteSet); removed when done\n"
)

// ownTemp reports whether name is Write's temporary file for one of
// the set's own names (".NAME.tmp123").
func ownTemp(name string, owned func(string) bool) bool {
	i := strings.LastIndex(name, ".tmp")
	if !strings.HasPrefix(name, ".") || i < 2 || strings.Trim(name[i+4:], "0123456789") != "" {
		return false
	}
	return owned(name[1:i])
}

// repairSet finishes what a crashed WriteSet left beside dir: with dir gone
// (a crash between the renames), the old set is put back; the user's
// entries left in a staging or old folder go back into dir; then those
// folders, which hold the marker, are removed. Folders with the prefixes
// but no marker are not WriteSet's and are left alone.
func repairSet(dir, newPrefix, oldPrefix string, ours func(string) bool) {
	parent := filepath.Dir(dir)
	marked := func(prefix string) []string {
		matches, _ := filepath.Glob(filepath.Join(parent, globEscape(prefix)+"*"))
		var out []string
		for _, m := range matches {
			if fi, err := os.Lstat(filepath.Join(m, setMarker)); err == nil && fi.Mode().IsRegular() {
				out = append(out, m)
			}
		}
		return out
	}
	olds := marked(oldPrefix)
	if _, err := os.Lstat(dir); os.IsNotExist(err) && len(olds) == 1 {
		if os.Rename(olds[0], dir) == nil {
			os.Remove(filepath.Join(dir, setMarker))
			olds = nil
		}
	}
	for _, f := range append(marked(newPrefix), olds...) {
		entries, _ := os.ReadDir(f)
		for _, e := range entries {
			if ours(e.Name()) {
				continue
			}
			if _, err := os.Lstat(filepath.Join(dir, e.Name())); os.IsNotExist(err) {
				os.Rename(filepath.Join(f, e.Name()), filepath.Join(dir, e.Name()))
			}
		}
		os.RemoveAll(f)
	}
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
