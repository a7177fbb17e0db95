#!/bin/sh
# SPDX-License-Identifier: MIT
#
# gort-trace in the VM, with gort.ko loaded (TAP; tools/check's vm stage runs
# it as a gort-vm test, so it runs on every kernel the module is tested on).
# busybox sh: no bash, no python; the JSON is read with grep and sed.
#   1    count: the USDT probes' exact counts (target.c: spawns, channel
#        blocks, syscall regions), as on the host, and gort.ko seen loaded;
#   2-4  top: the snapshots' exact spawns and syscall regions, kernel assist
#        on, and target.c's busy and sleep phases (states, P0's run queue);
#   5-6  lat on `target --kswitch N`: gort.ko's tracepoints fire exactly as
#        the SWITCH ping-pong implies (2N-1 gort_switch, 2N gort_wait, 1
#        gort_wake, 2 gort_register, 2 gort_unregister), and the module
#        handoff histogram holds one sample per SWITCH (2N-1);
#   7    lat on `target --kblock K`: blocks in syscall regions are reported
#        (gort_block), the spare is woken (gort_spare_wake), and the
#        block-to-spare histogram has samples, at most one per spare wake-up.
# Environment: GT, TARGET (default /opt/gort-trace/{gort-trace,target}, where
# tools/check's --file puts them), KSWITCH (round trips, 2000), KBLOCK (50),
# LINGER (ms per top phase, 1000: sysmon's snapshots are slower under TCG).
# Exit status 4 (skip) without the binaries, /dev/gort, BTF or root.
GT=${GT:-/opt/gort-trace/gort-trace}
TARGET=${TARGET:-/opt/gort-trace/target}
KSWITCH=${KSWITCH:-2000}
KBLOCK=${KBLOCK:-50}
LINGER=${LINGER:-1000}
SPAWNS=37 ROUNDS=250 SYSCALLS=11
HOLDERS=5 QUEUED=7 # target.c's phases
NTESTS=7

echo "TAP version 13"
skip_all() {
	echo "1..0 # SKIP $1"
	exit 4
}
[ "$(id -u)" = 0 ] || skip_all "not root"
[ -x "$GT" ] && [ -x "$TARGET" ] || skip_all "no $GT or $TARGET (gort-trace not built)"
[ -e /dev/gort ] || skip_all "no /dev/gort (gort.ko not loaded)"
[ -r /sys/kernel/btf/vmlinux ] || skip_all "no kernel BTF"
echo "1..$NTESTS"
export GORT_MAXPROCS=1 # target.c's exact counts need one proc; --kswitch ignores it

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() {
	n=$((n + 1)) failed=1
	echo "not ok $n - $1"
	[ -n "${2:-}" ] && [ -f "$2" ] && sed 's/^/# /' "$2" | tail -n 20
}

# traced NAME "TARGET ARGS" GORT-TRACE ARGS...: starts the target (stdin a
# fifo), attaches gort-trace -p to it, then releases the target with a byte;
# gort-trace's stdout/stderr in $W/NAME.out/.err, the target's in $W/NAME.target.
traced() {
	name=$1 targs=$2
	shift 2
	rm -f "$W/fifo" && mkfifo "$W/fifo"
	# shellcheck disable=SC2086 # targs is a word list
	"$TARGET" $targs <"$W/fifo" >"$W/$name.target" 2>&1 &
	tpid=$!
	exec 9>"$W/fifo"
	i=0
	while [ $i -lt 600 ] && ! grep -qs "^ready" "$W/$name.target"; do
		sleep 0.05
		i=$((i + 1))
	done
	"$GT" "$@" -p "$tpid" >"$W/$name.out" 2>"$W/$name.err" &
	gpid=$!
	i=0
	while [ $i -lt 1200 ] && ! grep -qs "attached" "$W/$name.err" && kill -0 $gpid 2>/dev/null; do
		sleep 0.05
		i=$((i + 1))
	done
	echo x >&9
	exec 9>&-
	wait $gpid
	rc=$?
	wait $tpid
	trc=$?
	grep -qs "attached" "$W/$name.err" || return 1
	[ $trc = 0 ] || { echo "# target exited $trc"; sed 's/^/# /' "$W/$name.target"; return 1; }
	return $rc
}

# num FILE KEY: the first number after "KEY": in FILE.
num() { grep -o "\"$2\": -\{0,1\}[0-9.]*" "$1" | head -n 1 | sed 's/.*: //'; }
# hsum FILE KEY: the sum of the histogram array "KEY": [...].
hsum() {
	grep -o "\"$2\": \[[0-9, ]*\]" "$1" | head -n 1 | sed 's/.*\[//; s/\]//' |
		tr ',' '\n' | awk '{ s += $1 } END { print s + 0 }'
}

echo "# $(uname -r), gort-trace $GT"

# 1: USDT exact counts (the runtime uses gort.ko here: GORT_KASSIST=require).
if traced count "$SPAWNS $ROUNDS $SYSCALLS" count --json; then
	got="$(num "$W/count.out" create) $(num "$W/count.out" chan_block) $(num "$W/count.out" syscall_enter) $(num "$W/count.out" syscall_exit)"
	want="$((SPAWNS + 2)) $((2 * ROUNDS)) $SYSCALLS $SYSCALLS"
	if [ "$got" = "$want" ] && grep -q '"kmod": {"loaded": true' "$W/count.out"; then
		ok "count: create chan_block syscall_enter syscall_exit = $got; gort.ko events attached"
	else
		echo "# got '$got', want '$want' and kmod loaded"
		notok "count: exact USDT counts in the VM" "$W/count.out"
	fi
else notok "count: gort-trace attached and reported" "$W/count.err"; fi

# 2-4: top from the runtime's snapshots.
if traced top "$SPAWNS $ROUNDS $SYSCALLS $LINGER" top -i 0.1 --json; then
	last=$W/top.last
	tail -n 1 "$W/top.out" >"$last"
	got="$(num "$last" spawns) $(num "$last" syscalls) $(num "$last" kassist)"
	want="$((1 + SPAWNS + 2 + HOLDERS + QUEUED)) $SYSCALLS 1"
	if [ "$got" = "$want" ]; then
		ok "top: last snapshot: spawns syscalls kassist = $got ($(wc -l <"$W/top.out") snapshots shown)"
	else
		echo "# got '$got', want '$want'"
		notok "top: the snapshots' cumulative counters" "$last"
	fi
	if grep '"runnable": 7, "running": 1,' "$W/top.out" | grep '"chan receive": 5' |
		grep -q '"procs": \[{"id": 0, "status": "running", "runq": 6, "runnext": 1'; then
		ok "top: busy phase: runnable $QUEUED, running 1, chan receive $HOLDERS, P0 runq $((QUEUED - 1)) + runnext"
	else notok "top: busy phase seen" "$W/top.out"; fi
	if grep '"runnable": 0, "running": 0, "syscall": 0, "waiting": 6,' "$W/top.out" |
		grep '"chan receive": 5' | grep -q '"sleep": 1'; then
		ok "top: sleep phase: waiting chan receive $HOLDERS, sleep 1"
	else notok "top: sleep phase seen" "$W/top.out"; fi
else
	notok "top: gort-trace attached and reported" "$W/top.err"
	notok "top: busy phase"
	notok "top: sleep phase"
fi

# 5-6: gort.ko's tracepoints during a SWITCH ping-pong of KSWITCH round trips.
if traced kswitch "--kswitch $KSWITCH" lat --json; then
	o=$W/kswitch.out
	got="$(num "$o" register) $(num "$o" unregister) $(num "$o" switch) $(num "$o" wait) $(num "$o" wait_timeout) $(num "$o" wake)"
	want="2 2 $((2 * KSWITCH - 1)) $((2 * KSWITCH)) 0 1"
	if [ "$got" = "$want" ]; then
		ok "kswitch $KSWITCH: gort_register unregister switch wait (timeouts) wake = $got"
	else
		echo "# got  '$got'"
		echo "# want '$want'"
		notok "kswitch: gort.ko tracepoint counts" "$o"
	fi
	h=$(hsum "$o" handoff)
	grep -o '"handoff": \[[0-9, ]*\]' "$o" | sed 's/.*\[//; s/\]//' | tr ',' '\n' |
		awk '{ if (NR > 1) p = p * 2; else p = 1 }
		     $1 > 0 { printf "%s%d-%d ns: %d", (n++ ? ", " : "# handoff latency, log2 buckets: "), (NR > 1 ? p : 0), 2 * p - 1, $1 }
		     END { print "" }'
	if [ "$h" = $((2 * KSWITCH - 1)) ]; then
		ok "kswitch: module handoff histogram: $h samples (one per SWITCH)"
	else notok "kswitch: module handoff histogram has $h samples, want $((2 * KSWITCH - 1))" "$o"; fi
else
	notok "kswitch: gort-trace attached and reported" "$W/kswitch.err"
	notok "kswitch: module handoff histogram"
fi

# 7: blocks in syscall regions: gort_block, the spare, block-to-spare latency.
if traced kblock "--kblock $KBLOCK" lat --json; then
	o=$W/kblock.out
	blocks=$(num "$o" block) spare=$(num "$o" spare_wake) h=$(hsum "$o" block_spare)
	echo "# $(grep done "$W/kblock.target")"
	if [ "${blocks:-0}" -ge 1 ] && [ "${spare:-0}" -ge 1 ] && [ "${h:-0}" -ge 1 ] &&
		[ "$h" -le "$spare" ]; then
		ok "kblock $KBLOCK: gort_block $blocks, gort_spare_wake $spare, block-to-spare samples $h"
	else
		echo "# gort_block '$blocks' gort_spare_wake '$spare' block-to-spare samples '$h'"
		notok "kblock: blocks, spare wake-ups and block-to-spare samples" "$o"
	fi
else notok "kblock: gort-trace attached and reported" "$W/kblock.err"; fi

[ $failed = 0 ]
