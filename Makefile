# The targets a person runs are the ones CI runs: CI calls `make test`.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS  := -s -w -X github.com/deploytool/deploy/internal/version.Version=$(VERSION)
PKGS     := ./...

.PHONY: all build test lint bench demo fuzz clean deps-test deps-demo

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/deploy ./cmd/deploy
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/procmon ./cmd/procmon

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# deps-*: install with apt-get what the target needs and the machine lacks
# (a C compiler for -race, sshd, wrk, python3, node, …): see scripts/deps.sh.
deps-test:
	@./scripts/deps.sh test
deps-demo:
	@./scripts/deps.sh demo

# DEPLOY_REQUIRE_SSHD=1: a test whose tool (sshd, node, python3,
# systemd-analyze, …) is missing fails instead of skipping.
test: deps-test lint
	DEPLOY_REQUIRE_SSHD=1 $(GO) test -race -count=1 -timeout 12m $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 -timeout 20m $(PKGS)

# demo: deploy an example app to a local target, serve it under procmon,
# deploy a change under load, revert; DEMO_FLAGS=-keep leaves it running.
demo: deps-demo build
	$(GO) run ./cmd/demo -bin bin -examples examples $(DEMO_FLAGS)

clean:
	rm -rf bin dist
