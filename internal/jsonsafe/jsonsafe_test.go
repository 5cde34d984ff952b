package jsonsafe

import (
	"encoding/json"
	"math"
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
