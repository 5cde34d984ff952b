package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/models"
)

func modelsCommand() *cli.Command {
	return &cli.Command{
		Name:  "models",
		Usage: "the backbones known: the built-in default and any under the home",
		Subcommands: []*cli.Command{
			modelsImportCommand(),
			{
				Name:  "list",
				Usage: "list backbones",
				Action: func(c *cli.Context) error {
					h, err := home(c)
					if err != nil {
						return err
					}
					w := tabwriter.NewWriter(c.App.Writer, 2, 4, 2, ' ', 0)
					fmt.Fprintln(w, "NAME\tSTATUS\tDIM\tINPUT\tPOOLING\tFOLDER")
					for _, e := range models.List(h) {
						switch {
						case e.Err != nil:
							fmt.Fprintf(w, "%s\tbroken: %v\t\t\t\t%s\n", e.Name, e.Err, e.Dir)
						case !e.Installed:
							fmt.Fprintf(w, "%s\tnot installed (ser setup)\t\t\t\t%s\n", e.Name, e.Dir)
						default:
							m := e.Manifest
							fmt.Fprintf(w, "%s\tinstalled\t%d\t%s\t%s\t%s\n", e.Name, m.Dim, m.Input, m.Pooling, e.Dir)
						}
					}
					return w.Flush()
				},
			},
			{
				Name:      "info",
				Usage:     "show a backbone's manifest and verify its files",
				ArgsUsage: "NAME|DIR",
				Action: func(c *cli.Context) error {
					h, err := home(c)
					if err != nil {
						return err
					}
					m, err := models.Locate(h, c.Args().First())
					if err != nil {
						return err
					}
					w := tabwriter.NewWriter(c.App.Writer, 2, 4, 2, ' ', 0)
					row := func(k string, v any) { fmt.Fprintf(w, "%s\t%v\n", k, v) }
					row("name", m.Name)
					row("description", m.Description)
					row("licence", m.Licence)
					row("folder", m.Dir)
					row("fingerprint", m.Fingerprint())
					row("input", m.Input)
					row("output", m.Output)
					row("pooling", m.Pooling)
					row("dim", m.Dim)
					row("max tokens", fmt.Sprintf("%d (a longer text keeps its %s)", m.MaxTokens, orDefault(m.Truncate, "head")))
					row("tokenizer", fmt.Sprintf("%s (%s)", m.Tokenizer, m.TokenizerKind))
					row("features", m.FeatureForm())
					row("pair template", fmt.Sprintf("%q", m.PairTemplate))
					for _, f := range m.Files {
						row("file", fmt.Sprintf("%s  %d bytes  sha256 %s", f.Name, f.Size, f.SHA256))
					}
					status := "verified"
					if err := m.Verify(); err != nil {
						status = err.Error()
					}
					row("checksums", status)
					if err := w.Flush(); err != nil {
						return err
					}
					if status != "verified" {
						return fmt.Errorf("backbone %s does not verify", m.Name)
					}
					return nil
				},
			},
		},
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
