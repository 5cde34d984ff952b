package main

import "github.com/urfave/cli/v2"

func trainCommand() *cli.Command  { return &cli.Command{Name: "train", Hidden: true} }
func scoreCommand() *cli.Command  { return &cli.Command{Name: "score", Hidden: true} }
func evalCommand() *cli.Command   { return &cli.Command{Name: "eval", Hidden: true} }
func evolveCommand() *cli.Command { return &cli.Command{Name: "evolve", Hidden: true} }
func demoCommand() *cli.Command   { return &cli.Command{Name: "demo", Hidden: true} }
