#!/usr/bin/env bash
# Runs `magpie bench` against cluster mode on this machine: FerretDB (the
# tests' MongoDB-compatible server, tools/ferretdb), two `magpie gateway`
# processes and one `magpie worker`, on the RabbitMQ at 127.0.0.1:5672
# (guest/guest, in a vhost created for the run) and the Redis at
# 127.0.0.1:6379 (under a key prefix of the run's own). The load tool
# spreads its users over both gateways (--url twice): user 2k on the first,
# its partner 2k+1 on the second, so every one-to-one message and its
# receipt crosses the relay between them.
#
# It runs one-to-one at fixed rates, idle connections (logins/s) and a short
# ramp, each as JSON in $OUT, and samples every second the CPU time of
# FerretDB, both gateways, the worker, RabbitMQ (beam.smp) and Redis
# (cpu.log). summary.tsv has, per run, the load tool's figures and each
# process's CPU over the run's schedule (percent of one core, and µs per
# delivered message). RabbitMQ and Redis are shared: their CPU includes
# whatever else uses them.
#
#   make bench-cluster                # or: scripts/bench-cluster.sh
#   RATES="200 500" DURATION=5s IDLE_CONNS=200 RAMP_TO=0 OUT=/tmp/b scripts/bench-cluster.sh
#
# Needs rabbitmqctl (or the management API on 127.0.0.1:15672), redis-cli
# and jq. Everything it starts or creates (processes, vhost, Redis keys,
# temporary files) is removed on exit, also on failure or Ctrl-C; the
# results stay in $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-bench-results/cluster-$(date -u +%Y%m%dT%H%M%SZ)}
USERS=${USERS:-1000}
RATES=${RATES:-200 500 1000}
DURATION=${DURATION:-15s}
IDLE_CONNS=${IDLE_CONNS:-2000}
CONNECT_RATE=${CONNECT_RATE:-5000}
RAMP_FROM=${RAMP_FROM:-500}
STEP=${STEP:-500}
RAMP_TO=${RAMP_TO:-2000} # 0: no ramp
STEP_DURATION=${STEP_DURATION:-10s}
SETTLE_MAX=${SETTLE_MAX:-120} # seconds to wait for FerretDB to go quiet before a run
AMQP_BASE=${AMQP_BASE:-amqp://guest:guest@127.0.0.1:5672}
RABBIT_API=${RABBIT_API:-http://guest:guest@127.0.0.1:15672/api}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
for tool in jq redis-cli curl; do
	command -v "$tool" >/dev/null || {
		echo "bench-cluster: needs $tool" >&2
		exit 1
	}
done

tmp=$(mktemp -d /tmp/magpie-bench-cluster-XXXXXX)
run_id=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
vhost="magpie-bench-$run_id"
redis_prefix="magpiebench:$run_id:"
pids=()     # every process started, FerretDB first
vhost_made= # set once the vhost exists
sampler=

# stop PID...: SIGTERM, up to 20 s to exit, then SIGKILL.
stop() {
	local p _ alive
	kill "$@" 2>/dev/null
	for _ in $(seq 1 100); do
		alive=
		for p; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ -z "$alive" ] && break
		sleep 0.2
	done
	kill -KILL "$@" 2>/dev/null
	for p; do wait "$p" 2>/dev/null; done
}

cleanup() {
	local rc=$?
	set +e
	[ -n "$sampler" ] && stop "$sampler"
	# The gateways and the worker first, while the store still answers
	# their shutdown's writes; FerretDB last.
	[ "${#pids[@]}" -gt 1 ] && stop "${pids[@]:1}"
	[ "${#pids[@]}" -gt 0 ] && stop "${pids[0]}"
	exec 3>&- # FerretDB's standard input: it exits when it closes
	if [ -n "$vhost_made" ]; then
		if command -v rabbitmqctl >/dev/null; then
			rabbitmqctl -q delete_vhost "$vhost" >/dev/null
		else
			curl -fsS -X DELETE "$RABBIT_API/vhosts/$vhost" >/dev/null
		fi
	fi
	redis-cli -u "$REDIS_URL" --scan --pattern "$redis_prefix*" | xargs -r -n 500 redis-cli -u "$REDIS_URL" unlink >/dev/null
	rm -rf "$tmp"
	[ "$rc" -ne 0 ] && echo "bench-cluster: failed ($rc); logs in $OUT" >&2
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "== $* ($(cut -d' ' -f1-3 /proc/loadavg) load average)" >&2; }

# wait_line FILE KEY PID: waits (up to 2 minutes) for KEY=... in FILE
# while PID runs, and prints the value.
wait_line() {
	local _
	for _ in $(seq 1 600); do
		if grep -q "^$2=" "$1"; then
			grep -m1 "^$2=" "$1" | cut -d= -f2-
			return
		fi
		kill -0 "$3" 2>/dev/null || break
		sleep 0.2
	done
	echo "bench-cluster: no $2= from pid $3; see $1 and its .err" >&2
	return 1
}

log "build"
go build -o "$OUT/magpie" ./cmd/magpie
(cd tools/ferretdb && GOWORK=off go build -tags ferretdb_no_postgresql -o "$OUT/ferretdb" .)
bin="$OUT/magpie"
git rev-parse --short HEAD >"$OUT/commit"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

log "ferretdb"
mkfifo "$tmp/ferretdb.in"
mkdir "$tmp/ferretdb"
"$OUT/ferretdb" -dir "$tmp/ferretdb" <"$tmp/ferretdb.in" >"$OUT/ferretdb.out" 2>"$OUT/ferretdb.err" &
pids+=($!)
exec 3>"$tmp/ferretdb.in"
ferret_pid=${pids[-1]}
for _ in $(seq 1 300); do
	grep -q '^mongodb://' "$OUT/ferretdb.out" && break
	kill -0 "$ferret_pid" 2>/dev/null || break
	sleep 0.2
done
mongo_url=$(grep -m1 '^mongodb://' "$OUT/ferretdb.out") || {
	echo "bench-cluster: ferretdb printed no URI; see $OUT/ferretdb.err" >&2
	exit 1
}

log "rabbitmq vhost $vhost, redis prefix $redis_prefix"
if command -v rabbitmqctl >/dev/null; then
	rabbitmqctl -q add_vhost "$vhost" >/dev/null
	vhost_made=1
	rabbitmqctl -q set_permissions -p "$vhost" guest '.*' '.*' '.*' >/dev/null
else
	curl -fsS -X PUT "$RABBIT_API/vhosts/$vhost" >/dev/null
	vhost_made=1
	curl -fsS -X PUT -H 'content-type: application/json' \
		-d '{"configure":".*","write":".*","read":".*"}' "$RABBIT_API/permissions/$vhost/guest" >/dev/null
fi

export MAGPIE_MONGO_URL=$mongo_url MAGPIE_MONGO_DB=magpie_bench \
	MAGPIE_AMQP_URL="$AMQP_BASE/$vhost" MAGPIE_AMQP_PREFIX=magpie-bench \
	MAGPIE_REDIS_URL=$REDIS_URL MAGPIE_REDIS_PREFIX=$redis_prefix \
	MAGPIE_MASTER_KEY_FILE=$tmp/master.key MAGPIE_LOG_LEVEL=warn

log "bootstrap"
"$bin" bootstrap >"$tmp/bootstrap.out" 2>"$OUT/bootstrap.err"
val() { grep -m1 "^$1=" "$tmp/bootstrap.out" | cut -d= -f2-; }
key=$(val app_key) secret=$(val app_secret)
export MAGPIE_OPERATOR_PASSWORD
MAGPIE_OPERATOR_PASSWORD=$(val operator_password)
[ -n "$secret" ] && [ -n "$MAGPIE_OPERATOR_PASSWORD" ] || {
	echo "bench-cluster: bootstrap printed no credentials" >&2
	exit 1
}

# start NAME READY ARGS...: starts a magpie process, waits for its READY line.
start() {
	local name=$1 ready=$2
	shift 2
	"$bin" "$@" --addr 127.0.0.1:0 --admin-addr "" >"$OUT/$name.out" 2>"$OUT/$name.err" &
	pids+=($!)
	wait_line "$OUT/$name.out" "$ready" "$!" >/dev/null
}
log "gateways and worker"
start gateway1 node_id gateway --unlimited-addresses 127.0.0.0/8
start gateway2 node_id gateway --unlimited-addresses 127.0.0.0/8
start worker worker_url worker
g1=$(wait_line "$OUT/gateway1.out" gateway_url "${pids[-3]}")
g2=$(wait_line "$OUT/gateway2.out" gateway_url "${pids[-2]}")
g1_pid=${pids[-3]}

# The processes whose CPU is sampled: name and pid.
procs=(ferretdb "$ferret_pid" gateway1 "$g1_pid" gateway2 "${pids[-2]}" worker "${pids[-1]}")
if p=$(pgrep -o -x beam.smp); then procs+=(rabbitmq "$p"); fi
if p=$(pgrep -o -x redis-server); then procs+=(redis "$p"); fi
# sample: every second, "epoch name cpu_ticks" (utime+stime, 1/100 s) for each.
sample() {
	while :; do
		local t=$EPOCHREALTIME i
		for ((i = 0; i < ${#procs[@]}; i += 2)); do
			awk -v t="$t" -v n="${procs[i]}" '{ sub(/.*\) /, ""); print t, n, $12 + $13 }' \
				"/proc/${procs[i + 1]}/stat" 2>/dev/null
		done
		sleep 1
	done
}
sample >"$OUT/cpu.log" &
sampler=$!

bench=("$bin" bench --url "$g1" --url "$g2" --app-key "$key" --app-secret "$secret" --server-pid "$g1_pid" --json)

# cpu_over FROM TO N: per sampled process, its CPU between the samples
# nearest FROM and TO (epoch seconds), as "name pct us_per_n": N is the
# messages delivered (idle: the connections logged in).
cpu_over() {
	awk -v from="$1" -v to="$2" -v n="$3" '
		$1 >= from && !($2 in t0) { t0[$2] = $1; c0[$2] = $3; order[++k] = $2 }
		$1 <= to { t1[$2] = $1; c1[$2] = $3 }
		END {
			for (i = 1; i <= k; i++) {
				p = order[i]; dt = t1[p] - t0[p]
				if (dt <= 0) { print p, "-", "-"; continue }
				ticks = c1[p] - c0[p]
				printf "%s %.0f %s\n", p, ticks / dt, (n > 0 ? sprintf("%.0f", ticks * 10000 / n) : "-")
			}
		}' "$OUT/cpu.log"
}

printf 'run\tload_before\tload_after\toffered\tsent\tdelivered\tlost\tunconfirmed\tdup\treordered\terrors\tconns_closed\tp50_ms\tp99_ms\tlogins_per_s\tloadgen_cpu_pct\tcpu_pct_and_us_per_msg\n' >"$OUT/summary.tsv"

# settle: waits (up to SETTLE_MAX seconds) until FerretDB has used less
# than 10% of a core for 2 s in a row: what an earlier run left queued (or
# its users' logouts) would otherwise load the next one.
settle() {
	local prev cur quiet=0 i
	prev=$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$ferret_pid/stat")
	for ((i = 1; i <= SETTLE_MAX; i++)); do
		sleep 1
		cur=$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$ferret_pid/stat")
		if [ $((cur - prev)) -lt 10 ]; then quiet=$((quiet + 1)); else quiet=0; fi
		prev=$cur
		[ "$quiet" -ge 2 ] && break
	done
	echo "   settled after ${i} s" >&2
}

# record NAME ARGS...: runs the bench with ARGS, its JSON into NAME.json,
# its progress (time-stamped) into NAME.log, and a line of summary.tsv.
record() {
	local name=$1 load0 load1 start end from to
	shift
	settle
	log "$name"
	load0=$(cut -d' ' -f1-3 /proc/loadavg)
	start=$EPOCHREALTIME
	"${bench[@]}" "$@" >"$OUT/$name.json" 2> >(while IFS= read -r l; do echo "$EPOCHREALTIME $l"; done >"$OUT/$name.log") || true
	end=$EPOCHREALTIME
	load1=$(cut -d' ' -f1-3 /proc/loadavg)
	sleep 0.2 # the progress log's last lines
	cut -c1-300 "$OUT/$name.json" >&2
	# The schedule: from the first progress line of a rate to the last
	# (idle: the whole run, logins included).
	from=$(awk '/rate=/ { print $1; exit }' "$OUT/$name.log")
	to=$(awk '/rate=/ { t = $1 } END { print t }' "$OUT/$name.log")
	[ -n "$from" ] || from=$start
	[ -n "$to" ] || to=$end
	jq -r --arg name "$name" --arg l0 "$load0" --arg l1 "$load1" \
		--arg cpu "$(cpu_over "$from" "$to" "$(jq -r 'if (.delivered // 0) > 0 then .delivered else (.connected // 0) end' "$OUT/$name.json")" | paste -sd' ')" '
		[$name, $l0, $l1, (.offered_rate // "-"), (.sent // "-"), (.delivered // "-"), (.lost // "-"),
		 (.unconfirmed // "-"), (.duplicated // "-"), (.reordered // "-"), ((.errors // {}) | add // 0),
		 (.conns_closed // 0), (.p50_ms // "-"), (.p99_ms // "-"), (.connect_rate_per_s // "-"),
		 (.loadgen_cpu_percent // "-"), $cpu] | @tsv' "$OUT/$name.json" >>"$OUT/summary.tsv" ||
		echo "bench-cluster: $name gave no JSON; see $OUT/$name.log" >&2
}

# Lift the app's limits (connection rate, devices per user, send and API rates).
"${bench[@]}" idle --conns 1 --raise-limits --operator-email operator@magpie.local >/dev/null
for r in $RATES; do
	record "one-to-one-$r" one-to-one --users "$USERS" --rate "$r" --duration "$DURATION"
done
record idle idle --conns "$IDLE_CONNS" --connect-rate "$CONNECT_RATE"
if [ "$RAMP_TO" -gt 0 ]; then
	record ramp ramp --users "$USERS" --from "$RAMP_FROM" --step "$STEP" --to "$RAMP_TO" \
		--step-duration "$STEP_DURATION" --keep-going
fi
column -t -s $'\t' "$OUT/summary.tsv" >&2 || cat "$OUT/summary.tsv" >&2
echo "results in $OUT (summary.tsv, <run>.json, cpu.log)" >&2
