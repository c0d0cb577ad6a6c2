"""The catalogue of known bugs of the seed's base and their upstream fixes.

A kernel is built with a set of fix ids: ``as-posted`` has none (the seed on
its base), ``fixed`` has every one.  Model code tests ``k.fixed(ID)`` where
a fix changes a function.  Adding a fix: a constant, a Fix entry, and the
``k.fixed()`` branches in the functions it changes.
"""

import re
from dataclasses import dataclass

TRAMP_LOOP = "tramp-loop"
GRAPH_OPS = "graph-ops"
HASH_OPS_UPDATE = "hash-ops-update"
NOP_CURR_ADDR = "nop-curr-addr"
STALE_TRAMP_HASH = "stale-tramp-hash"
MOD_HASH_ZERO = "mod-hash-zero"
SYSCTL_GRAPH = "sysctl-graph"
MODULE_REGS = "module-regs"
MODULE_DISABLED = "module-disabled"
TRAMP_PG_FLAG = "tramp-pg-flag"
SYSCTL_ORDER = "sysctl-order"
SYSCTL_CLEAR_EN = "sysctl-clear-en"
TRAMP_OWNER = "tramp-owner"
TRACES_MOD_NOTRACE = "traces-mod-notrace"
# the users' paths (perf's CONTROL ops, function probes, recursion)
CONTROL_TRAMP = "control-tramp"
CONTROL_MOD = "control-mod"
PROBE_UPDATE = "probe-update"
TRAMP_RECURSION = "tramp-recursion"


@dataclass(frozen=True)
class Fix:
    id: str
    title: str
    commit: str  # upstream commit id ("by vX.Y" when not identified); "" for tramproof's own
    changes: str
    # None when x86-64 can reach the bug; otherwise the code path that makes
    # it unreachable.
    unreachable_because: str | None = None
    # who found the bug: the kernel notes' list of 3.17-cycle fixes, or tramproof
    found_by: str = "kernel notes"


CATALOGUE = (
    Fix(
        TRAMP_LOOP,
        "ftrace: Fix up trampoline accounting with looping on hash ops",
        "bce0b6c51ac7",
        "ftrace_remove_tramp() decides by the ops' own hashes instead of "
        "ops->tramp_hash (which is only rebuilt after a code update); "
        "ftrace_clear_tramps() skips the ops being updated and stops at the "
        "first ops it decremented.",
    ),
    Fix(
        GRAPH_OPS,
        "ftrace: Fix function_profiler and function tracer together",
        "5f151b240192",
        "The function graph tracer registers its own static graph_ops "
        "(trampoline ftrace_graph_caller, sharing global_ops' hashes) instead "
        "of global_ops; the seed's save/restore of global_ops.trampoline goes.",
    ),
    Fix(
        HASH_OPS_UPDATE,
        "ftrace: Update all ftrace_ops for a ftrace_hash_ops update",
        "84261912ebee",
        "ftrace_hash_move() recounts every enabled ops sharing global_ops' "
        "hashes, and ftrace_ops_update_code() patches when any of them is "
        "enabled.",
    ),
    Fix(
        NOP_CURR_ADDR,
        "ftrace: Use current addr when converting to nop in __ftrace_replace_code()",
        "39b5552cd509",
        "__ftrace_replace_code() verifies a site it turns into a nop against "
        "ftrace_get_addr_curr() instead of ftrace_get_addr_new().",
        unreachable_because=(
            "x86 defines its own ftrace_replace_code() (three-pass breakpoint "
            "update, arch/x86/kernel/ftrace.c), so the generic "
            "__ftrace_replace_code() runs only from ftrace_update_code() for a "
            "new module record, with enable=1 and a non-zero count: "
            "ftrace_check_record() then answers MAKE_CALL, never MAKE_NOP."
        ),
    ),
    Fix(
        STALE_TRAMP_HASH,
        "ftrace: Forget an unregistered ops' tramp_hash (tramproof's own)",
        "",
        "ftrace_shutdown() frees ops->tramp_hash after its last code update. "
        "Without it, an ops registered again keeps the tramp_hash of its "
        "previous life until the next update, and ftrace_find_tramp_ops_curr() "
        "names it the owner of records that call another ops' trampoline: "
        "the update's check of the old bytes fails (ftrace_bug).  Upstream "
        "removed tramp_hash altogether in 3.18 (fef5aeeee9e3).",
        found_by="tramproof",
    ),
    Fix(
        MOD_HASH_ZERO,
        "ftrace: Zero out ftrace hashes when a module is removed",
        "2a5bfe4797d6",
        "ftrace_release_mod() zeroes the entries of the module's functions in "
        "the trace arrays' filter and notrace hashes, so that a module loaded "
        "later at the same address is not traced (or hidden) by a stale entry.",
        found_by="tramproof",
    ),
    Fix(
        SYSCTL_GRAPH,
        "ftrace: Fix en(dis)able graph caller when en(dis)abling record via sysctl",
        "524a38682573",
        "ftrace_startup_sysctl() and ftrace_shutdown_sysctl() add "
        "FTRACE_START_FUNC_RET / FTRACE_STOP_FUNC_RET when the graph tracer is "
        "active: a graph tracer started while ftrace_enabled=0 never had its "
        "ftrace_graph_call jump enabled.",
        found_by="tramproof",
    ),
    Fix(
        MODULE_REGS,
        "ftrace: Give new module records REGS when an ops that traces them saves regs "
        "(tramproof's own)",
        "",
        "ftrace_update_code() sets FTRACE_FL_REGS on a new module record that "
        "an enabled SAVE_REGS ops traces.  Without it the record calls "
        "ftrace_caller, which passes no pt_regs, and ftrace_ops_test() refuses "
        "the SAVE_REGS ops: a kprobe on every function misses module "
        "functions.  Later kernels set REGS in referenced_filters().",
        found_by="tramproof",
    ),
    Fix(
        MODULE_DISABLED,
        "ftrace: Do not enable module records while ftrace_enabled=0 (tramproof's own)",
        "",
        "ftrace_update_code() enables a new module record only when "
        "ftrace_enabled is set (ftrace_startup_sysctl() enables it later).  "
        "Without it, a module loaded while ftrace_enabled=0 calls ftrace_caller, "
        "whose ftrace_call still targets the last trace function: callbacks "
        "run while function tracing is off.",
        found_by="tramproof",
    ),
    Fix(
        TRAMP_PG_FLAG,
        "ftrace: Count a module's trampolined records by TRAMP at unload (tramproof's own)",
        "",
        "The seed's ftrace_remove_tramp_pg() counts the records with "
        "TRAMP_EN; with ftrace_enabled=0 no code update has turned TRAMP into "
        "TRAMP_EN, so unloading the module leaves ops->trampolines too high and "
        "the next update kills ftrace.  The fix counts FTRACE_FL_TRAMP, the bit "
        "ops->trampolines follows.  The function exists only in the seed "
        "(the patch that landed in 3.19 has no module fix-up).",
        found_by="tramproof",
    ),
    Fix(
        SYSCTL_ORDER,
        "ftrace: Fix ftrace enable ordering of sysctl ftrace_enabled",
        "f8b8be8a310a",
        "ftrace_enable_sysctl() chooses the trace function before the code "
        "update, and ftrace_startup_sysctl() runs it through "
        "ftrace_startup_enable(), which patches ftrace_call too.  Without it, "
        "ops registered while ftrace_enabled=0 are never called after "
        "ftrace_enabled=1: ftrace_call still targets the old function.",
        found_by="tramproof",
    ),
    Fix(
        SYSCTL_CLEAR_EN,
        "ftrace: Clear REGS_EN and TRAMP_EN flags on disabling record via sysctl",
        "b24d443bc5e4",
        "ftrace_check_record() clears REGS_EN and TRAMP_EN with ENABLED when it "
        "disables a record that still has users.  Without it, after "
        "ftrace_enabled=0 a nop site keeps TRAMP_EN, and the next enable asks "
        "ftrace_find_tramp_ops_curr() for the owner of a trampoline the site "
        "no longer calls (FTRACE_WARN_ON: Bad trampoline accounting).  "
        "Upstream wrote it for a kernel without tramp_hash; on the seed it "
        "also needs ftrace_save_ops_tramp_hash() to skip its count check while "
        "ftrace_enabled=0, when no site calls a trampoline.",
        found_by="tramproof",
    ),
    Fix(
        TRAMP_OWNER,
        "ftrace: Remember which ops set TRAMP on a record (tramproof's own)",
        "",
        "With tramp-loop, ftrace_remove_tramp() names the owner of a "
        "trampolined record by the ops' own hashes.  While ftrace_hash_move() "
        "updates a notrace hash that graph_ops and global_ops share, those "
        "hashes already (or still) exclude the record: the owner is not found, "
        "TRAMP stays on a record two ops trace, and the site is sent to one "
        "ops' trampoline, so the other ops is never called.  The fix keeps, "
        "per ops, the records it set TRAMP on, and asks that instead.  "
        "Upstream replaced the whole scheme in 3.18 (fef5aeeee9e3).",
        found_by="tramproof",
    ),
    Fix(
        TRACES_MOD_NOTRACE,
        "ftrace: ops_traces_mod() also requires an empty notrace hash "
        "(upstream by v4.0; commit not identified)",
        "by v4.0",
        "ops_traces_mod() counts an ops with an empty filter into every new "
        "module record, even when its notrace hash names that record (an "
        "entry left by an earlier module at the same address): the record is "
        "counted for an ops that ftrace_ops_test() refuses, and the count "
        "never drops again.  v4.0's ops_traces_mod() tests both hashes.",
        found_by="tramproof",
    ),
    Fix(
        CONTROL_TRAMP,
        "ftrace: Let only an ops with a trampoline own a trampolined record (tramproof's own)",
        "",
        "ftrace_find_tramp_ops_new() skips ops without a trampoline, as 3.19.8's "
        "ftrace_find_tramp_ops_any() does (linux-3.19.8/kernel/trace/ftrace.c:2089).  "
        "Without it control_ops, whose empty hashes admit every ip "
        "(linux-3.17.0+seed/kernel/trace/ftrace.c:4830) and which perf's first "
        "CONTROL ops puts at the head of ftrace_ops_list (:361), answers for a "
        "record another ops' trampoline holds: FTRACE_WARN_ON in "
        "ftrace_get_addr_new() (:1955) kills ftrace.",
        found_by="tramproof",
    ),
    Fix(
        CONTROL_MOD,
        "ftrace: Count CONTROL ops into new module records (tramproof's own)",
        "",
        "ftrace_update_code() and referenced_filters() also walk "
        "ftrace_control_list.  Without it a module loaded while perf's event "
        "traces every function gets no count for it "
        "(linux-3.17.0+seed/kernel/trace/ftrace.c:2568 walks ftrace_ops_list, "
        "where only control_ops, never ENABLED, stands for perf), and perf's "
        "close underflows the count (FTRACE_WARN_ON at :1663).",
        found_by="tramproof",
    ),
    Fix(
        PROBE_UPDATE,
        "ftrace: Update the call sites when some function probes are removed (tramproof's own)",
        "",
        "__unregister_ftrace_function_probe() calls ftrace_ops_update_code() "
        "after moving trace_probe_ops' hash.  Without it, with probes left, the "
        "hash is moved (linux-3.17.0+seed/kernel/trace/ftrace.c:3576) and no "
        "site is updated: a function whose probe went keeps calling "
        "trace_probe_ops' trampoline with no owner (unchanged in 4.0.5, :3846).",
        found_by="tramproof",
    ),
    Fix(
        TRAMP_RECURSION,
        "ftrace: Add separate function for non recursive callbacks (in 3.18.30, id unverified)",
        "",
        "The trampoline calls ftrace_ops_get_func(ops) "
        "(linux-3.19.8/arch/x86/kernel/ftrace.c:845): ftrace_ops_recurs_func() "
        "(linux-3.18.30/kernel/trace/ftrace.c:4929), the list function's "
        "recursion guard, for an ops that is not RECURSION_SAFE.  The seed's "
        "trampoline calls ops->func directly "
        "(linux-3.17.0+seed/arch/x86/kernel/ftrace.c:784), "
        "so kprobe_ftrace_ops and trace_probe_ops, which rely on ftrace's "
        "guard (include/linux/ftrace.h:84), recurse without bound when their "
        "handler calls the function they trace.",
        found_by="tramproof",
    ),
)

BY_ID = {fix.id: fix for fix in CATALOGUE}

KERNELS = {
    "as-posted": frozenset(),
    "fixed": frozenset(BY_ID),
}


def kernel_fixes(kernel):
    """The fix set of a kernel name.

    A name is ``as-posted`` or ``fixed``, then any number of ``+<id>`` (add
    that fix) or ``-<id>`` (leave it out): ``fixed-tramp-loop`` is `fixed`
    without tramp-loop, ``as-posted+tramp-loop`` the seed with that fix only.
    """
    ids = "|".join(sorted(map(re.escape, BY_ID), key=len, reverse=True))
    m = re.fullmatch(rf"(as-posted|fixed)((?:[+-](?:{ids}))*)", kernel)
    if not m:
        raise ValueError(
            f"unknown kernel {kernel!r}: choose as-posted or fixed, then +<id> or -<id> "
            "for any fix id in " + ", ".join(sorted(BY_ID))
        )
    chosen = set(KERNELS[m.group(1)])
    for sign, fix in re.findall(rf"([+-])({ids})", m.group(2)):
        (chosen.add if sign == "+" else chosen.discard)(fix)
    return frozenset(chosen)


def kernel_name(fix_ids):
    """The shorter name of a fix set, as kernel_fixes() reads it, in catalogue order."""
    added = "".join(f"+{f.id}" for f in CATALOGUE if f.id in fix_ids)
    dropped = "".join(f"-{f.id}" for f in CATALOGUE if f.id not in fix_ids)
    return min(f"as-posted{added}", f"fixed{dropped}", key=len)
