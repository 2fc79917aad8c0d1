GO ?= go
FUZZTIME ?= 10s
FUZZFLAGS ?= -fuzzminimizetime=5s

.PHONY: all build test vet lint fuzz demo bench chaos clean

all: build

build:
	$(GO) build -o bin/ ./apps/...

vet:
	$(GO) vet ./...

# staticcheck, pinned by the tool directive in go.mod.
lint:
	$(GO) tool staticcheck ./...

# The whole suite: vet, staticcheck, race-enabled tests, then short bounded fuzz runs.
test: vet lint
	$(GO) test -race -count=1 -timeout 8m ./...
	$(MAKE) fuzz

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzReadCommand$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./lookup/wire/
	$(GO) test -run '^$$' -fuzz '^FuzzQuery$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./lookup/httpapi/
	$(GO) test -run '^$$' -fuzz '^FuzzRespond$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./lookup/dnsserver/

# A local cluster on 127.0.0.1: 3 lookupds, 2 producerd sidekicks, the merged view.
demo: build
	bin/demo -bin bin

# Paired benchmark against nsqlookupd v1.3.0 at 1,000 x 100 x 2 (about 3 minutes).
bench:
	$(GO) run ./bench/cmd/lookupbench -pair

# The long fault-injection, load and bad-input runs (a few minutes).
chaos:
	$(GO) test -count=1 -v -timeout 30m -run 'TestChaos$$|TestChaos_CatchesLostRegistration$$|TestLoad$$|TestBadInput$$' ./bench/chaos/ -chaos.long

clean:
	rm -rf bin
