// Package benchdata reads the shared evaluation data the benchmarks use
// (../shared/data) and opens the default backbone's features for it.
package benchdata

import (
	"fmt"
	"path/filepath"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/features"
	"github.com/ser-rl/ser/models"
	"github.com/ser-rl/ser/onnx"
)

// Files are the files of a shared data set: "hh" (the four HH-RLHF test
// splits) or "uf" (the UltraFeedback sample's two files).
func Files(shared, which string) ([]string, error) {
	switch which {
	case "hh":
		files, _ := filepath.Glob(filepath.Join(shared, "hh-rlhf", "*", "test.jsonl.gz"))
		if len(files) == 0 {
			return nil, fmt.Errorf("no HH-RLHF test splits under %s", filepath.Join(shared, "hh-rlhf"))
		}
		return files, nil
	case "uf":
		uf := filepath.Join(shared, "ultrafeedback-binarized-sample1200")
		return []string{filepath.Join(uf, "train_clean.jsonl"), filepath.Join(uf, "eval_clean.jsonl")}, nil
	}
	return nil, fmt.Errorf("data set %q: want hh or uf", which)
}

// Pairs reads a shared data set's pairs that can teach or test a preference
// (ties and identical responses set aside, as training and evaluation do).
func Pairs(shared, which string) ([]data.Pair, error) {
	files, err := Files(shared, which)
	if err != nil {
		return nil, err
	}
	all, _, err := data.ReadAll(files, data.Options{})
	if err != nil {
		return nil, err
	}
	var out []data.Pair
	for _, p := range all {
		if p.Problem() == "" {
			out = append(out, p)
		}
	}
	return out, nil
}

// Featurizer opens the default backbone under home with its feature cache,
// in the given form; onOpen (may be nil) is told when the backbone must be
// opened (something is not cached).
func Featurizer(home, form string, onOpen func(*onnx.Backbone)) (*features.Featurizer, *models.Manifest, error) {
	m, err := models.Find(home, models.DefaultName)
	if err != nil {
		return nil, nil, err
	}
	f, err := features.New(features.Options{Manifest: m, Form: form, CachePath: features.HomeCache(home, m),
		ORTLib: models.ORTLibPath(home), OnOpen: onOpen})
	return f, m, err
}
