#!/bin/sh
# bench.sh runs the hot-path benchmarks of NQRust-Identity next to their
# floors, then the HTTP load benchmark, and prints the machine, the raw
# output and two summary tables (every benchmark; the issue 10 targets
# with ratios and verdicts).
#
#   examples/loadtest/bench.sh              # about 4-6 minutes on 2 cores
#   COUNT=5 LOAD_DURATION=10s examples/loadtest/bench.sh
#
# COUNT          runs of each benchmark (medians are reported), default 3
# BENCHTIME      go test -benchtime, default 1s
# LOAD_DURATION  measured time per load scenario, default 5s (0 skips it)
# CONCURRENCY    load benchmark connections, default 16
# OUT            also keep the raw output in this file
set -u
cd "$(dirname "$0")/../.." || exit 1

COUNT=${COUNT:-3}
BENCHTIME=${BENCHTIME:-1s}
LOAD_DURATION=${LOAD_DURATION:-5s}
CONCURRENCY=${CONCURRENCY:-16}
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
status=0

machine() {
	echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')$(grep -q hypervisor /proc/cpuinfo 2>/dev/null && echo ', virtual machine')), $(go version | sed 's/^go version //')"
	echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
}

bench() { # package, benchmark pattern
	echo "== go test -bench '$2' ./$1" >&2
	if ! go test -run '^$' -bench "$2" -benchmem -count "$COUNT" -benchtime "$BENCHTIME" -timeout 30m "./$1" >>"$raw" 2>&1; then
		echo "FAIL ./$1 (see the raw output)" >>"$raw"
		status=1
	fi
}

machine >>"$raw"
bench authz/bearer 'BareES256Verify|MiddlewareFirstSeen|MiddlewareRepeated|RatioFirstSeenVsBare|RatioRepeatedVsFirstSeen'
bench authz 'BareES256Sign|CodeExchange|Refresh|AuthorizationRequestValidation'
bench cimd 'ResolveCacheHit|RatioCacheHitVsMap'
bench policy 'Evaluate10Policies'
bench metadata 'MetadataGET'
bench storage/memory 'ConsumeCode|RotateRefresh|GetClient'
if [ "$LOAD_DURATION" != 0 ]; then
	echo "== go run ./examples/loadtest -duration $LOAD_DURATION -concurrency $CONCURRENCY" >&2
	if ! go run ./examples/loadtest -duration "$LOAD_DURATION" -concurrency "$CONCURRENCY" >>"$raw" 2>&1; then
		echo "FAIL ./examples/loadtest" >>"$raw"
		status=1
	fi
fi
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)" >>"$raw"

echo
cat "$raw"
[ -n "${OUT:-}" ] && cp "$raw" "$OUT"
echo
go run ./examples/loadtest/cmd/benchtable <"$raw" || status=1
exit $status
