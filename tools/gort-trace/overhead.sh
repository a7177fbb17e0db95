#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Overhead of gort-trace (issue 7, item 6): gort-bench yield and pingpong
# without and with `gort-trace top` attached, RUNS times each (interleaved),
# medians reported as RESULT lines:
#   RESULT name=trace.WORKLOAD.off  metric=UNIT value=median without the tracer
#   RESULT name=trace.WORKLOAD.top  metric=UNIT value=median with gort-trace top
#   RESULT name=trace.WORKLOAD.slowdown metric=ratio value=top/off
# The tracer attaches by executable (`top -a -l gort-bench`: the same probes as
# -p PID, but armed before the benchmark starts, so the whole run is traced).
#   tools/gort-trace/overhead.sh [--light] [RUNS]     (root; default 5 runs)
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$TOP/build}
BENCH=${BENCH:-$B/tools/gort-bench}
GT=${GT:-$B/tools/gort-trace}
LIGHT=
[ "${1:-}" = --light ] && { LIGHT=--light; shift; }
RUNS=${1:-5}
YIELD_ITERS=${YIELD_ITERS:-300000}
PP_ROUNDS=${PP_ROUNDS:-100000}
MODE=top${LIGHT:+-light}

[ "$(id -u)" = 0 ] || { echo "overhead.sh: needs root (BPF)" >&2; exit 1; }
[ -x "$BENCH" ] && [ -x "$GT" ] || { echo "overhead.sh: build first (make)" >&2; exit 1; }
W=$(mktemp -d)
GPID=
trap '[ -n "$GPID" ] && kill $GPID 2>/dev/null; rm -rf "$W"' EXIT

bench() { "$BENCH" yield -iters "$YIELD_ITERS"; "$BENCH" pingpong -r "$PP_ROUNDS"; }

for r in $(seq "$RUNS"); do
	bench | grep '^RESULT' | sed 's/^/off /' >>"$W/res"
	"$GT" top -a -l "$BENCH" -i 1 $LIGHT >/dev/null 2>"$W/gt.err" &
	GPID=$!
	for i in $(seq 100); do grep -q attached "$W/gt.err" && break; sleep 0.05; done
	grep -q attached "$W/gt.err" || { cat "$W/gt.err" >&2; exit 1; }
	bench | grep '^RESULT' | sed "s/^/$MODE /" >>"$W/res"
	kill $GPID
	wait $GPID 2>/dev/null
	GPID=
	echo "# run $r/$RUNS done" >&2
done

python3 - "$W/res" "$MODE" <<'EOF'
import re, statistics, sys
vals, units = {}, {}
for line in open(sys.argv[1]):
    mode, rest = line.split(" ", 1)
    m = re.search(r"name=(\S+) metric=(\S+) value=(\S+)", rest)
    name, metric, v = m.group(1), m.group(2), float(m.group(3))
    vals.setdefault((name, mode), []).append(v)
    units[name] = metric
mode = sys.argv[2]
for name in sorted(units):
    off = statistics.median(vals[(name, "off")])
    on = statistics.median(vals[(name, mode)])
    print(f"RESULT name=trace.{name}.off metric={units[name]} value={off:.3f}")
    print(f"RESULT name=trace.{name}.{mode} metric={units[name]} value={on:.3f}")
    print(f"RESULT name=trace.{name}.{mode}.slowdown metric=ratio value={on / off:.2f}")
EOF
