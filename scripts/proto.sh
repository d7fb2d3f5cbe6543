#!/usr/bin/env bash
# Regenerates the Go code of the client protocol (sdk/proto) with the
# generators pinned in tools/go.mod: buf and protoc-gen-go are built from the
# Go module proxy into tools/bin, and nothing else is fetched. When node and
# npm are installed it also regenerates the TypeScript SDK's code
# (sdk/typescript/src/gen, template sdk/proto/buf.gen.ts.yaml) with
# protoc-gen-es, pinned in sdk/typescript/package-lock.json; without node it
# says so and goes on.
#
# Usage:
#   scripts/proto.sh          format and lint the .proto files, regenerate *.pb.go
#                             and the TypeScript code
#   scripts/proto.sh --check  fail if a .proto file is unformatted, fails lint,
#                             or its committed *.pb.go or TypeScript code is out
#                             of date
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="$root/tools/bin"

(cd "$root/tools" && go build -o "$bin/" \
	github.com/bufbuild/buf/cmd/buf \
	google.golang.org/protobuf/cmd/protoc-gen-go)

# tools/bin first, so buf runs the pinned protoc-gen-go and no other.
export PATH="$bin:$PATH"
cd "$root/sdk/proto"

# ts_ready reports whether the TypeScript code can be generated: node and npm
# are installed, and protoc-gen-es is in sdk/typescript/node_modules (npm ci
# installs it if missing).
ts_ready() {
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		echo "proto.sh: node and npm not found; the TypeScript code (sdk/typescript/src/gen) was not regenerated" >&2
		return 1
	fi
	if [ ! -e "$root/sdk/typescript/node_modules/@bufbuild/protoc-gen-es/bin/protoc-gen-es" ]; then
		(cd "$root/sdk/typescript" && npm ci --no-audit --no-fund >&2)
	fi
}

case "${1:-}" in
"")
	buf format --write
	buf lint
	buf generate
	if ts_ready; then
		buf generate --template buf.gen.ts.yaml
	fi
	;;
--check)
	buf format --diff --exit-code
	buf lint
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	buf generate --output "$tmp"
	(cd "$tmp" && find . -name '*.pb.go' -print) | while read -r f; do
		diff -u "$f" "$tmp/$f" || {
			echo "proto.sh: $f is out of date; run scripts/proto.sh" >&2
			exit 1
		}
	done
	if ts_ready; then
		# The template writes to ../typescript/src/gen, relative to the output.
		buf generate --template buf.gen.ts.yaml --output "$tmp/proto"
		diff -ru "$root/sdk/typescript/src/gen" "$tmp/typescript/src/gen" || {
			echo "proto.sh: sdk/typescript/src/gen is out of date; run scripts/proto.sh" >&2
			exit 1
		}
	fi
	;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac
