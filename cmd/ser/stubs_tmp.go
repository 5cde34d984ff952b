package main

import "github.com/urfave/cli/v2"

func evolveCommand() *cli.Command { return &cli.Command{Name: "evolve", Hidden: true} }
func demoCommand() *cli.Command   { return &cli.Command{Name: "demo", Hidden: true} }
