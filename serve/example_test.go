package serve_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
)

// A Go client of a running `ser serve`: rewards for a trainer's responses to
// one prompt (the README shows this example; it is compiled with the tests).
func Example_client() {
	type item struct {
		Prompt   string `json:"prompt"`
		Response string `json:"response"`
	}
	prompt := "\n\nHuman: How do I keep bread fresh?\n\nAssistant:"
	body, _ := json.Marshal(map[string][]item{"items": {
		{prompt, " Keep it in a paper bag at room temperature, or freeze slices."},
		{prompt, " Bread does not go stale."},
	}})
	resp, err := http.Post("http://127.0.0.1:5000/v1/reward", "application/json", bytes.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests {
		log.Fatalf("busy: retry after %ss", resp.Header.Get("Retry-After"))
	}
	var out struct {
		Rewards []float64 `json:"rewards"`
		Error   string    `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Error != "" {
		log.Fatal(resp.Status, err, out.Error)
	}
	fmt.Println(out.Rewards, "from head", resp.Header.Get("X-Ser-Head"))
}
