GO ?= go
FUZZTIME ?= 10s
FUZZFLAGS ?= -fuzzminimizetime=5s

# Release builds: the version stamped into every binary (git describe, without
# a leading "v"), the platforms built and where they go.
# VERSION=v1.2.3 and VERSION=1.2.3 stamp the same; an untagged checkout
# stamps its abbreviated commit hash.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
STAMP = $(patsubst v%,%,$(VERSION))
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
DIST ?= dist
RELEASE_LDFLAGS = -s -w -X github.com/lookupd/lookupd/lookup/config.Version=$(STAMP)
# make image: the image's name, and the Linux architecture it holds (the host's by default).
IMAGE ?= lookupd:$(STAMP)
IMAGE_ARCH ?= $(shell $(GO) env GOARCH)

.PHONY: all build test vet lint fuzz demo bench converge chaos scale release image clean

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

# A local cluster on 127.0.0.1: 3 lookupds, 2 producerd sidecars, the merged view.
demo: build
	bin/demo -bin bin

# Paired benchmark against nsqlookupd v1.3.0 at 1,000 x 100 x 2 (about 3 minutes).
bench:
	$(GO) run ./bench/cmd/lookupbench -pair

# Convergence with blocking queries: 1,000 watchers on 3 lookupds beside the same watchers polling
# 3 nsqlookupd, memory per blocked query, CPU per change beside waiters elsewhere (about 3 minutes).
converge:
	$(GO) run ./bench/cmd/convergebench

# The long fault-injection, load and bad-input runs (a few minutes).
chaos:
	$(GO) test -count=1 -v -timeout 30m -run 'TestChaos$$|TestChaos_CatchesLostRegistration$$|TestLoad$$|TestBadInput$$|TestHostile$$' ./bench/chaos/ -chaos.long

# The many-host scale run (root; about 6 minutes): 10 lookupd hosts, 10,000
# producers on 5 hosts, 3 consumer hosts, each in a network namespace the run
# makes and removes. Figures: bench/results/netscale.{json,md}, bench/README.md.
scale:
	$(GO) build -o bin/netscale ./bench/cmd/netscale
	bin/netscale -out bench/results/netscale.json -md bench/results/netscale.md

# Static binaries of lookupd, producerd and lookupctl for every platform in
# PLATFORMS, named DIST/NAME-OS-ARCH, with DIST/SHA256SUMS over them.
# make release VERSION=1.2.3 PLATFORMS=linux/amd64 DIST=/tmp/out builds one.
release:
	mkdir -p $(DIST) && rm -f $(DIST)/lookupd-* $(DIST)/producerd-* $(DIST)/lookupctl-* $(DIST)/SHA256SUMS
	set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; tmp=$(DIST)/.build-$$os-$$arch; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(RELEASE_LDFLAGS)' \
			-o $$tmp/ ./apps/lookupd ./apps/producerd ./apps/lookupctl; \
		for app in lookupd producerd lookupctl; do mv $$tmp/$$app $(DIST)/$$app-$$os-$$arch; done; \
		rmdir $$tmp; \
	done
	cd $(DIST) && sha256sum lookupd-* producerd-* lookupctl-* > SHA256SUMS
	@echo "release $(STAMP) in $(DIST):" && cat $(DIST)/SHA256SUMS

# One FROM scratch image holding the three linux/IMAGE_ARCH binaries of make
# release, built without pulling anything (deploy/docker/Dockerfile).
image:
	$(MAKE) release PLATFORMS=linux/$(IMAGE_ARCH) DIST=$(DIST)/image
	cp deploy/docker/Dockerfile $(DIST)/image/
	docker build --build-arg ARCH=$(IMAGE_ARCH) --build-arg VERSION=$(STAMP) -t $(IMAGE) $(DIST)/image

clean:
	rm -rf bin $(DIST)
