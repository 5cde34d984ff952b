package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// Records reads back the JSON records that pairs idx came from (by file and
// line), each as an object of its own (a copy per pair, for a record that
// gave several): pairs read from JSONL files, plain or gzip-compressed. A
// pair from elsewhere (Parquet, a stream) or whose record is not an object
// has none. Only the lines wanted are kept, so memory does not grow with
// the files.
func Records(pairs []Pair, idx []int) (map[int]map[string]any, error) {
	want := map[string]map[int][]int{} // file -> line -> pair indices
	for _, i := range idx {
		p := pairs[i]
		if !strings.HasSuffix(p.File, ".jsonl") && !strings.HasSuffix(p.File, ".jsonl.gz") {
			continue
		}
		if want[p.File] == nil {
			want[p.File] = map[int][]int{}
		}
		want[p.File][p.Line] = append(want[p.File][p.Line], i)
	}
	out := map[int]map[string]any{}
	for file, lines := range want {
		if err := records(file, lines, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func records(file string, lines map[int][]int, out map[int]map[string]any) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(file, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		r = gz
	}
	br := bufio.NewReaderSize(r, 1<<20)
	for line := 1; len(lines) > 0; line++ {
		idx, wanted := lines[line]
		raw, err := nextLine(br, wanted) // a line not wanted is skipped, not kept: its length is unbounded
		if wanted {
			var obj map[string]any
			if json.Unmarshal(bytes.TrimPrefix(bytes.TrimSpace(raw), []byte("\xef\xbb\xbf")), &obj) == nil {
				for _, i := range idx {
					cp := make(map[string]any, len(obj)+8)
					for k, v := range obj {
						cp[k] = v
					}
					out[i] = cp
				}
			}
			delete(lines, line)
		}
		if err != nil {
			break
		}
	}
	return nil
}

// nextLine reads one line, keeping it only when keep is set (the readers
// have already bounded the lines a pair came from).
func nextLine(br *bufio.Reader, keep bool) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if keep {
			line = append(line, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return line, err
	}
}
