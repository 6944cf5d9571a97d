# The targets a person runs are the ones CI runs: CI calls `make test`.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS  := -s -w -X github.com/deploytool/deploy/internal/version.Version=$(VERSION)
PKGS     := ./...

.PHONY: all build test lint bench demo fuzz clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/deploy ./cmd/deploy
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/procmon ./cmd/procmon

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

test: lint
	$(GO) test -race -count=1 -timeout 12m $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 -timeout 20m $(PKGS)

# demo: deploy an example app to a local target, serve it under procmon,
# deploy a change under load, revert; DEMO_FLAGS=-keep leaves it running.
demo: build
	$(GO) run ./cmd/demo -bin bin -examples examples $(DEMO_FLAGS)

clean:
	rm -rf bin dist
