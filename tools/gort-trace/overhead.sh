#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Overhead of gort-trace and of the probes (issue 7, item 6): gort-bench yield
# and pingpong, RUNS times each variant, the variants interleaved in an order
# that rotates every run (so none always runs first, after the machine idled);
# medians reported as RESULT lines:
#   RESULT name=trace.WORKLOAD.off       the benchmark, no tracer
#   RESULT name=trace.WORKLOAD.top       with `gort-trace top` attached (the
#                                        runtime's snapshots, gort:sched__stats)
#   RESULT name=trace.WORKLOAD.top.slowdown metric=ratio  top / off
#   RESULT name=trace.WORKLOAD.top.slowdown.best metric=ratio  the same of the fastest
#                                        runs (best of RUNS: less sensitive to other load)
# and with the options:
#   --events    also `gort-trace top --events` (the per-event probes): .events, .events.slowdown
#   --light     also `gort-trace top --light`: .light, .light.slowdown
#   --noprobes  also the benchmark built with -DGORT_NO_PROBES (no probe sites at
#               all, build/noprobes/): .noprobes, and .probes.cost(.best) = off / noprobes,
#               what the semaphore-guarded probe sites cost with no tracer attached
# The tracer attaches by executable (`top -a -l gort-bench`: the same probes as
# -p PID, but armed before the benchmark starts, so the whole run is traced).
#   tools/gort-trace/overhead.sh [--events] [--light] [--noprobes] [RUNS]   (root; 7 runs)
# Environment: YIELD_ITERS (3000000), PP_ROUNDS (1000000), BUILD, BENCH, GT.
#
#   tools/gort-trace/overhead.sh --cachegrind
# counts instead of timing (valgrind's cachegrind; no tracer, no root): the
# instructions the probe sites add with no tracer attached, per ping-pong round
# trip (averaged over pingpong.p1 and .p2) and per yield iteration (2 switches of
# yield.pair and 1 lone yield), against the -DGORT_NO_PROBES build; each is the
# difference of two runs of N and 2N (warm-up and start-up cancel out):
#   RESULT name=trace.pingpong.instructions.{off,noprobes} metric=instructions_per_roundtrip
#   RESULT name=trace.yield.instructions.{off,noprobes} metric=instructions_per_iteration
#   RESULT name=trace.{pingpong,yield}.instructions.probes.cost metric=ratio  off / noprobes
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$TOP/build}
BENCH=${BENCH:-$B/tools/gort-bench}
NOPROBES_BENCH=$B/noprobes/tools/gort-bench
GT=${GT:-$B/tools/gort-trace}
VARIANTS=(off top)
CACHEGRIND=
while [ $# -gt 0 ]; do
	case $1 in
	--cachegrind) CACHEGRIND=1 VARIANTS+=(noprobes) ;;
	--events) VARIANTS+=(events) ;;
	--light) VARIANTS+=(light) ;;
	--noprobes) VARIANTS+=(noprobes) ;;
	-*) echo "usage: overhead.sh [--events] [--light] [--noprobes] [RUNS]" >&2; exit 2 ;;
	*) break ;;
	esac
	shift
done
RUNS=${1:-7}
YIELD_ITERS=${YIELD_ITERS:-3000000}
PP_ROUNDS=${PP_ROUNDS:-1000000}

[ -n "$CACHEGRIND" ] || [ "$(id -u)" = 0 ] || { echo "overhead.sh: needs root (BPF)" >&2; exit 1; }
[ -x "$BENCH" ] && [ -x "$GT" ] || { echo "overhead.sh: build first (make)" >&2; exit 1; }
if [[ " ${VARIANTS[*]} " == *" noprobes "* ]]; then
	make -s -C "$TOP" BUILD="$B/noprobes" EXTRA_CFLAGS=-DGORT_NO_PROBES "$NOPROBES_BENCH" >&2 ||
		{ echo "overhead.sh: cannot build $NOPROBES_BENCH" >&2; exit 1; }
	if readelf -n "$NOPROBES_BENCH" | grep -q stapsdt; then
		echo "overhead.sh: $NOPROBES_BENCH still has probes" >&2
		exit 1
	fi
fi

# Instructions cachegrind counts for one run of "$@".
irefs() {
	valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
		sed -n 's/.*I *refs: *//p' | tr -d ,
}
if [ -n "$CACHEGRIND" ]; then
	command -v valgrind >/dev/null || { echo "overhead.sh: no valgrind" >&2; exit 1; }
	N=200000
	for w in pingpong yield; do
		for v in off noprobes; do
			b=$BENCH
			[ $v = noprobes ] && b=$NOPROBES_BENCH
			if [ $w = pingpong ]; then
				a=$(irefs "$b" pingpong -r $N) c=$(irefs "$b" pingpong -r $((2 * N)))
				per=$(((c - a) * 100 / (2 * N))) unit=instructions_per_roundtrip
			else
				a=$(irefs "$b" yield -iters $N) c=$(irefs "$b" yield -iters $((2 * N)))
				per=$(((c - a) * 100 / N)) unit=instructions_per_iteration
			fi
			eval "per_$v=$per"
			printf 'RESULT name=trace.%s.instructions.%s metric=%s value=%d.%02d\n' \
				$w $v $unit $((per / 100)) $((per % 100))
		done
		# shellcheck disable=SC2154 # per_off, per_noprobes: set by the eval above
		printf 'RESULT name=trace.%s.instructions.probes.cost metric=ratio value=%s\n' $w \
			"$(awk -v a="$per_off" -v b="$per_noprobes" 'BEGIN { printf "%.3f", a / b }')"
	done
	exit 0
fi

W=$(mktemp -d)
GPID=
trap '[ -n "$GPID" ] && kill $GPID 2>/dev/null; rm -rf "$W"' EXIT

bench() { "$1" yield -iters "$YIELD_ITERS"; "$1" pingpong -r "$PP_ROUNDS"; }

# run VARIANT: one yield and one pingpong run, RESULT lines tagged with the variant.
run() {
	local v=$1 args=() i
	case $v in
	off) bench "$BENCH" >"$W/out" ;;
	noprobes) bench "$NOPROBES_BENCH" >"$W/out" ;;
	top | events | light)
		[ "$v" = events ] && args=(--events)
		[ "$v" = light ] && args=(--light)
		"$GT" top -a -l "$BENCH" -i 1 "${args[@]}" >/dev/null 2>"$W/gt.err" &
		GPID=$!
		for i in $(seq 200); do grep -q attached "$W/gt.err" && break; sleep 0.05; done
		grep -q attached "$W/gt.err" || { cat "$W/gt.err" >&2; exit 1; }
		bench "$BENCH" >"$W/out"
		kill $GPID
		wait $GPID 2>/dev/null
		GPID=
		;;
	esac
	grep '^RESULT' "$W/out" | sed "s/^/$v /" >>"$W/res"
}

n=${#VARIANTS[@]}
for r in $(seq "$RUNS"); do
	order=()
	for i in $(seq 0 $((n - 1))); do order+=("${VARIANTS[$(((i + r) % n))]}"); done
	for v in "${order[@]}"; do run "$v"; done
	echo "# run $r/$RUNS done (${order[*]})" >&2
done

python3 - "$W/res" "${VARIANTS[@]}" <<'EOF'
import re, statistics, sys
vals, units = {}, {}
for line in open(sys.argv[1]):
    mode, rest = line.split(" ", 1)
    m = re.search(r"name=(\S+) metric=(\S+) value=(\S+)", rest)
    name, metric, v = m.group(1), m.group(2), float(m.group(3))
    vals.setdefault((name, mode), []).append(v)
    units[name] = metric
variants = sys.argv[2:]
for name in sorted(units):
    med = {v: statistics.median(vals[(name, v)]) for v in variants if (name, v) in vals}
    for v in variants:
        if (name, v) in vals:
            xs = vals[(name, v)]
            print(f"# {name} {v}: median {med[v]:.3f}, min {min(xs):.3f}, max {max(xs):.3f} "
                  f"({len(xs)} runs)", file=sys.stderr)
    off = med["off"]
    print(f"RESULT name=trace.{name}.off metric={units[name]} value={off:.3f}")
    for v in variants:
        if v == "off" or v not in med:
            continue
        print(f"RESULT name=trace.{name}.{v} metric={units[name]} value={med[v]:.3f}")
        best = min(vals[(name, v)]) / min(vals[(name, "off")])
        if v == "noprobes":
            print(f"RESULT name=trace.{name}.probes.cost metric=ratio value={off / med[v]:.3f}")
            print(f"RESULT name=trace.{name}.probes.cost.best metric=ratio value={1 / best:.3f}")
        else:
            print(f"RESULT name=trace.{name}.{v}.slowdown metric=ratio value={med[v] / off:.2f}")
            print(f"RESULT name=trace.{name}.{v}.slowdown.best metric=ratio value={best:.2f}")
EOF
