"""The stateful property suite: kernel entry points as rules, invariants after every step.

FtraceMachine drives one model kernel through what its users do (register
and unregister ops, edit filters, start the function and graph tracers,
flip the ftrace_enabled sysctl, load and unload modules, make module_alloc
fail) and checks, after every step, the model against an Expectation the
machine keeps from the users' requests alone.
"""

import random

from hypothesis import event, note
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)

from model import fixes
from model.include.linux.ftrace import (
    FTRACE_FL_ENABLED,
    FTRACE_FL_REGS,
    FTRACE_FL_REGS_EN,
    FTRACE_FL_TRAMP,
    FTRACE_FL_TRAMP_EN,
    FTRACE_OPS_FL_ALLOC_TRAMP,
    FTRACE_OPS_FL_RECURSION_SAFE,
    FTRACE_OPS_FL_SAVE_REGS,
    FTRACE_OPS_FL_SAVE_REGS_IF_SUPPORTED,
    REC_FLAG_NAMES,
    flag_names,
    ftrace_rec_count,
)
from properties import strategies as S
from properties.expectation import Expectation, User
from properties.users import System
from properties.x86_checks import check_trampoline_bytes

# Where pytest's --kernel and --variant land (see conftest.py).
CONFIG = {"kernel": "fixed", "overrides": None}

NOP = bytes.fromhex("0f1f440000")

# name: ops flags, static?, the kernel user it stands for
OPS_USERS = {
    "stack_trace": (FTRACE_OPS_FL_RECURSION_SAFE, True),
    "kprobe": (FTRACE_OPS_FL_SAVE_REGS, True),
    "kprobe_ifs": (FTRACE_OPS_FL_SAVE_REGS_IF_SUPPORTED | FTRACE_OPS_FL_RECURSION_SAFE, True),
    "perf": (FTRACE_OPS_FL_RECURSION_SAFE, False),
    "instance": (FTRACE_OPS_FL_RECURSION_SAFE, False),
}
SAMPLE = 2  # functions checked in the emulator besides those a step touched


class FtraceMachine(RuleBasedStateMachine):
    """One kernel, its users, and the expectation of what they trace."""

    modules = Bundle("modules")

    def __init__(self, kernel=None, overrides=None):
        super().__init__()
        self.kernel = kernel or CONFIG["kernel"]
        self.sys = System(
            self.kernel, functions=S.VMLINUX_FUNCTIONS, overrides=overrides or CONFIG["overrides"]
        )
        self.k = self.sys.k
        self.exp = Expectation(cleaned_on_unload={"global_ops", "instance"})
        for name in S.vmlinux_names:
            self.exp.add_function(("vmlinux", name), name, self.sys.ip(name))
        self.exp.add_user(User("function", "global_ops"))
        self.exp.add_user(User("graph", "global_ops"))
        for name, (flags, static) in OPS_USERS.items():
            ops = self.sys.new_ops(name, flags, dynamic=not static)
            if name == "instance":  # a trace instance: its ops is a trace array's
                self.k.ftrace_trace_arrays.append(ops)
            self.exp.add_user(
                User(name, name, save_regs=bool(flags & FTRACE_OPS_FL_SAVE_REGS), static=static)
            )
        self.stack_option = False
        self.next_module = 0
        self.loaded = {}  # module serial -> struct module
        self.dead_names = set()  # functions of unloaded modules
        self.touched = set()
        self.steps = 0
        self.has_tramp = set()  # static users whose trampoline was allocated
        self.rng = random.Random(0)

    # ------------------------------------------------------------ helpers

    def ops_of(self, user):
        """The kernel ops a user registers."""
        if user == "function":
            return self.k.global_ops
        if user == "graph":
            return self.k.graph_ops if self.k.fixed(fixes.GRAPH_OPS) else self.k.global_ops
        return self.sys.ops[user]

    def touch(self, identities):
        self.touched |= set(identities) & set(self.exp.live)

    def admitted(self, ops_name):
        return {i for i in self.exp.live if self.exp.admits(ops_name, i)}

    def start(self, user):
        self.touch(self.admitted(self.exp.users[user].ops_name))
        self.exp.users[user].active = True

    def allocate_trampoline(self, user, fails):
        """A static user registering without a trampoline makes the kernel allocate one.

        With ``fails``, that module_alloc() returns NULL (fault injection);
        the ops then goes through the callers like a dynamic one.
        """
        static = user == "function" or self.exp.users[user].static
        if not static or user in self.has_tramp:
            return
        if fails:
            self.k.emu.inject["module_alloc"] += 1
            event("trampoline allocation failed")
        else:
            self.has_tramp.add(user)

    def stop(self, user):
        self.touch(self.admitted(self.exp.users[user].ops_name))
        self.exp.users[user].active = False

    def rec(self, identity):
        return self.k.recs_by_name[self.exp.live[identity]][0]

    def expect_ret(self, ret, what):
        assert ret == 0, f"{what} returned {ret}"

    # ------------------------------------------------------------ rules: ops users

    @precondition(lambda self: any(not u.active for u in self.inactive_ops_users()))
    @rule(data=st.data(), alloc_fails=S.faults)
    def register(self, data, alloc_fails):
        user = data.draw(S.one_of_names(u.name for u in self.inactive_ops_users()))
        note(f"register_ftrace_function({user})" + S.fault_note(alloc_fails))
        self.start(user)
        self.allocate_trampoline(user, alloc_fails)
        self.expect_ret(self.k.register_ftrace_function(self.sys.ops[user]), f"register {user}")
        event(f"register while ftrace_enabled={self.k.ftrace_enabled}")

    @precondition(lambda self: any(u.active for u in self.active_ops_users()))
    @rule(data=st.data())
    def unregister(self, data):
        user = data.draw(S.one_of_names(u.name for u in self.active_ops_users()))
        note(f"unregister_ftrace_function({user})")
        self.stop(user)
        self.expect_ret(self.k.unregister_ftrace_function(self.sys.ops[user]), f"unregister {user}")

    def inactive_ops_users(self):
        return [self.exp.users[n] for n in OPS_USERS if not self.exp.users[n].active]

    def active_ops_users(self):
        return [self.exp.users[n] for n in OPS_USERS if self.exp.users[n].active]

    # ------------------------------------------------------------ rules: tracers

    @precondition(lambda self: not self.exp.users["function"].active)
    @rule(stack=st.booleans(), alloc_fails=S.faults)
    def function_tracer_start(self, stack, alloc_fails):
        note(f"function tracer on (func_stack_trace={int(stack)})" + S.fault_note(alloc_fails))
        self.stack_option = stack
        self.start("function")
        self.allocate_trampoline("function", alloc_fails)
        self.expect_ret(self.sys.function_tracer_start(stack), "function tracer start")
        if self.exp.users["graph"].active:
            event("function tracer beside the graph tracer")

    @precondition(lambda self: self.exp.users["function"].active)
    @rule()
    def function_tracer_stop(self):
        note("function tracer off")
        self.stop("function")
        self.expect_ret(self.sys.function_tracer_stop(), "function tracer stop")

    @precondition(lambda self: not self.exp.users["graph"].active)
    @rule()
    def graph_start(self):
        note("register_ftrace_graph() (function profiler on)")
        self.start("graph")
        self.expect_ret(self.k.register_ftrace_graph(), "register_ftrace_graph")
        if self.exp.users["function"].active:
            event("graph tracer beside the function tracer")

    @precondition(lambda self: self.exp.users["graph"].active)
    @rule()
    def graph_stop(self):
        note("unregister_ftrace_graph()")
        self.stop("graph")
        self.k.unregister_ftrace_graph()

    # ------------------------------------------------------------ rules: filters

    @rule(
        ops=S.filtered_ops,
        data=st.data(),
        negate=st.booleans(),
        reset=st.booleans(),
        notrace=st.booleans(),
    )
    def set_filter(self, ops, data, negate, reset, notrace):
        # names of functions that exist or existed, and globs
        pattern = data.draw(S.patterns(set(self.exp.names) | self.dead_names))
        # a reset with no pattern: ftrace_set_filter(ops, NULL, 0, 1)
        buf = "" if reset and negate else ("!" if negate else "") + pattern
        which = "notrace" if notrace else "filter"
        call = "ftrace_set_notrace" if notrace else "ftrace_set_filter"
        note(f"{call}({ops}, {buf or 'NULL'!r}, reset={int(reset)})".replace("'NULL'", "NULL"))
        before = self.admitted(ops)
        accepted = self.exp.set_hash(ops, which, buf, reset)
        self.touch(before ^ self.admitted(ops))
        ret = getattr(self.k, call)(self.ops_named(ops), buf, int(reset))
        assert ret == (0 if accepted else -22), f"{call} returned {ret}"

    def ops_named(self, name):
        return self.k.global_ops if name == "global_ops" else self.sys.ops[name]

    # ------------------------------------------------------------ rules: sysctl

    @rule(value=S.sysctl_values)
    def sysctl(self, value):
        note(f"echo {value} > /proc/sys/kernel/ftrace_enabled")
        if bool(value) != self.exp.ftrace_enabled:
            self.touch(i for i in self.exp.live if self.exp.tracers(i))
        self.exp.ftrace_enabled = bool(value)
        self.expect_ret(self.k.ftrace_enable_sysctl(value), "ftrace_enable_sysctl")

    # ------------------------------------------------------------ rules: modules

    @precondition(lambda self: self.next_module < S.MAX_MODULES)
    @rule(target=modules, alloc_fails=S.faults)
    def load_module(self, alloc_fails):
        serial = self.next_module
        self.next_module += 1
        name = f"mod{serial}"
        functions = [f"{name}_{f}" for f in S.MODULE_FUNCTIONS]
        note(f"insmod {name}" + S.fault_note(alloc_fails))
        if alloc_fails:
            self.k.emu.inject["module_alloc"] += 1
        mod = self.k.load_module(name, functions)
        if alloc_fails:
            assert mod == -12, f"load_module with module_alloc failing returned {mod}"
            return None
        assert mod != -12, "load_module: module_alloc failed"
        self.loaded[serial] = mod
        reused = any(
            r.ip in self.reused_ips for r in self.k.recs_by_name[functions[0]]
        )
        if reused:
            event("module loaded over an unloaded module's text")
        for f in functions:
            self.exp.add_function((serial, f), f, self.sys.ip(f))
            self.touch({(serial, f)})
        if any(u.active for u in self.exp.users.values()):
            event("module loaded while tracing")
        return serial

    @property
    def reused_ips(self):
        return getattr(self, "_freed_ips", set())

    @rule(serial=consumes(modules))
    def unload_module(self, serial):
        if serial is None:
            return
        mod = self.loaded.pop(serial)
        note(f"rmmod mod{serial}")
        ips = {ip for ip in mod.ftrace_callsites}
        self._freed_ips = self.reused_ips | ips
        for f in S.MODULE_FUNCTIONS:
            self.dead_names.add(f"mod{serial}_{f}")
            self.exp.remove_function((serial, f"mod{serial}_{f}"))
            self.touched.discard((serial, f"mod{serial}_{f}"))
        self.k.free_module(mod)

    # ------------------------------------------------------------ invariants

    @invariant()
    def no_warning(self):
        self.steps += 1
        warnings = [str(w) for w in self.k.warnings]
        assert not warnings, f"the kernel warned: {warnings[0]}" + "".join(
            f"\n  {w}" for w in warnings[1:]
        )

    @invariant()
    def accounting(self):
        """Each record's count is the number of users tracing it; REGS and TRAMP follow."""
        owned = {}
        for identity in sorted(self.exp.live, key=str):
            rec = self.rec(identity)
            tracers = self.exp.tracers(identity)
            where = f"{rec.name}: flags {flag_names(rec.flags, REC_FLAG_NAMES) or 0} "
            where += f"count {ftrace_rec_count(rec)}, traced by {tracers}"
            assert ftrace_rec_count(rec) == len(tracers), f"count wrong: {where}"
            # REGS must be there for a tracer that wants regs.  A REGS nobody
            # needs is allowed: the kernel clears REGS lazily (count-0 records
            # keep their flags until ftrace_check_record() runs an update, and
            # test_rec_ops_needs_regs() still sees the ops being changed), and
            # a spare REGS only sends the site through ftrace_regs_caller.
            if any(self.exp.users[t].save_regs for t in tracers):
                assert rec.flags & FTRACE_FL_REGS, f"REGS missing: {where}"
            elif rec.flags & FTRACE_FL_REGS and tracers:
                event("a spare REGS on a record")
            if len(tracers) > 1:
                event("a record shared by two or more users")
            if rec.flags & FTRACE_FL_TRAMP:
                assert len(tracers) == 1, f"TRAMP on a record {len(tracers)} users trace: {where}"
                ops = self.ops_of(tracers[0])
                assert ops.trampoline, f"TRAMP but {ops.name} has no trampoline: {where}"
                owned[ops.name] = owned.get(ops.name, 0) + 1
        for user in sorted(self.exp.users):
            ops = self.ops_of(user)
            assert ops.trampolines == owned.get(ops.name, 0), (
                f"{ops.name}->trampolines is {ops.trampolines}, "
                f"{owned.get(ops.name, 0)} records have TRAMP for it"
            )

    @invariant()
    def tramp_hash_matches(self):
        """The seed's own check: cnt == ops->trampolines, counting TRAMP_EN records."""
        if not self.k.ftrace_enabled:
            return
        for user in sorted(self.exp.users):
            ops = self.ops_of(user)
            if not self.exp.users[user].active:
                continue
            cnt = sum(
                1
                for i in self.exp.live
                if self.rec(i).flags & FTRACE_FL_TRAMP_EN and self.exp.tracers(i) == [user]
            )
            assert cnt == ops.trampolines, (
                f"{cnt} trampolines activated, {ops.trampolines} expected ({ops.name})"
            )

    @invariant()
    def text(self):
        """Every site calls what the record's flags say; a disabled one holds the nop."""
        sym = self.k.emu.sym
        for identity in sorted(self.exp.live, key=str):
            rec = self.rec(identity)
            code = self.k.emu.read(rec.ip, 5)
            if not rec.flags & FTRACE_FL_ENABLED:
                assert code == NOP, f"{rec.name} is disabled but holds {code.hex(' ')}"
                continue
            tracers = self.exp.tracers(identity)
            if rec.flags & FTRACE_FL_TRAMP_EN and len(tracers) == 1:
                want = self.ops_of(tracers[0]).trampoline
                event("a record on a trampoline")
            elif rec.flags & FTRACE_FL_REGS_EN:
                want = sym["ftrace_regs_caller"]
            else:
                want = sym["ftrace_caller"]
            got = self.call_target(rec.ip, code)
            assert got == want, (
                f"{rec.name} ({flag_names(rec.flags, REC_FLAG_NAMES)}) calls "
                f"{self.k.emu.symbolize(got) if got else code.hex(' ')}, "
                f"expected {self.k.emu.symbolize(want)}"
            )

    @staticmethod
    def call_target(ip, code):
        if code[0] != 0xE8:
            return None
        return (ip + 5 + int.from_bytes(code[1:], "little", signed=True)) % 2**64

    @invariant()
    def trampolines_load_their_own_ops(self):
        """Each allocated trampoline loads its own ops pointer and calls its func."""
        for user in sorted(OPS_USERS) + ["function"]:
            ops = self.ops_of(user)
            if self.exp.users[user].active and ops.flags & FTRACE_OPS_FL_ALLOC_TRAMP:
                check_trampoline_bytes(self.k.emu, ops)

    @invariant()
    def machine_code(self):
        """Running a function calls exactly the callbacks of its tracers, each once."""
        live = sorted(self.exp.live, key=str)
        if not live:
            return
        probes = sorted(self.touched, key=str) + self.rng.sample(live, min(SAMPLE, len(live)))
        self.touched = set()
        for identity in probes:
            self.check_run(identity)

    def check_run(self, identity):
        name = self.exp.live[identity]
        tracers = self.exp.tracers(identity) if self.exp.ftrace_enabled else []
        result = self.sys.run(name)
        stub = self.k.emu.sym["ftrace_stub"]
        calls = [inv for inv in result.calls if inv.func != stub]
        want = sorted(t for t in tracers if t != "graph")
        by_ptr = {self.ops_of(u).ptr: u for u in self.exp.users if u != "graph"}
        got = sorted(by_ptr.get(inv.op, hex(inv.op)) for inv in calls)
        assert got == want, f"{name}: callbacks of {got} ran, expected {want}"
        for inv in calls:
            user = by_ptr[inv.op]
            ops = self.ops_of(user)
            func = ops.func
            assert inv.func == func, (
                f"{name}: {user}'s ops was passed to {self.k.emu.symbolize(inv.func)}, "
                f"not its func {self.k.emu.symbolize(func)}"
            )
            if self.exp.users[user].save_regs:
                assert inv.regs, f"{name}: {user} wants regs but got NULL"
        graphed = [g for g in result.graph_calls if g.accepted]
        assert bool(graphed) == ("graph" in tracers), (
            f"{name}: graph entry {'ran' if graphed else 'did not run'}, graph traces it: "
            f"{'graph' in tracers}"
        )
        if len(want) == 1 and self.rec(identity).flags & FTRACE_FL_TRAMP_EN:
            event("a traced call through a trampoline")

    def teardown(self):
        event(f"steps reached: {min(self.steps, 30) // 10 * 10}+")
