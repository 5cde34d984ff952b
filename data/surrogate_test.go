package data

import "testing"

func TestLoneSurrogate(t *testing.T) {
	for raw, want := range map[string]bool{
		`{"a": "x"}`:                 false,
		`{"a": "\ud83d\ude00"}`:      false, // a pair: 😀
		`{"a": "\uD83D\uDE00 ok"}`:   false,
		`{"a": "\ud800"}`:            true,
		`{"a": "\ud800x"}`:           true,
		`{"a": "\ud800\u0041"}`:      true,
		`{"a": "\udc00"}`:            true,
		`{"a": "\\ud800"}`:           false, // a backslash, then the letters
		`{"a": "\"", "b": "\ud800"}`: true,
		`{"\ud800": 1}`:              true,
		`{"a": "\u00e9\u0041"}`:      false,
		`{"a": "\ud83d`:              true,
	} {
		if got := LoneSurrogate([]byte(raw)); got != want {
			t.Errorf("%s: %v, want %v", raw, got, want)
		}
	}
}
