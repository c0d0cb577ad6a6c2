"""The state machine's dimensions and strategies, in one place.

Every sampled_from list is sorted, so that a replayed example draws the same
thing whatever the order of a dict or a set.
"""

from hypothesis import strategies as st

VMLINUX_FUNCTIONS = 4
MODULE_FUNCTIONS = ("a", "b")
MAX_MODULES = 6

# filter patterns besides the names of functions that exist or existed
GLOBS = ("*_a", "f*", "mod*", "mod1_*")

# The ops whose filters ftrace_set_filter()/ftrace_set_notrace() edit, each
# as often: global_ops's are also written through set_ftrace_filter (the
# tracefs_filter rule), and perf's filter, set before the event's
# registration, is what control-tramp needs (README "Speed and scale").
filtered_ops = st.sampled_from(
    sorted(["global_ops", "stack_trace", "regs_ops", "kprobe_ifs", "perf", "instance"])
)
# True three times in four; shrinks to True.  The draws of the three
# choices below, each a coin weighted the same way.
three_in_four = st.integers(0, 3).map(lambda n: n != 3)

# perf's event closed after a DEL three times in four (else ADDed again):
# an open event with no filter traces every function, and leaves no record
# to a trampoline.  Shrinks to a close.
perf_closes = three_in_four

# A draw that follows the machine's state (a callback's call is a running
# user's, and a kprobe's or a function probe's calls a function it probes)
# three times in four; the fourth draws from every name, as an unfollowed
# draw does, so that no step the state does not suggest goes out of reach.
# Shrinks to following.
follows = three_in_four

# A write to ftrace_enabled flips it three times in four (the other value);
# the fourth writes the value it has, which the sysctl ignores.  Shrinks to a flip.
sysctl_flips = three_in_four


# A sorted list of every name, built on each draw, would be O(records) a
# step.  vmlinux's names are fixed per size and module names only ever join
# the pool (an unloaded module's names stay, as dead names), so the sampled
# list of a given (vmlinux size, module names) is built once per process.
_POOLS = {}
_POOLS_KEPT = 64


def vmlinux_names(functions):
    """The names of the state machine's vmlinux functions: f0, f1, ..."""
    return [f"f{i}" for i in range(functions)]


def pattern_strategy(functions, module_names, live_modular):
    """A filter pattern: a function name (live or of an unloaded module) or a glob.

    Half the time a live module function: modules are where functions come
    and go (stale entries, reused addresses), and they are few among the
    names.  For a machine whose vmlinux has ``functions`` functions f0.. and
    whose modules' function names (live or unloaded) are ``module_names`` (a
    frozenset), ``live_modular`` of them live.
    """
    key = (functions, module_names)
    everything = _POOLS.get(key)
    if everything is None:
        if len(_POOLS) >= _POOLS_KEPT:
            _POOLS.pop(next(iter(_POOLS)))
        base = _POOLS.get(functions)
        if base is None:
            base = _POOLS[functions] = tuple(sorted({*vmlinux_names(functions), *GLOBS}))
        names = tuple(sorted({*base, *module_names})) if module_names else base
        everything = st.sampled_from(names)
        _POOLS[key] = everything
    if live_modular:
        return st.one_of(st.sampled_from(sorted(live_modular)), everything)
    return everything


def one_of_names(names):
    """One of a set of names (users, modules), drawn in a stable order."""
    return st.sampled_from(sorted(names))


# A fault injected into the module_alloc() an entry point makes: one time in
# eight, and False when shrunk.
faults = st.integers(0, 7).map(lambda n: n == 7)


def fault_note(fails):
    return " (module_alloc fails)" if fails else ""
