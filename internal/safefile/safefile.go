// Package safefile writes files so that a crash, a kill -9 or a full disk never
// leaves a half-written file under the final name: the data goes to a
// temporary file in the same folder, is synced, and is renamed into place.
package safefile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
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
// before writing anything, or because its context was cancelled (Ctrl-C:
// the user stopped it, and an earlier complete output stays), nothing
// changes at path.
func WritePartial(path string, fill func(w io.Writer) error) error { return write(path, fill, true) }

func write(path string, fill func(w io.Writer) error, partial bool) error {
	path, err := target(path)
	if err != nil {
		return err
	}
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
		if partial && !errors.Is(err, context.Canceled) {
			if off, _ := tmp.Seek(0, io.SeekCurrent); off > 0 && commit(tmp, path) == nil {
				return err // the rows before it are at path; the error already names where
			}
		}
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return commit(tmp, path)
}

// target is where a write to path goes: path itself, or the regular file a
// link at path names (the link is kept). A FIFO, a device, a folder, or a
// link to one, is refused: a write replaces the file at its path, which
// would replace /dev/stdout's link or a user's pipe with a file.
func target(path string) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().IsRegular() {
		return path, nil // not there yet, or a plain file
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			return "", fmt.Errorf("write %s: %w", path, err)
		}
		if ri, err := os.Stat(real); err == nil && ri.Mode().IsRegular() {
			return real, nil
		}
	}
	return "", fmt.Errorf("write %s: not a regular file (a FIFO, device, folder or a link to one): ser writes files whole, by replacing them; give a file's name", path)
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

// WriteSet replaces the files of a set in the folder dir: fill writes the
// new set into a staging folder inside dir (dir/.ser-staging, marked as
// WriteSet's); a commit list naming the set's files, and the files of the
// last set the new one lacks, is written and synced; then each file is
// renamed into place and the stale ones removed. Only names the set owns
// (owned reports them) are ever replaced or removed: the user's other files
// and folders, and dir itself (its mode, owner, mount), are not touched.
//
// Writers of one folder take turns (an flock on dir). A crash before the
// commit list leaves the last set whole; a crash during the renames leaves
// the commit list, which the next WriteSet (or Repair) carries out first,
// so the set is whole again. A leftover staging folder is removed only when
// it holds WriteSet's marker.
func WriteSet(dir string, owned func(name string) bool, fill func(stage string) error) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	if err := repair(dir, owned); err != nil {
		return err
	}
	stage := filepath.Join(dir, stagingName)
	if err := os.Mkdir(stage, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", dir, err)
	}
	if err := os.WriteFile(filepath.Join(stage, setMarker), []byte(setMarkerText), 0o644); err != nil {
		os.RemoveAll(stage)
		return err
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(stage) // ours: it holds the marker
		}
	}()
	if err := fill(stage); err != nil {
		return err
	}
	var c commitList
	entries, err := os.ReadDir(stage)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if n := e.Name(); n != setMarker {
			if !owned(n) || !e.Type().IsRegular() {
				return fmt.Errorf("write %s: the new set has %s, which is not one of its files", dir, n)
			}
			c.Files = append(c.Files, n)
			// what is in the way must be replaceable, or the renames would stop
			// half done, every time: a folder of that name is the user's
			if fi, err := os.Lstat(filepath.Join(dir, n)); err == nil && !fi.Mode().IsRegular() && fi.Mode()&os.ModeSymlink == 0 {
				return fmt.Errorf("write %s: %s there is a %s, not a file this set can replace: move it away and run again", dir, n, kindOf(fi.Mode()))
			}
		}
	}
	if old, err := os.ReadDir(dir); err == nil {
		for _, e := range old {
			if n := e.Name(); owned(n) && e.Type().IsRegular() && !slices.Contains(c.Files, n) {
				c.Stale = append(c.Stale, n)
			}
		}
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	syncDir(stage)
	if err := WriteFile(filepath.Join(stage, commitName), raw); err != nil {
		return err
	}
	committed = true
	return c.carryOut(dir)
}

// kindOf names a file mode's type for a message.
func kindOf(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "folder"
	case m&os.ModeNamedPipe != 0:
		return "named pipe"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// Repair carries out a WriteSet of dir that a crash interrupted during its
// renames, and removes a staging folder that a crash left before them.
func Repair(dir string, owned func(name string) bool) error {
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return nil
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	return repair(dir, owned)
}

// The staging folder inside dir, its marker, and the commit list.
const (
	stagingName   = ".ser-staging"
	setMarker     = ".ser-set"
	setMarkerText = "a set of files being written by ser (safefile.WriteSet); removed when done\n"
	commitName    = "commit.json"
)

// commitList is what a WriteSet moves into place, and what it removes.
type commitList struct {
	Files []string `json:"files"` // in the staging folder, to rename into dir
	Stale []string `json:"stale"` // in dir, of the last set, to remove
}

// carryOut renames the list's files into dir, removes the stale ones, and
// then the staging folder. Each step can be done again: a file already
// moved is not in the staging folder any more.
func (c commitList) carryOut(dir string) error {
	stage := filepath.Join(dir, stagingName)
	for _, n := range c.Files {
		if err := os.Rename(filepath.Join(stage, n), filepath.Join(dir, n)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("write %s: %w", dir, err)
		}
	}
	syncDir(dir)
	for _, n := range c.Stale {
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("write %s: %w", dir, err)
		}
	}
	os.Remove(filepath.Join(stage, commitName))
	os.Remove(filepath.Join(stage, setMarker))
	if err := os.Remove(stage); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("write %s: removing %s: %w", dir, stage, err)
	}
	syncDir(dir)
	return nil
}

// repair finishes or clears what a crashed WriteSet left in dir (the lock
// held).
func repair(dir string, owned func(string) bool) error {
	stage := filepath.Join(dir, stagingName)
	fi, err := os.Lstat(stage)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if m, err := os.Lstat(filepath.Join(stage, setMarker)); !fi.IsDir() || err != nil || !m.Mode().IsRegular() {
		return fmt.Errorf("write %s: %s is in the way and is not ser's (it has no %s): move it elsewhere", dir, stage, setMarker)
	}
	if raw, err := ReadRegular(filepath.Join(stage, commitName), 1<<20); err == nil {
		var c commitList
		if err := json.Unmarshal(raw, &c); err == nil && c.valid(owned) {
			return c.carryOut(dir)
		}
	}
	// a crash before the commit list: the last set is whole; the stage holds
	// only what the interrupted write made
	return os.RemoveAll(stage)
}

// valid says whether a commit list names only the set's own files.
func (c commitList) valid(owned func(string) bool) bool {
	for _, n := range append(append([]string(nil), c.Files...), c.Stale...) {
		if !owned(n) || n != filepath.Base(n) {
			return false
		}
	}
	return true
}

// lockDir takes an exclusive flock on dir, waiting for another writer.
func lockDir(dir string) (func(), error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX); err != nil {
		d.Close()
		return nil, fmt.Errorf("write %s: locking it: %w", dir, err)
	}
	return func() { d.Close() }, nil // closing releases the lock
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
