# SPDX-License-Identifier: MIT
"""gdb support for gort (libgort): goroutines.

Commands:
  info goroutines        every live goroutine: id, state, wait reason, how
                         long it has waited, name, and its worker thread when
                         it runs ('*' marks the goroutine of the selected thread)
  goroutine N bt         backtrace of goroutine N (N may be 'all')

Installed next to the library as libgort.so.VERSION-gdb.py (and under
/usr/share/gdb/auto-load/LIBDIR/), so gdb auto-loads it for programs linked
with libgort.so. For a program linked with libgort.a, `source` it:
  (gdb) source /usr/local/lib/libgort.so.0.1.0-gdb.py

It reads the runtime's data structures, so it needs libgort's debug info
(the library is built with -g) and works on core files too: the registry of
all goroutines (lib/goroutine.c: nallocated, chunks[] of CHUNK_SIZE
descriptors), struct goroutine (lib/runtime.h) and the frame a switched-out
goroutine saved (lib/arch/x86_64/switch.S: rbp at sp+48, the resume address
at sp+56). A parked goroutine's backtrace walks its saved frame pointers
(frame pointers within [sp, hi), growing) and names each frame with gdb's
own symbol and line lookup; a running goroutine's is its thread's `bt`.
"""

import gdb

CHUNK_SHIFT = 12  # lib/goroutine.c
MAX_FRAMES = 100


def _static(name, type_hint=None):
    """The value of a (file-)static or global variable of the runtime. With
    type_hint, only a symbol whose type mentions it (another object may have
    a static of the same name)."""
    sym = None
    for s in gdb.lookup_static_symbols(name):
        if type_hint is None or type_hint in str(s.type):
            sym = s
            break
    if sym is None:
        sym = gdb.lookup_global_symbol(name)
    if sym is None:
        raise gdb.GdbError("gort: symbol '%s' not found: is the program linked with "
                           "libgort, with its debug info?" % name)
    return sym.value()


def _enum_names(type_name):
    try:
        t = gdb.lookup_type(type_name)
    except gdb.error:
        return {}
    return {int(f.enumval): f.name for f in t.fields()}


def _cstr(ptr):
    if int(ptr) == 0:
        return None
    try:
        return ptr.string()
    except gdb.error:
        return "<unreadable %#x>" % int(ptr)


def goroutines():
    """Yields every goroutine descriptor (gdb.Value of struct goroutine)."""
    chunks = _static("chunks", "goroutine")
    n = int(_static("nallocated"))
    for i in range(n):
        chunk = chunks[i >> CHUNK_SHIFT]
        if int(chunk) == 0:
            continue
        yield chunk[i & ((1 << CHUNK_SHIFT) - 1)]


LIVE = ("G_RUNNABLE", "G_RUNNING", "G_WAITING", "G_SYSCALL")
STATE_NAMES = {"G_RUNNABLE": "runnable", "G_RUNNING": "running",
               "G_WAITING": "waiting", "G_SYSCALL": "syscall"}


def _status(g, gstatus):
    return gstatus.get(int(g["status"]), str(int(g["status"])))


def _workers():
    """(worker address -> (id, tid, curg address)) for every worker."""
    out = {}
    try:
        w = _static("sched")["allw"]
    except gdb.GdbError:
        return out
    while int(w) != 0:
        out[int(w)] = (int(w["id"]), int(w["tid"]), int(w["curg"]))
        w = w["all_next"]
    return out


def _worker_of(g, workers):
    addr = int(g.address)
    for wid, tid, curg in workers.values():
        if curg == addr:
            return wid, tid
    return None


def _wait_reason(g):
    reason = int(g["wait_reason"])
    try:
        names = _static("wait_reason_names")
        s = _cstr(names[reason])
        if s:
            return s
    except (gdb.GdbError, gdb.error):
        pass
    return _enum_names("enum wait_reason").get(reason, str(reason))


def _now_ns():
    try:
        return int(_static("sched")["coarse_now"])
    except (gdb.GdbError, gdb.error):
        return None


def _waited(g, now):
    if now is None:
        return ""
    ns = max(0, now - int(g["wait_since"]))
    if ns < 10 * 10**9:
        return "%d ms" % (ns // 10**6)
    if ns < 60 * 10**9:
        return "%d s" % (ns // 10**9)
    return "%d minutes" % (ns // (60 * 10**9))


def _find(goid):
    gstatus = _enum_names("enum gstatus")
    for g in goroutines():
        if int(g["id"]) == goid and _status(g, gstatus) in LIVE:
            return g
    return None


class InfoGoroutines(gdb.Command):
    """List gort goroutines: id, state, wait reason, waited, name, worker thread."""

    def __init__(self):
        super().__init__("info goroutines", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        gstatus = _enum_names("enum gstatus")
        workers = _workers()
        now = _now_ns()
        try:
            lwp = gdb.selected_thread().ptid[1]
        except AttributeError:
            lwp = None
        gdb.write("  %-6s %-9s %-24s %-10s %-16s %s\n"
                  % ("Id", "State", "Wait reason", "Waited", "Name", "Thread"))
        for g in goroutines():
            st = _status(g, gstatus)
            if st not in LIVE:
                continue
            reason, waited, where, mark = "", "", "", " "
            if st == "G_WAITING":
                reason = _wait_reason(g)
                waited = _waited(g, now)
            if st in ("G_RUNNING", "G_SYSCALL"):
                w = _worker_of(g, workers)
                if w:
                    where = "m=%d LWP %d" % w
                    if w[1] == lwp:
                        mark = "*"
            name = _cstr(g["name"]) or ""
            gdb.write("%s %-6d %-9s %-24s %-10s %-16s %s\n"
                      % (mark, int(g["id"]), STATE_NAMES[st], reason, waited, name, where))


def _frame_line(n, pc, ret):
    """One gdb-style frame line, symbolized with gdb's own lookup."""
    at = pc - 1 if ret else pc  # a return address belongs to the call before it
    func = None
    try:
        block = gdb.block_for_pc(at)
        while block is not None and block.function is None:
            block = block.superblock
        if block is not None:
            func = block.function.print_name
    except RuntimeError:
        pass
    if func is None:
        try:
            s = gdb.execute("info symbol %#x" % at, to_string=True).strip()
            if not s.startswith("No symbol"):
                func = s.split(" in section ")[0].replace(" + ", "+")
        except gdb.error:
            pass
    sal = gdb.find_pc_line(at)
    loc = ""
    if sal.symtab is not None:
        loc = " at %s:%d" % (sal.symtab.filename, sal.line)
    return "#%-3d %#018x in %s ()%s\n" % (n, pc, func or "??", loc)


def _read_words(addr, n):
    mem = gdb.selected_inferior().read_memory(addr, 8 * n)
    b = bytes(mem)
    return [int.from_bytes(b[8 * i:8 * i + 8], "little") for i in range(n)]


def _walk(pc, fp, lo, hi):
    out = []
    for n in range(MAX_FRAMES):
        out.append(_frame_line(n, pc, True))
        if fp == 0:
            break
        if fp < lo or fp > hi - 16 or fp % 8:
            out.append("(frame pointer %#x outside the stack: trace ends)\n" % fp)
            break
        try:
            nfp, ret = _read_words(fp, 2)
        except gdb.MemoryError:
            out.append("(stack unreadable at %#x: trace ends)\n" % fp)
            break
        if nfp == 0 or ret == 0:
            break  # goroutine_entry: its caller is the switch code
        if nfp <= fp:
            out.append("(frame pointer %#x does not grow: trace ends)\n" % nfp)
            break
        pc, fp = ret, nfp
    return "".join(out)


def backtrace(g):
    gstatus = _enum_names("enum gstatus")
    st = _status(g, gstatus)
    lo, hi = int(g["stack"]["lo"]), int(g["stack"]["hi"])
    if st == "G_RUNNING":
        w = _worker_of(g, _workers())
        if w is None:
            return "(running, but on no worker)\n"
        for t in gdb.selected_inferior().threads():
            if t.ptid[1] == w[1]:
                cur = gdb.selected_thread()
                t.switch()
                try:
                    return gdb.execute("bt", to_string=True)
                finally:
                    cur.switch()
        return "(running on LWP %d, which gdb does not know)\n" % w[1]
    if st == "G_SYSCALL":
        return _walk(int(g["syscall_pc"]), int(g["syscall_fp"]), lo, hi)
    sp = int(g["ctx"]["sp"])
    if sp == 0:
        return _frame_line(0, int(g["fn"]), False).rstrip("\n") + " (not started)\n"
    if sp < lo or sp > hi - 64:
        return "(saved stack pointer %#x outside the stack)\n" % sp
    saved = _read_words(sp, 8)  # fcw/mxcsr, r15, r14, r13, r12, rbx, rbp, resume address
    return _walk(saved[7], saved[6], sp, hi)


class Goroutine(gdb.Command):
    """goroutine N bt: backtrace of gort goroutine N (N may be 'all')."""

    def __init__(self):
        super().__init__("goroutine", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        argv = gdb.string_to_argv(arg)
        if len(argv) != 2 or argv[1] not in ("bt", "backtrace"):
            raise gdb.GdbError("usage: goroutine N bt   (N: a goroutine id or 'all')")
        if argv[0] == "all":
            gstatus = _enum_names("enum gstatus")
            gs = [g for g in goroutines() if _status(g, gstatus) in LIVE]
        else:
            try:
                goid = int(argv[0], 0)
            except ValueError:
                raise gdb.GdbError("goroutine: '%s' is not a goroutine id" % argv[0])
            g = _find(goid)
            if g is None:
                raise gdb.GdbError("goroutine %d: no such live goroutine" % goid)
            gs = [g]
        for g in gs:
            if len(gs) > 1:
                gdb.write("goroutine %d:\n" % int(g["id"]))
            gdb.write(backtrace(g))
            if len(gs) > 1:
                gdb.write("\n")


InfoGoroutines()
Goroutine()
