# Switchboard. `make test` is what CI runs (see scripts/test.sh).

GO ?= go
BIN := bin/switchboard

# What `switchboard version` prints, stamped by build and dist: git's name
# of the commit, its hash and its time (not the build's, so that a release
# build is reproducible).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE ?= $(shell TZ=UTC0 git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo unknown)
STAMP = -X main.buildVersion=$(VERSION) -X main.buildCommit=$(COMMIT) -X main.buildDate=$(DATE)

.PHONY: all build run test vet lint fuzz bench microbench soak e2e dist clean

all: build

## build: the binary, bin/switchboard, stamped with the version
build:
	$(GO) build -ldflags "$(STAMP)" -o $(BIN) ./cmd/switchboard

## run: build, then run bin/switchboard (ARGS="--port 9000"); a SIGTERM to make reaches it
run: build
	$(BIN) $(ARGS)

## test: everything CI checks: gofmt, vet, staticcheck, go test -race, e2e
test:
	scripts/test.sh

## vet: go vet on every package
vet:
	$(GO) vet ./...

## lint: staticcheck (pinned, installed into bin/)
lint:
	scripts/lint.sh

## fuzz: every Fuzz target for FUZZTIME each (default 10s)
fuzz:
	scripts/fuzz.sh

## bench: a short run of every load-generator scenario against bin/switchboard, as a table
bench: build
	scripts/bench.sh

## soak: 19,000 held connections, 500 churn/s and steady publishing for 10 minutes, on loopback (MINUTES=2 for less)
soak: build
	scripts/soak.sh

## microbench: the Go microbenchmarks of the hot paths
microbench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

## e2e: the end-to-end tests (node --test) against a fresh build
e2e: build
	scripts/e2e.sh

## dist: reproducible release binaries and SHA256SUMS in dist/ (PLATFORMS="linux/amd64 ...")
dist:
	VERSION=$(VERSION) COMMIT=$(COMMIT) DATE=$(DATE) scripts/dist.sh

## clean: remove built binaries, tools and release builds
clean:
	rm -rf bin dist
