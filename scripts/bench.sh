#!/usr/bin/env bash
# Reproduces the load-tool tables of docs/benchmarks.md against a fresh
# `magpie dev`: idle connections, a one-to-one ramp (every step, also past
# the first that failed), fixed one-to-one rates and a 1,000-member group,
# each as JSON in $OUT, then the latency-versus-rate plot.
#
#   make bench                       # or: scripts/bench.sh
#   RAMP_TO=30000 STEP=1000 OUT=/tmp/b scripts/bench.sh
#
# The defaults are the ones the tables of docs/benchmarks.md ("magpie
# bench") were made with; the plot goes to $OUT unless PLOT names a file.
#
# Run it on a quiet machine: the load generator shares the cores with the
# server, and anything else running moves the figures.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
USERS=${USERS:-1000}
RAMP_FROM=${RAMP_FROM:-2000}
STEP=${STEP:-2000}
RAMP_TO=${RAMP_TO:-40000}
STEP_DURATION=${STEP_DURATION:-10s}
RATES=${RATES:-2000 5000 10000 25000 30000}
DURATION=${DURATION:-20s}
IDLE_CONNS=${IDLE_CONNS:-5000}
GROUP_MEMBERS=${GROUP_MEMBERS:-1000}
PLOT=${PLOT:-$OUT/latency-vs-rate.png}
mkdir -p "$OUT"

bin="$OUT/magpie"
go build -o "$bin" ./cmd/magpie
data=$(mktemp -d)
log="$OUT/server.log"
"$bin" dev --addr 127.0.0.1:0 --admin-addr "" --data "$data" --unlimited-addresses 127.0.0.0/8 >"$log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
for _ in $(seq 1 150); do
	grep -q '^app_secret=' "$log" && break
	sleep 0.2
done
val() { grep -m1 "^$1=" "$log" | cut -d= -f2-; }
api=$(val api_url) key=$(val app_key) secret=$(val app_secret)
if [ -z "$api" ] || [ -z "$secret" ]; then
	echo "magpie dev did not start; see $log" >&2
	exit 1
fi
export MAGPIE_OPERATOR_PASSWORD
MAGPIE_OPERATOR_PASSWORD=$(val operator_password)
bench=("$bin" bench --url "$api" --app-key "$key" --app-secret "$secret" --server-pid "$pid" --json)

record() { # name, then the bench arguments
	local name=$1
	shift
	echo "== $name ($(cut -d' ' -f1-3 /proc/loadavg) load average)" >&2
	"${bench[@]}" "$@" >"$OUT/$name.json"
	cut -c1-300 "$OUT/$name.json" >&2
}

# Lift the app's limits (connection rate, devices per user, send and API rates).
"${bench[@]}" idle --conns 1 --raise-limits --operator-email operator@magpie.local >/dev/null
# Idle connections first: the server's RSS per connection means something
# only before the message scenarios have grown its heap (Go keeps it).
record idle idle --conns "$IDLE_CONNS"
record ramp ramp --users "$USERS" --from "$RAMP_FROM" --step "$STEP" --to "$RAMP_TO" \
	--step-duration "$STEP_DURATION" --keep-going
for r in $RATES; do
	record "one-to-one-$r" one-to-one --users "$USERS" --rate "$r" --duration "$DURATION"
done
record group group --members "$GROUP_MEMBERS" --senders 4 --rate 250 --duration "$DURATION"

mkdir -p "$(dirname "$PLOT")"
plot=$(realpath -m "$PLOT")
ramp=$(realpath "$OUT/ramp.json")
(cd tools/benchplot && go run . -o "$plot" -title "magpie dev, one-to-one, $USERS users ($(nproc) cores, load generator beside it)" \
	"embedded=$ramp")
echo "results in $OUT, plot in $PLOT" >&2
