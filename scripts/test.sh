#!/usr/bin/env bash
# Runs the test suites. With CI=true it adds the race detector and fails if
# any test was skipped: in CI every integration suite must run.
#
# The cluster chaos tests (two gateways and a worker as processes, 6,000
# messages through SIGKILLs and a broker outage; a push and a webhook delivery
# through a worker SIGKILL and a broker restart) run on their own after the
# rest, so that it has the machine to itself; in CI it restarts RabbitMQ
# (MAGPIE_TEST_BROKER_RESTART=1), which would disturb suites running beside it.
#
# The TypeScript SDK's tests (scripts/test-ts.sh) run first; they need node,
# and without it they are skipped, except in CI, where they fail.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/test-ts.sh
./scripts/test-console.sh

# The 10,000-member group test (10,000 WebSockets from the test process to a
# `magpie dev` process) runs with them, for the same reason.
chaos='^(TestCluster(SurvivesKills|PushSurvivesKills|WebhookSurvivesKills)|TestGroupOf10000Members)$'

if [ "${CI:-}" != "true" ]; then
	go test -count=1 -skip "$chaos" ./...
	exec go test -count=1 -run "$chaos" ./cmd/magpie
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
go test -race -count=1 -v -timeout 15m -skip "$chaos" ./... >"$log" 2>&1 || status=$?
if [ "$status" -eq 0 ]; then
	MAGPIE_TEST_BROKER_RESTART=1 go test -race -count=1 -v -timeout 12m -run "$chaos" ./cmd/magpie >>"$log" 2>&1 || status=$?
fi
# Show the package summary and any failure, not every passing test: a
# subtest's FAIL line is indented, and the conformance suites report from
# files that are not _test.go files (storetest, bustest, …).
grep -E '^(ok|FAIL|\s*---|panic:|\s+\S+\.go:[0-9]+:|# )' "$log" | grep -v -E '^\s*--- (PASS|SKIP)' || true
grep -E 'chaos_test\.go:[0-9]+: [0-9]+ messages acknowledged' "$log" || true
if [ "$status" -ne 0 ]; then
	echo "tests failed"
	exit "$status"
fi
if grep -E '^\s*--- SKIP' "$log"; then
	echo "CI=true: the tests above were skipped; in CI every suite must run"
	exit 1
fi
for t in TestClusterSurvivesKills TestClusterPushSurvivesKills TestClusterWebhookSurvivesKills TestGroupOf10000Members; do
	if ! grep -qE "^--- PASS: $t" "$log"; then
		echo "CI=true: the test $t, run on its own, did not run"
		exit 1
	fi
done
echo "all tests passed, none skipped"
