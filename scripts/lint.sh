#!/usr/bin/env bash
# Runs golangci-lint, built from the pinned version in tools/lint/go.mod
# (from the Go module proxy, never a downloaded release binary).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=tools/bin/golangci-lint
want=$(cd tools/lint && go list -m -f '{{.Version}}' github.com/golangci/golangci-lint/v2)
if [ ! -x "$bin" ] || ! "$bin" version 2>/dev/null | grep -q "${want#v}"; then
	echo "building golangci-lint $want (first run takes a minute or two)"
	(cd tools/lint && go build -ldflags "-X main.version=${want#v}" -o ../bin/golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint)
fi
exec "$bin" run ./...
