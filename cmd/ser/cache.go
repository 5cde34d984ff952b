package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/ser-rl/ser/cache"
	"github.com/ser-rl/ser/models"
)

func cacheCommand() *cli.Command {
	return &cli.Command{
		Name:  "cache",
		Usage: "feature cache maintenance",
		Subcommands: []*cli.Command{{
			Name:      "merge",
			Usage:     "merge shard caches (from `ser embed --shard i/N --cache FILE`) into the backbone's cache",
			ArgsUsage: "SHARD.feat...",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "model", Usage: "backbone name or folder", Value: models.DefaultName},
				&cli.StringFlag{Name: "cache", Usage: "the cache to merge into (default: the backbone's, under the home)"},
			},
			Action: func(c *cli.Context) error {
				if c.NArg() == 0 {
					return fmt.Errorf("cache merge: name the shard caches to merge")
				}
				m, err := manifest(c, c.String("model"))
				if err != nil {
					return err
				}
				dstPath, err := cachePath(c, m)
				if err != nil {
					return err
				}
				var shards []file
				for _, p := range c.Args().Slice() {
					shards = append(shards, file{"shard", p})
				}
				if err := checkOutputs([]file{{"--cache", dstPath}}, shards); err != nil {
					return err
				}
				dst, err := openCache(c, m, true)
				if err != nil {
					return err
				}
				defer dst.Close()
				for _, path := range c.Args().Slice() {
					src, err := cache.Open(path, m.Fingerprint(), m.Dim, cache.Format(m.FeatureStorage), false)
					if err != nil {
						return err
					}
					st, err := cache.Merge(dst, src)
					src.Close()
					if err != nil {
						return err
					}
					notef(c, "%s: %d records, %d new, %d already present, %d corrupt left out", path, st.Read, st.Added, st.Duplicates, src.Corrupt)
				}
				notef(c, "cache now holds %d vectors", dst.Len())
				return nil
			},
		}},
	}
}
