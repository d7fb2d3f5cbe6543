#!/usr/bin/env bash
# Runs the web console's browser tests (console/e2e) in headless Chromium
# against a real server: it builds the magpie binary once, installs the
# pinned npm packages if needed (npm ci: playwright-core, no browser
# download) and runs them with node's built-in test runner. Screenshots of
# each page go to console/e2e/artifacts (or $MAGPIE_TEST_ARTIFACTS).
#
# Without node 20+ and npm, or without Chromium (chromium or
# chromium-browser on the PATH, or $MAGPIE_TEST_CHROMIUM), it skips, saying
# so; with CI=true it fails instead: in CI every suite must run.
set -euo pipefail
cd "$(dirname "$0")/.."

skip() {
	if [ "${CI:-}" = "true" ]; then
		echo "test-console.sh: CI=true, and the web console's browser tests need $1, which was not found" >&2
		exit 1
	fi
	echo "test-console.sh: $1 not found; the web console's browser tests were skipped" >&2
	exit 0
}

if ! command -v node >/dev/null || ! command -v npm >/dev/null ||
	! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
	skip "node 20 or later and npm"
fi
if [ -z "${MAGPIE_TEST_CHROMIUM:-}" ] && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
	skip "Chromium (chromium, chromium-browser or \$MAGPIE_TEST_CHROMIUM)"
fi

e2e=console/e2e
if [ ! -e "$e2e/node_modules/.package-lock.json" ] || [ "$e2e/package-lock.json" -nt "$e2e/node_modules/.package-lock.json" ]; then
	(cd "$e2e" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/magpie" ./cmd/magpie

cd "$e2e"
MAGPIE_BIN="$tmp/magpie" node --test --test-concurrency=1 --test-timeout=120000 test/*.test.mjs | tee "$tmp/out"
if [ "${CI:-}" = "true" ] && ! grep -qE '^# skipped 0$' "$tmp/out"; then
	echo "test-console.sh: CI=true: browser tests were skipped; in CI every suite must run" >&2
	exit 1
fi
