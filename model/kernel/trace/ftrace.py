"""kernel/trace/ftrace.c at the patch: the dynamic ftrace core.

Each function models the C function of the same name and cites the line
that opens it in ``linux-3.17.0+seed/kernel/trace/ftrace.c`` (the reference
trees are described in model/DEVIATIONS.md).  The model's own form is the
seed on its merge-window base (``as-posted``); a catalogued fix changes a
function only under ``k.fixed(FIX_ID)``, and its branch cites the tree its
fixed form comes from, so the base text stays readable beside the fixed one.
Every function takes the kernel ``k`` first; the kernel's globals are
attributes of ``k`` (``k.ftrace_ops_list``, ``k.ftrace_enabled``, ...).

The mutexes (ftrace_lock, regex_lock) are not modelled: the model is
single-threaded and every entry point runs to completion, as it does under
ftrace_lock in the kernel.
"""

import itertools
import operator
from dataclasses import dataclass

from model import fixes
from model.include.linux.ftrace import (
    EMPTY_HASH,
    FTRACE_DISABLE_CALLS,
    FTRACE_FL_ENABLED,
    FTRACE_FL_REGS,
    FTRACE_FL_REGS_EN,
    FTRACE_FL_TRAMP,
    FTRACE_FL_TRAMP_EN,
    FTRACE_OPS_FL_ALLOC_TRAMP,
    FTRACE_OPS_FL_CONTROL,
    FTRACE_OPS_FL_DELETED,
    FTRACE_OPS_FL_DYNAMIC,
    FTRACE_OPS_FL_ENABLED,
    FTRACE_OPS_FL_INITIALIZED,
    FTRACE_OPS_FL_RECURSION_SAFE,
    FTRACE_OPS_FL_SAVE_REGS,
    FTRACE_OPS_FL_STUB,
    FTRACE_REF_MAX,
    FTRACE_START_FUNC_RET,
    FTRACE_STOP_FUNC_RET,
    FTRACE_UPDATE_CALLS,
    FTRACE_UPDATE_IGNORE,
    FTRACE_UPDATE_MAKE_CALL,
    FTRACE_UPDATE_MAKE_NOP,
    FTRACE_UPDATE_MODIFY_CALL,
    FTRACE_UPDATE_TRACE_FUNC,
    REC_COUNT_MASK,
    RecordWatch,
    dyn_ftrace,
    ftrace_hash,
    ftrace_hash_empty,
    ftrace_ops,
    ftrace_page,
    ftrace_rec_count,
    store_flags_unwatched,
)
from model.vmlinux import runs_own

EINVAL = 22
EBUSY = 16
ENODEV = 19
ENOMEM = 12
EFAULT = 14
EPERM = 1
_flags_of, _ip_of = operator.attrgetter("flags"), operator.attrgetter("ip")


# ---------------------------------------------------------------- warnings


def WARN_ON(k, condition, message="WARN_ON"):
    """WARN_ON(): the kernel prints a backtrace and carries on.

    C outside the reference: include/asm-generic/bug.h; used by
    FTRACE_WARN_ON() at linux-3.17.0+seed/kernel/trace/ftrace.c:43.
    """
    if condition:
        k.warn("WARN_ON", message)
    return bool(condition)


def WARN_ON_ONCE(k, condition, message="WARN_ON_ONCE"):
    """WARN_ON_ONCE(): WARN_ON() that prints only the first time this call site fires.

    C outside the reference: include/asm-generic/bug.h;
    used by ftrace_shutdown() at linux-3.17.0+seed/kernel/trace/ftrace.c:2390.
    The model keys "this call site" by the message.
    """
    fired = k.warned_once
    if condition and message not in fired:
        fired.add(message)
        k.warn("WARN_ON", message)
    return bool(condition)


def FTRACE_WARN_ON(k, condition, message="FTRACE_WARN_ON"):
    """FTRACE_WARN_ON(): WARN_ON() that also shuts ftrace down for good.

    FTRACE_WARN_ON() at linux-3.17.0+seed/kernel/trace/ftrace.c:43.
    """
    if condition:
        k.warn("FTRACE_WARN_ON", message)
        k.ftrace_kill()
    return bool(condition)


def pr_warn(k, message):
    """pr_warn() / pr_warning(): a KERN_WARNING line in the log.

    C outside the reference: include/linux/printk.h; used by
    ftrace_save_ops_tramp_hash() at linux-3.17.0+seed/kernel/trace/ftrace.c:2238.
    """
    k.warn("pr_warn", message)


def ftrace_kill(k):
    """ftrace_kill(): stop ftrace dead, after an anomaly was detected.

    ftrace_kill() at linux-3.17.0+seed/kernel/trace/ftrace.c:5164.
    """
    k.ftrace_disabled = 1
    k.ftrace_enabled = 0
    k.clear_ftrace_function()


def clear_ftrace_function(k):
    """clear_ftrace_function(): every call from the caller goes to the stub.

    clear_ftrace_function() at linux-3.17.0+seed/kernel/trace/ftrace.c:199.
    """
    k.ftrace_trace_function = k.emu.sym["ftrace_stub"]
    k.ftrace_pid_function = k.emu.sym["ftrace_stub"]


def ftrace_bug(k, failed, ip):
    """ftrace_bug(): a call site could not be modified; kill ftrace.

    ftrace_bug() at linux-3.17.0+seed/kernel/trace/ftrace.c:1764.
    """
    what = {
        -EFAULT: "ftrace faulted on modifying",
        -EINVAL: "ftrace failed to modify",
        -EPERM: "ftrace faulted on writing",
    }.get(failed, "ftrace faulted on unknown error")
    actual = k.emu.read(ip, 5).hex(" ")
    k.warn("ftrace_bug", f"{what} {k.emu.function_name(ip)} ({ip:#x}) actual: {actual}")
    k.ftrace_kill()


# ---------------------------------------------------------------- boot


def ftrace_boot(k, functions):
    """The kernel globals of ftrace.c at their link-time values, then ftrace_init().

    Not a C function: the static initialisers of ftrace.c and the boot call of
    ftrace_init() at linux-3.17.0+seed/kernel/trace/ftrace.c:4670.
    """
    sym = k.emu.sym
    k.ftrace_disabled = 0
    k.warned_once = set()  # the WARN_ON_ONCE() sites that fired
    k.ftrace_enabled = 0
    k.last_ftrace_enabled = 0
    k.ftrace_start_up = 0
    k.ftrace_list_end = ftrace_ops(
        "ftrace_list_end",
        func=sym["ftrace_stub"],
        flags=FTRACE_OPS_FL_RECURSION_SAFE | FTRACE_OPS_FL_STUB,
    )
    k.emu.alloc_ops(k.ftrace_list_end, dynamic=False)
    k.ftrace_ops_list = k.ftrace_list_end
    k.ftrace_trace_function = sym["ftrace_stub"]
    k.ftrace_pid_function = sym["ftrace_stub"]
    k.saved_ftrace_func = None
    k.set_function_trace_op = k.ftrace_list_end
    k.function_trace_op = k.ftrace_list_end
    k.emu.function_trace_op = k.ftrace_list_end.ptr
    k.removed_ops = None
    k.global_ops = ftrace_ops(
        "global_ops",
        func=sym["ftrace_stub"],
        flags=FTRACE_OPS_FL_RECURSION_SAFE | FTRACE_OPS_FL_INITIALIZED,
    )
    k.emu.alloc_ops(k.global_ops, dynamic=False)
    if k.fixed(fixes.GRAPH_OPS):
        k.graph_ops = ftrace_ops(
            "graph_ops",
            func=sym["ftrace_stub"],
            flags=FTRACE_OPS_FL_RECURSION_SAFE
            | FTRACE_OPS_FL_INITIALIZED
            | FTRACE_OPS_FL_STUB,
            trampoline=sym["ftrace_graph_caller"],
        )
        k.graph_ops.func_hash = k.global_ops.func_hash  # ASSIGN_OPS_HASH
        k.emu.alloc_ops(k.graph_ops, dynamic=False)
    k.save_global_trampoline = 0
    k.ftrace_boot_users()
    # kernel/trace/trace.c: the trace arrays whose ops ftrace_init_array_ops() set
    k.ftrace_trace_arrays = [k.global_ops]
    k.save_global_flags = 0
    # function graph (kernel/trace/ftrace.c, CONFIG_FUNCTION_GRAPH_TRACER)
    k.ftrace_graph_active = 0
    k.ftrace_graph_entry = "ftrace_graph_entry_stub"
    k.__ftrace_graph_entry = "ftrace_graph_entry_stub"
    k.ftrace_graph_return = None
    k.emu.list_func_hook = lambda ip, parent_ip, regs: k.ftrace_ops_list_func(
        ip, parent_ip, None, regs
    )
    k.emu.graph_entry_hook = lambda func: k.call_ftrace_graph_entry(func)
    # records
    k.ftrace_pages_start = None
    k.ftrace_pages = None
    # Indexes the C does not have (it walks the pages): see DEVIATIONS.md.
    k.nr_pages = 0
    k.rec_by_ip = {}
    k.rec_page = {}
    k.recs_by_name = {}
    k.rec_watch = RecordWatch()
    k.rec_walk = None  # the records the current code update walks
    k.last_walk_enable = 1  # boot leaves every record a settled nop
    k.ftrace_init(functions)


def ftrace_boot_users(k):
    """The statics of the ftrace users beside the function tracer, at link time.

    Not a C function: `control_ops` at linux-3.17.0+seed/kernel/trace/ftrace.c:4830,
    `ftrace_control_list` at linux-3.17.0+seed/kernel/trace/ftrace.c:109,
    `trace_probe_ops` at linux-3.17.0+seed/kernel/trace/ftrace.c:3339, its probes
    `ftrace_func_hash` at linux-3.17.0+seed/kernel/trace/ftrace.c:1059,
    `traceon_probe_ops` at linux-3.17.0+seed/kernel/trace/trace_functions.c:431,
    `kprobe_ftrace_ops` at linux-3.17.0/kernel/kprobes.c:916, and
    current->trace_recursion.
    """
    sym = k.emu.sym
    k.trace_recursion = 0
    k.ftrace_control_list = k.ftrace_list_end
    k.control_ops = ftrace_ops(
        "control_ops",
        func=sym["ftrace_ops_control_func"],
        flags=FTRACE_OPS_FL_RECURSION_SAFE | FTRACE_OPS_FL_INITIALIZED,
    )
    k.emu.alloc_ops(k.control_ops, dynamic=False)
    k.emu.ops_func_hooks["ftrace_ops_control_func"] = k.ftrace_ops_control_func
    k.emu.ops_func_hooks["ftrace_ops_recurs_func"] = k.ftrace_ops_recurs_func
    k.trace_probe_ops = ftrace_ops(
        "trace_probe_ops",
        func=k.emu.new_callback(
            "function_trace_probe_call",
            on_call=lambda emu, inv: k.function_trace_probe_call(
                inv.ip, inv.parent_ip, inv.op, inv.regs
            ),
        ),
        flags=FTRACE_OPS_FL_INITIALIZED,
    )
    k.emu.alloc_ops(k.trace_probe_ops, dynamic=False)
    k.ftrace_func_hash = []
    k.ftrace_probe_registered = 0
    k.traceon_probe_ops = ftrace_probe_ops("traceon", k.emu.new_callback("ftrace_traceon"))
    k.kprobe_ftrace_ops = ftrace_ops(
        "kprobe_ftrace_ops",
        func=k.emu.new_callback("kprobe_ftrace_handler"),
        flags=FTRACE_OPS_FL_SAVE_REGS,
    )
    k.emu.alloc_ops(k.kprobe_ftrace_ops, dynamic=False)
    k.kprobe_ftrace_enabled = 0


def ftrace_init(k, functions):
    """ftrace_init(): enable ftrace, then turn the vmlinux mcount calls into nops.

    ftrace_init() at linux-3.17.0+seed/kernel/trace/ftrace.c:4670.
    """
    ret = k.ftrace_dyn_arch_init()
    if ret:
        k.ftrace_disabled = 1
        return
    locs = [k.emu.kernel_function(name) for name in functions]
    k.last_ftrace_enabled = k.ftrace_enabled = 1
    k.ftrace_process_locs(None, locs)


# ---------------------------------------------------------------- records


def do_for_each_ftrace_rec(k):
    """do_for_each_ftrace_rec(): every record, page by page.

    do_for_each_ftrace_rec() at linux-3.17.0+seed/kernel/trace/ftrace.c:1415.
    """
    pg = k.ftrace_pages_start
    while pg:
        yield from pg.records
        pg = pg.next


def do_for_each_ftrace_op(k):
    """do_for_each_ftrace_op(): the registered ops, newest first.

    do_for_each_ftrace_op() at linux-3.17.0+seed/kernel/trace/ftrace.c:134.
    """
    op = k.ftrace_ops_list
    while op is not k.ftrace_list_end:
        yield op
        op = op.next


def ftrace_rec_iter_start(k):
    """ftrace_rec_iter_start() .. _next() .. _record(): the arch's record walk.

    Walks the records chosen for this update by records_to_update(); outside
    an update, every record.

    ftrace_rec_iter_start() at linux-3.17.0+seed/kernel/trace/ftrace.c:2066.
    """
    if k.rec_walk is not None:
        return iter(k.rec_walk)
    return do_for_each_ftrace_rec(k)


def records_to_update(k, enable):
    """The records an update with ``enable`` can find work on or warn about, in page order.

    Not a C function: stands for the walk of ftrace_rec_iter_start() at
    linux-3.17.0+seed/kernel/trace/ftrace.c:2066 (DEVIATIONS.md).  A record
    whose flags did not change since the last walk, walked in the same
    direction, was left settled by ftrace_check_record() and would be
    IGNOREd.  But x86's passes ask ftrace_get_addr_curr() and
    ftrace_get_addr_new() of every record, IGNOREd or not, and those look
    up an owner (and can FTRACE_WARN_ON) for a record with TRAMP_EN or
    TRAMP: so those records are walked too, settled or not.  Any other
    settled record answers IGNORE and fixed addresses: leaving it out
    changes no write, no flag and no warning.
    """
    w = k.rec_watch
    recs = w.pending | w.tramp
    if enable != k.last_walk_enable:
        recs |= w.live
    return k.in_page_order(recs)


def ftrace_location(k, ip):
    """ftrace_location(): the record at ip, or None (the model returns the rec).

    ftrace_location() at linux-3.17.0+seed/kernel/trace/ftrace.c:1470.
    """
    return k.rec_by_ip.get(ip)


def ftrace_process_locs(k, mod, locs):
    """ftrace_process_locs(): one page of records for the sorted call sites, linked last.

    ftrace_process_locs() at linux-3.17.0+seed/kernel/trace/ftrace.c:4451.
    """
    if not locs:
        return 0
    recs = []
    for ip in sorted(locs):
        rec = dyn_ftrace(ip=ip, name=k.emu.function_name(ip), watch=k.rec_watch)
        recs.append(rec)
    pg = ftrace_page(records=recs, mod=mod, seq=k.nr_pages)
    k.nr_pages += 1
    for rec in recs:
        k.rec_by_ip[rec.ip] = rec
        k.rec_page[rec.ip] = pg
        k.recs_by_name.setdefault(rec.name, []).append(rec)
    if k.ftrace_pages is None:
        k.ftrace_pages_start = pg
    else:
        k.ftrace_pages.next = pg
    k.ftrace_pages = pg
    k.ftrace_update_code(mod, pg)
    return 0


def in_page_order(k, recs):
    """Records in the order do_for_each_ftrace_rec() meets them.

    Pages are only ever appended and a page's records are sorted by ip.

    Not a C function: the order of
    do_for_each_ftrace_rec() at linux-3.17.0+seed/kernel/trace/ftrace.c:1415.
    """
    recs = recs if isinstance(recs, (set, frozenset)) else set(recs)
    if len(recs) * 8 > len(k.rec_by_ip):  # most of them: the walk itself, filtered
        pages = []
        pg = k.ftrace_pages_start
        while pg:
            pages.append(pg.records)
            pg = pg.next
        return list(filter(recs.__contains__, itertools.chain.from_iterable(pages)))
    return sorted(recs, key=lambda rec: (k.rec_page[rec.ip].seq, rec.ip))


def rec_watch_forget(k, rec):
    """A freed record leaves the watched sets.

    Not a C function: the records freed by
    ftrace_release_mod() at linux-3.17.0+seed/kernel/trace/ftrace.c:4588.
    """
    w = k.rec_watch
    for name in w.__slots__:
        getattr(w, name).discard(rec)


def ftrace_code_disable(k, mod, rec):
    """ftrace_code_disable(): the boot-time mcount call becomes a nop.

    ftrace_code_disable() at linux-3.17.0+seed/kernel/trace/ftrace.c:2125.
    """
    ret = k.ftrace_make_nop(mod, rec, k.emu.sym["mcount"])
    if ret:
        k.ftrace_bug(ret, rec.ip)
        return 0
    return 1


def ops_traces_mod(k, ops):
    """ops_traces_mod(): an ops with empty filter and notrace hashes traces every module function.

    ops_traces_mod() at linux-3.17.0+seed/kernel/trace/ftrace.c:2497.
    """
    # a notrace hash needs a test of each module function
    return ftrace_hash_empty(ops.filter_hash) and ftrace_hash_empty(ops.notrace_hash)


def ops_references_rec(k, ops, rec):
    """ops_references_rec(): does this enabled, filtering ops name the record?

    ops_references_rec() at linux-3.17.0+seed/kernel/trace/ftrace.c:2515.
    """
    if not ops.flags & FTRACE_OPS_FL_ENABLED:
        return 0
    if k.ops_traces_mod(ops):
        return 0
    if not ftrace_hash_empty(ops.filter_hash) and rec.ip not in ops.filter_hash.ips:
        return 0
    if rec.ip in ops.notrace_hash.ips:
        return 0
    return 1


def referenced_filters(k, rec):
    """referenced_filters(): how many enabled filtering ops name the record.

    referenced_filters() at linux-3.17.0+seed/kernel/trace/ftrace.c:2537.
    """
    return sum(k.ops_references_rec(ops, rec) for ops in k.update_code_ops())


def update_code_ops(k):
    """The ops ftrace_update_code() and referenced_filters() walk: ftrace_ops_list.

    Not a C function: the loops of ftrace_update_code() at
    linux-3.17.0+seed/kernel/trace/ftrace.c:2550 and referenced_filters() at
    linux-3.17.0+seed/kernel/trace/ftrace.c:2537.  The CONTROL ops are on
    ftrace_control_list, not there, so a new module record misses their
    counts; with fix control-mod they are walked too.
    """
    if k.fixed(fixes.CONTROL_MOD):
        return (*do_for_each_ftrace_op(k), *k.control_list_ops())
    return tuple(do_for_each_ftrace_op(k))


def ftrace_update_code(k, mod, new_pgs):
    """ftrace_update_code(): nop the new sites; count and enable them if tracing is on.

    Module records get a count, but neither TRAMP nor REGS: the patch does
    not touch this path.

    ftrace_update_code() at linux-3.17.0+seed/kernel/trace/ftrace.c:2550.
    """
    ref = 0
    test = False
    regs = 0
    if mod is not None:
        for ops in k.update_code_ops():
            if ops.flags & FTRACE_OPS_FL_ENABLED:
                if k.ops_traces_mod(ops):
                    ref += 1
                    if ops.flags & FTRACE_OPS_FL_SAVE_REGS:
                        regs = FTRACE_FL_REGS
                else:
                    test = True
    pg = new_pgs
    while pg:
        for p in pg.records:
            if k.ftrace_disabled:
                return -1
            cnt = ref
            if test:
                cnt += k.referenced_filters(p)
            p.flags = cnt
            if k.fixed(fixes.MODULE_REGS):
                # Whoever traces the new record with regs gets them.
                if regs or (test and k.referenced_filters_want_regs(p)):
                    p.flags |= FTRACE_FL_REGS
            if not k.ftrace_code_disable(mod, p):
                break
            enable = k.ftrace_start_up and cnt
            if k.fixed(fixes.MODULE_DISABLED):
                enable = enable and k.ftrace_enabled
            if enable:
                failed = k.__ftrace_replace_code(p, 1)
                if failed:
                    k.ftrace_bug(failed, p.ip)
        pg = pg.next
    return 0


def referenced_filters_want_regs(k, rec):
    """Does an enabled filtering ops that names rec want regs? (fix module-regs)

    Not a C function: part of tramproof's fix module-regs, beside
    referenced_filters() at linux-3.17.0+seed/kernel/trace/ftrace.c:2537.
    """
    return any(
        k.ops_references_rec(ops, rec) and ops.flags & FTRACE_OPS_FL_SAVE_REGS
        for ops in do_for_each_ftrace_op(k)
    )


def ftrace_module_init(k, mod):
    """ftrace_module_init(): records for a module's call sites, at load.

    ftrace_module_init() at linux-3.17.0+seed/kernel/trace/ftrace.c:4640.
    """
    if k.ftrace_disabled or not mod.ftrace_callsites:
        return
    k.ftrace_process_locs(mod, mod.ftrace_callsites)


def ftrace_remove_tramp_pg(k, ops, pg):
    """ftrace_remove_tramp_pg() (seed): drop ops' count for its trampolined records in pg.

    The seed declares it ``void *`` and returns nothing; callers ignore it.

    ftrace_remove_tramp_pg() at linux-3.17.0+seed/kernel/trace/ftrace.c:4552.
    """
    # The seed looks at TRAMP_EN, which only follows TRAMP at a code update.
    tramp = FTRACE_FL_TRAMP if k.fixed(fixes.TRAMP_PG_FLAG) else FTRACE_FL_TRAMP_EN
    for rec in pg.records:
        if not rec.flags & tramp:
            continue
        if k.fixed(fixes.TRAMP_OWNER):
            owner = rec.ip in ops.tramp_owned
            ops.tramp_owned.discard(rec.ip)
        else:
            owner = k.ftrace_ops_test(ops, rec.ip, rec)
        if owner:
            k.FTRACE_WARN_ON(
                ftrace_rec_count(rec) != 1,
                f"ftrace_remove_tramp_pg: {rec.name} count {ftrace_rec_count(rec)} != 1",
            )
            ops.trampolines -= 1


def update_trampoline_counts(k, pg):
    """update_trampoline_counts() (seed): module pages leaving, fix ops->trampolines.

    update_trampoline_counts() at linux-3.17.0+seed/kernel/trace/ftrace.c:4576.
    """
    for op in list(do_for_each_ftrace_op(k)):
        if op.trampolines:
            k.ftrace_remove_tramp_pg(op, pg)


def clear_mod_from_hash(k, pg, hash):
    """clear_mod_from_hash() (fix mod-hash-zero): zero the entries of pg's functions.

    The C sets each entry's ip to 0 and keeps it, so that a filter does not
    turn into "trace everything"; the model keeps a zeroed entry as the
    negated ip, an address no record has, so that the set keeps its count.

    Not a C function of these trees (tramproof's form of mod-hash-zero): called
    from ftrace_release_mod() at linux-3.17.0+seed/kernel/trace/ftrace.c:4588.
    """
    if not hash or hash is EMPTY_HASH:
        return
    for rec in pg.records:
        if rec.ip in hash.ips:
            hash.ips.discard(rec.ip)
            hash.ips.add(-rec.ip)


def clear_mod_from_hashes(k, pg):
    """clear_mod_from_hashes() (fix mod-hash-zero): the trace arrays' ops forget pg.

    Not a C function of these trees (tramproof's form of mod-hash-zero): called
    from ftrace_release_mod() at linux-3.17.0+seed/kernel/trace/ftrace.c:4588.
    """
    for ops in k.ftrace_trace_arrays:
        k.clear_mod_from_hash(pg, ops.filter_hash)
        k.clear_mod_from_hash(pg, ops.notrace_hash)


def ftrace_release_mod(k, mod):
    """ftrace_release_mod(): unlink and free the module's record pages.

    ftrace_release_mod() at linux-3.17.0+seed/kernel/trace/ftrace.c:4588.
    """
    if k.ftrace_disabled:
        return
    last = None  # the page before pg, None for ftrace_pages_start
    pg = k.ftrace_pages_start
    while pg:
        if pg.mod is mod:
            if k.WARN_ON(pg is k.ftrace_pages_start, "ftrace_release_mod: first page"):
                return
            if pg is k.ftrace_pages:
                k.ftrace_pages = last
            k.update_trampoline_counts(pg)
            last.next = pg.next
            for rec in pg.records:
                del k.rec_by_ip[rec.ip]
                del k.rec_page[rec.ip]
                k.recs_by_name[rec.name].remove(rec)
                k.rec_watch_forget(rec)
            if k.fixed(fixes.MOD_HASH_ZERO):
                # after the page is unlinked (and the seed has counted it)
                k.clear_mod_from_hashes(pg)
        else:
            last = pg
        pg = pg.next


# ---------------------------------------------------------------- hashes


def ftrace_lookup_ip(k, hash, ip):
    """ftrace_lookup_ip(): is ip in the hash (NULL or empty: no).

    ftrace_lookup_ip() at linux-3.17.0+seed/kernel/trace/ftrace.c:1125.
    """
    return bool(hash) and ip in hash.ips


def ftrace_ops_test(k, ops, ip, regs):
    """ftrace_ops_test(): do ops' hashes admit ip?

    A SAVE_REGS ops is refused when called without regs (NULL): the
    handler must not run without the pt_regs it asked for.

    ftrace_ops_test() at linux-3.17.0+seed/kernel/trace/ftrace.c:1381.
    """
    if not regs and ops.flags & FTRACE_OPS_FL_SAVE_REGS:
        return 0
    func_hash = ops.func_hash
    filter_hash = func_hash.filter_hash
    notrace_hash = func_hash.notrace_hash
    # ftrace_hash_empty() is __always_inline: NULL or no entries
    if (not filter_hash or not filter_hash.ips or ip in filter_hash.ips) and (
        not notrace_hash or ip not in notrace_hash.ips
    ):
        return 1
    return 0


def test_rec_ops_needs_regs(k, rec):
    """test_rec_ops_needs_regs(): does any listed ops that traces rec want regs?

    test_rec_ops_needs_regs() at linux-3.17.0+seed/kernel/trace/ftrace.c:1496.
    """
    for ops in do_for_each_ftrace_op(k):
        if k.ftrace_ops_test(ops, rec.ip, rec) and ops.flags & FTRACE_OPS_FL_SAVE_REGS:
            return True
    return False


def ftrace_remove_tramp(k, ops, rec):
    """ftrace_remove_tramp(): ops no longer calls rec through its trampoline.

    ftrace_remove_tramp() at linux-3.17.0+seed/kernel/trace/ftrace.c:1515.
    Base: ops owns rec when its tramp_hash holds it, and only then are the
    count and TRAMP dropped.  With tramp-loop (3.17.0's form, cited) TRAMP
    is cleared first, whoever asks, and the count drops when ops' own
    hashes admit rec.
    """
    if k.fixed(fixes.TRAMP_LOOP):
        # ftrace_remove_tramp() at linux-3.17.0/kernel/trace/ftrace.c:1511
        # If TRAMP is not set, no ops should have a trampoline for this
        if not rec.flags & FTRACE_FL_TRAMP:
            return
        if k.fixed(fixes.TRAMP_OWNER):
            # only the ops that set TRAMP gives it up (tramproof's own)
            if rec.ip in ops.tramp_owned:
                ops.tramp_owned.discard(rec.ip)
                ops.trampolines -= 1
                rec.flags &= ~FTRACE_FL_TRAMP
            return
        rec.flags &= ~FTRACE_FL_TRAMP
        if (
            not ftrace_hash_empty(ops.filter_hash)
            and not k.ftrace_lookup_ip(ops.filter_hash, rec.ip)
        ) or k.ftrace_lookup_ip(ops.notrace_hash, rec.ip):
            return
        # The tramp_hash entry will be removed at time of update.
        ops.trampolines -= 1
        return
    if not k.ftrace_lookup_ip(ops.tramp_hash, rec.ip):
        return
    ops.trampolines -= 1
    rec.flags &= ~FTRACE_FL_TRAMP


def ftrace_clear_tramps(k, rec, ops=None):
    """ftrace_clear_tramps(): a second ops joined rec; whoever had its trampoline loses it.

    ftrace_clear_tramps() at linux-3.17.0+seed/kernel/trace/ftrace.c:1535.
    Base: every ops with trampolines is asked.  With tramp-loop every ops
    but ``ops`` is asked; the first one asked clears TRAMP, so in effect
    only that one can lose a count, owner or not.
    """
    if k.fixed(fixes.TRAMP_LOOP):
        # ftrace_clear_tramps() at linux-3.17.0/kernel/trace/ftrace.c:1531
        # If TRAMP is not set, no ops should have a trampoline for this
        if not rec.flags & FTRACE_FL_TRAMP:
            return
        for op in do_for_each_ftrace_op(k):
            # This function is called to clear other tramps not the one being updated.
            if op is ops:
                continue
            if op.trampolines:
                k.ftrace_remove_tramp(op, rec)
        return
    for op in do_for_each_ftrace_op(k):
        if op.trampolines:
            k.ftrace_remove_tramp(op, rec)


def __ftrace_hash_rec_update(k, ops, filter_hash, inc):
    """__ftrace_hash_rec_update(): count ops in (or out of) every record its hash selects.

    __ftrace_hash_rec_update() at linux-3.17.0+seed/kernel/trace/ftrace.c:1555.
    """
    if not ops.flags & FTRACE_OPS_FL_ENABLED:
        return
    all_ = False
    if filter_hash:
        hash = ops.filter_hash
        other_hash = ops.notrace_hash
        if ftrace_hash_empty(hash):
            all_ = True
    else:
        inc = not inc
        hash = ops.notrace_hash
        other_hash = ops.filter_hash
        # If the notrace hash has no items, then there's nothing to do.
        if ftrace_hash_empty(hash):
            return
    count = 0
    tramp_owner = k.fixed(fixes.TRAMP_OWNER)
    tramp_loop = k.fixed(fixes.TRAMP_LOOP)
    # every store below changes rec->flags (its count moves): each goes in
    # directly and the record is noted, as the watched store would do
    noted = k.rec_watch.touched.add
    other_ips = other_hash.ips if other_hash else None
    recs = k.hash_rec_candidates(hash, all_)
    if all_ and inc and not other_ips and ops.trampoline and isinstance(recs, list) and recs:
        flags = set(map(_flags_of, recs))
        if len(flags) == 1 and (flags.pop() + 1) & REC_COUNT_MASK == 1:
            # Every record matches, none has a count: each one the loop
            # below visits goes to count 1 with TRAMP (and REGS if ops
            # saves them), one store each, with no warning and no call.
            # So all of them at once.
            flags = (recs[0].flags + 1) | FTRACE_FL_TRAMP
            if ops.flags & FTRACE_OPS_FL_SAVE_REGS:
                flags |= FTRACE_FL_REGS
            k.rec_watch.store_flags(recs, [flags] * len(recs))
            ops.trampolines += len(recs)
            if tramp_owner:
                ops.tramp_owned.update(map(_ip_of, recs))
            return
    for rec in recs:
        if all_:
            # Only the filter_hash affects all records.
            match = other_ips is None or rec.ip not in other_ips
        else:
            in_hash = rec.ip in hash.ips
            in_other_hash = other_ips is not None and rec.ip in other_ips
            match = (filter_hash and in_hash and not in_other_hash) or (
                not filter_hash
                and in_hash
                and (in_other_hash or ftrace_hash_empty(other_hash))
            )
        if not match:
            continue
        if inc:
            flags = rec.flags + 1
            refs = flags & REC_COUNT_MASK  # ftrace_rec_count(), a macro
            if refs == 1 and ops.trampoline:
                # A single callback with a trampoline of its own is called
                # directly.  The C stores the count, finds it is not
                # FTRACE_REF_MAX, then stores TRAMP: one store of both here.
                store_flags_unwatched(rec, flags | FTRACE_FL_TRAMP)
                noted(rec)
                ops.trampolines += 1
                if tramp_owner:
                    ops.tramp_owned.add(rec.ip)
            else:
                store_flags_unwatched(rec, flags)
                noted(rec)
                # FTRACE_WARN_ON(), a macro: its message is made only when it fires
                if refs == FTRACE_REF_MAX and k.FTRACE_WARN_ON(
                    True, f"{rec.name}: ref count overflow"
                ):
                    return
                if tramp_loop:
                    k.ftrace_clear_tramps(rec, ops)
                else:
                    # Another callback joined: back to the default caller.
                    rec.flags &= ~FTRACE_FL_TRAMP
                    k.ftrace_clear_tramps(rec)
            # If any ops wants regs saved for this function, all get them.
            if ops.flags & FTRACE_OPS_FL_SAVE_REGS:
                rec.flags |= FTRACE_FL_REGS
        else:
            # FTRACE_WARN_ON(), a macro: its message is made only when it fires
            if not rec.flags & REC_COUNT_MASK and k.FTRACE_WARN_ON(
                True, f"{rec.name}: ref count underflow"
            ):
                return
            flags = rec.flags - 1
            store_flags_unwatched(rec, flags)
            noted(rec)
            if ops.trampoline and not flags & REC_COUNT_MASK:  # ftrace_rec_count()
                k.ftrace_remove_tramp(ops, rec)
            # Still someone that wants regs for this record?
            if (
                rec.flags & REC_COUNT_MASK
                and rec.flags & FTRACE_FL_REGS
                and ops.flags & FTRACE_OPS_FL_SAVE_REGS
            ):
                if not k.test_rec_ops_needs_regs(rec):
                    rec.flags &= ~FTRACE_FL_REGS
            # flags are cleared in ftrace_check_record() when count is zero
        count += 1
        # Shortcut: every record of the hash has been handled.
        if not all_ and count == hash.count:
            return


def hash_rec_candidates(k, hash, all_):
    """The records __ftrace_hash_rec_update() can match, in ftrace_pages order.

    C walks every record and tests each against the hash; only records whose
    ip is in the hash (or all of them, for an empty filter) can match, so the
    model visits just those, in the same order.

    Not a C function: the walk of
    __ftrace_hash_rec_update() at linux-3.17.0+seed/kernel/trace/ftrace.c:1555.
    """
    if all_:
        return k.in_page_order(k.rec_by_ip.values())
    return k.in_page_order(k.rec_by_ip[ip] for ip in hash.ips if ip in k.rec_by_ip)


def ftrace_hash_rec_disable(k, ops, filter_hash):
    """ftrace_hash_rec_disable().

    ftrace_hash_rec_disable() at linux-3.17.0+seed/kernel/trace/ftrace.c:1695.
    """
    k.__ftrace_hash_rec_update(ops, filter_hash, 0)


def ftrace_hash_rec_enable(k, ops, filter_hash):
    """ftrace_hash_rec_enable().

    ftrace_hash_rec_enable() at linux-3.17.0+seed/kernel/trace/ftrace.c:1701.
    """
    k.__ftrace_hash_rec_update(ops, filter_hash, 1)


# ---------------------------------------------------------------- records to code


def ftrace_check_record(k, rec, enable, update):
    """ftrace_check_record(): what must happen at rec's site; with update, do the flags.

    ftrace_check_record() at linux-3.17.0+seed/kernel/trace/ftrace.c:1791.
    """
    flags = rec.flags  # the C's stores below go to rec->flags one by one; see the end
    flag = 0
    # Enabling: a record someone references must call; otherwise nop it.
    if enable and flags & REC_COUNT_MASK:  # ftrace_rec_count(), a macro
        flag = FTRACE_FL_ENABLED
    # REGS or TRAMP out of step with their _EN bits: fail the ENABLED compare.
    if flag:
        if (not flags & FTRACE_FL_REGS) != (not flags & FTRACE_FL_REGS_EN):
            flag |= FTRACE_FL_REGS
        if (not flags & FTRACE_FL_TRAMP) != (not flags & FTRACE_FL_TRAMP_EN):
            flag |= FTRACE_FL_TRAMP
    # If the state of this record hasn't changed, then do nothing.
    if (flags & FTRACE_FL_ENABLED) == flag:
        return FTRACE_UPDATE_IGNORE
    if flag:
        # Save off if rec is being enabled (for return value)
        flag ^= flags & FTRACE_FL_ENABLED
        if update:
            flags |= FTRACE_FL_ENABLED
            if flag & FTRACE_FL_REGS:
                if flags & FTRACE_FL_REGS:
                    flags |= FTRACE_FL_REGS_EN
                else:
                    flags &= ~FTRACE_FL_REGS_EN
            if flag & FTRACE_FL_TRAMP:
                if flags & FTRACE_FL_TRAMP:
                    flags |= FTRACE_FL_TRAMP_EN
                else:
                    flags &= ~FTRACE_FL_TRAMP_EN
            # One store of what the C's stores leave: nothing reads rec->flags
            # between them, and each sets or clears bits of its own.
            rec.flags = flags
        # From a nop: make the call; otherwise change where it calls.
        if flag & FTRACE_FL_ENABLED:
            return FTRACE_UPDATE_MAKE_CALL
        return FTRACE_UPDATE_MODIFY_CALL
    if update:
        if not flags & REC_COUNT_MASK:  # ftrace_rec_count()
            # No more users, clear all flags
            rec.flags = 0
        elif k.fixed(fixes.SYSCTL_CLEAR_EN):
            # ftrace_check_record() at linux-3.18.30/kernel/trace/ftrace.c:1782
            # Keep the ops' TRAMP and REGS; the _EN bits follow the site.
            rec.flags &= ~(FTRACE_FL_ENABLED | FTRACE_FL_TRAMP_EN | FTRACE_FL_REGS_EN)
        else:
            # Just disable the record (keep REGS state)
            rec.flags &= ~FTRACE_FL_ENABLED
    return FTRACE_UPDATE_MAKE_NOP


def ftrace_update_record(k, rec, enable):
    """ftrace_update_record().

    ftrace_update_record() at linux-3.17.0+seed/kernel/trace/ftrace.c:1882.
    """
    return k.ftrace_check_record(rec, enable, 1)


def ftrace_test_record(k, rec, enable):
    """ftrace_test_record().

    ftrace_test_record() at linux-3.17.0+seed/kernel/trace/ftrace.c:1896.
    """
    return k.ftrace_check_record(rec, enable, 0)


def ftrace_find_tramp_ops_curr(k, rec):
    """ftrace_find_tramp_ops_curr(): whose trampoline rec calls now (by tramp_hash).

    ftrace_find_tramp_ops_curr() at linux-3.17.0+seed/kernel/trace/ftrace.c:1902.
    """
    removed_ops = k.removed_ops
    ip = rec.ip
    ftrace_lookup_ip = k.ftrace_lookup_ip
    # Removed ops need to be tested first
    if removed_ops is not None and removed_ops.tramp_hash:
        if ftrace_lookup_ip(removed_ops.tramp_hash, ip):
            return removed_ops
    end = k.ftrace_list_end
    op = k.ftrace_ops_list  # do_for_each_ftrace_op(), a macro
    while op is not end:
        if op.tramp_hash and ftrace_lookup_ip(op.tramp_hash, ip):
            return op
        op = op.next
    return None


def ftrace_find_tramp_ops_new(k, rec):
    """ftrace_find_tramp_ops_new(): the first listed ops that traces rec.

    ftrace_find_tramp_ops_new() at linux-3.17.0+seed/kernel/trace/ftrace.c:1925.
    """
    ip = rec.ip
    ftrace_ops_test = k.ftrace_ops_test
    end = k.ftrace_list_end
    op = k.ftrace_ops_list  # do_for_each_ftrace_op(), a macro
    while op is not end:
        # with control-tramp: control_ops (empty hashes, no trampoline) would
        # answer for every rec;  pass rec in as regs to have non-NULL val
        if (op.trampoline or not k.fixed(fixes.CONTROL_TRAMP)) and ftrace_ops_test(op, ip, rec):
            return op
        op = op.next
    return None


def ftrace_get_addr_new(k, rec):
    """ftrace_get_addr_new(): where rec's site must call after this update.

    ftrace_get_addr_new() at linux-3.17.0+seed/kernel/trace/ftrace.c:1948.
    """
    flags = rec.flags
    # Trampolines take precedence over regs
    if flags & FTRACE_FL_TRAMP:
        ops = k.ftrace_find_tramp_ops_new(rec)
        # FTRACE_WARN_ON(), a macro: its message is made only when it fires
        if (ops is None or not ops.trampoline) and k.FTRACE_WARN_ON(
            True, f"Bad trampoline accounting at: {rec.ip:#x} ({rec.name})"
        ):
            # Ftrace is shutting down, return anything
            return k.emu.sym["ftrace_caller"]
        return ops.trampoline
    if flags & FTRACE_FL_REGS:
        return k.emu.sym["ftrace_regs_caller"]
    return k.emu.sym["ftrace_caller"]


def ftrace_get_addr_curr(k, rec):
    """ftrace_get_addr_curr(): where rec's site calls now.

    ftrace_get_addr_curr() at linux-3.17.0+seed/kernel/trace/ftrace.c:1980.
    """
    flags = rec.flags
    # Trampolines take precedence over regs
    if flags & FTRACE_FL_TRAMP_EN:
        ops = k.ftrace_find_tramp_ops_curr(rec)
        # FTRACE_WARN_ON(), a macro: its message is made only when it fires
        if ops is None and k.FTRACE_WARN_ON(
            True, f"Bad trampoline accounting at: {rec.ip:#x} ({rec.name})"
        ):
            # Ftrace is shutting down, return anything
            return k.emu.sym["ftrace_caller"]
        return ops.trampoline
    if flags & FTRACE_FL_REGS_EN:
        return k.emu.sym["ftrace_regs_caller"]
    return k.emu.sym["ftrace_caller"]


def __ftrace_replace_code(k, rec, enable):
    """__ftrace_replace_code(): the generic one-record update.

    x86 has its own ftrace_replace_code(); on x86 only ftrace_update_code()
    calls this, for a new module record with a count while tracing.

    __ftrace_replace_code() at linux-3.17.0+seed/kernel/trace/ftrace.c:2003.
    """
    ftrace_addr = k.ftrace_get_addr_new(rec)
    # This needs to be done before we call ftrace_update_record
    ftrace_old_addr = k.ftrace_get_addr_curr(rec)
    ret = k.ftrace_update_record(rec, enable)
    if ret == FTRACE_UPDATE_IGNORE:
        return 0
    if ret == FTRACE_UPDATE_MAKE_CALL:
        return k.ftrace_make_call(rec, ftrace_addr)
    if ret == FTRACE_UPDATE_MAKE_NOP:
        if k.fixed(fixes.NOP_CURR_ADDR):
            return k.ftrace_make_nop(None, rec, ftrace_old_addr)
        return k.ftrace_make_nop(None, rec, ftrace_addr)
    if ret == FTRACE_UPDATE_MODIFY_CALL:
        return k.ftrace_modify_call(rec, ftrace_old_addr, ftrace_addr)
    return -1  # unknown ftrace bug


def ftrace_modify_all_code(k, command):
    """ftrace_modify_all_code(): patch sites, the caller's call, and the graph jump.

    ftrace_modify_all_code() at linux-3.17.0+seed/kernel/trace/ftrace.c:2161.
    """
    update = command & FTRACE_UPDATE_TRACE_FUNC
    list_func = k.emu.sym["ftrace_ops_list_func"]
    # Go through the list function while the sites change: it checks hashes.
    if update:
        err = k.ftrace_update_ftrace_func(list_func)
        if k.FTRACE_WARN_ON(err, "ftrace_update_ftrace_func(list) failed"):
            return
    for flag, enable in ((FTRACE_UPDATE_CALLS, 1), (FTRACE_DISABLE_CALLS, 0)):
        if command & flag:
            k.rec_walk = k.records_to_update(enable)
            k.ftrace_replace_code(enable)
            k.rec_walk = None
            k.rec_watch.pending.clear()
            k.rec_watch.compact()
            k.last_walk_enable = enable
            break
    if update and k.ftrace_trace_function != list_func:
        k.function_trace_op = k.set_function_trace_op
        k.emu.function_trace_op = k.function_trace_op.ptr
        err = k.ftrace_update_ftrace_func(k.ftrace_trace_function)
        if k.FTRACE_WARN_ON(err, "ftrace_update_ftrace_func failed"):
            return
    err = 0
    if command & FTRACE_START_FUNC_RET:
        err = k.ftrace_enable_ftrace_graph_caller()
    elif command & FTRACE_STOP_FUNC_RET:
        err = k.ftrace_disable_ftrace_graph_caller()
    k.FTRACE_WARN_ON(err, "graph caller update failed")


def ftrace_run_update_code(k, command):
    """ftrace_run_update_code(): one code update, then rebuild the tramp hashes.

    ftrace_run_update_code() at linux-3.17.0+seed/kernel/trace/ftrace.c:2322.
    """
    ret = k.ftrace_arch_code_modify_prepare()
    if k.FTRACE_WARN_ON(ret, "ftrace_arch_code_modify_prepare failed"):
        return
    k.arch_ftrace_update_code(command)
    ret = k.ftrace_arch_code_modify_post_process()
    k.FTRACE_WARN_ON(ret, "ftrace_arch_code_modify_post_process failed")
    ret = k.ftrace_save_tramp_hashes()
    k.FTRACE_WARN_ON(ret, "ftrace_save_tramp_hashes failed")


def ftrace_save_ops_tramp_hash(k, ops):
    """ftrace_save_ops_tramp_hash() (seed): the records now calling ops' trampoline.

    ftrace_save_ops_tramp_hash() at linux-3.17.0+seed/kernel/trace/ftrace.c:2238.
    """
    ops.tramp_hash = ftrace_hash()
    ips = ops.tramp_hash.ips
    alone = ops_tramp_ips(k, ops)
    # no record warns: the loop's adds, all at once (a set has no order)
    recs = k.tramp_en_records() if alone is None else ()
    ips.update(alone or ())
    ftrace_ops_test = k.ftrace_ops_test
    for rec in recs:
        # A record back down to one ops after being shared is not on the
        # trampoline (no TRAMP_EN): only TRAMP_EN records are visited.
        if ftrace_ops_test(ops, rec.ip, rec):
            # It better only have a single ops attached (FTRACE_WARN_ON(), a
            # macro: its message is made only when it fires)
            if ftrace_rec_count(rec) != 1 and k.FTRACE_WARN_ON(
                True,
                f"{ops.name}: {rec.name} on its trampoline with count {ftrace_rec_count(rec)}",
            ):
                return -1
            ips.add(rec.ip)
    cnt = len(ips)  # the C counts the adds: one per record, records have distinct ips
    if k.fixed(fixes.SYSCTL_CLEAR_EN) and not k.ftrace_enabled:
        # sysctl-clear-en adapted to the seed (3.18.30 has no tramp_hash):
        # disabled sites keep TRAMP but not TRAMP_EN; none calls a trampoline.
        return 0
    # Make sure we added the number of trampolines as we expect to
    if k.FTRACE_WARN_ON(
        cnt != ops.trampolines, f"{ops.name}: cnt {cnt} != ops->trampolines {ops.trampolines}"
    ):
        k.pr_warn(f"{cnt} trampolines activated, {ops.trampolines} expected")
    return 0


def ops_tramp_ips(k, ops):
    """The ips of the TRAMP_EN records ``ops``' hashes admit, when each has a count
    of 1; None when one has another count (the loop warns there) or the functions
    the loop calls are not the model's own.

    Not a C function: the loop of
    ftrace_save_ops_tramp_hash() at linux-3.17.0+seed/kernel/trace/ftrace.c:2238,
    when it warns for no record, as set operations on the hashes (DEVIATIONS.md).
    Its ftrace_ops_test() gets the record as regs, so SAVE_REGS never refuses.
    """
    if not runs_own(k, ("ftrace_ops_test", "tramp_en_records")):
        return None
    recs = list(k.rec_watch.tramp_en)
    ips = list(map(_ip_of, recs))
    admitted = set(ips)
    filter_hash, notrace_hash = ops.func_hash.filter_hash, ops.func_hash.notrace_hash
    if filter_hash and filter_hash.ips:
        admitted &= filter_hash.ips
    if notrace_hash:
        admitted -= notrace_hash.ips
    if len(admitted) < len(recs):
        recs = itertools.compress(recs, map(admitted.__contains__, ips))
    counts = map(operator.and_, map(_flags_of, recs), itertools.repeat(REC_COUNT_MASK))
    if set(counts) - {1}:
        return None
    return admitted


def tramp_en_records(k):
    """The records with TRAMP_EN, in ftrace_pages order.

    The C walks every record and skips those without TRAMP_EN; the model
    keeps that set as flags change.

    Not a C function: the walk of
    ftrace_save_ops_tramp_hash() at linux-3.17.0+seed/kernel/trace/ftrace.c:2238.
    """
    return k.in_page_order(k.rec_watch.tramp_en)


def ftrace_save_tramp_hashes(k):
    """ftrace_save_tramp_hashes(): every listed ops rebuilds its tramp_hash.

    ftrace_save_tramp_hashes() at linux-3.17.0+seed/kernel/trace/ftrace.c:2293.
    """
    for op in do_for_each_ftrace_op(k):
        # The tramp_hash is recreated each time.
        op.tramp_hash = None
        if op.trampolines:
            ret = k.ftrace_save_ops_tramp_hash(op)
            if ret:
                return ret
    return 0


# ---------------------------------------------------------------- ops list


def add_ftrace_ops(k, list_, ops):
    """add_ftrace_ops(): push ops at the head of the list k.<list_>.

    add_ftrace_ops() at linux-3.17.0+seed/kernel/trace/ftrace.c:325.
    """
    ops.next = getattr(k, list_)
    setattr(k, list_, ops)


def remove_ftrace_ops(k, list_, ops):
    """remove_ftrace_ops(): unlink ops from the list k.<list_>; -1 if it is not on it.

    remove_ftrace_ops() at linux-3.17.0+seed/kernel/trace/ftrace.c:337.
    """
    if getattr(k, list_) is ops and ops.next is k.ftrace_list_end:
        setattr(k, list_, k.ftrace_list_end)
        return 0
    prev = None
    op = getattr(k, list_)
    while op is not k.ftrace_list_end:
        if op is ops:
            break
        prev, op = op, op.next
    if op is not ops:
        return -1
    if prev is None:
        setattr(k, list_, ops.next)
    else:
        prev.next = ops.next
    return 0


def update_ftrace_function(k):
    """update_ftrace_function(): what the caller's ftrace_call should call.

    One static, recursion-safe ops is called directly with its ops in
    function_trace_op; anything else goes through the list function.

    update_ftrace_function() at linux-3.17.0+seed/kernel/trace/ftrace.c:249.
    """
    sym = k.emu.sym
    head = k.ftrace_ops_list
    k.set_function_trace_op = head
    if head is k.ftrace_list_end:
        func = sym["ftrace_stub"]
    elif head.next is k.ftrace_list_end and (
        head.flags & FTRACE_OPS_FL_RECURSION_SAFE and not head.flags & FTRACE_OPS_FL_DYNAMIC
    ):
        func = head.func
    else:
        k.set_function_trace_op = k.ftrace_list_end
        func = sym["ftrace_ops_list_func"]
    k.update_function_graph_func()
    # If there's no change, then do nothing more here
    if k.ftrace_trace_function == func:
        return
    k.ftrace_trace_function = func


def ftrace_ops_init(k, ops):
    """ftrace_ops_init(): first use of an ops.

    ftrace_ops_init() at linux-3.17.0+seed/kernel/trace/ftrace.c:145.
    """
    ops.flags |= FTRACE_OPS_FL_INITIALIZED


def core_kernel_data(k, addr):
    """core_kernel_data() (kernel/extable.c): is addr in vmlinux's .data?

    C outside the reference: kernel/extable.c; used by
    __register_ftrace_function() at linux-3.17.0+seed/kernel/trace/ftrace.c:383.
    """
    return k.emu.core_kernel_data(addr)


def __register_ftrace_function(k, ops):
    """__register_ftrace_function(): put ops on the list (and give it a trampoline).

    __register_ftrace_function() at linux-3.17.0+seed/kernel/trace/ftrace.c:383.
    """
    if ops.flags & FTRACE_OPS_FL_DELETED:
        return -EINVAL
    if k.WARN_ON(ops.flags & FTRACE_OPS_FL_ENABLED, f"register {ops.name}: already enabled"):
        return -EBUSY
    if not k.core_kernel_data(ops.ptr):
        ops.flags |= FTRACE_OPS_FL_DYNAMIC
    if ops.flags & FTRACE_OPS_FL_CONTROL:
        if k.control_ops_alloc(ops):
            return -ENOMEM
        k.add_ftrace_list_ops("ftrace_control_list", k.control_ops, ops)
    else:
        k.add_ftrace_ops("ftrace_ops_list", ops)
    k.ftrace_update_trampoline(ops)
    if k.ftrace_enabled:
        k.update_ftrace_function()
    return 0


def __unregister_ftrace_function(k, ops):
    """__unregister_ftrace_function(): take ops off the list.

    __unregister_ftrace_function() at linux-3.17.0+seed/kernel/trace/ftrace.c:423.
    """
    if k.WARN_ON(
        not ops.flags & FTRACE_OPS_FL_ENABLED, f"unregister {ops.name}: not enabled"
    ):
        return -EBUSY
    if ops.flags & FTRACE_OPS_FL_CONTROL:
        ret = k.remove_ftrace_list_ops("ftrace_control_list", k.control_ops, ops)
    else:
        ret = k.remove_ftrace_ops("ftrace_ops_list", ops)
    if ret < 0:
        return ret
    if k.ftrace_enabled:
        k.update_ftrace_function()
    return 0


def ftrace_update_trampoline(k, ops):
    """ftrace_update_trampoline() (seed): only non-dynamic ops get a trampoline.

    ftrace_update_trampoline() at linux-3.17.0+seed/kernel/trace/ftrace.c:4714.
    """
    if ops.flags & FTRACE_OPS_FL_DYNAMIC:
        return
    k.arch_ftrace_update_trampoline(ops)


def ftrace_startup_enable(k, command):
    """ftrace_startup_enable(): run the update, unless ftrace_enabled is off.

    ftrace_startup_enable() at linux-3.17.0+seed/kernel/trace/ftrace.c:2354.
    """
    if k.saved_ftrace_func != k.ftrace_trace_function:
        k.saved_ftrace_func = k.ftrace_trace_function
        command |= FTRACE_UPDATE_TRACE_FUNC
    if not command or not k.ftrace_enabled:
        return
    k.ftrace_run_update_code(command)


def ftrace_startup(k, ops, command):
    """ftrace_startup(): register ops, count it into its records, patch.

    ftrace_startup() at linux-3.17.0+seed/kernel/trace/ftrace.c:2367.
    """
    if k.ftrace_disabled:
        return -ENODEV
    ret = k.__register_ftrace_function(ops)
    if ret:
        return ret
    k.ftrace_start_up += 1
    command |= FTRACE_UPDATE_CALLS
    ops.flags |= FTRACE_OPS_FL_ENABLED
    k.ftrace_hash_rec_enable(ops, 1)
    k.ftrace_startup_enable(command)
    return 0


def ftrace_shutdown(k, ops, command):
    """ftrace_shutdown(): unregister ops, count it out, patch (if ftrace_enabled).

    ftrace_shutdown() at linux-3.17.0+seed/kernel/trace/ftrace.c:2390.
    """
    if k.ftrace_disabled:
        return -ENODEV
    ret = k.__unregister_ftrace_function(ops)
    if ret:
        return ret
    k.ftrace_start_up -= 1
    # Just warn in case of unbalance: not critical enough to kill ftrace.
    k.WARN_ON_ONCE(k.ftrace_start_up < 0, "ftrace_start_up < 0")
    k.ftrace_hash_rec_disable(ops, 1)
    ops.flags &= ~FTRACE_OPS_FL_ENABLED
    command |= FTRACE_UPDATE_CALLS
    if k.saved_ftrace_func != k.ftrace_trace_function:
        k.saved_ftrace_func = k.ftrace_trace_function
        command |= FTRACE_UPDATE_TRACE_FUNC
    if not command or not k.ftrace_enabled:
        # CONTROL ops still need their per-cpu field freed
        if ops.flags & FTRACE_OPS_FL_CONTROL:
            k.control_ops_free(ops)
        return 0
    # If the ops uses a trampoline, then it needs to be tested first on update.
    k.removed_ops = ops
    k.ftrace_run_update_code(command)
    k.removed_ops = None
    if k.fixed(fixes.STALE_TRAMP_HASH):
        # No site calls ops' trampoline any more: its tramp_hash is history.
        ops.tramp_hash = None
    # When an ops is unregistered (not tracing anything), no function
    # should be pointed to its trampoline.
    k.FTRACE_WARN_ON(ops.trampolines, f"{ops.name}: trampolines {ops.trampolines} at shutdown")
    if ops.flags & FTRACE_OPS_FL_CONTROL:
        k.control_ops_free(ops)
    return 0


def register_ftrace_function(k, ops):
    """register_ftrace_function(): start tracing with ops.

    register_ftrace_function() at linux-3.17.0+seed/kernel/trace/ftrace.c:5190.
    """
    k.ftrace_ops_init(ops)
    return k.ftrace_startup(ops, 0)


def unregister_ftrace_function(k, ops):
    """unregister_ftrace_function(): stop tracing with ops.

    unregister_ftrace_function() at linux-3.17.0+seed/kernel/trace/ftrace.c:5212.
    """
    return k.ftrace_shutdown(ops, 0)


# ---------------------------------------------------------------- list function


def ftrace_ops_list_func(k, ip, parent_ip, op, regs):
    """ftrace_ops_list_func(): the caller's callee when several ops trace.

    ftrace_ops_list_func() at linux-3.17.0+seed/kernel/trace/ftrace.c:4880.
    """
    k.__ftrace_ops_list_func(ip, parent_ip, op, regs)


def __ftrace_ops_list_func(k, ip, parent_ip, ignored, regs):
    """__ftrace_ops_list_func(): call every listed ops whose hashes admit ip.

    Runs in Python behind a hook on the emulated ftrace_ops_list_func: each
    "call" is recorded by the emulator as if op->func had been entered with
    (ip, parent_ip, op, regs).  A call that comes back here from a callback
    finds its recursion bit set and returns.

    __ftrace_ops_list_func() at linux-3.17.0+seed/kernel/trace/ftrace.c:4837.
    """
    bit = k.trace_test_and_set_recursion(TRACE_LIST_START, TRACE_LIST_MAX)
    if bit < 0:
        return
    for op in list(do_for_each_ftrace_op(k)):
        if k.ftrace_ops_test(op, ip, regs):
            if k.FTRACE_WARN_ON(not op.func, f"op={op.name} has no func"):
                break
            k.emu.record_call(op.func, ip, parent_ip, op.ptr, regs)
    k.trace_clear_recursion(bit)


# ---------------------------------------------------------------- users' structs

ENOENT = 2
PROBE_TEST_FUNC = 1
PROBE_TEST_DATA = 2
FTRACE_ITER_FILTER = 1 << 0
FTRACE_ITER_NOTRACE = 1 << 1


@dataclass(eq=False)
class ftrace_probe_ops:
    """struct ftrace_probe_ops at linux-3.17.0+seed/include/linux/ftrace.h:262.

    Only func, the emulated address of the probe's function, is modelled.
    """

    name: str
    func: int


@dataclass(eq=False)
class ftrace_func_probe:
    """struct ftrace_func_probe at linux-3.17.0+seed/kernel/trace/ftrace.c:1061.

    One probe at one ip; k.ftrace_func_hash keeps them newest first, as
    hlist_add_head_rcu() does in each bucket.
    """

    ops: ftrace_probe_ops
    ip: int
    data: object = None


@dataclass(eq=False)
class ftrace_iterator:
    """struct ftrace_iterator at linux-3.17.0+seed/kernel/trace/ftrace.c:2719.

    A writer's: its ops, flags, private hash and the parser's pending token.
    """

    ops: ftrace_ops
    flag: int
    hash: ftrace_hash
    parser: str = ""


# ---------------------------------------------------------------- recursion

# kernel/trace/trace.h: the recursion bits of current->trace_recursion
TRACE_FTRACE_BIT = 4
TRACE_INTERNAL_BIT = 8
TRACE_CONTROL_BIT = 12
TRACE_CONTEXT_BITS = 4
TRACE_LIST_START = TRACE_INTERNAL_BIT
TRACE_LIST_MAX = (1 << (TRACE_LIST_START + TRACE_CONTEXT_BITS)) - 1
TRACE_CONTEXT_MASK = TRACE_LIST_MAX
# trace_get_context_bit() in task context (the model never runs in an interrupt)
TRACE_TASK_CONTEXT = 3


def trace_test_and_set_recursion(k, start, max_):
    """trace_test_and_set_recursion() at linux-3.17.0+seed/kernel/trace/trace.h:487.

    The bit of this context from ``start``; -1 if it is already set (a
    recursion), 0 if a check of a higher level was already made.
    """
    val = k.trace_recursion
    # A previous recursion check was made
    if (val & TRACE_CONTEXT_MASK) > max_:
        return 0
    bit = TRACE_TASK_CONTEXT + start
    if val & (1 << bit):
        return -1
    k.trace_recursion = val | (1 << bit)
    return bit


def trace_clear_recursion(k, bit):
    """trace_clear_recursion() at linux-3.17.0+seed/kernel/trace/trace.h:507."""
    if not bit:
        return
    k.trace_recursion &= ~(1 << bit)


def ftrace_ops_recurs_func(k, ip, parent_ip, op, regs):
    """ftrace_ops_recurs_func() at linux-3.18.30/kernel/trace/ftrace.c:4929 (fix tramp-recursion).

    What a trampoline calls for an ops that is not RECURSION_SAFE: the
    list function's guard around a single op->func.  ``op`` is the
    emulated address the caller passed in %rdx.
    """
    bit = k.trace_test_and_set_recursion(TRACE_LIST_START, TRACE_LIST_MAX)
    if bit < 0:
        return
    ops = k.ops_at(op)
    k.emu.record_call(ops.func, ip, parent_ip, op, regs)
    k.trace_clear_recursion(bit)


def ftrace_ops_get_func(k, ops):
    """ftrace_ops_get_func() at linux-3.18.30/kernel/trace/ftrace.c:4954 (fix tramp-recursion).

    The function a trampoline must call for ops: the list function for a
    dynamic ops, the recursion guard for one that is not RECURSION_SAFE,
    else ops->func.
    """
    if ops.flags & FTRACE_OPS_FL_DYNAMIC:
        return k.emu.sym["ftrace_ops_list_func"]
    if not ops.flags & FTRACE_OPS_FL_RECURSION_SAFE:
        return k.emu.sym["ftrace_ops_recurs_func"]
    return ops.func


def ops_at(k, ptr):
    """The ops whose emulated address is ptr, among those the kernel knows.

    Not a C function: C dereferences the pointer, as ftrace_ops_recurs_func()
    at linux-3.18.30/kernel/trace/ftrace.c:4929 does with its op.
    """
    for ops in (*do_for_each_ftrace_op(k), *k.control_list_ops(), k.ftrace_list_end):
        if ops.ptr == ptr:
            return ops
    raise KeyError(f"no ftrace_ops at {ptr:#x}")


# ---------------------------------------------------------------- control ops (perf)


def control_list_ops(k):
    """do_for_each_ftrace_op(op, ftrace_control_list): the CONTROL ops, newest first.

    Not a C function: the walk of ftrace_ops_control_func() at
    linux-3.17.0+seed/kernel/trace/ftrace.c:4799.
    """
    op = k.ftrace_control_list
    while op is not k.ftrace_list_end:
        yield op
        op = op.next


def control_ops_disable_all(k, ops):
    """control_ops_disable_all() at linux-3.17.0+seed/kernel/trace/ftrace.c:205 (one CPU)."""
    ops.disabled = 1


def control_ops_alloc(k, ops):
    """control_ops_alloc() at linux-3.17.0+seed/kernel/trace/ftrace.c:213.

    alloc_percpu() does not fail in the model.
    """
    ops.disabled = 0
    k.control_ops_disable_all(ops)
    return 0


def control_ops_free(k, ops):
    """control_ops_free() at linux-3.17.0+seed/kernel/trace/ftrace.c:2349."""
    ops.disabled = None


def add_ftrace_list_ops(k, list_, main_ops, ops):
    """add_ftrace_list_ops() at linux-3.17.0+seed/kernel/trace/ftrace.c:361.

    ``list_`` names the list head (an attribute of k); main_ops joins
    ftrace_ops_list when that list gets its first ops.
    """
    first = getattr(k, list_) is k.ftrace_list_end
    k.add_ftrace_ops(list_, ops)
    if first:
        k.add_ftrace_ops("ftrace_ops_list", main_ops)


def remove_ftrace_list_ops(k, list_, main_ops, ops):
    """remove_ftrace_list_ops() at linux-3.17.0+seed/kernel/trace/ftrace.c:371."""
    ret = k.remove_ftrace_ops(list_, ops)
    if not ret and getattr(k, list_) is k.ftrace_list_end:
        ret = k.remove_ftrace_ops("ftrace_ops_list", main_ops)
    return ret


def ftrace_function_local_enable(k, ops):
    """ftrace_function_local_enable() at linux-3.17.0+seed/include/linux/ftrace.h:179."""
    if k.WARN_ON(not ops.flags & FTRACE_OPS_FL_CONTROL, f"{ops.name}: local enable, not CONTROL"):
        return
    ops.disabled -= 1


def ftrace_function_local_disable(k, ops):
    """ftrace_function_local_disable() at linux-3.17.0+seed/include/linux/ftrace.h:196."""
    if k.WARN_ON(not ops.flags & FTRACE_OPS_FL_CONTROL, f"{ops.name}: local disable, not CONTROL"):
        return
    ops.disabled += 1


def ftrace_function_local_disabled(k, ops):
    """ftrace_function_local_disabled() at linux-3.17.0+seed/include/linux/ftrace.h:213."""
    k.WARN_ON(not ops.flags & FTRACE_OPS_FL_CONTROL, f"{ops.name}: local disabled, not CONTROL")
    return ops.disabled


def ftrace_ops_control_func(k, ip, parent_ip, op, regs):
    """ftrace_ops_control_func() at linux-3.17.0+seed/kernel/trace/ftrace.c:4799.

    control_ops' func: every CONTROL ops not disabled on this CPU whose
    hashes admit ip, guarded by TRACE_CONTROL_BIT.  Runs in Python behind
    a hook on the emulated function of that name; RCU is always watching.
    """
    if k.trace_recursion & (1 << TRACE_CONTROL_BIT):
        return
    k.trace_recursion |= 1 << TRACE_CONTROL_BIT
    for op in list(k.control_list_ops()):
        if (
            not op.flags & FTRACE_OPS_FL_STUB
            and not k.ftrace_function_local_disabled(op)
            and k.ftrace_ops_test(op, ip, regs)
        ):
            k.emu.record_call(op.func, ip, parent_ip, op.ptr, regs)
    k.trace_recursion &= ~(1 << TRACE_CONTROL_BIT)


def ftrace_free_filter(k, ops):
    """ftrace_free_filter() at linux-3.17.0+seed/kernel/trace/ftrace.c:1238."""
    k.ftrace_ops_init(ops)
    ops.filter_hash = EMPTY_HASH
    ops.notrace_hash = EMPTY_HASH


def perf_ftrace_function_register(k, ops):
    """perf_ftrace_function_register() at linux-3.17.0/kernel/trace/trace_event_perf.c:331.

    TRACE_REG_PERF_OPEN of the ftrace:function event; ops is the event's
    kzalloc'd ftrace_ops and ops->func (perf_ftrace_function_call) is set
    by the caller.
    """
    ops.flags |= FTRACE_OPS_FL_CONTROL
    return k.register_ftrace_function(ops)


def perf_ftrace_function_unregister(k, ops):
    """perf_ftrace_function_unregister() at linux-3.17.0/kernel/trace/trace_event_perf.c:340."""
    ret = k.unregister_ftrace_function(ops)
    k.ftrace_free_filter(ops)
    return ret


def perf_ftrace_function_enable(k, ops):
    """perf_ftrace_function_enable() at linux-3.17.0/kernel/trace/trace_event_perf.c:348.

    TRACE_REG_PERF_ADD: the event is scheduled in on this CPU.
    """
    k.ftrace_function_local_enable(ops)


def perf_ftrace_function_disable(k, ops):
    """perf_ftrace_function_disable() at linux-3.17.0/kernel/trace/trace_event_perf.c:353."""
    k.ftrace_function_local_disable(ops)


# ---------------------------------------------------------------- function probes


def function_trace_probe_call(k, ip, parent_ip, op, regs):
    """function_trace_probe_call() at linux-3.17.0+seed/kernel/trace/ftrace.c:3312.

    trace_probe_ops' func: the probes registered at ip.  Runs as the
    on_call of the emulated callback of that name; each probe's func is
    recorded as a call with op 0 (C passes the entry's data instead).
    """
    for entry in list(k.ftrace_func_hash):
        if entry.ip == ip:
            k.emu.record_call(entry.ops.func, ip, parent_ip, 0, regs)


def __enable_ftrace_function_probe(k):
    """__enable_ftrace_function_probe() at linux-3.17.0+seed/kernel/trace/ftrace.c:3348."""
    if k.ftrace_probe_registered:
        # still need to update the function call sites
        if k.ftrace_enabled:
            k.ftrace_run_update_code(FTRACE_UPDATE_CALLS)
        return
    # Nothing registered?
    if not k.ftrace_func_hash:
        return
    k.ftrace_startup(k.trace_probe_ops, 0)
    k.ftrace_probe_registered = 1


def __disable_ftrace_function_probe(k):
    """__disable_ftrace_function_probe() at linux-3.17.0+seed/kernel/trace/ftrace.c:3374."""
    if not k.ftrace_probe_registered:
        return
    if k.ftrace_func_hash:
        return
    # no more funcs left
    k.ftrace_shutdown(k.trace_probe_ops, 0)
    k.ftrace_probe_registered = 0


def register_ftrace_function_probe(k, glob, ops, data=None):
    """register_ftrace_function_probe() at linux-3.17.0+seed/kernel/trace/ftrace.c:3402.

    One probe entry per matching record, its ip added to trace_probe_ops'
    filter, the hash moved, then the probe ops started (or the sites
    updated).  Returns the number of functions probed.
    """
    type_, search, not_ = k.filter_parse_regex(glob)
    # we do not support '!' for function probes
    if k.WARN_ON(not_, "register_ftrace_function_probe: '!'"):
        return -EINVAL
    hash = ftrace_hash(k.trace_probe_ops.filter_hash.ips)
    if k.ftrace_disabled:
        return -ENODEV
    count = 0
    for rec in k.filter_candidates(search, type_):
        if not k.ftrace_match(rec.name, search, type_):
            continue
        count += 1
        k.enter_record(hash, rec, 0)
        k.ftrace_func_hash.insert(0, ftrace_func_probe(ops, rec.ip, data))
    ret = k.ftrace_hash_move(k.trace_probe_ops, 1, "filter_hash", hash)
    if ret < 0:
        count = ret
    k.__enable_ftrace_function_probe()
    return count


def __unregister_ftrace_function_probe(k, glob, ops, data, flags):
    """__unregister_ftrace_function_probe() at linux-3.17.0+seed/kernel/trace/ftrace.c:3504.

    Drops the probes of ops whose function's name matches glob, stops
    trace_probe_ops when none is left, then moves the hash: with probes
    left, the 3.17 code moves it without updating the call sites.
    """
    if glob == "*" or not glob:
        glob = None
    else:
        type_, search, not_ = k.filter_parse_regex(glob)
        # we do not support '!' for function probes
        if k.WARN_ON(not_, "unregister_ftrace_function_probe: '!'"):
            return
        # The C matches the glob as filter_parse_regex() left it (cut at its
        # first '*' after the start) with the parsed pattern's length.
        cut = glob.find("*", 1)
        glob = glob if cut < 0 else glob[:cut]
        if type_ in (MATCH_FRONT_ONLY, MATCH_END_ONLY):
            glob = glob[: len(search)]
    hash = ftrace_hash(k.trace_probe_ops.filter_hash.ips)
    for entry in list(k.ftrace_func_hash):
        if flags & PROBE_TEST_FUNC and entry.ops is not ops:
            continue
        if flags & PROBE_TEST_DATA and entry.data != data:
            continue
        if glob and not k.ftrace_match(k.emu.function_name(entry.ip), glob, type_):
            continue
        hash.ips.discard(entry.ip)
        k.ftrace_func_hash.remove(entry)
    k.__disable_ftrace_function_probe()
    # Remove after the disable is called: a null hash means *all enabled*.
    k.ftrace_hash_move(k.trace_probe_ops, 1, "filter_hash", hash)
    if k.fixed(fixes.PROBE_UPDATE):
        # the probes left need their sites to follow the moved hash
        k.ftrace_ops_update_code(k.trace_probe_ops)


def unregister_ftrace_function_probe_func(k, glob, ops):
    """unregister_ftrace_function_probe_func() at linux-3.17.0+seed/kernel/trace/ftrace.c:3598."""
    k.__unregister_ftrace_function_probe(glob, ops, None, PROBE_TEST_FUNC)


def ftrace_trace_probe_callback(k, ops, glob, enable):
    """ftrace_trace_probe_callback() at linux-3.17.0+seed/kernel/trace/trace_functions.c:447.

    The set_ftrace_filter command ``glob:traceon`` (no count): '!glob'
    removes the probes.
    """
    # hash funcs only work with set_ftrace_filter
    if not enable:
        return -EINVAL
    if glob.startswith("!"):
        k.unregister_ftrace_function_probe_func(glob[1:], ops)
        return 0
    ret = k.register_ftrace_function_probe(glob, ops, None)
    return ret if ret < 0 else 0


# ---------------------------------------------------------------- kprobes on ftrace


def ftrace_match_addr(k, hash, ip, remove):
    """ftrace_match_addr() at linux-3.17.0+seed/kernel/trace/ftrace.c:3746."""
    if not k.ftrace_location(ip):
        return -EINVAL
    if remove:
        if ip not in hash.ips:
            return -ENOENT
        hash.ips.discard(ip)
        return 0
    hash.ips.add(ip)
    return 0


def ftrace_set_addr(k, ops, ip, remove, reset, enable):
    """ftrace_set_addr() at linux-3.17.0+seed/kernel/trace/ftrace.c:3823."""
    return k.ftrace_set_hash(ops, None, reset, enable, ip=ip, remove=remove)


def ftrace_set_filter_ip(k, ops, ip, remove, reset):
    """ftrace_set_filter_ip() at linux-3.17.0+seed/kernel/trace/ftrace.c:3839."""
    k.ftrace_ops_init(ops)
    return k.ftrace_set_addr(ops, ip, remove, reset, 1)


def arm_kprobe_ftrace(k, ip):
    """arm_kprobe_ftrace() at linux-3.17.0/kernel/kprobes.c:932.

    The probed address joins kprobe_ftrace_ops' filter before the ops is
    registered (by the first armed probe).
    """
    ret = k.ftrace_set_filter_ip(k.kprobe_ftrace_ops, ip, 0, 0)
    k.WARN_ON(ret < 0, f"Failed to arm kprobe-ftrace at {ip:#x} ({ret})")
    k.kprobe_ftrace_enabled += 1
    if k.kprobe_ftrace_enabled == 1:
        ret = k.register_ftrace_function(k.kprobe_ftrace_ops)
        k.WARN_ON(ret < 0, f"Failed to init kprobe-ftrace ({ret})")


def disarm_kprobe_ftrace(k, ip):
    """disarm_kprobe_ftrace() at linux-3.17.0/kernel/kprobes.c:947.

    The last probe unregisters the ops first; the address leaves the
    filter after.
    """
    k.kprobe_ftrace_enabled -= 1
    if k.kprobe_ftrace_enabled == 0:
        ret = k.unregister_ftrace_function(k.kprobe_ftrace_ops)
        k.WARN_ON(ret < 0, f"Failed to init kprobe-ftrace ({ret})")
    ret = k.ftrace_set_filter_ip(k.kprobe_ftrace_ops, ip, 1, 0)
    k.WARN_ON(ret < 0, f"Failed to disarm kprobe-ftrace at {ip:#x} ({ret})")


# ---------------------------------------------------------------- tracefs filter files


def ftrace_regex_open(k, ops, flag, trunc):
    """ftrace_regex_open() at linux-3.17.0+seed/kernel/trace/ftrace.c:3041.

    A write-only open of set_ftrace_filter (flag FTRACE_ITER_FILTER) or
    set_ftrace_notrace; ``trunc`` is O_TRUNC (``>``, not ``>>``).  The
    iterator is (ops, flag, hash, pending buffer); None for -ENODEV.
    """
    k.ftrace_ops_init(ops)
    if k.ftrace_disabled:
        return None
    which = "notrace_hash" if flag & FTRACE_ITER_NOTRACE else "filter_hash"
    hash = ftrace_hash() if trunc else ftrace_hash(getattr(ops, which).ips)
    return ftrace_iterator(ops, flag, hash)


def ftrace_process_regex(k, hash, buff, enable):
    """ftrace_process_regex() at linux-3.17.0+seed/kernel/trace/ftrace.c:3657.

    ``func`` or ``func:command``; the one command modelled is traceon
    (trace_functions.c's traceon_probe_ops).
    """
    func, sep, command = buff.partition(":")
    if not sep:
        if not k.ftrace_match_records(hash, func):
            return -EINVAL
        return 0
    if command == "traceon":
        return k.ftrace_trace_probe_callback(k.traceon_probe_ops, func, enable)
    return -EINVAL


def ftrace_regex_write(k, iter_, buf):
    """ftrace_regex_write() at linux-3.17.0+seed/kernel/trace/ftrace.c:3693.

    One write(): a token followed by white space is processed now, the
    last one without is left in the parser for release.
    """
    if k.ftrace_disabled:
        return -ENODEV
    tokens = buf.split()
    if not tokens:
        return 0
    complete = tokens if buf[-1].isspace() else tokens[:-1]
    iter_.parser = "" if buf[-1].isspace() else tokens[-1]
    for token in complete:
        ret = k.ftrace_process_regex(iter_.hash, token, iter_.flag & FTRACE_ITER_FILTER)
        if ret < 0:
            return ret
    return len(buf)


def ftrace_regex_release(k, iter_):
    """ftrace_regex_release() at linux-3.17.0+seed/kernel/trace/ftrace.c:4019.

    The token left in the parser is matched, then the iterator's hash is
    moved into the ops and the code updated.
    """
    if iter_.parser:
        k.ftrace_match_records(iter_.hash, iter_.parser)
    filter_hash = int(bool(iter_.flag & FTRACE_ITER_FILTER))
    dst_attr = "filter_hash" if filter_hash else "notrace_hash"
    ret = k.ftrace_hash_move(iter_.ops, filter_hash, dst_attr, iter_.hash)
    if not ret:
        k.ftrace_ops_update_code(iter_.ops)
    return 0


# ---------------------------------------------------------------- filters


MATCH_FULL, MATCH_FRONT_ONLY, MATCH_MIDDLE_ONLY, MATCH_END_ONLY = range(4)


def filter_parse_regex(k, buff):
    """filter_parse_regex(): (type, search, not) of a filter pattern.

    C outside the reference: kernel/trace/trace_events_filter.c; its caller
    is match_records() at linux-3.17.0+seed/kernel/trace/ftrace.c:3203.  A leading '!' negates;
    only a leading '*' and the first later '*' count, which cuts the pattern
    there: 'f*o' matches every name starting with 'f'.  '?' and '[' are
    literal.
    """
    not_ = buff.startswith("!")
    if not_:
        buff = buff[1:]
    type_, search = MATCH_FULL, buff
    for i, c in enumerate(buff):
        if c != "*":
            continue
        if i == 0:
            search, type_ = buff[1:], MATCH_END_ONLY
            continue
        type_ = MATCH_MIDDLE_ONLY if type_ == MATCH_END_ONLY else MATCH_FRONT_ONLY
        search = search[: len(search) - (len(buff) - i)]
        break
    return type_, search, not_


def ftrace_match(k, str_, regex, type_):
    """ftrace_match(): does a function name match a parsed pattern?

    ftrace_match() at linux-3.17.0+seed/kernel/trace/ftrace.c:3129.
    """
    if type_ == MATCH_FULL:
        return str_ == regex
    if type_ == MATCH_FRONT_ONLY:
        return str_.startswith(regex)
    if type_ == MATCH_MIDDLE_ONLY:
        return regex in str_
    return str_.endswith(regex)


def enter_record(k, hash, rec, not_):
    """enter_record(): add rec's ip to hash, or with '!' remove it.

    enter_record() at linux-3.17.0+seed/kernel/trace/ftrace.c:3158.
    """
    if not_:
        hash.ips.discard(rec.ip)
    else:
        hash.ips.add(rec.ip)
    return 0


def match_records(k, hash, buff):
    """match_records(): put every matching record in hash; 1 if any matched.

    match_records() at linux-3.17.0+seed/kernel/trace/ftrace.c:3203.
    """
    type_, search, not_ = k.filter_parse_regex(buff)
    found = 0
    if k.ftrace_disabled:
        return 0
    for rec in k.filter_candidates(search, type_):
        if k.ftrace_match(rec.name, search, type_):
            k.enter_record(hash, rec, not_)
            found = 1
    return found


def filter_candidates(k, search, type_):
    """Records match_records() may match: by name for a full name.

    Not a C function: stands for the do_for_each_ftrace_rec() walk of
    match_records() at linux-3.17.0+seed/kernel/trace/ftrace.c:3203.  The C
    walks every record; a full name selects at most its records, so the
    model looks them up by name.
    """
    if type_ != MATCH_FULL:
        return do_for_each_ftrace_rec(k)
    return k.recs_by_name.get(search, ())


def ftrace_match_records(k, hash, buff):
    """ftrace_match_records().

    ftrace_match_records() at linux-3.17.0+seed/kernel/trace/ftrace.c:3241.
    """
    return k.match_records(hash, buff)


def ftrace_hash_move(k, ops, enable, dst_attr, src):
    """ftrace_hash_move(): replace ops' filter (enable) or notrace hash, recounting.

    ``dst_attr`` names the hash pointer ('filter_hash' or 'notrace_hash'),
    standing for the C's ``struct ftrace_hash **dst``.

    ftrace_hash_move() at linux-3.17.0+seed/kernel/trace/ftrace.c:1308.
    """
    # Remove the current set, update the hash and add them back.
    if k.fixed(fixes.HASH_OPS_UPDATE):
        k.ftrace_hash_rec_disable_modify(ops, enable)
    else:
        k.ftrace_hash_rec_disable(ops, enable)
    # The entries move from src to the new hash; src is left empty.
    new_hash = ftrace_hash(src.ips) if src.count else EMPTY_HASH
    src.ips.clear()
    setattr(ops, dst_attr, new_hash)
    # Enable regardless of ret: on success the new hash, else the old one.
    if k.fixed(fixes.HASH_OPS_UPDATE):
        k.ftrace_hash_rec_enable_modify(ops, enable)
    else:
        k.ftrace_hash_rec_enable(ops, enable)
    return 0


def ftrace_hash_rec_update_modify(k, ops, filter_hash, inc):
    """ftrace_hash_rec_update_modify() (fix 84261912ebee): recount every sharer of the hash.

    ftrace_hash_rec_update_modify() at linux-3.17.0+seed/kernel/trace/ftrace.c:1707.
    """
    k.__ftrace_hash_rec_update(ops, filter_hash, inc)
    if ops.func_hash is not k.global_ops.func_hash:
        return
    # If the ops shares the global_ops hash, update all enabled ops using it.
    for op in do_for_each_ftrace_op(k):
        if op is ops:
            continue
        if op.func_hash is k.global_ops.func_hash:
            k.__ftrace_hash_rec_update(op, filter_hash, inc)


def ftrace_hash_rec_disable_modify(k, ops, filter_hash):
    """ftrace_hash_rec_disable_modify() (fix 84261912ebee).

    ftrace_hash_rec_disable_modify() at linux-3.17.0+seed/kernel/trace/ftrace.c:1730.
    """
    k.ftrace_hash_rec_update_modify(ops, filter_hash, 0)


def ftrace_hash_rec_enable_modify(k, ops, filter_hash):
    """ftrace_hash_rec_enable_modify() (fix 84261912ebee).

    ftrace_hash_rec_enable_modify() at linux-3.17.0+seed/kernel/trace/ftrace.c:1736.
    """
    k.ftrace_hash_rec_update_modify(ops, filter_hash, 1)


def ftrace_ops_update_code(k, ops):
    """ftrace_ops_update_code(): a filter changed; patch if ops is live.

    ftrace_ops_update_code() at linux-3.17.0+seed/kernel/trace/ftrace.c:3764.
    With hash-ops-enabled, a disabled ops whose hash another enabled ops
    shares patches too.
    """
    if not k.fixed(fixes.HASH_OPS_ENABLED):
        if ops.flags & FTRACE_OPS_FL_ENABLED and k.ftrace_enabled:
            k.ftrace_run_update_code(FTRACE_UPDATE_CALLS)
        return
    # ftrace_ops_update_code() at linux-3.18.30/kernel/trace/ftrace.c:3815
    if not k.ftrace_enabled:
        return
    if ops.flags & FTRACE_OPS_FL_ENABLED:
        k.ftrace_run_update_code(FTRACE_UPDATE_CALLS)
        return
    # A shared global_ops filter: another enabled sharer still needs the update.
    if ops.func_hash is not k.global_ops.func_hash:
        return
    for op in do_for_each_ftrace_op(k):
        if op.func_hash is k.global_ops.func_hash and op.flags & FTRACE_OPS_FL_ENABLED:
            k.ftrace_run_update_code(FTRACE_UPDATE_CALLS)
            return


def ftrace_set_hash(k, ops, buf, reset, enable, ip=0, remove=0):
    """ftrace_set_hash(): edit ops' filter (enable=1) or notrace hash with buf or ip.

    ftrace_set_hash() at linux-3.17.0+seed/kernel/trace/ftrace.c:3771.
    """
    if k.ftrace_disabled:
        return -ENODEV
    dst_attr = "filter_hash" if enable else "notrace_hash"
    hash = ftrace_hash(getattr(ops, dst_attr).ips)
    if reset:
        hash.ips.clear()
    if buf and not k.ftrace_match_records(hash, buf):
        return -EINVAL
    if ip:
        ret = k.ftrace_match_addr(hash, ip, remove)
        if ret < 0:
            return ret
    ret = k.ftrace_hash_move(ops, enable, dst_attr, hash)
    if not ret:
        k.ftrace_ops_update_code(ops)
    return ret


def ftrace_set_regex(k, ops, buf, reset, enable):
    """ftrace_set_regex().

    ftrace_set_regex() at linux-3.17.0+seed/kernel/trace/ftrace.c:3848.
    """
    return k.ftrace_set_hash(ops, buf, reset, enable)


def ftrace_set_filter(k, ops, buf, reset):
    """ftrace_set_filter(): trace only what buf names (a name, a glob, or '!name').

    ftrace_set_filter() at linux-3.17.0+seed/kernel/trace/ftrace.c:3864.
    """
    k.ftrace_ops_init(ops)
    return k.ftrace_set_regex(ops, buf, reset, 1)


def ftrace_set_notrace(k, ops, buf, reset):
    """ftrace_set_notrace(): never trace what buf names.

    ftrace_set_notrace() at linux-3.17.0+seed/kernel/trace/ftrace.c:3883.
    """
    k.ftrace_ops_init(ops)
    return k.ftrace_set_regex(ops, buf, reset, 0)


# ---------------------------------------------------------------- sysctl


def ftrace_startup_sysctl(k):
    """ftrace_startup_sysctl(): ftrace_enabled 0 -> 1.

    ftrace_startup_sysctl() at linux-3.17.0+seed/kernel/trace/ftrace.c:2472.
    """
    if k.ftrace_disabled:
        return
    # Force update next time
    k.saved_ftrace_func = None
    # ftrace_start_up is true if we want ftrace running
    if k.ftrace_start_up:
        command = FTRACE_UPDATE_CALLS
        if k.fixed(fixes.SYSCTL_GRAPH) and k.ftrace_graph_active:
            # ftrace_startup_sysctl() at linux-3.18.30/kernel/trace/ftrace.c:2493
            command |= FTRACE_START_FUNC_RET
        if k.fixed(fixes.SYSCTL_ORDER):
            # also patches ftrace_call: saved_ftrace_func is NULL now
            k.ftrace_startup_enable(command)
        else:
            k.ftrace_run_update_code(command)


def ftrace_shutdown_sysctl(k):
    """ftrace_shutdown_sysctl(): ftrace_enabled 1 -> 0.

    ftrace_shutdown_sysctl() at linux-3.17.0+seed/kernel/trace/ftrace.c:2484.
    """
    if k.ftrace_disabled:
        return
    # ftrace_start_up is true if ftrace is running
    if k.ftrace_start_up:
        command = FTRACE_DISABLE_CALLS
        if k.fixed(fixes.SYSCTL_GRAPH) and k.ftrace_graph_active:
            # ftrace_shutdown_sysctl() at linux-3.18.30/kernel/trace/ftrace.c:2511
            command |= FTRACE_STOP_FUNC_RET
        k.ftrace_run_update_code(command)


def ftrace_enable_sysctl(k, value):
    """ftrace_enable_sysctl(): a write of value to /proc/sys/kernel/ftrace_enabled.

    ftrace_enable_sysctl() at linux-3.17.0+seed/kernel/trace/ftrace.c:5225.
    """
    if k.ftrace_disabled:
        return -ENODEV
    k.ftrace_enabled = value
    if k.last_ftrace_enabled == bool(k.ftrace_enabled):
        return 0
    k.last_ftrace_enabled = bool(k.ftrace_enabled)
    if k.ftrace_enabled:
        if k.fixed(fixes.SYSCTL_ORDER):
            # ftrace_enable_sysctl() at linux-3.18.30/kernel/trace/ftrace.c:5308
            # choose the trace function first, then patch it in
            if k.ftrace_ops_list is not k.ftrace_list_end:
                k.update_ftrace_function()
            k.ftrace_startup_sysctl()
        else:
            k.ftrace_startup_sysctl()
            # we are starting ftrace again
            if k.ftrace_ops_list is not k.ftrace_list_end:
                k.update_ftrace_function()
    else:
        # stopping ftrace calls (just send to ftrace_stub)
        k.ftrace_trace_function = k.emu.sym["ftrace_stub"]
        k.ftrace_shutdown_sysctl()
    return 0


# ---------------------------------------------------------------- function graph


def ftrace_graph_entry_stub(k, func):
    """ftrace_graph_entry_stub(): refuse.

    ftrace_graph_entry_stub() at linux-3.17.0+seed/kernel/trace/ftrace.c:5278.
    """
    return 0


def trace_graph_entry(k, func):
    """trace_graph_entry() (trace_functions_graph.c): accept; set_graph_function is empty.

    trace_graph_entry() at linux-3.17.0+seed/kernel/trace/trace_functions_graph.c:310.
    """
    return 1


def ftrace_graph_entry_test(k, func):
    """ftrace_graph_entry_test(): with other ops listed, only global_ops' functions.

    ftrace_graph_entry_test() at linux-3.17.0+seed/kernel/trace/ftrace.c:5422.
    """
    if not k.ftrace_ops_test(k.global_ops, func, None):
        return 0
    return k.call_function_pointer(k.__ftrace_graph_entry, func)


def call_ftrace_graph_entry(k, func):
    """The call through the ftrace_graph_entry pointer.

    Not a C function: the ftrace_graph_entry call of prepare_ftrace_return()
    at linux-3.17.0+seed/arch/x86/kernel/ftrace.c:861.
    """
    return k.call_function_pointer(k.ftrace_graph_entry, func)


def call_function_pointer(k, name, *args):
    """Call the model function a C function pointer names.

    Not a C function: a call through a function pointer, as in
    prepare_ftrace_return() at linux-3.17.0+seed/arch/x86/kernel/ftrace.c:861.
    """
    return getattr(k, name)(*args)


def update_function_graph_func(k):
    """update_function_graph_func(): test the graph's functions only if others listed.

    update_function_graph_func() at linux-3.17.0+seed/kernel/trace/ftrace.c:5436.
    """
    if k.fixed(fixes.GRAPH_OPS):
        do_test = any(op is not k.global_ops and op is not k.graph_ops
                      for op in do_for_each_ftrace_op(k))
    else:
        do_test = not (
            k.ftrace_ops_list is k.ftrace_list_end
            or (k.ftrace_ops_list is k.global_ops and k.global_ops.next is k.ftrace_list_end)
        )
    k.ftrace_graph_entry = "ftrace_graph_entry_test" if do_test else k.__ftrace_graph_entry


def register_ftrace_graph(k, retfunc="trace_graph_return", entryfunc="trace_graph_entry"):
    """register_ftrace_graph(): start the function graph tracer.

    register_ftrace_graph() at linux-3.17.0+seed/kernel/trace/ftrace.c:5466.
    """
    # we currently allow only one tracer registered at a time
    if k.ftrace_graph_active:
        return -EBUSY
    k.ftrace_graph_active += 1
    k.ftrace_graph_return = retfunc
    # Call through the entry test first, then decide whether to skip it.
    k.__ftrace_graph_entry = entryfunc
    k.ftrace_graph_entry = "ftrace_graph_entry_test"
    k.update_function_graph_func()
    if k.fixed(fixes.GRAPH_OPS):
        ret = k.ftrace_startup(k.graph_ops, FTRACE_START_FUNC_RET)
    else:
        # Function graph doesn't use the .func field of global_ops
        k.global_ops.flags |= FTRACE_OPS_FL_STUB
        # Save off the trampoline if there was one (seed).
        k.save_global_trampoline = k.global_ops.trampoline
        k.save_global_flags = k.global_ops.flags
        # Function graph does not allocate the trampoline
        k.global_ops.flags &= ~FTRACE_OPS_FL_ALLOC_TRAMP
        # Optimize function graph calling
        k.global_ops.trampoline = k.emu.sym["ftrace_graph_caller"]
        k.emu.sync_ops(k.global_ops)
        ret = k.ftrace_startup(k.global_ops, FTRACE_START_FUNC_RET)
    return ret


def unregister_ftrace_graph(k):
    """unregister_ftrace_graph(): stop the function graph tracer.

    unregister_ftrace_graph() at linux-3.17.0+seed/kernel/trace/ftrace.c:5507.
    """
    if not k.ftrace_graph_active:
        return
    k.ftrace_graph_active -= 1
    k.ftrace_graph_return = None
    k.ftrace_graph_entry = "ftrace_graph_entry_stub"
    k.__ftrace_graph_entry = "ftrace_graph_entry_stub"
    if k.fixed(fixes.GRAPH_OPS):
        k.ftrace_shutdown(k.graph_ops, FTRACE_STOP_FUNC_RET)
        return
    k.ftrace_shutdown(k.global_ops, FTRACE_STOP_FUNC_RET)
    k.global_ops.flags &= ~FTRACE_OPS_FL_STUB
    # Restore the trampoline and ALLOC_TRAMP another global_ops user made (seed).
    k.global_ops.trampoline = k.save_global_trampoline
    if k.save_global_flags & FTRACE_OPS_FL_ALLOC_TRAMP:
        k.global_ops.flags |= FTRACE_OPS_FL_ALLOC_TRAMP
    k.emu.sync_ops(k.global_ops)


# ----------------------------------------------- enabled_functions, as the live backend reads it


def t_show(k, rec, module=None):
    """linux-3.17.0+seed/kernel/trace/ftrace.c:2942 for enabled_functions: rec's line, or None.

    Only the enabled_functions iterator's branch: its t_next skips records
    without ENABLED (None here); the line is the function (``%ps``: the
    name, then `` [module]`` for a module's), the count and `` R`` for REGS,
    then for TRAMP_EN the trampoline of ftrace_find_tramp_ops_curr() as
    ``%pS`` or ``ERROR!``.  ``%pS`` of a symbol ends in ``/<size>``, the
    guest's own number: this stops before it.
    """
    if not rec.flags & FTRACE_FL_ENABLED:
        return None
    name = rec.name + (f" [{module}]" if module else "")
    line = f"{name} ({ftrace_rec_count(rec)}){' R' if rec.flags & FTRACE_FL_REGS else '  '}"
    if rec.flags & FTRACE_FL_TRAMP_EN:
        ops = k.ftrace_find_tramp_ops_curr(rec)
        if ops is not None and ops.trampoline:
            symbols = [n for n, a in k.emu.sym.items() if a == ops.trampoline]
            line += f"\ttramp: {symbols[0]}+0x0" if symbols else f"\ttramp: {ops.trampoline:#x}"
        else:
            line += "\ttramp: ERROR!"
    return line
