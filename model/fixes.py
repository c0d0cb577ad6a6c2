"""The catalogue of known bugs of the seed's base and their upstream fixes.

A kernel is built with a set of fix ids: ``as-posted`` has none (the seed on
its base), ``fixed`` has every one.  Model code tests ``k.fixed(ID)`` where
a fix changes a function.  Adding a fix: a constant, a Fix entry, and the
``k.fixed()`` branches in the functions it changes.
"""

from dataclasses import dataclass

TRAMP_LOOP = "tramp-loop"
GRAPH_OPS = "graph-ops"
HASH_OPS_UPDATE = "hash-ops-update"
NOP_CURR_ADDR = "nop-curr-addr"


@dataclass(frozen=True)
class Fix:
    id: str
    title: str
    commit: str
    changes: str
    # None when x86-64 can reach the bug; otherwise the code path that makes
    # it unreachable.
    unreachable_because: str | None = None


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
)

BY_ID = {fix.id: fix for fix in CATALOGUE}

KERNELS = {
    "as-posted": frozenset(),
    "fixed": frozenset(BY_ID),
}


def kernel_fixes(kernel):
    """The fix set of a kernel name ('as-posted', 'fixed', or 'fixed-<id>')."""
    if kernel in KERNELS:
        return KERNELS[kernel]
    if kernel.startswith("fixed-") and kernel[len("fixed-"):] in BY_ID:
        return KERNELS["fixed"] - {kernel[len("fixed-"):]}
    raise ValueError(
        f"unknown kernel {kernel!r}: choose as-posted, fixed, or fixed-<id> with id in "
        + ", ".join(sorted(BY_ID))
    )
