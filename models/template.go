package models

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ardanlabs/jinja"
)

// TemplateLimits bound the rendering of a chat template, which comes with a
// model folder and is a program: a loop, a recursion or a string it builds
// could otherwise run, crash or grow without end. The zero value takes the
// defaults in brackets.
type TemplateLimits struct {
	Time   time.Duration // wall time [10s]
	Memory int64         // bytes of heap [1 GiB]
	Stack  int           // bytes of stack [64 MiB]
	Output int           // bytes of the rendered text [1 MiB]
}

func (l *TemplateLimits) defaults() {
	if l.Time <= 0 {
		l.Time = 10 * time.Second
	}
	if l.Memory <= 0 {
		l.Memory = 1 << 30
	}
	if l.Stack <= 0 {
		l.Stack = 64 << 20
	}
	if l.Output <= 0 {
		l.Output = 1 << 20
	}
}

// maxTemplate bounds a chat template's source: real ones are a few
// kilobytes (Llama-3's 4 KiB, Qwen3's 4 KiB).
const maxTemplate = 1 << 20

// renderEnv, set in a child's environment, makes the process a template
// renderer (see init): the child of renderTemplate.
const renderEnv = "SER_RENDER_TEMPLATE"

// renderJob is what renderTemplate sends its child on stdin.
type renderJob struct {
	Template string         `json:"template"`
	Vars     map[string]any `json:"vars"`
	Limits   TemplateLimits `json:"limits"`
}

// renderResult is what the child writes on stdout.
type renderResult struct {
	Out string `json:"out"`
	Err string `json:"err,omitempty"`
}

func init() {
	if os.Getenv(renderEnv) == "1" {
		os.Exit(renderChild(os.Stdin, os.Stdout))
	}
}

// renderTemplate renders a Jinja template with vars in a child process (this
// same binary, re-executed) under the limits: the child's heap is capped by
// RLIMIT_AS and its stack by the Go runtime, so that running out of
// either ends the child, not ser; it is killed at the time limit or when ctx
// ends (Ctrl-C); and a text longer than the output limit is an error.
func renderTemplate(ctx context.Context, tpl string, vars map[string]any, lim TemplateLimits) (string, error) {
	lim.defaults()
	if len(tpl) > maxTemplate {
		return "", fmt.Errorf("chat template: %d bytes, more than the %d a chat template may have", len(tpl), maxTemplate)
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("chat template: cannot start a renderer: %w", err)
	}
	var job bytes.Buffer
	enc := json.NewEncoder(&job)
	enc.SetEscapeHTML(false) // a template is full of < and >
	if err := enc.Encode(renderJob{Template: tpl, Vars: vars, Limits: lim}); err != nil {
		return "", err
	}
	tctx, cancel := context.WithTimeout(ctx, lim.Time)
	defer cancel()
	cmd := exec.CommandContext(tctx, exe)
	cmd.Env = append(os.Environ(), renderEnv+"=1")
	cmd.Stdin = &job
	var stdout, stderr capped
	stdout.max, stderr.max = 8*lim.Output+4096, 64<<10 // a JSON string escapes a byte in at most 6
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	runErr := cmd.Run()
	crash := stderr.String()
	switch {
	case ctx.Err() != nil:
		return "", ctx.Err()
	case strings.Contains(crash, "stack exceeds"):
		return "", fmt.Errorf("chat template: recursion deeper than the renderer's %d MiB stack", lim.Stack>>20)
	case strings.Contains(crash, "out of memory") || strings.Contains(crash, "cannot allocate memory") || strings.Contains(crash, "SIGSEGV"):
		// a Go runtime refused memory fails in one of these ways
		return "", fmt.Errorf("chat template: rendering needed more than the renderer's %d MiB of memory", lim.Memory>>20)
	case tctx.Err() != nil:
		return "", fmt.Errorf("chat template: rendering took longer than %s (a loop too long for a chat template?)", lim.Time)
	case stdout.over:
		return "", fmt.Errorf("chat template: the rendered text is longer than %d bytes", lim.Output)
	case runErr != nil:
		return "", fmt.Errorf("chat template: the renderer failed (%v): %s", runErr, strings.TrimSpace(stderr.String()))
	}
	var res renderResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return "", fmt.Errorf("chat template: the renderer's answer: %w", err)
	}
	if res.Err != "" {
		return "", errors.New("chat template: " + res.Err)
	}
	return res.Out, nil
}

// renderChild is the child's side: read the job, limit itself, render.
func renderChild(in io.Reader, out io.Writer) int {
	var job renderJob
	answer := func(r renderResult) int {
		json.NewEncoder(out).Encode(r)
		return 0
	}
	if err := json.NewDecoder(io.LimitReader(in, 16*maxTemplate)).Decode(&job); err != nil {
		return answer(renderResult{Err: "reading the job: " + err.Error()})
	}
	job.Limits.defaults()
	// The address space this process has now (a Go runtime reserves about a
	// gigabyte of it up front) plus the limit: an allocation past it fails
	// at once, and the runtime ends the child with "out of memory".
	base, err := addressSpace()
	if err != nil {
		return answer(renderResult{Err: "limiting memory: " + err.Error()})
	}
	lim := base + uint64(job.Limits.Memory)
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: lim, Max: lim}); err != nil {
		return answer(renderResult{Err: "limiting memory: " + err.Error()})
	}
	debug.SetMaxStack(job.Limits.Stack)
	compiled, err := jinja.Compile(job.Template)
	if err != nil {
		return answer(renderResult{Err: err.Error()})
	}
	s, err := compiled.Render(job.Vars)
	if err != nil {
		return answer(renderResult{Err: "rendering a one-turn conversation: " + err.Error()})
	}
	if len(s) > job.Limits.Output {
		return answer(renderResult{Err: fmt.Sprintf("the rendered text is longer than %d bytes", job.Limits.Output)})
	}
	return answer(renderResult{Out: s})
}

// addressSpace is this process's virtual size (VmSize), in bytes.
func addressSpace() (uint64, error) {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmSize:" && f[2] == "kB" {
			n, err := strconv.ParseUint(f[1], 10, 64)
			return n << 10, err
		}
	}
	return 0, errors.New("no VmSize in /proc/self/status")
}

// capped is a buffer that keeps at most max bytes and says whether more came.
type capped struct {
	bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.Len(); len(p) > room {
		c.over = true
		if room > 0 {
			c.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return c.Buffer.Write(p)
}
