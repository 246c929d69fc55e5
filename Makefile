# The README's two commands are `make demo` and `make test`; everything they
# need (Go modules, the local control plane's binaries) is fetched or built here.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
FUZZTIME ?= 15s
N ?= 10000

.PHONY: all build image demo test unit e2e test-busy fuzz controlplane vet bench

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/k8s-pod-restart ./cmd/k8s-pod-restart

# The container image as a `docker save` tarball, built without Docker: a
# static linux binary as user 65532 on an empty base (see test/image).
image:
	$(GO) run ./test/image -version $(VERSION) -o bin/k8s-pod-restart-image.tar

# Downloads the official kube-apiserver and etcd (checksums verified) or,
# where that fails, builds them (about 13 minutes cold on 2 cores), once, into
# $${XDG_CACHE_HOME:-~/.cache}/k8s-pod-restart.
controlplane:
	$(GO) run ./test/controlplane/cmd/controlplane -build-only

demo: controlplane
	$(GO) run ./test/demo

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "not gofmt'ed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

unit:
	$(GO) test -count=1 -timeout 20m $$($(GO) list ./... | grep -v /test/)

e2e: controlplane
	$(GO) test -count=1 -timeout 45m ./test/...

# The end-to-end suite (as `make e2e`) while test/cpuburn keeps every core
# busy, as on a shared CI runner; not part of `make test`. The burner is
# stopped when the suite ends, passed or failed, stops by itself when this
# shell is gone (-parent) and after BURN_FOR at the latest.
BURN_FOR ?= 50m
test-busy: controlplane
	$(GO) build -o bin/cpuburn ./test/cpuburn
	@bin/cpuburn -for $(BURN_FOR) -parent $$$$ & burner=$$!; \
	echo "test-busy: cpuburn (pid $$burner) keeps $$(nproc) cores busy"; \
	start=$$(date +%s); \
	$(MAKE) --no-print-directory e2e; status=$$?; \
	kill $$burner 2>/dev/null; wait $$burner; \
	echo "test-busy: exit $$status after $$(( $$(date +%s) - start )) s"; \
	exit $$status

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzEventEncoding$$' -fuzztime $(FUZZTIME) ./output
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./input
	$(GO) test -run '^$$' -fuzz '^FuzzLeanDecode$$' -fuzztime $(FUZZTIME) ./collect

test: controlplane vet
	$(GO) test -count=1 -timeout 45m ./...
	$(MAKE) fuzz

# Measures the agent side by side with a plain client-go informer and
# kube-state-metrics on N pods of a local control plane, and prints the table
# of BENCHMARKS.md; raw numbers go to test/bench/results/N.json. About 5 minutes
# for N=10000, 10 for N=50000; kube-state-metrics is built once (2 minutes).
bench: controlplane
	$(GO) run ./test/bench -pods $(N)
