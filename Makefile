# Magpie's developer commands. `make run` and `make test` work on a fresh
# machine with only Go installed.

GO      ?= go
PKGS    ?= ./...

.PHONY: run test check fmt vet lint deploy-check proto bench bench-cluster bench-go build ts-check

## run: start embedded mode (one process, SQLite in ./data, no external services)
run:
	$(GO) run ./cmd/magpie dev

## test: run every test; with CI=true also the race detector and a skip check
test:
	./scripts/test.sh

## build: build the magpie binary into bin/
build:
	$(GO) build -o bin/magpie ./cmd/magpie

## check: formatting, vet, lint, the deployment files and race tests
check: fmt vet lint deploy-check ts-check
	CI=true ./scripts/test.sh

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

lint:
	./scripts/lint.sh

## deploy-check: lint and render the Helm chart, validate it and compose.yaml offline
deploy-check:
	./scripts/deploy-check.sh

## ts-check: type-check and lint the TypeScript SDK and its tests (tsc --noEmit, ESLint; skipped without node)
ts-check:
	./scripts/test-ts.sh --check

## proto: regenerate the protocol code from sdk/proto
proto:
	./scripts/proto.sh

## bench: run the benchmarks
bench:
	./scripts/bench.sh

## bench-cluster: magpie bench against two gateways and a worker (FerretDB, RabbitMQ, Redis on loopback)
bench-cluster:
	./scripts/bench-cluster.sh

## bench-go: run the go test benchmarks
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)
