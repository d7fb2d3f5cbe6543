#!/usr/bin/env bash
# Runs the test suites. With CI=true it adds the race detector and fails if
# any test was skipped: in CI every integration suite must run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${CI:-}" != "true" ]; then
	exec go test -count=1 ./...
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
go test -race -count=1 -v -timeout 15m ./... >"$log" 2>&1 || status=$?
# Show the package summary and any failure, not every passing test.
grep -E '^(ok|FAIL|---|panic:|\s+\S+_test\.go:[0-9]+:|# )' "$log" | grep -v -E '^\s*--- PASS' || true
if [ "$status" -ne 0 ]; then
	echo "tests failed"
	exit "$status"
fi
if grep -E '^\s*--- SKIP' "$log"; then
	echo "CI=true: the tests above were skipped; in CI every suite must run"
	exit 1
fi
echo "all tests passed, none skipped"
