package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/features"
	"github.com/ser-rl/ser/head"
	"github.com/ser-rl/ser/models"
)

// pairFeatures returns the pairs' features under form, embedding through the
// feature cache only the texts it lacks (the backbone is not even opened when
// nothing is missing).
func pairFeatures(c *cli.Context, m *models.Manifest, form string, pairs []data.Pair) (*head.Pairs, error) {
	f, bar, err := featurizer(c, m, form)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	start := time.Now()
	x, st, err := f.Pairs(c.Context, pairs)
	bar.Done()
	if err != nil {
		return nil, runtimeHint(err)
	}
	if st.Embedded > 0 {
		notef(c, "embedded %d new texts (%d were cached) in %.1fs", st.Embedded, st.Cached, time.Since(start).Seconds())
	}
	return x, nil
}

// trainable refuses features a head cannot be trained on, naming the pair:
// NaN or Inf from the backbone.
func trainable(x *head.Pairs, pairs []data.Pair) error {
	if i := x.NonFinite(); i >= 0 {
		return fmt.Errorf("%s: the backbone's vector for a text of this pair holds NaN or Inf (leave the pair out, or find what makes the backbone give it)", pairs[i].Where())
	}
	return nil
}

// usable keeps the labelled pairs that can teach or test a preference
// (not tied, not identical) and notes how many were set aside.
func usable(c *cli.Context, pairs []data.Pair) []data.Pair {
	var out []data.Pair
	why := map[string]int{}
	for _, p := range pairs {
		switch {
		case !p.Labelled:
			why["unlabelled"]++
		case p.Problem() != "":
			why[p.Problem()]++
		default:
			out = append(out, p)
		}
	}
	for w, n := range why {
		notef(c, "set aside %d pairs: %s", n, w)
	}
	return out
}

// loadHead reads --head and the backbone it was trained on (or --model),
// refusing a head of another backbone. Without --head, --model must be a
// reward model: its own reward is the head.
func loadHead(c *cli.Context) (*head.Head, *models.Manifest, error) {
	if c.String("head") == "" {
		name := c.String("model")
		if name == "" {
			return nil, nil, fmt.Errorf("%s: --head is required (or --model naming a reward model, to use its own reward)", c.Command.Name)
		}
		return modelHead(c, name)
	}
	return loadHeadAt(c, c.String("head"))
}

// modelHeadPrefix names, as a --head, a reward model's own reward.
const modelHeadPrefix = "model:"

// modelHead is the head that is the reward model name's own reward.
func modelHead(c *cli.Context, name string) (*head.Head, *models.Manifest, error) {
	m, err := manifest(c, name)
	if err != nil {
		return nil, nil, err
	}
	if m.Reward == nil {
		return nil, nil, fmt.Errorf("backbone %s is not a reward model (import a sequence classifier's export, --task text-classification): give a --head trained on it", m.Name)
	}
	h, err := head.FromRewardModel(features.BackboneOf(m), m.RewardIndex())
	return h, m, err
}

// loadHeadAt is loadHead for the head file at path, or, for
// "model:NAME", the reward model NAME's own reward.
func loadHeadAt(c *cli.Context, path string) (*head.Head, *models.Manifest, error) {
	if name, ok := strings.CutPrefix(path, modelHeadPrefix); ok {
		if name == "" {
			return nil, nil, fmt.Errorf("--head %s: name the reward model after the prefix (model:NAME)", path)
		}
		if other := c.String("model"); other != "" && other != name {
			return nil, nil, fmt.Errorf("--head %s with --model %s: a reward model's own reward is read from that model; leave --model out", path, other)
		}
		return modelHead(c, name)
	}
	h, err := head.Load(path)
	if err != nil {
		return nil, nil, err
	}
	name := c.String("model")
	if name == "" {
		name = h.Backbone.Name
	}
	m, err := manifest(c, name)
	if err != nil {
		return nil, nil, err
	}
	return h, m, h.Check(features.BackboneOf(m))
}
