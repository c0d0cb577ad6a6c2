"""The stateful property suite: kernel entry points as rules, invariants after every step.

FtraceMachine drives one model kernel through what its users do (register
and unregister ops, edit filters, start the function and graph tracers,
flip the ftrace_enabled sysctl, load and unload modules, make module_alloc
fail) and checks, after every step, the model against an Expectation the
machine keeps from the users' requests alone.
"""

import random
from collections import Counter

from hypothesis import event, note
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
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
    FTRACE_OPS_FL_SAVE_REGS,
    REC_FLAG_NAMES,
    flag_names,
    ftrace_rec_count,
)
from properties import boot
from properties import strategies as S
from properties.expectation import Expectation, User
from properties.users import USERS, System
from properties.x86_checks import call_target, check_trampoline_bytes

# Where pytest's --kernel and --variant land (see conftest.py).
CONFIG = {"kernel": "fixed", "overrides": None}

NOP = bytes.fromhex("0f1f440000")

# the users that register an ops of their own (properties/users.py)
OPS_USERS = sorted(USERS)
SAMPLE = 2  # functions checked in the emulator besides those a step touched
INVARIANTS = (
    "accounting",
    "machine_code",
    "no_warning",
    "text",
    "tramp_hash_matches",
    "trampolines_load_their_own_ops",
)


class Owners:
    """function -> owner, with the number of functions per owner kept as it changes."""

    def __init__(self):
        self.of = {}
        self.counts = Counter()

    def set(self, identity, owner):
        old = self.of.pop(identity, None)
        if old is not None:
            self.counts[old] -= 1
        if owner is not None:
            self.of[identity] = owner
            self.counts[owner] += 1


class FtraceMachine(RuleBasedStateMachine):
    """One kernel, its users, and the expectation of what they trace."""

    modules = Bundle("modules")

    def __init__(self, kernel=None, overrides=None, functions=S.VMLINUX_FUNCTIONS):
        super().__init__()
        self.kernel = kernel or CONFIG["kernel"]
        overrides = overrides or CONFIG["overrides"]
        self.functions = functions
        # A booted kernel of this kind, put back to its boot (properties/boot.py),
        # or a fresh boot.
        key = boot.key_of(self.kernel, overrides, functions)
        self.booted = boot.borrow(key)
        if self.booted is not None:
            self.sys, self.exp = self.booted.system, self.booted.expectation
            self.k = self.sys.k
        else:
            self.boot(overrides, functions)
            self.booted = boot.keep(key, self.sys, self.exp)
        self.stack_option = False
        self.next_module = 0
        self.loaded = {}  # module serial -> struct module
        self.dead_names = set()  # functions of unloaded modules
        self.freed_ips = set()  # call sites of unloaded modules
        # The first check visits every function, once per process per kind of
        # machine: the boot state is the same every time (properties/boot.py).
        self.boot_check = self.booted is None or not self.booted.boot_checked
        self.touched = set(self.exp.live) if self.boot_check else set()
        self.tracer_cache = {}
        self.module_names = frozenset()  # names of every module function loaded, live or not
        self.live_modular = set()  # names of the live module functions
        self.checking = None
        self.tramp_owner = Owners()  # function -> ops whose TRAMP it has
        self.tramp_en_owner = Owners()  # function -> the one user whose trampoline it calls
        self.steps = 0
        self.has_tramp = set()  # static users whose trampoline was allocated
        self.last_step = ""
        self.shared = set()  # functions two or more users traced at some point

    def boot(self, overrides, functions):
        """Boot the kernel and make the users and the expectation."""
        self.sys = System(self.kernel, functions=functions, overrides=overrides)
        self.k = self.sys.k
        self.exp = Expectation(cleaned_on_unload={"global_ops", "instance"})
        for i, name in enumerate(S.vmlinux_names(functions)):
            self.exp.add_function(("vmlinux", name), name, self.sys.ip(f"f{i}"))
        self.exp.add_user(User("function", "global_ops"))
        self.exp.add_user(User("graph", "global_ops"))
        for name in OPS_USERS:
            flags, dynamic, _ = USERS[name]
            static = not dynamic
            ops = self.sys.user(name)
            if name == "instance":  # a trace instance: its ops is a trace array's
                self.k.ftrace_trace_arrays.append(ops)
            self.exp.add_user(
                User(name, name, save_regs=bool(flags & FTRACE_OPS_FL_SAVE_REGS), static=static)
            )

    # ------------------------------------------------------------ helpers

    def ops_of(self, user):
        """The kernel ops a user registers."""
        if user == "function":
            return self.k.global_ops
        if user == "graph":
            return self.k.graph_ops if self.k.fixed(fixes.GRAPH_OPS) else self.k.global_ops
        return self.sys.ops[user]

    def touch(self, identities):
        self.touched |= set(identities) & self.exp.live.keys()
        self.checking = None

    def to_check(self):
        """The functions this step's invariants visit: those whose tracers changed
        (touched) and those whose record the kernel changed, in a stable order.

        Every other function was right after the last step and neither side
        changed it, so it is still right: the cost of a step follows what it
        touches, not the size of the kernel.
        """
        if self.checking is None:
            changed = self.k.rec_watch.changed
            names = self.exp.names
            self.touched |= {names[rec.name] for rec in changed if rec.name in names}
            changed.clear()
            self.checking = sorted(self.touched, key=str)
            self.touched = set()
            self.tracer_cache = {}
        return self.checking

    def tracers(self, identity):
        """exp.tracers(identity), computed once per check (the users stand still)."""
        tracers = self.tracer_cache.get(identity)
        if tracers is None:
            tracers = self.tracer_cache[identity] = self.exp.tracers(identity)
        return tracers

    def admitted(self, ops_name):
        return self.exp.admitted(ops_name)

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
            self.reached("trampoline allocation failed")
        else:
            self.has_tramp.add(user)

    def stop(self, user):
        self.touch(self.admitted(self.exp.users[user].ops_name))
        self.exp.users[user].active = False

    def rec(self, identity):
        return self.k.recs_by_name[self.exp.live[identity]][0]

    # deep states reached, over every machine of the process (see test_reach.py)
    REACHED = Counter()

    def reached(self, label):
        """A deep state: a hypothesis event, and a count the tests can read."""
        if currently_in_test_context():
            event(label)
        FtraceMachine.REACHED[label] += 1

    def step(self, text):
        """The step in kernel words: printed with a failing program, and remembered."""
        self.last_step = text
        self.checking = None
        if self.boot_check and self.booted is not None:
            self.booted.boot_checked = True  # the first check of the boot passed
        if currently_in_test_context():  # not when a program is replayed
            note(text)

    def require(self, condition, message):
        """Fail the step with ``message`` unless ``condition`` holds.

        A check in a hot loop tests first and calls ``require(False, ...)``
        only when it fails, so that a passing check formats no message.
        Every check fails from this one line, so that hypothesis sees one
        kind of failure and may shrink a program from one invariant's failure
        to another's, which gives shorter programs.
        """
        if not condition:
            raise AssertionError(message)

    def expect_ret(self, ret, what):
        self.require(ret == 0, f"{what} returned {ret}")

    # ------------------------------------------------------------ rules: ops users

    @precondition(lambda self: any(not u.active for u in self.inactive_ops_users()))
    @rule(data=st.data(), alloc_fails=S.faults)
    def register(self, data, alloc_fails):
        self.do_register(
            data.draw(S.one_of_names(u.name for u in self.inactive_ops_users())), alloc_fails
        )

    def do_register(self, user, alloc_fails=False):
        self.step(f"register_ftrace_function({user})" + S.fault_note(alloc_fails))
        self.start(user)
        self.allocate_trampoline(user, alloc_fails)
        self.expect_ret(self.k.register_ftrace_function(self.sys.ops[user]), f"register {user}")
        self.reached(f"register while ftrace_enabled={self.k.ftrace_enabled}")

    @precondition(lambda self: any(u.active for u in self.active_ops_users()))
    @rule(data=st.data())
    def unregister(self, data):
        self.do_unregister(data.draw(S.one_of_names(u.name for u in self.active_ops_users())))

    def do_unregister(self, user):
        self.step(f"unregister_ftrace_function({user})")
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
        self.do_function_tracer_start(stack, alloc_fails)

    def do_function_tracer_start(self, stack, alloc_fails=False):
        self.step(f"function tracer on (func_stack_trace={int(stack)})" + S.fault_note(alloc_fails))
        self.stack_option = stack
        self.start("function")
        self.allocate_trampoline("function", alloc_fails)
        self.expect_ret(self.sys.function_tracer_start(stack), "function tracer start")
        if self.exp.users["graph"].active:
            self.reached("function tracer beside the graph tracer")

    @precondition(lambda self: self.exp.users["function"].active)
    @rule()
    def function_tracer_stop(self):
        self.do_function_tracer_stop()

    def do_function_tracer_stop(self):
        self.step("function tracer off")
        self.stop("function")
        self.expect_ret(self.sys.function_tracer_stop(), "function tracer stop")

    @precondition(lambda self: not self.exp.users["graph"].active)
    @rule()
    def graph_start(self):
        self.do_graph_start()

    def do_graph_start(self):
        self.step("register_ftrace_graph() (function profiler on)")
        self.start("graph")
        self.expect_ret(self.k.register_ftrace_graph(), "register_ftrace_graph")
        if self.exp.users["function"].active:
            self.reached("graph tracer beside the function tracer")

    @precondition(lambda self: self.exp.users["graph"].active)
    @rule()
    def graph_stop(self):
        self.do_graph_stop()

    def do_graph_stop(self):
        self.step("unregister_ftrace_graph()")
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
        pattern = data.draw(self.patterns())
        # a reset with no pattern: ftrace_set_filter(ops, NULL, 0, 1)
        buf = "" if reset and negate else ("!" if negate else "") + pattern
        self.do_set_filter(ops, buf, reset, notrace)

    def patterns(self):
        """The filter patterns this machine draws from (S.pattern_strategy)."""
        return S.pattern_strategy(self.functions, self.module_names, self.live_modular)

    def do_set_filter(self, ops, buf, reset, notrace):
        which = "notrace" if notrace else "filter"
        call = "ftrace_set_notrace" if notrace else "ftrace_set_filter"
        self.step(f"{call}({ops}, {buf or 'NULL'!r}, reset={int(reset)})".replace("'NULL'", "NULL"))
        # Only a running user's filter changes what is traced.
        live = any(u.active and u.ops_name == ops for u in self.exp.users.values())
        before = self.admitted(ops) if live else set()
        accepted = self.exp.set_hash(ops, which, buf, reset)
        if live:
            self.touch(before ^ self.admitted(ops))
        ret = getattr(self.k, call)(self.ops_named(ops), buf, int(reset))
        self.require(ret == (0 if accepted else -22), f"{call} returned {ret}")

    def ops_named(self, name):
        return self.k.global_ops if name == "global_ops" else self.sys.ops[name]

    # ------------------------------------------------------------ rules: sysctl

    @rule(value=S.sysctl_values)
    def sysctl(self, value):
        self.do_sysctl(value)

    def do_sysctl(self, value):
        self.step(f"echo {value} > /proc/sys/kernel/ftrace_enabled")
        if bool(value) != self.exp.ftrace_enabled:
            self.touch(i for i in self.exp.live if self.exp.tracers(i))
        self.exp.ftrace_enabled = bool(value)
        self.expect_ret(self.k.ftrace_enable_sysctl(value), "ftrace_enable_sysctl")

    # ------------------------------------------------------------ rules: modules

    @precondition(lambda self: self.next_module < S.MAX_MODULES)
    @rule(target=modules, alloc_fails=S.faults)
    def load_module(self, alloc_fails):
        return self.do_load_module(self.next_module, alloc_fails)

    def do_load_module(self, serial, alloc_fails=False):
        self.next_module = max(self.next_module, serial + 1)
        name = f"mod{serial}"
        functions = [f"{name}_{f}" for f in S.MODULE_FUNCTIONS]
        self.step(f"insmod {name}" + S.fault_note(alloc_fails))
        if alloc_fails:
            self.k.emu.inject["module_alloc"] += 1
        mod = self.k.load_module(name, functions)
        if alloc_fails:
            self.require(mod == -12, f"load_module with module_alloc failing returned {mod}")
            return None
        self.require(mod != -12, "load_module: module_alloc failed")
        self.loaded[serial] = mod
        reused = any(r.ip in self.freed_ips for r in self.k.recs_by_name[functions[0]])
        if reused:
            self.reached("module loaded over an unloaded module's text")
        for f in functions:
            self.exp.add_function((serial, f), f, self.sys.ip(f))
            self.touch({(serial, f)})
        self.module_names |= set(functions)
        self.live_modular |= set(functions)
        if any(u.active for u in self.exp.users.values()):
            self.reached("module loaded while tracing")
        return serial

    @rule(serial=consumes(modules))
    def unload_module(self, serial):
        if serial is not None:
            self.do_unload_module(serial)

    def do_unload_module(self, serial):
        mod = self.loaded.pop(serial)
        self.step(f"rmmod mod{serial}")
        ips = {ip for ip in mod.ftrace_callsites}
        self.freed_ips |= ips
        for f in S.MODULE_FUNCTIONS:
            self.dead_names.add(f"mod{serial}_{f}")
            self.live_modular.discard(f"mod{serial}_{f}")
            self.exp.remove_function((serial, f"mod{serial}_{f}"))
            self.touched.discard((serial, f"mod{serial}_{f}"))
            self.tramp_owner.set((serial, f"mod{serial}_{f}"), None)
            self.tramp_en_owner.set((serial, f"mod{serial}_{f}"), None)
        self.k.free_module(mod)

    # ------------------------------------------------------------ invariants

    @invariant()
    def no_warning(self):
        self.steps += 1
        warnings = [str(w) for w in self.k.warnings]
        if warnings:
            self.require(
                False,
                f"the kernel warned: {warnings[0]}" + "".join(f"\n  {w}" for w in warnings[1:]),
            )

    @invariant()
    def accounting(self):
        """Each record's count is the number of users tracing it; REGS and TRAMP follow."""
        users = self.exp.users
        for identity in self.to_check():
            rec = self.rec(identity)
            tracers = self.tracers(identity)

            def where(rec=rec, tracers=tracers):
                return (
                    f"{rec.name}: flags {flag_names(rec.flags, REC_FLAG_NAMES) or 0} "
                    f"count {ftrace_rec_count(rec)}, traced by {tracers}"
                )

            if ftrace_rec_count(rec) != len(tracers):
                self.require(False, f"count wrong: {where()}")
            # REGS must be there for a tracer that wants regs.  A REGS nobody
            # needs is allowed: the kernel clears REGS lazily (count-0 records
            # keep their flags until ftrace_check_record() runs an update, and
            # test_rec_ops_needs_regs() still sees the ops being changed), and
            # a spare REGS only sends the site through ftrace_regs_caller.
            if any(users[t].save_regs for t in tracers):
                if not rec.flags & FTRACE_FL_REGS:
                    self.require(False, f"REGS missing: {where()}")
            elif rec.flags & FTRACE_FL_REGS and tracers:
                self.reached("a spare REGS on a record")
            if len(tracers) > 1:
                self.reached("a record shared by two or more users")
                self.shared.add(identity)
            elif len(tracers) == 1 and identity in self.shared:
                self.reached("a record back to one user after sharing")
            if rec.flags & FTRACE_FL_TRAMP:
                if len(tracers) != 1:
                    self.require(False, f"TRAMP on a record {len(tracers)} users trace: {where()}")
                ops = self.ops_of(tracers[0])
                if not ops.trampoline:
                    self.require(False, f"TRAMP but {ops.name} has no trampoline: {where()}")
                self.tramp_owner.set(identity, ops.name)
            else:
                self.tramp_owner.set(identity, None)
        owned = self.tramp_owner.counts
        for user in sorted(self.exp.users):
            ops = self.ops_of(user)
            self.require(
                ops.trampolines == owned.get(ops.name, 0),
                (
                    f"{ops.name}->trampolines is {ops.trampolines}, "
                    f"{owned.get(ops.name, 0)} records have TRAMP for it"
                ),
            )

    @invariant()
    def tramp_hash_matches(self):
        """The seed's own check: cnt == ops->trampolines, counting TRAMP_EN records."""
        for identity in self.to_check():
            tracers = self.tracers(identity)
            on = self.rec(identity).flags & FTRACE_FL_TRAMP_EN and len(tracers) == 1
            self.tramp_en_owner.set(identity, tracers[0] if on else None)
        if not self.k.ftrace_enabled:
            return
        counts = self.tramp_en_owner.counts
        for user in sorted(self.exp.users):
            ops = self.ops_of(user)
            if not self.exp.users[user].active:
                continue
            cnt = counts[user]
            self.require(
                cnt == ops.trampolines,
                (f"{cnt} trampolines activated, {ops.trampolines} expected ({ops.name})"),
            )

    @invariant()
    def text(self):
        """Every site calls what the record's flags say; a disabled one holds the nop."""
        sym = self.k.emu.sym
        for identity in self.to_check():
            rec = self.rec(identity)
            code = self.k.emu.read(rec.ip, 5)
            if not rec.flags & FTRACE_FL_ENABLED:
                if code != NOP:
                    self.require(False, f"{rec.name} is disabled but holds {code.hex(' ')}")
                continue
            tracers = self.tracers(identity)
            if rec.flags & FTRACE_FL_TRAMP_EN and len(tracers) == 1:
                want = self.ops_of(tracers[0]).trampoline
                self.reached("a record on a trampoline")
            elif rec.flags & FTRACE_FL_REGS_EN:
                want = sym["ftrace_regs_caller"]
            else:
                want = sym["ftrace_caller"]
            got = call_target(rec.ip, code)
            if got != want:
                self.require(
                    False,
                    f"{rec.name} ({flag_names(rec.flags, REC_FLAG_NAMES)}) calls "
                    f"{self.k.emu.symbolize(got) if got else code.hex(' ')}, "
                    f"expected {self.k.emu.symbolize(want)}",
                )

    def check(self):
        """Every invariant, in the order hypothesis runs them (used by replay)."""
        for name in INVARIANTS:
            getattr(self, name)()

    @invariant()
    def trampolines_load_their_own_ops(self):
        """Each allocated trampoline loads its own ops pointer and calls its func."""
        for user in sorted(OPS_USERS) + ["function"]:
            ops = self.ops_of(user)
            if self.exp.users[user].active and ops.flags & FTRACE_OPS_FL_ALLOC_TRAMP:
                try:
                    check_trampoline_bytes(self.k.emu, ops)
                except AssertionError as e:
                    self.require(False, str(e))

    @invariant()
    def machine_code(self):
        """Running a function calls exactly the callbacks of its tracers, each once."""
        live = self.exp.order
        # "Random" from the step itself, not from the steps before it, so that
        # deleting an earlier step does not move the probes of a later one.
        rng = random.Random(self.last_step)
        probes = self.to_check() + rng.sample(live, min(SAMPLE, len(live)))
        by_ptr = {self.ops_of(u).ptr: u for u in self.exp.users if u != "graph"}
        for identity in probes:
            self.check_run(identity, by_ptr)

    def check_run(self, identity, by_ptr):
        name = self.exp.live[identity]
        tracers = self.tracers(identity) if self.exp.ftrace_enabled else []
        result, calls = self.sys.run_callbacks(name)
        want = [t for t in tracers if t != "graph"]  # sorted, as tracers are
        got = sorted(by_ptr.get(inv.op, hex(inv.op)) for inv in calls)
        if got != want:
            self.require(False, f"{name}: callbacks of {got} ran, expected {want}")
        for inv in calls:
            user = by_ptr[inv.op]
            ops = self.ops_of(user)
            func = ops.func
            if inv.func != func:
                self.require(
                    False,
                    f"{name}: {user}'s ops was passed to {self.k.emu.symbolize(inv.func)}, "
                    f"not its func {self.k.emu.symbolize(func)}",
                )
            if self.exp.users[user].save_regs:
                self.require(inv.regs, f"{name}: {user} wants regs but got NULL")
        graphed = any(g.accepted for g in result.graph_calls)
        if graphed != ("graph" in tracers):
            self.require(
                False,
                f"{name}: graph entry {'ran' if graphed else 'did not run'}, graph traces it: "
                f"{'graph' in tracers}",
            )
        if len(want) == 1 and self.rec(identity).flags & FTRACE_FL_TRAMP_EN:
            self.reached("a traced call through a trampoline")

    def teardown(self):
        self.reached(f"steps reached: {min(self.steps, 30) // 10 * 10}+")
        if self.booted is not None:
            self.booted.free = True  # the next machine of this kind puts it back to boot
