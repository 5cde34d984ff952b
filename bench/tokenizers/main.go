// Command tokenizers benchmarks ser's tokenizer against Hugging Face
// tokenizers (Rust, through its Node binding: tokenize/reference/peer.js),
// side by side in one run on the same texts (the parity corpus: HH-RLHF
// conversations and UltraFeedback prompts and answers from ../shared/data),
// for every family of the parity fixture.
//
//	go run ./bench/tokenizers                       # all families
//	go run ./bench/tokenizers -dump-corpus c.jsonl  # the corpus, for tokenize/reference/parity.js
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ser-rl/ser/internal/corpus"
	"github.com/ser-rl/ser/internal/testenv"
)

func main() {
	shared := flag.String("shared", "../shared/data", "the shared data folder")
	dump := flag.String("dump-corpus", "", "write the parity corpus as JSONL to this file, fetch every family's tokenizer files and print their paths, and stop")
	home := flag.String("home", os.Getenv("SER_HOME"), "ser home (tokenizer files are fetched under it)")
	flag.Parse()
	texts, err := corpus.All(*shared)
	if err != nil {
		fail(err)
	}
	if *dump != "" {
		f, err := os.Create(*dump)
		if err != nil {
			fail(err)
		}
		if err := corpus.WriteJSONL(f, texts); err != nil {
			fail(err)
		}
		if err := f.Close(); err != nil {
			fail(err)
		}
		for _, fam := range testenv.TokenizerFamilies {
			dir, err := testenv.FetchTokenizer(*home, fam.Name)
			if err != nil {
				fail(err)
			}
			fmt.Printf("%s=%s\n", fam.Name, filepath.Join(dir, "tokenizer.json"))
		}
		return
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
