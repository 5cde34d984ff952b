package models

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/ser-rl/ser/internal/safefile"
)

// stamps remembers, for one backbone folder, what hashing its files found:
// each file's size, modification time and sha256, and the model file's
// external-data locations. A file whose size and time are unchanged is not
// hashed again. nil stamps hash everything every time.
type stamps struct {
	path    string
	Files   map[string]stamp `json:"files"`
	changed bool
}

type stamp struct {
	Size     int64    `json:"size"`
	ModNS    int64    `json:"mod_ns"`
	SHA256   string   `json:"sha256"`
	External []string `json:"external"` // model files: their external data (nil: not read yet)
}

// loadStamps reads the stamps of the folder dir from stampDir; a missing or
// unreadable stamp file is an empty one.
func loadStamps(stampDir, dir string) *stamps {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		real = dir
	}
	if abs, err := filepath.Abs(real); err == nil {
		real = abs
	}
	key := sha256.Sum256([]byte(real))
	st := &stamps{path: filepath.Join(stampDir, hex.EncodeToString(key[:8])+".json")}
	if raw, err := safefile.ReadRegular(st.path, 16<<20); err == nil {
		json.Unmarshal(raw, st)
	}
	if st.Files == nil {
		st.Files = map[string]stamp{}
	}
	return st
}

// save writes the stamps if they changed; a home that cannot be written
// only means hashing again next time.
func (st *stamps) save() {
	if st == nil || !st.changed {
		return
	}
	if raw, err := json.Marshal(st); err == nil {
		safefile.WriteFile(st.path, raw)
	}
}

// resolve returns the path of one of the backbone's files after following
// links, refusing anything outside the backbone's folder and anything that
// is not a regular file (a device, a FIFO, a folder).
func (m *Manifest) resolve(name string) (string, os.FileInfo, error) {
	if err := checkFileName(name); err != nil {
		return "", nil, fmt.Errorf("backbone %s: %w", m.Name, err)
	}
	dir, err := filepath.EvalSymlinks(m.Dir)
	if err != nil {
		return "", nil, fmt.Errorf("backbone %s: %w", m.Name, err)
	}
	real, err := filepath.EvalSymlinks(m.Path(name))
	if err != nil {
		return "", nil, fmt.Errorf("backbone %s: %w", m.Name, err)
	}
	rel, err := filepath.Rel(dir, real)
	if err != nil || !filepath.IsLocal(rel) {
		return "", nil, fmt.Errorf("backbone %s: %s resolves to %s, outside the backbone folder %s: copy the file into the folder", m.Name, m.Path(name), real, dir)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", nil, fmt.Errorf("backbone %s: %w", m.Name, err)
	}
	if !fi.Mode().IsRegular() {
		return "", nil, fmt.Errorf("backbone %s: %s is not a regular file", m.Name, m.Path(name))
	}
	return real, fi, nil
}

// verify checks every file (with stamps, hashing only what changed) and the
// model's external data.
func (m *Manifest) verify(st *stamps) error {
	for _, f := range m.Files {
		real, fi, err := m.resolve(f.Name)
		if err != nil {
			return err
		}
		if f.Size > 0 && fi.Size() != f.Size {
			return fmt.Errorf("backbone %s: %s has %d bytes, the manifest says %d", m.Name, m.Path(f.Name), fi.Size(), f.Size)
		}
		if st != nil {
			if s, ok := st.Files[f.Name]; ok && s.Size == fi.Size() && s.ModNS == fi.ModTime().UnixNano() && s.SHA256 == f.SHA256 {
				continue
			}
		}
		sum, _, err := FileSHA256(real)
		if err != nil {
			return fmt.Errorf("backbone %s: %w", m.Name, err)
		}
		if sum != f.SHA256 {
			return fmt.Errorf("backbone %s: %s has sha256 %s, the manifest says %s (reinstall, or re-import the folder)", m.Name, m.Path(f.Name), sum, f.SHA256)
		}
		if st != nil {
			st.Files[f.Name] = stamp{Size: fi.Size(), ModNS: fi.ModTime().UnixNano(), SHA256: sum}
			st.changed = true
		}
	}
	return m.checkExternal(st)
}

// checkExternal requires every external-data file the model names to be
// listed in the manifest (and so checked, and part of the fingerprint).
func (m *Manifest) checkExternal(st *stamps) error {
	var ext []string
	s, stamped := stamp{}, false
	if st != nil {
		s, stamped = st.Files[m.Model]
	}
	if stamped && s.External != nil {
		ext = s.External
	} else {
		real, _, err := m.resolve(m.Model)
		if err != nil {
			return err
		}
		info, err := ReadGraphInfo(real)
		if err != nil {
			return fmt.Errorf("backbone %s: %w", m.Name, err)
		}
		ext = append([]string{}, info.External...)
		if stamped {
			s.External = ext
			st.Files[m.Model] = s
			st.changed = true
		}
	}
	for _, loc := range ext {
		name, err := externalName(m.Model, loc)
		if err != nil {
			return fmt.Errorf("backbone %s: %s: %w", m.Name, m.Path(m.Model), err)
		}
		if !slices.ContainsFunc(m.Files, func(f File) bool { return filepath.Clean(f.Name) == name }) {
			return fmt.Errorf("backbone %s: %s keeps tensors in %s, which the manifest does not list: add it to files with its sha256 (ser models import does this)", m.Name, m.Path(m.Model), name)
		}
	}
	return nil
}

// externalName is the folder-relative name of an external-data location,
// which ONNX Runtime reads relative to the model file's folder.
func externalName(model, location string) (string, error) {
	if !filepath.IsLocal(location) {
		return "", fmt.Errorf("external data location %q is not a path inside the model's folder", location)
	}
	return filepath.Clean(filepath.Join(filepath.Dir(model), location)), nil
}
