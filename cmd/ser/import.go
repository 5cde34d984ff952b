package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/data"
	"github.com/ser-rl/ser/models"
)

func modelsImportCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "make a Hugging Face model folder exported to ONNX (optimum) a backbone: writes its manifest.json",
		ArgsUsage: "DIR",
		Description: `Reads DIR's model.onnx (and its external data), config.json, tokenizer.json and
tokenizer_config.json; hashes every file; takes dim and pad id from config.json, pooling from the
architecture (last token for decoders, mean for encoders) and the pair template from the chat
template; embeds two texts to prove the model runs; then writes DIR/manifest.json.
Flags set any field instead.

Example:
   optimum-cli export onnx --model Qwen/Qwen2.5-0.5B-Instruct --task feature-extraction qwen/
   ser models import qwen/ && ser embed --model ./qwen --data pairs.jsonl`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Usage: "backbone name (default: the folder's)"},
			&cli.StringFlag{Name: "model-file", Usage: "the ONNX file in DIR (default model.onnx, else the only .onnx)"},
			&cli.StringFlag{Name: "tokenizer-file", Usage: "the tokenizer.json in DIR", Value: "tokenizer.json"},
			&cli.StringFlag{Name: "output", Usage: "graph output to read (default last_hidden_state, else the only one)"},
			&cli.StringFlag{Name: "pooling", Usage: "last, mean, cls or none (default: from the architecture)"},
			&cli.IntFlag{Name: "dim", Usage: "feature width (default: config.json's hidden size)"},
			&cli.IntFlag{Name: "pad-id", Usage: "padding id (default: config.json's pad_token_id, else EOS)", Value: -1, DefaultText: "from config.json"},
			&cli.IntFlag{Name: "max-tokens", Usage: fmt.Sprintf("tokens kept of a text (default: the model's context, at most %d)", models.DefaultMaxTokens)},
			&cli.StringFlag{Name: "truncate", Usage: "end of a long text that is kept: head or tail (default: tail for decoders)"},
			&cli.StringFlag{Name: "pair-template", Usage: "text with {prompt} and {response} (default: rendered from the chat template)"},
			&cli.StringFlag{Name: "features", Usage: "separate, joint or both (default: joint for decoders)"},
			&cli.StringFlag{Name: "feature-storage", Usage: "how the feature cache stores vectors: float32, or float16 (half the bytes; README)", Value: "float32"},
			&cli.BoolFlag{Name: "pad-left", Usage: "pad batches on the left (default: for a decoder reward model whose config.json has no pad_token_id)"},
			&cli.IntFlag{Name: "label", Usage: "a reward model whose logits have several columns: the one that is the reward (0-based)", DefaultText: "the only column"},
			&cli.BoolFlag{Name: "no-check", Usage: "write the manifest without embedding two texts first"},
			&cli.BoolFlag{Name: "force", Usage: "replace a manifest.json that says something else (heads and caches of the old fingerprint then no longer apply)"},
		},
		Action: func(c *cli.Context) error {
			dir := c.Args().First()
			if dir == "" || c.NArg() > 1 {
				return fmt.Errorf("models import: give one folder")
			}
			o := models.ImportOptions{
				Name: c.String("name"), Model: c.String("model-file"), Tokenizer: c.String("tokenizer-file"),
				Output: c.String("output"), Pooling: c.String("pooling"), Dim: c.Int("dim"),
				MaxTokens: c.Int("max-tokens"), Truncate: c.String("truncate"), Features: c.String("features"),
				FeatureStorage: c.String("feature-storage"),
			}
			if c.IsSet("pad-id") {
				id := c.Int("pad-id")
				o.PadID = &id
			}
			if c.IsSet("pair-template") {
				t := c.String("pair-template")
				o.PairTemplate = &t
			}
			if c.IsSet("label") {
				l := c.Int("label")
				o.Label = &l
			}
			if c.IsSet("pad-left") {
				b := c.Bool("pad-left")
				o.PadLeft = &b
			}
			m, notes, err := models.Import(c.Context, dir, o)
			var need *models.NeedError
			if errors.As(err, &need) {
				flag := map[string]string{"Dim": "--dim", "Pooling": "--pooling last (decoders) or mean (encoders)", "Model": "--model-file", "Output": "--output", "Labels": "a config.json with num_labels",
					"Kind": "--truncate tail and --pad-left for a decoder exported without a pad id (--pad-left=false with one), or --truncate head --pad-left=false for an encoder"}[need.Option]
				return fmt.Errorf("%s: pass %s", need.Msg, flag)
			}
			if err != nil {
				return err
			}
			for _, n := range notes {
				notef(c, "import: %s", n)
			}
			if err := replacing(c, m); err != nil {
				return err
			}
			if !c.Bool("no-check") {
				if err := checkEmbeds(c, m); err != nil {
					return fmt.Errorf("the model does not run as imported (nothing written): %w", err)
				}
			}
			if err := models.WriteManifest(m); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "backbone %s: %s/manifest.json (dim %d, pooling %s, features %s, max %d tokens, fingerprint %s)\n",
				m.Name, m.Dir, m.Dim, m.Pooling, m.FeatureForm(), m.MaxTokens, m.Fingerprint())
			if m.Reward != nil {
				fmt.Fprintf(c.App.Writer, "a reward model: its own reward is logits column %d of %d (ser score/eval/serve/ask --model %s without --head; ser train --model %s --residual to adapt it)\n",
					m.Reward.Label, m.Reward.Labels, m.Dir, m.Dir)
			}
			tpl := m.PairTemplate
			if len(tpl) > 300 {
				tpl = fmt.Sprintf("%s... (%d bytes in all)", tpl[:300], len(tpl))
			}
			fmt.Fprintf(c.App.Writer, "pair template: %q\nuse it with --model %s, or move the folder to <home>/models/%s\n", tpl, m.Dir, m.Name)
			return nil
		},
	}
}

// checkEmbeds embeds two texts with a backbone: a plain sentence and a
// formatted pair. Each vector must have the manifest's width and finite values.
func checkEmbeds(c *cli.Context, m *models.Manifest) error {
	b, err := openBackbone(c, m)
	if err != nil {
		return err
	}
	defer b.Close()
	texts := []string{"A reward model scores answers.", m.FormatPair("What is 2 + 2?", "2 + 2 is 4.", data.FormatAuto)}
	vecs, err := b.Embed(c.Context, texts)
	if err != nil {
		return err
	}
	// a text's vector must not depend on its batch-mates: embedded alone,
	// each gives (up to rounding) what it gave padded beside the other. A
	// graph that finds a row's end by a pad id ser does not pad with, or
	// reads the last position of rows padded on the right, or makes its own
	// positions under left padding, fails here.
	for i, text := range texts {
		alone, err := b.Embed(c.Context, []string{text})
		if err != nil {
			return err
		}
		got := vecs[i*m.Dim : (i+1)*m.Dim]
		scale := 1e-3
		for _, x := range alone {
			scale = math.Max(scale, math.Abs(float64(x)))
		}
		for k, x := range alone {
			if d := math.Abs(float64(x) - float64(got[k])); d > 0.05*scale {
				return fmt.Errorf("text %d gives value %d = %.4g alone and %.4g batched with a text of another length: the vectors depend on padding (a reward model's pad id or pad side: --pad-id, --pad-left; a graph that makes its own positions cannot be padded on the left)", i+1, k, x, got[k])
			}
		}
	}
	for i := range texts {
		norm := 0.0
		for _, x := range vecs[i*m.Dim : (i+1)*m.Dim] {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("text %d: the vector holds %v", i, x)
			}
			norm += float64(x) * float64(x)
		}
		notef(c, "import: embedded text %d: %d values, norm %.4g", i+1, m.Dim, math.Sqrt(norm))
	}
	return nil
}

// replacing checks a manifest.json already in the folder: one that says the
// same is rewritten; one that says something else (or does not read) is
// replaced only with --force, after saying what changes.
func replacing(c *cli.Context, m *models.Manifest) error {
	path := filepath.Join(m.Dir, "manifest.json")
	if _, err := os.Lstat(path); os.IsNotExist(err) {
		return nil
	}
	var changes []string
	old, err := models.ReadManifest(m.Dir)
	if err != nil {
		changes = []string{fmt.Sprintf("the manifest there does not read: %v", err)}
	} else {
		changes = m.Changes(old)
		if len(changes) == 0 {
			return nil
		}
		if old.Fingerprint() != m.Fingerprint() {
			changes = append(changes, fmt.Sprintf("fingerprint: %s -> %s (heads trained on the old one will not load with it; its cached features are not used)", old.Fingerprint(), m.Fingerprint()))
		}
	}
	if !c.Bool("force") {
		return fmt.Errorf("%s exists and this import changes it (nothing written; --force replaces it):\n  %s", path, strings.Join(changes, "\n  "))
	}
	for _, ch := range changes {
		notef(c, "import: replacing %s: %s", path, ch)
	}
	return nil
}
