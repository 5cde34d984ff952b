package models

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestTemplateBounded: a chat template is a program that comes with a
// model folder; its rendering is bounded in time, stack, memory and output,
// and each bound gives an error that says which. (Before, two nested
// range(100000) loops ran for over ten minutes deaf to SIGINT, macro
// recursion was a fatal stack overflow of ser itself, 'x'*10**9 ran out of
// memory and 'x'*10**8 wrote a 100 MB manifest.)
func TestTemplateBounded(t *testing.T) {
	lim := TemplateLimits{Time: 3 * time.Second, Memory: 256 << 20}
	cases := []struct{ name, tpl, want string }{
		{"loops", "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "took longer than 3s"},
		{"recursion", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "recursion deeper"},
		{"memory", "{{ 'x' * 1000000000 }}", "memory"},
		{"output", "{{ 'x' * 5000000 }}", "longer than 1048576 bytes"},
		{"syntax", "{% for %}", "chat template"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := renderTemplate(context.Background(), c.tpl, map[string]any{}, lim)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v; want one saying %q", err, c.want)
			}
		})
	}
	out, err := renderTemplate(context.Background(), "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}",
		map[string]any{"messages": []any{map[string]any{"role": "user", "content": "{prompt}"}}}, lim)
	if err != nil || out != "<user>{prompt}" {
		t.Fatalf("a plain template: %q, %v", out, err)
	}
}

// TestTemplateCancelled: ending the context (as Ctrl-C does) stops a
// rendering that would run on.
func TestTemplateCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := renderTemplate(ctx, "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", nil, TemplateLimits{Time: time.Hour})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v; want context.Canceled", err)
	}
}

// TestTemplateSize: a chat template's source is bounded (1 MiB) before
// anything is done with it, and one of many '<' (which JSON may escape six
// times over) renders when within the bound. (Before, a 60 MiB template
// took ser to 2 GB, and a 12 MiB one of '<' failed with "unexpected EOF".)
func TestTemplateSize(t *testing.T) {
	big := "{# " + strings.Repeat("x", 2<<20) + " #}"
	if _, err := renderTemplate(context.Background(), big, nil, TemplateLimits{}); err == nil || !strings.Contains(err.Error(), "more than the 1048576") {
		t.Fatalf("a 2 MiB template: %v", err)
	}
	lt := strings.Repeat("<", 900<<10) + "{{ 'ok' }}"
	out, err := renderTemplate(context.Background(), lt, nil, TemplateLimits{Output: 2 << 20})
	if err != nil || !strings.HasSuffix(out, "ok") {
		t.Fatalf("900 KiB of '<': %v", err)
	}
}
