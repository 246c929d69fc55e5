# The README's two commands are `make demo` and `make test`; everything they
# need (Go modules, the local control plane's binaries) is fetched or built here.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
FUZZTIME ?= 15s

.PHONY: all build demo test unit e2e fuzz controlplane vet

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/k8s-pod-restart ./cmd/k8s-pod-restart

# Builds kube-apiserver and etcd once (about 13 minutes cold on 2 cores) and
# caches them under $${XDG_CACHE_HOME:-~/.cache}/k8s-pod-restart.
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

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzEventEncoding$$' -fuzztime $(FUZZTIME) ./output
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./input

test: controlplane vet
	$(GO) test -count=1 -timeout 45m ./...
	$(MAKE) fuzz
