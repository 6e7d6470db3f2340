# Switchboard. `make test` is what CI runs (see scripts/test.sh).

GO ?= go
BIN := bin/switchboard

.PHONY: all build run test vet lint fuzz bench microbench soak e2e clean

all: build

## build: the binary, bin/switchboard
build:
	$(GO) build -o $(BIN) ./cmd/switchboard

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

## clean: remove built binaries and tools
clean:
	rm -rf bin
