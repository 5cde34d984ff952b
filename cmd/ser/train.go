package main

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/eval"
	"github.com/ser-rl/ser/features"
	"github.com/ser-rl/ser/head"
	"github.com/ser-rl/ser/models"
)

// modelFlags pick the backbone and the feature form.
func modelFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "model", Usage: "backbone name or folder", Value: models.DefaultName},
		&cli.StringFlag{Name: "features", Usage: "pair features: separate, joint or both (default: the backbone's)"},
	}
}

// trainFlags bind the head training settings, shared by train and evolve,
// to o (and the seed to seed); the defaults shown are o's values. --hidden is
// read by hiddenSizes.
func trainFlags(o *head.TrainOptions, seed *uint64) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "kind", Aliases: []string{"head"}, Value: orDefault(o.Kind, head.Linear), Destination: &o.Kind, Usage: "the head to train: linear or mlp (--head is an older name)"},
		&cli.IntSliceFlag{Name: "hidden", Usage: "MLP hidden sizes, one or two (default 64)"},
		&cli.Float64Flag{Name: "l2", Value: o.L2, Destination: &o.L2, Usage: "weight decay", DefaultText: "chosen on the validation pairs for linear, 1e-2 for mlp"},
		&cli.Float64Flag{Name: "margin", Value: o.Margin, Destination: &o.Margin, Usage: "margin from score differences (UltraFeedback ratings): loss -log sigmoid(dr - margin*(s_c - s_r))"},
		&cli.StringFlag{Name: "optimizer", Value: string(o.Optimizer), Destination: (*string)(&o.Optimizer), Usage: "lbfgs (full batch) or adamw", DefaultText: "lbfgs for linear, adamw for mlp"},
		&cli.StringFlag{Name: "calibration", Value: orDefault(o.Calibration, "platt"), Destination: &o.Calibration, Usage: "platt, temperature or none"},
		&cli.Uint64Flag{Name: "seed", Value: 1, Destination: seed, Usage: "seed of every random choice"},
		&cli.BoolFlag{Name: "residual", Usage: "on a reward model (--model): a head whose reward is the model's own plus a linear correction learned from the labels (adapting an existing reward model with few labels)"},
	}
}

// residual sets o.Base for --residual: the reward model's own reward, to
// which the head adds its correction.
func residual(c *cli.Context, m *models.Manifest, form string, o *head.TrainOptions) error {
	if !c.Bool("residual") {
		return nil
	}
	switch {
	case m.Reward == nil:
		return fmt.Errorf("--residual: backbone %s is not a reward model (import a sequence classifier's export, --task text-classification)", m.Name)
	case form != head.Joint:
		return fmt.Errorf("--residual: the reward model's own reward is in its joint features, not %s: pass --features joint", form)
	case o.Kind == head.MLP:
		return fmt.Errorf("--residual: the correction is linear (--kind linear)")
	}
	i := m.RewardIndex()
	o.Base = &i
	return nil
}

// checkKind says what --kind (or its older name --head) means in train and
// evolve, when it is given a head file's name.
func checkKind(kind string) error {
	if kind != head.Linear && kind != head.MLP && (strings.ContainsAny(kind, "./") || strings.HasSuffix(kind, "head")) {
		return fmt.Errorf("--kind %q: in train and evolve --kind (or --head) names the kind of head, linear or mlp; to start from a head file use --init", kind)
	}
	return nil
}

// hiddenSizes reads --hidden into o.
func hiddenSizes(c *cli.Context, o *head.TrainOptions) {
	if h := c.IntSlice("hidden"); len(h) > 0 {
		o.Hidden = h
	}
}

func featureForm(c *cli.Context, m *models.Manifest) (string, error) {
	form := c.String("features")
	if form == "" {
		form = m.FeatureForm()
	}
	return form, head.CheckForm(form)
}

// margins are the pairs' score differences, when the data has ratings.
func margins(pairs []data.Pair) []float64 {
	out := make([]float64, len(pairs))
	for i, p := range pairs {
		if p.HasScores {
			out[i] = p.ScoreChosen - p.ScoreRejected
		}
	}
	return out
}

func trainCommand() *cli.Command {
	var opt head.TrainOptions
	valFrac := 0.1
	flags := append(dataFlags("labelled pairs to train on"),
		&cli.StringFlag{Name: "out", Usage: "(required) head file to write"},
		&cli.StringFlag{Name: "init", Usage: "warm-start from this head (retraining as the data changes)"},
		&cli.StringFlag{Name: "cache", Usage: "feature cache file (default: the backbone's)"},
		&cli.Float64Flag{Name: "val-frac", Value: valFrac, Destination: &valFrac, Usage: "share of labelled pairs held out for early stopping and calibration"},
	)
	flags = append(append(flags, modelFlags()...), trainFlags(&opt, &opt.Seed)...)
	return &cli.Command{
		Name: "train",
		UsageText: `ser train --data train.jsonl --out rm.head.json
ser train --data train.jsonl --kind mlp --hidden 64 --out rm-mlp.head.json
ser train --data more.jsonl --init rm.head.json --out rm2.head.json   # retrain as the data changes
ser train --model my-rm --residual --data few.jsonl --out adapted.head.json   # adapt a reward model with few labels`,
		Usage: "train a reward head on labelled pairs",
		Flags: flags,
		Action: func(c *cli.Context) error {
			if err := need(c, "data", "out"); err != nil {
				return err
			}
			hiddenSizes(c, &opt)
			if err := checkKind(opt.Kind); err != nil {
				return err
			}
			if err := opt.Check(); err != nil {
				return err
			}
			if !(valFrac >= 0 && valFrac < 1) {
				return fmt.Errorf("--val-frac %v: want a share in [0, 1)", valFrac)
			}
			if err := checkOutputs([]file{{"--out", c.String("out")}},
				append(flagFiles(c, "data"), file{"--init", c.String("init")}, file{"--cache", c.String("cache")})); err != nil {
				return err
			}
			m, err := manifest(c, c.String("model"))
			if err != nil {
				return err
			}
			if err := checkOutputs([]file{{"--out", c.String("out")}}, backboneFiles(c, m)); err != nil {
				return err
			}
			form, err := featureForm(c, m)
			if err != nil {
				return err
			}
			if err := residual(c, m, form, &opt); err != nil {
				return err
			}
			if p := c.String("init"); p != "" {
				init, err := head.Load(p)
				if err != nil {
					return err
				}
				if err := init.Check(features.BackboneOf(m)); err != nil {
					return fmt.Errorf("--init %s: %w", p, err)
				}
				if init.Features != form {
					return fmt.Errorf("--init %s uses %s features, this training %s", p, init.Features, form)
				}
				opt.Init, opt.Kind = init, init.Kind
			}
			all, err := readData(c, "data")
			if err != nil {
				return err
			}
			pairs := usable(c, all)
			if len(pairs) < 2 {
				return fmt.Errorf("%d usable labelled pairs: too few to train", len(pairs))
			}
			trainP, valP := splitPairs(pairs, valFrac, opt.Seed)
			both := append(append([]data.Pair(nil), trainP...), valP...)
			x, err := pairFeatures(c, m, form, both)
			if err != nil {
				return err
			}
			if err := trainable(x, both); err != nil {
				return err
			}
			tr := head.Data{X: x.Rows(0, len(trainP)), Margins: margins(trainP)}
			var val *head.Data
			if len(valP) > 0 {
				val = &head.Data{X: x.Rows(len(trainP), len(pairs)), Margins: margins(valP)}
			}
			h, err := head.Train(c.Context, head.Problem{Train: tr, Val: val, Backbone: features.BackboneOf(m), Form: form}, opt)
			if err != nil {
				return err
			}
			if err := h.Save(c.String("out")); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "wrote %s: %s head on %d %s features of %s; %d training pairs, train accuracy %.4f",
				c.String("out"), h.Kind, h.FeatureDim(), form, m.Name, len(trainP), h.Training.TrainAccuracy)
			var valMet eval.Metrics
			if v := h.Training.ValAccuracy; v != nil {
				valMet = eval.Evaluate(h.Rewards(val.X.A), h.Rewards(val.X.B), valP)
				fmt.Fprintf(c.App.Writer, ", validation accuracy %.4f (95%% CI %.4f-%.4f, %d pairs)", *v, valMet.AccuracyCI[0], valMet.AccuracyCI[1], len(valP))
			}
			fmt.Fprintf(c.App.Writer, "; calibration %s (ECE %.4f); %.2fs\n", h.Calib.Method, h.Calib.ECE, h.Training.Seconds)
			if valMet.N > 0 && valMet.Chance != eval.AboveChance {
				notef(c, "note: the validation accuracy is not above chance (its 95%% interval reaches 0.5)%s", defaultBackboneNote(m))
			}
			if w := h.Training.Warning; w != "" {
				notef(c, "note: %s", w)
			}
			return nil
		},
	}
}

// splitPairs shuffles with the seed and holds out a share for validation.
func splitPairs(pairs []data.Pair, valFrac float64, seed uint64) (train, val []data.Pair) {
	idx := rand.New(rand.NewPCG(seed, 0x5711)).Perm(len(pairs))
	nVal := int(valFrac * float64(len(pairs)))
	for k, i := range idx {
		if k < nVal {
			val = append(val, pairs[i])
		} else {
			train = append(train, pairs[i])
		}
	}
	return train, val
}
