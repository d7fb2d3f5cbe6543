#!/usr/bin/env bash
# Runs the TypeScript SDK's tests (sdk/typescript) against a real server: it
# builds the magpie binary once, installs the pinned npm packages if needed
# (npm ci), compiles the SDK and its tests with tsc, and runs them with
# node's built-in test runner.
#
# Usage:
#   scripts/test-ts.sh          build and run the tests
#   scripts/test-ts.sh --check  only check the SDK and its tests: type-check
#                               (tsc --noEmit), lint (ESLint with the type-aware
#                               rules of sdk/typescript/eslint.config.js) and
#                               build the API reference without warnings
#
# Without node 20+ and npm it skips, saying so; with CI=true it fails instead:
# in CI every suite must run.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null ||
	! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
	if [ "${CI:-}" = "true" ]; then
		echo "test-ts.sh: node 20 or later and npm are required in CI (CI=true) for the TypeScript SDK" >&2
		exit 1
	fi
	echo "test-ts.sh: node 20 or later and npm not found; the TypeScript SDK was not checked or tested" >&2
	exit 0
fi

ts=sdk/typescript
if [ ! -e "$ts/node_modules/.package-lock.json" ] || [ "$ts/package-lock.json" -nt "$ts/node_modules/.package-lock.json" ]; then
	(cd "$ts" && npm ci --no-audit --no-fund)
fi

case "${1:-}" in
--check)
	cd "$ts"
	npx --no-install tsc -p tsconfig.test.json --noEmit
	# Lint src and test (eslint.config.js leaves out the generated src/gen).
	npx --no-install eslint --max-warnings 0 src test
	# The API reference builds from the doc comments, without warnings.
	exec npx --no-install typedoc --emit none
	;;
"") ;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/magpie" ./cmd/magpie

cd "$ts"
rm -rf dist-test
npx --no-install tsc -p tsconfig.json
npx --no-install tsc -p tsconfig.test.json
MAGPIE_BIN="$tmp/magpie" node --test --test-concurrency=2 --test-timeout=120000 dist-test/test/*.test.js | tee "$tmp/out"
if [ "${CI:-}" = "true" ] && ! grep -qE '^# skipped 0$' "$tmp/out"; then
	echo "test-ts.sh: CI=true: TypeScript tests were skipped; in CI every suite must run" >&2
	exit 1
fi
