package cache

// MergeStats says what Merge did.
type MergeStats struct {
	Read, Added, Duplicates int
}

// Merge appends src's valid records that dst lacks, in batches; a corrupt
// record of src (failed checksum) is never copied. Both caches must be of the
// same backbone (Open checks the header).
func Merge(dst, src *Cache) (MergeStats, error) {
	var st MergeStats
	const batch = 1024
	keys := make([]Key, 0, batch)
	vecs := make([]float32, 0, batch*dst.dim)
	flush := func() error {
		err := dst.Put(keys, vecs)
		keys, vecs = keys[:0], vecs[:0]
		return err
	}
	err := src.Each(func(k Key, vec []float32) error {
		st.Read++
		if dst.Has(k) {
			st.Duplicates++
			return nil
		}
		st.Added++
		keys = append(keys, k)
		vecs = append(vecs, vec...)
		if len(keys) == batch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	return st, flush()
}
