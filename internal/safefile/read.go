package safefile

import (
	"fmt"
	"io"
	"os"
)

// ReadRegular reads a whole regular file of at most max bytes: a FIFO or
// device is refused before it is opened (opening a FIFO waits for a writer),
// a larger file before it is read.
func ReadRegular(path string, max int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s: %d bytes, over the %d it may have", path, fi.Size(), max)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(raw)) > max {
		return nil, fmt.Errorf("%s: over the %d bytes it may have", path, max)
	}
	return raw, nil
}
