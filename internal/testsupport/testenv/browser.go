package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Chromium returns the Chromium (or Chrome) binary the browser tests drive:
// $SER_CHROMIUM, else /usr/bin/chromium (Debian's package, which `make test`
// installs with apt when it runs as root). When there is none the test is
// skipped with the reason, or fails under SER_TEST_REQUIRE=1.
func Chromium(t testing.TB) string {
	t.Helper()
	path := os.Getenv("SER_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		missing(t, "no Chromium at "+path+" for the browser tests: apt-get install chromium (make test does it as root), or set SER_CHROMIUM")
		return ""
	}
	if _, err := exec.LookPath(path); err != nil {
		missing(t, path+" is not an executable: "+err.Error())
	}
	return path
}
