# The targets a person runs are the ones CI runs: CI calls `make test`.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS  := -s -w -X github.com/deploytool/deploy/internal/version.Version=$(VERSION)
PKGS     := ./...
# staticcheck at a pinned version, built from the module proxy on first use.
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
# The remote script runs as one text: shellcheck reads it that way.
SCRIPT   := deploy/script/lib.sh deploy/script/release.sh deploy/script/mirror.sh deploy/script/gate.sh deploy/script/build.sh deploy/script/depcache.sh deploy/script/commands.sh

.PHONY: all build test lint bench demo fuzz clean deps-test deps-demo deps-lint deps-bench

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/deploy ./cmd/deploy
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/procmon ./cmd/procmon

lint: deps-lint
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)
	cat $(SCRIPT) | shellcheck -s bash --severity=warning -
	shellcheck --severity=warning scripts/deps.sh scripts/test.sh install.sh .ci/run examples/*/hooks/*

# deps-*: install with apt-get what the target needs and the machine lacks
# (a C compiler for -race, sshd, wrk, python3, node, …): see scripts/deps.sh.
deps-test:
	@./scripts/deps.sh test
deps-demo:
	@./scripts/deps.sh demo
deps-lint:
	@./scripts/deps.sh lint
deps-bench:
	@./scripts/deps.sh bench

# go test -race of every package, with DEPLOY_REQUIRE_SSHD=1: a test whose
# tool (sshd, node, python3, systemd-analyze, …) is missing fails instead
# of skipping. cmd/deploy runs as three shards beside the rest: scripts/test.sh.
test: deps-test lint
	GO=$(GO) ./scripts/test.sh

# bench: every tool is required here too (wrk, sshd, nginx, pm2, …): a
# missing one fails the benchmark rather than skipping it.
bench: deps-bench
	DEPLOY_REQUIRE_SSHD=1 $(GO) test -run '^$$' -bench . -benchtime 1x -count 1 -timeout 20m $(PKGS)

# demo: deploy an example app to a local target, serve it under procmon,
# deploy a change under load, revert; DEMO_FLAGS=-keep leaves it running.
demo: deps-demo build
	$(GO) run ./cmd/demo -bin bin -examples examples $(DEMO_FLAGS)

clean:
	rm -rf bin dist
