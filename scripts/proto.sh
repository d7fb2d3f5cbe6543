#!/usr/bin/env bash
# Regenerates the Go code of the client protocol (sdk/proto) with the
# generators pinned in tools/go.mod: buf and protoc-gen-go are built from the
# Go module proxy into tools/bin, and nothing else is fetched.
#
# Usage:
#   scripts/proto.sh          format and lint the .proto files, regenerate *.pb.go
#   scripts/proto.sh --check  fail if a .proto file is unformatted, fails lint,
#                             or its committed *.pb.go is out of date
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="$root/tools/bin"

(cd "$root/tools" && go build -o "$bin/" \
	github.com/bufbuild/buf/cmd/buf \
	google.golang.org/protobuf/cmd/protoc-gen-go)

# tools/bin first, so buf runs the pinned protoc-gen-go and no other.
export PATH="$bin:$PATH"
cd "$root/sdk/proto"

case "${1:-}" in
"")
	buf format --write
	buf lint
	buf generate
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
	;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac
