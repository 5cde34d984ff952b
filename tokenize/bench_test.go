package tokenize_test

import (
	"testing"

	"github.com/ser-rl/ser/internal/testsupport/corpus"
	"github.com/ser-rl/ser/internal/testsupport/testenv"
	"github.com/ser-rl/ser/tokenize"
)

// BenchmarkHF encodes the shared-data part of the parity corpus with each
// family's tokenizer on one goroutine (bench/tokenizers compares this with
// Hugging Face tokenizers side by side).
func BenchmarkHF(b *testing.B) {
	texts, err := corpus.Shared(testenv.SharedData(b, ""))
	if err != nil {
		b.Fatal(err)
	}
	for _, fam := range testenv.TokenizerFamilies {
		b.Run(fam.Name, func(b *testing.B) {
			tk, err := tokenize.LoadHF(testenv.TokenizerFile(b, fam.Name))
			if err != nil {
				b.Fatal(err)
			}
			size := 0
			for _, t := range texts {
				size += len(t.Text)
			}
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, t := range texts {
					if _, err := tk.Encode(t.Text); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
