#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# gort-trace tests (TAP), run by tools/check's "gort-trace" stage. Needs root
# and BPF (uprobes, BTF); otherwise every test is skipped with the reason.
# Attaches gort-trace to build/gort-trace/target (libgort linked statically),
# which waits for a byte on stdin, then does SPAWNS spawns, ROUNDS ping-pong
# round trips over unbuffered channels at GORT_MAXPROCS=1 (exactly 2*ROUNDS
# channel blocks) and SYSCALLS syscall regions; the tool must report exactly those.
# For top (the runtime's snapshots) the target then holds known goroutine
# states for LINGER ms each (see target.c).
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../../.." && pwd)
B=${BUILD:-$TOP/build}
GT=$B/tools/gort-trace
TARGET=$B/gort-trace/target
NTESTS=18
SPAWNS=37 ROUNDS=250 SYSCALLS=11
HOLDERS=5 QUEUED=7 # target.c's phases
LINGER=

skip_all() {
	for i in $(seq $NTESTS); do echo "ok $i - gort-trace # SKIP $1"; done
	exit 0
}

echo "1..$NTESTS"
[ "$(id -u)" = 0 ] || skip_all "not root"
[ -x "$GT" ] && [ -x "$TARGET" ] || skip_all "gort-trace not built (clang, bpftool, libbpf or kernel BTF missing)"
[ -r /sys/kernel/btf/vmlinux ] || skip_all "no kernel BTF (/sys/kernel/btf/vmlinux)"
[ -e /sys/bus/event_source/devices/uprobe ] || skip_all "kernel without uprobes"
command -v bpftool >/dev/null || skip_all "no bpftool"
command -v python3 >/dev/null || skip_all "no python3"
# Mount bpffs and tracefs when absent (the CI VM has neither at boot).
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
bpftool prog list >/dev/null 2>&1 || skip_all "bpf() unavailable (bpftool prog list failed)"

W=$(mktemp -d)
TPID=
cleanup() {
	[ -n "$TPID" ] && kill "$TPID" 2>/dev/null
	exec 9>&- 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && sed 's/^/# /' "$2" | tail -n 20; }

# traced NAME SUBCOMMAND ARGS...: starts the target, attaches gort-trace, releases
# the target; gort-trace's stdout in $W/NAME.out, stderr in $W/NAME.err.
# Returns gort-trace's exit status (1 when it did not attach).
traced() {
	local name=$1 i rc
	shift
	rm -f "$W/fifo" && mkfifo "$W/fifo"
	GORT_MAXPROCS=1 "$TARGET" $SPAWNS $ROUNDS $SYSCALLS $LINGER <"$W/fifo" >"$W/$name.target" 2>&1 &
	TPID=$!
	exec 9>"$W/fifo"
	# Until it has exec'd and started (else /proc/PID/exe is still the shell).
	for i in $(seq 200); do
		grep -qs "^ready" "$W/$name.target" && break
		sleep 0.05
	done
	"$GT" "$@" -p "$TPID" >"$W/$name.out" 2>"$W/$name.err" &
	local gpid=$!
	for i in $(seq 200); do
		grep -qs "attached" "$W/$name.err" && break
		kill -0 $gpid 2>/dev/null || break
		sleep 0.05
	done
	if [ -n "${TRACED_HOOK:-}" ]; then $TRACED_HOOK; fi
	echo x >&9
	exec 9>&-
	wait $gpid
	rc=$?
	wait "$TPID" 2>/dev/null
	TPID=
	grep -qs "attached" "$W/$name.err" || return 1
	return $rc
}

# json FILE EXPR: evaluates a python expression over the JSON document j.
json() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null; }

# 1-2: exact counts.
if traced count count --json && [ -s "$W/count.out" ]; then
	got=$(json "$W/count.out" '" ".join(str(j["stats"][k]) for k in ("create","chan_block","chan_unblock","syscall_enter","syscall_exit"))')
	want="$((SPAWNS + 2)) $((2 * ROUNDS)) $((2 * ROUNDS)) $SYSCALLS $SYSCALLS"
	if [ "$got" = "$want" ]; then
		ok "count: create chan_block chan_unblock syscall_enter syscall_exit = $got"
	else
		echo "# got  '$got'"; echo "# want '$want'"; notok "count: exact counts" "$W/count.out"
	fi
	ex=$(json "$W/count.out" 'j["stats"]["exit"]')
	if [ -n "$ex" ] && [ "$ex" -ge $((SPAWNS + 2)) ] && [ "$ex" -le $((SPAWNS + 3)) ]; then
		ok "count: goroutine exits $ex (spawned $((SPAWNS + 2)), main may add 1)"
	else notok "count: goroutine exits '$ex' (want $((SPAWNS + 2)) or $((SPAWNS + 3)))" "$W/count.out"; fi
else
	notok "count: gort-trace attached and reported" "$W/count.err"
	notok "count: goroutine exits"
fi

# 3: the same program linked with libgort.so (probes found via /proc/PID/maps).
if [ -x "$TARGET-so" ] && TARGET=$TARGET-so traced so count --json &&
	[ "$(json "$W/so.out" '" ".join(str(j["stats"][k]) for k in ("create","chan_block","syscall_enter"))')" = \
	  "$((SPAWNS + 2)) $((2 * ROUNDS)) $SYSCALLS" ] && grep -q "libgort.so" "$W/so.err"; then
	ok "libgort.so: $(sed -n 's/.*(\(.*\)).*/\1/p' "$W/so.err" | head -1 | sed 's|.*/||'): exact counts"
else notok "libgort.so-linked target: exact counts" "$W/so.err"; fi

# 4-6: --pin: bpftool reads the pinned stats map by key name; --keep keeps it.
dump_pinned() {
	bpftool -j map dump pinned /sys/fs/bpf/gort/$TPID/stats >"$W/pin-live.json" 2>&1
	bpftool prog show pinned /sys/fs/bpf/gort/$TPID/prog_goroutine_start >"$W/pin-prog.txt" 2>&1
	echo $TPID >"$W/pin.pid"
}
TRACED_HOOK=dump_pinned traced pin count --json --pin
TRACED_HOOK=
pid=$(cat "$W/pin.pid" 2>/dev/null)
keys=$(json "$W/pin-live.json" '" ".join(sorted(e["formatted"]["key"] for e in j))')
if echo " $keys " | grep -q " GORT_STAT_CREATE " && echo " $keys " | grep -q " GORT_STAT_CHAN_BLOCK " &&
	echo " $keys " | grep -q " GORT_STAT_SYSCALL_ENTER " && [ "$(echo $keys | wc -w)" = 21 ] &&
	grep -q "name goroutine_start" "$W/pin-prog.txt"; then
	ok "--pin: bpftool map dump pinned /sys/fs/bpf/gort/PID/stats prints the 21 GORT_STAT_* keys; prog show pinned works"
else
	notok "--pin: bpftool map dump pinned prints the expected keys" "$W/pin-live.json"
fi
if [ -n "$pid" ] && [ ! -e /sys/fs/bpf/gort/$pid ]; then
	ok "--pin: /sys/fs/bpf/gort/PID removed on exit"
else notok "--pin: /sys/fs/bpf/gort/PID removed on exit"; fi
traced keep count --json --pin --keep
pid=$(sed -n 's/.*attached .* to pid \([0-9]*\).*/\1/p' "$W/keep.err")
v=$(bpftool -j map lookup pinned /sys/fs/bpf/gort/$pid/stats key 0 0 0 0 2>/dev/null |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["formatted"]["value"])' 2>/dev/null)
if [ "$v" = $((SPAWNS + 2)) ]; then
	ok "--keep: pinned stats survive gort-trace; GORT_STAT_CREATE = $v"
else notok "--keep: pinned GORT_STAT_CREATE '$v' (want $((SPAWNS + 2)))" "$W/keep.err"; fi
[ -n "$pid" ] && rm -rf /sys/fs/bpf/gort/$pid && rmdir /sys/fs/bpf/gort 2>/dev/null

# 7: lat: histogram sample counts.
if traced lat lat --json; then
	got=$(json "$W/lat.out" '" ".join(str(sum(j["log2_histograms"][k])) for k in ("chan","syscall"))')
	want="$((2 * ROUNDS)) $SYSCALLS"
	runq=$(json "$W/lat.out" 'sum(j["log2_histograms"]["runq"])')
	if [ "$got" = "$want" ] && [ "${runq:-0}" -ge $((2 * ROUNDS)) ]; then
		ok "lat: chan/syscall histograms hold $got samples, run-queue $runq"
	else echo "# got '$got' runq '$runq', want '$want' runq >= $((2 * ROUNDS))"; notok "lat: histogram samples" "$W/lat.out"; fi
else notok "lat: gort-trace attached and reported" "$W/lat.err"; fi

# 8-9: record: valid JSON whose goroutine slices cover every goroutine the program created.
if traced record record -o "$W/trace.json" && python3 -m json.tool "$W/trace.json" >/dev/null 2>"$W/jsonerr"; then
	ok "record: trace.json is valid JSON (python3 -m json.tool)"
	res=$(python3 - "$W/trace.json" <<'EOF'
import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
created = {e["args"]["goid"] for e in ev if e.get("cat") == "create"}
sliced = {e["args"]["goid"] for e in ev if e.get("ph") == "X" and e.get("cat") == "goroutine"}
flows = sum(1 for e in ev if e.get("ph") == "f")
print(len(created), len(created - sliced), flows)
EOF
)
	read -r created missing flows <<<"$res"
	if [ "$created" = $((SPAWNS + 2)) ] && [ "$missing" = 0 ] && [ "${flows:-0}" -ge $((2 * ROUNDS)) ]; then
		ok "record: $created goroutines created, each has a slice; $flows wakeup flows"
	else notok "record: created '$created' (want $((SPAWNS + 2))), without slice '$missing', flows '$flows'" "$W/record.err"; fi
else
	notok "record: trace.json is valid JSON" "$W/jsonerr"
	notok "record: goroutine slices"
fi

# 10: clear error for a process without libgort.
sleep 30 &
sp=$!
if ! "$GT" count -p $sp -d 1 >/dev/null 2>"$W/nolib.err" && grep -q "does not use libgort" "$W/nolib.err"; then
	ok "a process without libgort: $(head -c 60 "$W/nolib.err")..."
else notok "a process without libgort is refused with a clear message" "$W/nolib.err"; fi
kill $sp 2>/dev/null
wait $sp 2>/dev/null

# 11: clear error when not root.
if command -v setpriv >/dev/null; then
	if ! setpriv --reuid=65534 --regid=65534 --clear-groups "$GT" count -p $$ >/dev/null 2>"$W/nonroot.err" &&
		grep -q "must run as root" "$W/nonroot.err"; then
		ok "not root: $(head -c 60 "$W/nonroot.err")..."
	else notok "not root is refused with a clear message" "$W/nonroot.err"; fi
else ok "not root: # SKIP no setpriv"; fi

# 12: bpffs absent (in a private mount namespace): --pin explains, --pin --mount mounts it.
if command -v unshare >/dev/null; then
	rm -f "$W/fifo" && mkfifo "$W/fifo"
	GORT_MAXPROCS=1 "$TARGET" $SPAWNS $ROUNDS $SYSCALLS <"$W/fifo" >"$W/mount.target" 2>&1 &
	TPID=$!
	exec 9>"$W/fifo"
	for i in $(seq 200); do grep -q "^ready" "$W/mount.target" && break; sleep 0.05; done
	unshare -m bash -c "umount /sys/fs/bpf 2>/dev/null; mountpoint -q /sys/fs/bpf && exit 3
		'$GT' count -p $TPID --pin -d 0.2 >/dev/null; echo rc=\$?
		'$GT' count -p $TPID --pin --mount -d 0.2 >/dev/null; echo rc=\$?
		mountpoint -q /sys/fs/bpf && echo mounted" >"$W/mount.out" 2>&1
	echo x >&9
	exec 9>&-
	wait "$TPID" 2>/dev/null
	TPID=
	if grep -q "bpf is not mounted on /sys/fs/bpf: run with --mount" "$W/mount.out" &&
		grep -q "mounted bpf on /sys/fs/bpf" "$W/mount.out" && grep -q "^mounted" "$W/mount.out"; then
		ok "bpffs absent: --pin says so and suggests --mount; --pin --mount mounts it"
	else notok "bpffs absent: --pin says so; --pin --mount mounts it" "$W/mount.out"; fi
else ok "bpffs absent # SKIP no unshare"; fi

# 13-15: top, from the runtime's snapshots (gort:sched__stats, one probe):
# cumulative counters since the program started (the main goroutine is the
# one more spawn), then the two phases' goroutine states and run queue.
LINGER=300
if traced top top -i 0.05 --json && [ -s "$W/top.out" ]; then
	res=$(python3 - "$W/top.out" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
last = lines[-1]["counters"]
print(last["spawns"], last["syscalls"], last["switches"], len(lines))
def busy(j):
    g, p = j["goroutines"], j["procs"]
    return (g["runnable"], g["running"], g["waiting_by_reason"].get("chan receive"), len(p), p[0]["runq"], p[0]["runnext"])
def sleep(j):
    g = j["goroutines"]
    return (g["runnable"], g["running"], g["waiting"], g["waiting_by_reason"].get("chan receive"), g["waiting_by_reason"].get("sleep"))
print(int(any(busy(j) == (7, 1, 5, 1, 6, 1) for j in lines)), int(any(sleep(j) == (0, 0, 6, 5, 1) for j in lines)))
EOF
)
	{ read -r spawns sys switches nlines; read -r busy_ok sleep_ok; } <<<"$res"
	want_spawns=$((1 + SPAWNS + 2 + HOLDERS + QUEUED))
	if grep -q "attached 1 probes" "$W/top.err" && [ "$spawns" = $want_spawns ] && [ "$sys" = $SYSCALLS ] &&
		[ "${switches:-0}" -ge $((2 * ROUNDS)) ]; then
		ok "top: one probe (gort:sched__stats); $nlines snapshots, the last: spawns $spawns, syscalls $sys, switches $switches"
	else
		echo "# want spawns $want_spawns syscalls $SYSCALLS switches >= $((2 * ROUNDS)), one probe attached"
		echo "# got  spawns '$spawns' syscalls '$sys' switches '$switches'"
		notok "top: cumulative counters of the snapshots" "$W/top.err"
	fi
	if [ "$busy_ok" = 1 ]; then
		ok "top: busy phase: runnable $QUEUED, running 1, $HOLDERS waiting on chan receive; P0 runq $((QUEUED - 1)) + runnext"
	else notok "top: busy phase: runnable 7, running 1, chan receive 5, P0 runq 6 runnext 1" "$W/top.out"; fi
	if [ "$sleep_ok" = 1 ]; then
		ok "top: sleep phase: waiting 6 (chan receive $HOLDERS, sleep 1), nothing runnable"
	else notok "top: sleep phase: waiting 6 (chan receive 5, sleep 1)" "$W/top.out"; fi
else
	notok "top: gort-trace attached and reported" "$W/top.err"
	notok "top: busy phase"
	notok "top: sleep phase"
fi
LINGER=

# 16: top --events: the per-event view is still there, exact counts.
if traced topev top --events -i 0.05 --json && [ -s "$W/topev.out" ]; then
	got=$(tail -n 1 "$W/topev.out" | python3 -c 'import json,sys; j=json.load(sys.stdin)["stats"]; print(j["create"], j["chan_block"], j["syscall_enter"])' 2>/dev/null)
	if [ "$got" = "$((SPAWNS + 2)) $((2 * ROUNDS)) $SYSCALLS" ]; then
		ok "top --events: create chan_block syscall_enter = $got"
	else echo "# got '$got'"; notok "top --events: exact counts" "$W/topev.err"; fi
else notok "top --events: gort-trace attached and reported" "$W/topev.err"; fi

# 17: without gort.ko, lat says so for the module's histograms.
if [ -e /sys/module/gort ]; then
	ok "lat without gort.ko # SKIP gort.ko is loaded here"
elif traced latnomod lat && grep -q "module handoff .*: gort.ko is not loaded" "$W/latnomod.out" &&
	grep -q "block to spare .*: gort.ko is not loaded" "$W/latnomod.out" &&
	grep -q "gort.ko is not loaded" "$W/latnomod.err"; then
	ok "lat without gort.ko: the module handoff and block-to-spare histograms say it is not loaded"
else notok "lat without gort.ko says so" "$W/latnomod.out"; fi

# 18: the wait-reason names gort-trace prints are lib/sched.c's, in order.

lib=$(sed -n '/wait_reason_names\[WAIT__COUNT\] = {/,/^};/s/.*\] = \("[^"]*"\).*/\1/p' "$TOP/lib/sched.c" | tail -n +2 | tr '\n' ' ')
tool=$(sed -n '/reason_names\[\] = {/,/^};/p' "$TOP/tools/gort-trace/gort-trace.c" | grep -o '"[^"]*"' | tail -n +2 | tr '\n' ' ')
if [ -n "$lib" ] && [ "$lib" = "$tool" ]; then
	ok "wait-reason names match lib/sched.c ($(echo "$lib" | grep -o '"' | wc -l | awk '{print $1/2}'))"
else echo "# lib:  $lib"; echo "# tool: $tool"; notok "wait-reason names match lib/sched.c"; fi
exit 0
