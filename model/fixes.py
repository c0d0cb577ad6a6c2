"""The catalogue of known bugs of the seed and its base, and their fixes.

Kernels are named after real code: ``as-posted`` is the seed on its 3.17
merge-window base (no fix); ``3.17.0+seed`` is the seed on v3.17.0, that is
``linux-3.17.0+seed/`` of the reference trees (the fixes 3.17.0 shipped,
nothing later, nothing of tramproof's own); ``fixed`` has every fix.  Model
code tests ``k.fixed(ID)`` where a fix changes a function.  Adding a fix: a
constant, a Fix entry, and the ``k.fixed()`` branches in the functions it
changes, each citing the tree its fixed form comes from.
"""

import re
from dataclasses import dataclass

TRAMP_LOOP = "tramp-loop"
GRAPH_OPS = "graph-ops"
HASH_OPS_UPDATE = "hash-ops-update"
NOP_CURR_ADDR = "nop-curr-addr"
HASH_OPS_ENABLED = "hash-ops-enabled"
STALE_TRAMP_HASH = "stale-tramp-hash"
MOD_HASH_ZERO = "mod-hash-zero"
SYSCTL_GRAPH = "sysctl-graph"
MODULE_REGS = "module-regs"
MODULE_DISABLED = "module-disabled"
TRAMP_PG_FLAG = "tramp-pg-flag"
SYSCTL_ORDER = "sysctl-order"
SYSCTL_CLEAR_EN = "sysctl-clear-en"
TRAMP_OWNER = "tramp-owner"
# the users' paths (perf's CONTROL ops, function probes, recursion)
CONTROL_TRAMP = "control-tramp"
CONTROL_MOD = "control-mod"
PROBE_UPDATE = "probe-update"
TRAMP_RECURSION = "tramp-recursion"

V3_17 = "3.17.0"  # a 3.17-rc fix: the seed's base lacks it, v3.17.0 has it


@dataclass(frozen=True)
class Fix:
    """One catalogue entry.  No C counterpart: the catalogue is tramproof's."""

    id: str
    title: str
    # The first reference tree whose C has the fixed form ("3.17.0", "3.18.30",
    # "3.19.8", "4.0.5"), or "" for a fix of tramproof's own.
    tree: str
    # The upstream commit id, only where it was verified; else "".
    commit: str
    changes: str
    # One line of C reasoning: why the unfixed kernel goes wrong, with file:line.
    why: str
    # None when x86-64 can reach the bug; otherwise the code path that makes
    # it unreachable.
    unreachable_because: str | None = None
    # who found the bug: the kernel notes' list of 3.17-cycle fixes, or tramproof
    found_by: str = "kernel notes"

    @property
    def source(self):
        """Where the fixed form comes from, in words.  No C counterpart."""
        if not self.tree:
            return "tramproof's own"
        return f"{self.tree}, {self.commit or 'id unverified'}"


CATALOGUE = (
    Fix(
        TRAMP_LOOP,
        "ftrace: Fix up trampoline accounting with looping on hash ops",
        V3_17,
        "bce0b6c51ac7",
        "ftrace_remove_tramp() clears TRAMP, then decides by the ops' own hashes "
        "instead of ops->tramp_hash (only rebuilt after a code update); "
        "ftrace_clear_tramps() skips the ops being updated.",
        "linux-3.17.0+seed/kernel/trace/ftrace.c:1515: the base looks the owner up in "
        "tramp_hash, which does not yet hold a record TRAMP was set on in this update",
    ),
    Fix(
        GRAPH_OPS,
        "ftrace: Fix function_profiler and function tracer together",
        V3_17,
        "",
        "The function graph tracer registers its own static graph_ops "
        "(trampoline ftrace_graph_caller, sharing global_ops' hashes) instead "
        "of global_ops; the seed's save/restore of global_ops.trampoline goes.",
        "linux-3.17.0+seed/kernel/trace/ftrace.c:5466: 3.17.0 starts graph_ops; the base "
        "starts global_ops, which the function tracer may already have started",
    ),
    Fix(
        HASH_OPS_UPDATE,
        "ftrace: Update all ftrace_ops for a ftrace_hash_ops update",
        V3_17,
        "",
        "ftrace_hash_move() recounts every enabled ops sharing global_ops' "
        "hashes (ftrace_hash_rec_update_modify()).",
        "linux-3.17.0+seed/kernel/trace/ftrace.c:1707: without it a filter change on the "
        "shared hash recounts global_ops only, and graph_ops' counts go stale",
    ),
    Fix(
        NOP_CURR_ADDR,
        "ftrace: Use current addr when converting to nop in __ftrace_replace_code()",
        V3_17,
        "",
        "__ftrace_replace_code() verifies a site it turns into a nop against "
        "ftrace_get_addr_curr() instead of ftrace_get_addr_new().",
        "linux-3.17.0+seed/kernel/trace/ftrace.c:2003: MAKE_NOP checks the old bytes "
        "against the address being left",
        unreachable_because=(
            "x86 defines its own ftrace_replace_code() (three-pass breakpoint "
            "update, arch/x86/kernel/ftrace.c), so the generic "
            "__ftrace_replace_code() runs only from ftrace_update_code() for a "
            "new module record, with enable=1 and a non-zero count: "
            "ftrace_check_record() then answers MAKE_CALL, never MAKE_NOP."
        ),
    ),
    Fix(
        HASH_OPS_ENABLED,
        "ftrace: Fix updating of filters for shared global_ops filters",
        "3.18.30",
        "",
        "ftrace_ops_update_code() patches when the ops whose filter changed is "
        "disabled but another enabled ops shares global_ops' hashes.",
        "linux-3.17.0+seed/kernel/trace/ftrace.c:3764: only an ENABLED ops patches, so a "
        "set_ftrace_filter write while only the graph tracer runs recounts graph_ops' "
        "records (1707) and leaves their sites as they were",
        found_by="tramproof",
    ),
    Fix(
        STALE_TRAMP_HASH,
        "ftrace: Forget an unregistered ops' tramp_hash (tramproof's own)",
        "",
        "",
        "ftrace_shutdown() frees ops->tramp_hash after its last code update. "
        "Without it, an ops registered again keeps the tramp_hash of its "
        "previous life until the next update, and ftrace_find_tramp_ops_curr() "
        "names it the owner of records that call another ops' trampoline: "
        "the update's check of the old bytes fails (ftrace_bug).  Upstream "
        "removed tramp_hash altogether in 3.18.",
        "linux-3.17.0+seed/kernel/trace/ftrace.c:2293: tramp hashes are rebuilt only for "
        "listed ops, so an unregistered ops keeps its last one, and "
        "ftrace_find_tramp_ops_curr() (1902) believes it when the ops is listed again",
        found_by="tramproof",
    ),
    Fix(
        MOD_HASH_ZERO,
        "ftrace: Zero out ftrace hashes when a module is removed (tramproof's own form; "
        "upstream did the like after 4.0)",
        "",
        "",
        "ftrace_release_mod() zeroes the entries of the module's functions in "
        "the trace arrays' filter and notrace hashes, so that a module loaded "
        "later at the same address is not traced (or hidden) by a stale entry.",
        "linux-3.17.0+seed/kernel/trace/ftrace.c:4588: the module's pages go, its ips stay "
        "in every hash, and a later module at the same address inherits them",
        found_by="tramproof",
    ),
    Fix(
        SYSCTL_GRAPH,
        "ftrace: Fix en(dis)able graph caller when en(dis)abling record via sysctl",
        "3.18.30",
        "",
        "ftrace_startup_sysctl() and ftrace_shutdown_sysctl() add "
        "FTRACE_START_FUNC_RET / FTRACE_STOP_FUNC_RET when the graph tracer is "
        "active: a graph tracer started while ftrace_enabled=0 never had its "
        "ftrace_graph_call jump enabled.",
        "linux-3.17.0+seed/kernel/trace/ftrace.c:2472: the sysctl's update carries no "
        "graph command, and ftrace_startup() (2367) skipped its own while disabled",
        found_by="tramproof",
    ),
    Fix(
        MODULE_REGS,
        "ftrace: Give new module records REGS when an ops that traces them saves regs "
        "(tramproof's own)",
        "",
        "",
        "ftrace_update_code() sets FTRACE_FL_REGS on a new module record that "
        "an enabled SAVE_REGS ops traces.  Without it the record calls "
        "ftrace_caller, which passes no pt_regs, and ftrace_ops_test() refuses "
        "the SAVE_REGS ops.  Later kernels set REGS in referenced_filters().",
        "linux-3.17.0+seed/kernel/trace/ftrace.c:2550: p->flags = cnt (2594) sets the "
        "count only, so the site calls ftrace_caller and a SAVE_REGS ops is refused",
        found_by="tramproof",
    ),
    Fix(
        MODULE_DISABLED,
        "ftrace: Do not enable module records while ftrace_enabled=0 (tramproof's own)",
        "",
        "",
        "ftrace_update_code() enables a new module record only when "
        "ftrace_enabled is set (ftrace_startup_sysctl() enables it later).",
        "linux-3.17.0+seed/kernel/trace/ftrace.c:2550: the test at 2614 is "
        "ftrace_start_up && cnt, not ftrace_enabled, so a module loaded while "
        "ftrace_enabled=0 calls the caller, whose ftrace_call still targets the last "
        "trace function",
        found_by="tramproof",
    ),
    Fix(
        TRAMP_PG_FLAG,
        "ftrace: Count a module's trampolined records by TRAMP at unload (tramproof's own)",
        "",
        "",
        "The seed's ftrace_remove_tramp_pg() counts the records with TRAMP_EN; "
        "the fix counts FTRACE_FL_TRAMP, the bit ops->trampolines follows.  The "
        "function exists only in the seed (the patch that landed in 3.19 has no "
        "module fix-up).",
        "linux-3.17.0+seed/kernel/trace/ftrace.c:4552: it skips records without "
        "TRAMP_EN (4562), but nr_trampolines counts TRAMP, which ftrace_enabled=0 "
        "leaves without TRAMP_EN: unloading leaves the count too high",
        found_by="tramproof",
    ),
    Fix(
        SYSCTL_ORDER,
        "ftrace: Fix ftrace enable ordering of sysctl ftrace_enabled",
        "3.18.30",
        "524a38682573",
        "ftrace_enable_sysctl() chooses the trace function before the code "
        "update, and ftrace_startup_sysctl() runs it through "
        "ftrace_startup_enable(), which patches ftrace_call too.",
        "linux-3.17.0+seed/kernel/trace/ftrace.c:5225: the update runs before "
        "update_ftrace_function() and without FTRACE_UPDATE_TRACE_FUNC, so ops "
        "registered while disabled are never called",
        found_by="tramproof",
    ),
    Fix(
        SYSCTL_CLEAR_EN,
        "ftrace: Clear REGS_EN and TRAMP_EN flags on disabling record via sysctl",
        "3.18.30",
        "",
        "ftrace_check_record() clears REGS_EN and TRAMP_EN with ENABLED when it "
        "disables a record that still has users.  Adapted to the seed: "
        "ftrace_save_ops_tramp_hash() also skips its count check while "
        "ftrace_enabled=0, when no site calls a trampoline (3.18 has no tramp_hash).",
        "linux-3.17.0+seed/kernel/trace/ftrace.c:1791: disabling keeps TRAMP_EN on a nop "
        "site, and the next enable asks ftrace_get_addr_curr() (1980) for an owner "
        "no tramp_hash holds: Bad trampoline accounting",
        found_by="tramproof",
    ),
    Fix(
        TRAMP_OWNER,
        "ftrace: Only the ops that set TRAMP on a record clears it (tramproof's own)",
        "",
        "",
        "Each ops remembers the records it set TRAMP on; ftrace_remove_tramp() "
        "clears TRAMP and drops the count only for that ops.  3.17.0's form "
        "clears TRAMP for whoever asks first, and ftrace_clear_tramps() asks "
        "every ops in list order, so the owner, asked later, keeps its count; "
        "deciding by the ops' hashes instead fails while ftrace_hash_move() "
        "changes a hash two ops share.  Upstream dropped the count in 3.18 "
        "(fef5aeeee9e3 replaced tramp_hash).",
        "linux-3.17.0+seed/kernel/trace/ftrace.c:1515: TRAMP is cleared (1522) before the "
        "hash test, so in ftrace_clear_tramps() (1535) the first ops with trampolines "
        "clears it and the owner is never decremented: the kernel's own "
        "trace_selftest_ops() then fails the seed's count check (2285)",
        found_by="tramproof",
    ),
    Fix(
        CONTROL_TRAMP,
        "ftrace: Let only an ops with a trampoline own a trampolined record (tramproof's own)",
        "",
        "",
        "ftrace_find_tramp_ops_new() skips ops without a trampoline, as 3.18.30's "
        "ftrace_find_tramp_ops_any() does (linux-3.18.30/kernel/trace/ftrace.c:1897).",
        "linux-3.17.0+seed/kernel/trace/ftrace.c:1925: control_ops, whose empty hashes "
        "admit every ip and which perf's first CONTROL ops puts at the head of "
        "ftrace_ops_list (361), answers for a record another ops' trampoline holds, "
        "and ftrace_get_addr_new() (1948) warns and kills ftrace",
        found_by="tramproof",
    ),
    Fix(
        CONTROL_MOD,
        "ftrace: Count CONTROL ops into new module records (tramproof's own)",
        "",
        "",
        "ftrace_update_code() and referenced_filters() also walk "
        "ftrace_control_list.",
        "linux-3.17.0+seed/kernel/trace/ftrace.c:2550: the walk at 2568 is of "
        "ftrace_ops_list, where only control_ops (never ENABLED) stands for perf, so a "
        "module loaded while perf's event traces every function gets no count for "
        "it, and perf's close underflows the count (FTRACE_WARN_ON at 1663)",
        found_by="tramproof",
    ),
    Fix(
        PROBE_UPDATE,
        "ftrace: Update the call sites when some function probes are removed (tramproof's own)",
        "",
        "",
        "__unregister_ftrace_function_probe() calls ftrace_ops_update_code() "
        "after moving trace_probe_ops' hash (unchanged in 4.0.5).",
        "linux-3.17.0+seed/kernel/trace/ftrace.c:3504: with probes left, the hash is "
        "moved (3576) and no site is updated: a function whose probe went keeps "
        "calling trace_probe_ops' trampoline with no owner",
        found_by="tramproof",
    ),
    Fix(
        TRAMP_RECURSION,
        "ftrace: Add separate function for non recursive callbacks",
        "3.19.8",
        "",
        "The trampoline calls ftrace_ops_get_func(ops) "
        "(linux-3.19.8/arch/x86/kernel/ftrace.c:845): ftrace_ops_recurs_func() "
        "(linux-3.18.30/kernel/trace/ftrace.c:4929), the list function's "
        "recursion guard, for an ops that is not RECURSION_SAFE.",
        "linux-3.17.0+seed/arch/x86/kernel/ftrace.c:784: the seed's trampoline calls "
        "ops->func directly, so kprobe_ftrace_ops and trace_probe_ops, which rely on "
        "ftrace's recursion guard, recurse without bound when their handler calls "
        "the function they trace",
        found_by="tramproof",
    ),
)

BY_ID = {fix.id: fix for fix in CATALOGUE}

KERNELS = {
    "as-posted": frozenset(),
    "3.17.0+seed": frozenset(f.id for f in CATALOGUE if f.tree == V3_17),
    "fixed": frozenset(BY_ID),
}


def kernel_fixes(kernel):
    """The fix set of a kernel name.  No C counterpart.

    A name is one of KERNELS (``as-posted``, ``3.17.0+seed``, ``fixed``),
    then any number of ``+<id>`` (add that fix) or ``-<id>`` (leave it out):
    ``fixed-tramp-loop`` is `fixed` without tramp-loop,
    ``3.17.0+seed+sysctl-order`` is 3.17.0 with the seed and that later fix.
    """
    if not isinstance(kernel, str):
        raise ValueError(f"unknown kernel {kernel!r}: a kernel is named by a string")
    ids = "|".join(sorted(map(re.escape, BY_ID), key=len, reverse=True))
    bases = "|".join(map(re.escape, KERNELS))
    m = re.fullmatch(rf"({bases})((?:[+-](?:{ids}))*)", kernel)
    if not m:
        raise ValueError(
            f"unknown kernel {kernel!r}: choose {', '.join(KERNELS)}, then +<id> or -<id> "
            "for any fix id in " + ", ".join(sorted(BY_ID))
        )
    chosen = set(KERNELS[m.group(1)])
    for sign, fix in re.findall(rf"([+-])({ids})", m.group(2)):
        (chosen.add if sign == "+" else chosen.discard)(fix)
    return frozenset(chosen)


def kernel_name(fix_ids):
    """The shortest name of a fix set, as kernel_fixes reads it.  No C counterpart.

    Ties go to the base listed first in KERNELS.
    """
    names = []
    for base, have in KERNELS.items():
        added = "".join(f"+{f.id}" for f in CATALOGUE if f.id in fix_ids and f.id not in have)
        dropped = "".join(f"-{f.id}" for f in CATALOGUE if f.id in have and f.id not in fix_ids)
        names.append(f"{base}{added}{dropped}")
    return min(names, key=len)
