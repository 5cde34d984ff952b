package jsonsafe

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

type inner struct {
	X float64 `json:"x"`
}

type sample struct {
	A     float64            `json:"a"`
	B     []float64          `json:"b"`
	C     map[string]float64 `json:"c"`
	D     *inner             `json:"d,omitempty"`
	E     [2]float64         `json:"e"`
	Skip  string             `json:"-"`
	Empty string             `json:"empty,omitempty"`
	Plain int
}

// TestMarshal: non-finite numbers anywhere become null; the rest is what
// encoding/json writes, field order, tags and omitempty included.
func TestMarshal(t *testing.T) {
	v := sample{A: math.NaN(), B: []float64{1, math.Inf(1)}, C: map[string]float64{"k": math.Inf(-1)}, D: &inner{X: math.NaN()}, E: [2]float64{2, math.NaN()}, Skip: "no", Plain: 3}
	raw, err := MarshalIndent(v, "", "")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":null,"b":[1,null],"c":{"k":null},"d":{"x":null},"e":[2,null],"Plain":3}`
	var a, b any
	json.Unmarshal(raw, &a)
	json.Unmarshal([]byte(want), &b)
	if ja, _ := json.Marshal(a); string(ja) != func() string { jb, _ := json.Marshal(b); return string(jb) }() {
		t.Errorf("got %s\nwant %s", raw, want)
	}
	finite := sample{A: 1, B: []float64{2}, E: [2]float64{3, 4}, Plain: 5}
	got, _ := MarshalIndent(finite, "", " ")
	std, _ := json.MarshalIndent(finite, "", " ")
	if string(got) != string(std) {
		t.Errorf("finite values: %s, encoding/json %s", got, std)
	}
}

// TestEmbedded: embedded structs are written as encoding/json writes them
// (fields promoted, a shallower one hiding a deeper one, a tie hiding both),
// the way a MarshalJSON method wraps its type's alias.
func TestEmbedded(t *testing.T) {
	type inner struct {
		A    float64 `json:"a"`
		B    string  `json:"b"`
		Tie  int
		Skip int `json:"-"`
	}
	type other struct{ Tie int }
	type alias inner
	type outer struct {
		alias
		*other
		B     int             `json:"b"` // hides alias's
		Named struct{ X int } `json:"named"`
		Nil   *inner          `json:"nil,omitempty"`
	}
	v := outer{alias: alias{A: 1.5, B: "hidden", Tie: 2}, other: &other{Tie: 3}, B: 7}
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("Marshal = %s, want %s (encoding/json's)", got, want)
	}
	v.A = math.NaN()
	got, err = Marshal(v)
	if err != nil || !strings.Contains(string(got), `"a":null`) {
		t.Fatalf("NaN in an embedded struct: %s, %v", got, err)
	}
}
