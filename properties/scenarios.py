"""Hand-written kernel scenarios: the boot selftest, one per hunk of the seed, one per fix.

Each scenario drives a fresh kernel through kernel entry points and checks
what a correct kernel must show: callback counts, record accounting, call
targets, and no warning.  A scenario does not know which kernel it runs on;
the tests state which kernels must pass which scenarios, and `tramproof
scenarios` reports what each kernel measured.
"""

from dataclasses import dataclass, field

from model.include.linux.ftrace import (
    FTRACE_FL_REGS,
    FTRACE_FL_TRAMP,
    FTRACE_FL_TRAMP_EN,
    FTRACE_OPS_FL_ALLOC_TRAMP,
    FTRACE_OPS_FL_DELETED,
    FTRACE_OPS_FL_RECURSION_SAFE,
    ftrace_rec_count,
)
from properties.users import System
from properties.x86_checks import call_target

SCENARIOS = {}


def scenario(title):
    """Register a scenario function under its name."""

    def register(fn):
        SCENARIOS[fn.__name__] = (title, fn)
        return fn

    return register


@dataclass
class Outcome:
    """What a scenario measured on one kernel."""

    name: str
    kernel: str
    failures: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    @property
    def passed(self):
        return not self.failures and not self.warnings


class Run:
    """One scenario on one kernel: the system plus the checks that failed."""

    def __init__(self, kernel, **kw):
        self.sys = System(kernel, **kw)
        self.k = self.sys.k
        self.failures = []

    def check(self, condition, what):
        if not condition:
            self.failures.append(what)
        return condition

    def rec(self, fname):
        return self.k.rec_by_ip[self.sys.ip(fname)]

    def site_target(self, fname):
        """Where fname's call site calls now (None for the nop)."""
        ip = self.sys.ip(fname)
        return call_target(ip, self.k.emu.read(ip, 5))

    def expect_calls(self, fname, expected):
        got = sorted(self.sys.called(fname))
        self.check(got == sorted(expected), f"{fname} called {got}, expected {sorted(expected)}")


def run(name, kernel, **kw):
    """Run scenario ``name`` on ``kernel``; its Outcome."""
    _, fn = SCENARIOS[name]
    r = Run(kernel, **kw)
    fn(r)
    return Outcome(name, kernel, r.failures, r.sys.warnings())


# ---------------------------------------------------------------- the kernel's own


@scenario("trace_selftest_ops(): three static probes, the function tracer, a dynamic ops")
def selftest_ops(r):
    """kernel/trace/trace_selftest.c trace_selftest_ops(), with cnt > 1."""
    k, sys = r.k, r.sys
    names = ("test_probe1", "test_probe2", "test_probe3")
    p1, p2, p3 = (sys.new_ops(n, FTRACE_OPS_FL_RECURSION_SAFE) for n in names)
    # Probe 1 traces function 1, probe 2 function 2, probe 3 both.
    k.ftrace_set_filter(p1, "*f1", 1)
    k.ftrace_set_filter(p2, "*f2", 1)
    k.ftrace_set_filter(p3, "*f1", 1)
    k.ftrace_set_filter(p3, "*f2", 0)
    for p in (p1, p2, p3):
        k.register_ftrace_function(p)
    sys.function_tracer_start()
    r.expect_calls("f1", ["global_ops", "test_probe1", "test_probe3"])
    r.expect_calls("f2", ["global_ops", "test_probe2", "test_probe3"])
    dyn = sys.new_ops("dyn_ops", 0, dynamic=True)
    k.register_ftrace_function(dyn)
    r.expect_calls("f1", ["dyn_ops", "global_ops", "test_probe1", "test_probe3"])
    r.expect_calls("f2", ["dyn_ops", "global_ops", "test_probe2", "test_probe3"])
    r.check(ftrace_rec_count(r.rec("f1")) == 4, "f1 count after dyn_ops is not 4")
    r.check(ftrace_rec_count(r.rec("f5")) == 2, "f5 count after dyn_ops is not 2")
    k.unregister_ftrace_function(dyn)
    # Purposely unregister in the same order.
    for p in (p1, p2, p3):
        k.unregister_ftrace_function(p)
    sys.function_tracer_stop()
    for fname in ("f1", "f2", "f5"):
        r.expect_calls(fname, [])
        r.check(r.rec(fname).flags == 0, f"{fname} flags {r.rec(fname).flags:#x} after all off")
        r.check(r.site_target(fname) is None, f"{fname} site not a nop after all off")


# ---------------------------------------------------------------- the seed's hunks


@scenario("ftrace_update_trampoline(): a static ops gets a trampoline, a dynamic one does not")
def hunk_update_trampoline(r):
    k, sys = r.k, r.sys
    st = sys.user("stack_trace")
    inst = sys.user("instance")
    k.register_ftrace_function(st)
    k.register_ftrace_function(inst)
    r.check(st.trampoline and st.flags & FTRACE_OPS_FL_ALLOC_TRAMP, "static ops has no ALLOC_TRAMP")
    r.check(inst.trampoline == 0, "dynamic ops got a trampoline")


@scenario("__ftrace_hash_rec_update(): one ops with a trampoline, then a second joins")
def hunk_tramp_then_shared(r):
    k, sys = r.k, r.sys
    st = sys.user("stack_trace")
    kp = sys.user("regs_ops")
    k.ftrace_set_filter(st, "f1", 1)
    k.register_ftrace_function(st)
    rec = r.rec("f1")
    r.check(rec.flags & FTRACE_FL_TRAMP and rec.flags & FTRACE_FL_TRAMP_EN, "f1 not TRAMP|TRAMP_EN")
    r.check(r.site_target("f1") == st.trampoline, "f1 does not call stack_trace's trampoline")
    r.check(st.trampolines == 1 and st.tramp_hash.ips == {rec.ip}, "tramp_hash/trampolines off")
    r.expect_calls("f1", ["stack_trace"])
    k.ftrace_set_filter(kp, "f1", 1)
    k.register_ftrace_function(kp)
    r.check(not rec.flags & (FTRACE_FL_TRAMP | FTRACE_FL_TRAMP_EN), "f1 still TRAMP when shared")
    r.check(rec.flags & FTRACE_FL_REGS, "f1 lost REGS with regs_ops on it")
    r.check(r.site_target("f1") == k.emu.sym["ftrace_regs_caller"], "f1 not on ftrace_regs_caller")
    r.check(st.trampolines == 0, f"stack_trace trampolines {st.trampolines} after sharing")
    r.expect_calls("f1", ["regs_ops", "stack_trace"])
    k.unregister_ftrace_function(kp)
    # Back to one ops: the record is not put back on the trampoline.
    r.check(r.site_target("f1") == k.emu.sym["ftrace_caller"], "f1 not on ftrace_caller")
    r.expect_calls("f1", ["stack_trace"])
    k.unregister_ftrace_function(st)
    r.check(st.trampolines == 0, "trampolines left after unregister")


@scenario("ftrace_release_mod(): unloading a module drops ops->trampolines")
def hunk_module_unload(r):
    k, sys = r.k, r.sys
    mod = k.load_module("mod1", ["mod1_a", "mod1_b"])
    st = sys.user("stack_trace")
    k.ftrace_set_filter(st, "mod1_*", 1)
    k.ftrace_set_filter(st, "f3", 0)
    k.register_ftrace_function(st)
    r.check(st.trampolines == 3, f"trampolines {st.trampolines}, expected 3")
    r.expect_calls("mod1_a", ["stack_trace"])
    k.free_module(mod)
    r.check(st.trampolines == 1, f"trampolines {st.trampolines} after unload, expected 1")
    k.ftrace_set_filter(st, "f4", 0)  # another update: tramp hashes rebuilt and checked
    r.check(st.trampolines == 2, f"trampolines {st.trampolines}, expected 2")
    k.unregister_ftrace_function(st)


@scenario("register/unregister_ftrace_graph(): global_ops' trampoline and ALLOC_TRAMP come back")
def hunk_graph_restore(r):
    k, sys = r.k, r.sys
    sys.function_tracer_start()
    tramp = k.global_ops.trampoline
    r.check(
        tramp and k.global_ops.flags & FTRACE_OPS_FL_ALLOC_TRAMP, "global_ops has no trampoline"
    )
    sys.function_tracer_stop()
    k.register_ftrace_graph()
    res = sys.run("f2")
    r.check(len(res.graph_calls) == 1 and res.returned_via_handler, "f2 not graph traced")
    k.unregister_ftrace_graph()
    r.check(k.global_ops.trampoline == tramp, "global_ops.trampoline not restored")
    r.check(k.global_ops.flags & FTRACE_OPS_FL_ALLOC_TRAMP, "ALLOC_TRAMP not restored")
    sys.function_tracer_start(stack=True)  # a new func: the trampoline is re-patched
    r.check(r.site_target("f2") == tramp, "f2 not on global_ops' trampoline")
    r.expect_calls("f2", ["global_ops"])
    inv = sys.run("f2").calls[0]
    r.check(inv.func == sys.function_stack_trace_call, "trampoline calls the old func")
    sys.function_tracer_stop()


# ---------------------------------------------------------------- the catalogued fixes


@scenario("tramp-loop: a second ops joins while tramp_hash is stale (ftrace_enabled=0)")
def fix_tramp_loop(r):
    k, sys = r.k, r.sys
    st = sys.user("stack_trace")
    kp = sys.user("regs_ops")
    k.ftrace_enable_sysctl(0)
    k.ftrace_set_filter(st, "f1", 1)
    k.register_ftrace_function(st)
    k.ftrace_set_filter(kp, "f1", 1)
    k.register_ftrace_function(kp)
    r.check(st.trampolines == 0, f"stack_trace trampolines {st.trampolines} on a shared record")
    k.ftrace_enable_sysctl(1)  # the update rebuilds the tramp hashes and checks the counts
    r.check(r.site_target("f1") == k.emu.sym["ftrace_regs_caller"], "f1 not on ftrace_regs_caller")


@scenario("graph-ops: the function profiler (graph) starts beside the function tracer")
def fix_graph_ops(r):
    k, sys = r.k, r.sys
    sys.function_tracer_start()
    r.check(k.register_ftrace_graph() == 0, "register_ftrace_graph failed")
    r.expect_calls("f1", ["global_ops"])
    r.check(len(sys.run("f1").graph_calls) == 1, "f1 not graph traced")
    k.unregister_ftrace_graph()
    r.expect_calls("f1", ["global_ops"])
    sys.function_tracer_stop()
    r.expect_calls("f1", [])


@scenario("hash-ops-update: a filter change on global_ops while the graph shares its hash")
def fix_hash_ops_update(r):
    k, sys = r.k, r.sys
    sys.function_tracer_start()
    k.register_ftrace_graph()
    k.ftrace_set_filter(k.global_ops, "f1", 1)
    r.expect_calls("f1", ["global_ops"])
    r.expect_calls("f2", [])
    r.check(ftrace_rec_count(r.rec("f2")) == 0, f"f2 count {ftrace_rec_count(r.rec('f2'))}")
    k.unregister_ftrace_graph()
    sys.function_tracer_stop()
    for fname in ("f1", "f2"):
        r.check(r.rec(fname).flags == 0, f"{fname} flags {r.rec(fname).flags:#x} after all off")


@scenario("nop-curr-addr: a module loaded while tracing; its new records are enabled")
def fix_nop_curr_addr(r):
    """The only way x86 reaches the generic __ftrace_replace_code()."""
    k, sys = r.k, r.sys
    sys.function_tracer_start()
    mod = k.load_module("mod1", ["mod1_a"])
    r.expect_calls("mod1_a", ["global_ops"])
    sys.function_tracer_stop()
    r.expect_calls("mod1_a", [])
    k.free_module(mod)


# ---------------------------------------------------------------- bad input


@scenario("bad input gets the kernel's error code and changes nothing")
def bad_input(r):
    k, sys = r.k, r.sys
    st = sys.user("stack_trace")
    r.check(k.ftrace_set_filter(st, "no_such_function", 1) == -22, "unknown name: not -EINVAL")
    r.check(st.filter_hash.count == 0, "unknown name changed the filter")
    dead = sys.new_ops("deleted", FTRACE_OPS_FL_DELETED)
    r.check(k.register_ftrace_function(dead) == -22, "deleted ops: not -EINVAL")
    r.check(k.ftrace_ops_list is k.ftrace_list_end, "deleted ops was listed")
    # Unregistering what is not registered: -EBUSY, with the kernel's WARN_ON,
    # which is its way of reporting the caller's bug; nothing else changes.
    r.check(k.unregister_ftrace_function(st) == -16, "unregister unregistered: not -EBUSY")
    expected = "WARN_ON: unregister stack_trace: not enabled"
    if r.check([str(w) for w in k.warnings] == [expected], f"warnings {k.warnings}"):
        k.warnings.clear()  # the report expected here, not a failure of the scenario
    r.check(k.ftrace_start_up == 0, "ftrace_start_up changed")
    r.check(all(rec.flags == 0 for rec in k.do_for_each_ftrace_rec()), "records changed")
