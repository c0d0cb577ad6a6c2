"""The stateful property suite: kernel entry points as rules, invariants after every step.

FtraceMachine drives one model kernel through what its users do (register
and unregister ops, edit filters, start the function and graph tracers,
open, enable, disable and close perf's ftrace:function event, arm and
disarm kprobes, add and remove function probes and write set_ftrace_filter,
make callbacks call traced functions, flip the ftrace_enabled sysctl, load
and unload modules, make module_alloc fail) and checks, after every step,
the model against an Expectation the machine keeps from the users' requests
alone.
"""

import random
from collections import Counter
from itertools import compress, count, repeat
from operator import attrgetter, sub

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
    FTRACE_OPS_FL_RECURSION_SAFE,
    FTRACE_OPS_FL_SAVE_REGS,
    REC_FLAG_NAMES,
    flag_names,
    ftrace_rec_count,
)
from model.kernel.trace.ftrace import FTRACE_ITER_FILTER, FTRACE_ITER_NOTRACE
from properties import boot, selection
from properties import strategies as S
from properties.expectation import Expectation, User
from properties.module_entries import ModuleEntries
from properties.users import PATH_USERS, USERS, System
from properties.x86_checks import call_aims, check_trampoline_bytes

# Where pytest's --kernel and --variant land (see conftest.py).
CONFIG = {"kernel": "fixed", "overrides": None}

NOP = bytes.fromhex("0f1f440000")

# the users that register an ops of their own (properties/users.py)
OPS_USERS = sorted(USERS)
# and every user with an ops of its own, the path users included
ALL_OPS_USERS = sorted([*USERS, *PATH_USERS])
SAMPLE = 2  # functions checked in the emulator besides those a step touched
# Every this many steps, and at the end of every example, the checks visit
# every function (a full check), not only those the step changed.
FULL_CHECK_EVERY = 10
# How often a rule is drawn against the others (properties/selection.py),
# measured with tramproof bench: the rules the catalogue's bugs need twice or
# more in one program (the sysctl off and on, a module loaded, unloaded and
# loaded again over it, function probes added and removed, the function
# tracer on, off and on), a callback calling a traced function, and the
# stops ahead of the starts, so that fewer users trace everything at once
# and single users' records stay on their trampolines.
RULE_WEIGHTS = {
    "callback_calls": 2,
    "function_probe": 2,
    "function_tracer_start": 2,
    "function_tracer_stop": 3,
    "graph_stop": 2,
    "load_module": 2,
    "sysctl": 2,
    "unload_module": 2,
    "unregister": 2,
}
# Rules drawn more often in some states (properties/selection.py's
# weigh_while): (rule, weight, the machine's method that says the state holds).
# perf's event four times as often while closed with a filter (the filter
# waits for the event's open, which control-tramp needs: open with a filter
# beside a record on another ops' trampoline), and twice while open, so that
# it closes sooner (an open event with no filter counts in every record, and
# leaves none to a single user's trampoline).
#
# A set_ftrace_filter write twice as often while the graph tracer runs alone
# with ftrace enabled (hash-ops-enabled: the write recounts graph_ops'
# records and must patch their sites; with ftrace off, or another user
# tracing at those sites, a site left stale does not show).  rmmod four times
# as often while a trace array's filter or notrace names a loaded module's
# function (mod-hash-zero: the entry stays, and the next module loads at the
# freed text, where the unfixed kernel's hash still holds the old ips).
# Measured on the full machine, examples to find on fixed-<id> (tramproof
# bench's hunts, seeds 0-9), median / mean before -> after both weights:
# mod-hash-zero 94.5 / 118 -> 43.5 / 66, hash-ops-enabled 53 / 52 -> 18 / 39,
# but stale-tramp-hash 37 / 40 -> 82.5 / 123 (61 / 91 over seeds 0-19 with
# the rmmod weight alone: a cost of the copies we have not explained).  Not
# kept: the write three times as often (stale-tramp-hash 101.5 / 102),
# insmod weighted while such an entry waits over freed text (mod-hash-zero
# 24 / 42 over seeds 0-39, against 19 / 29 without), a filter write weighted
# while a module is loaded (47 / 47).
STATE_WEIGHTS = (
    ("perf_event", 4, "perf_filter_waits"),
    ("perf_event", 2, "perf_open"),
    ("tracefs_filter", 2, "graph_alone"),
    ("unload_module", 4, "module_entry_loaded"),
)
INVARIANTS = (
    "accounting",
    "machine_code",
    "no_warning",
    "recursion_contract",
    "text",
    "tramp_hash_matches",
    "trampolines_load_their_own_ops",
)


ACTIVE, NAME, TRAMPOLINES = attrgetter("active"), attrgetter("name"), attrgetter("trampolines")


def first_places(keys):
    """The place of the first occurrence of each distinct key, in order (one dict
    build, in C, and a sort of the distinct few)."""
    return sorted(dict(zip(reversed(keys), reversed(range(len(keys))), strict=True)).values())


def miscounted(opses, counts):
    """(ops, count) of each ops whose ->trampolines is not the count beside it: on
    a step that passes, none, found by one list comparison in C."""
    if list(map(TRAMPOLINES, opses)) == counts:
        return []
    return [(ops, n) for ops, n in zip(opses, counts, strict=True) if ops.trampolines != n]


class Owners:
    """function -> owner, with the number of functions per owner kept as it changes.

    Updated a check's functions at a time, with dict and Counter operations
    that run in C: a step that changed every function costs no Python
    statement per function here.
    """

    def __init__(self):
        self.of = {}  # function -> owner, or None once it had one
        self.counts = Counter()

    def update(self, identities, owners):
        """Set the owner of each function (None: it has none); owners, a list, runs
        beside identities."""
        of, counts = self.of, self.counts
        before = list(map(of.get, identities))
        if before == owners:  # most steps: the owners stay
            return
        counts.subtract(Counter(before))
        counts.update(owners)
        of.update(zip(identities, owners, strict=True))
        counts.pop(None, None)


class FtraceMachine(RuleBasedStateMachine):
    """One kernel, its users, and the expectation of what they trace."""

    modules = Bundle("modules")

    def __init__(self, kernel=None, overrides=None, functions=S.VMLINUX_FUNCTIONS):
        super().__init__()
        selection.every_rule(self)
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
        self.remember_ops()
        self.stack_option = False
        self.next_module = 0
        self.loaded = {}  # module serial -> struct module
        self.dead_names = set()  # functions of unloaded modules
        self.freed_ips = set()  # call sites of unloaded modules
        # The first check visits every function, once per process per kind of
        # machine: the boot state is the same every time (properties/boot.py).
        self.boot_check = self.booted is None or not self.booted.boot_checked
        self.touched = set()
        self.full_due = self.boot_check  # the next check is a full one
        self.full = False  # the check running is a full one
        self.stepped = 0  # steps taken (rules that did something)
        self.healthy = True  # the last step and its checks passed
        self.tracer_cache = {}
        self.visit_recs = self.visit_tracers = None  # beside checking: records, tracers
        self.visit_keys = None  # keys() of the check running, once asked
        self.key_at = self.first_key = None  # keys() grouped (see keys())
        self.site_reads = None  # sites() of the check running, once asked
        self.expected_cache = {}  # tracers -> expected_calls(), for the check running
        self.module_names = frozenset()  # names of every module function loaded, live or not
        self.live_modular = set()  # names of the live module functions
        self.checking = None
        self.events = set()  # labels reached() sent to hypothesis
        self.tramp_owner = Owners()  # function -> ops whose TRAMP it has
        self.tramp_en_owner = Owners()  # function -> the one user whose trampoline it calls
        self.steps = 0
        self.has_tramp = set()  # static users whose trampoline was allocated
        self.last_step = ""
        self.shared = set()  # functions two or more users traced at some point
        self.vmlinux = S.vmlinux_names(functions)
        self.kprobes = set()  # functions with an armed kprobe
        self.probes = Counter()  # function -> traceon probes registered on it
        self.calling = {}  # user -> the function its callback calls
        self.module_entries = ModuleEntries(functions)  # what rmmod's weight follows

    def boot(self, overrides, functions):
        """Boot the kernel and make the users and the expectation."""
        self.sys = System(self.kernel, functions=functions, overrides=overrides)
        self.k = self.sys.k
        self.exp = Expectation(cleaned_on_unload={"global_ops", "instance"})
        for i, name in enumerate(S.vmlinux_names(functions)):
            self.add_function(("vmlinux", name), name, self.sys.ip(f"f{i}"))
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
        for name, (static, _) in sorted(PATH_USERS.items()):
            regs = bool(self.sys.ops[name].flags & FTRACE_OPS_FL_SAVE_REGS)
            self.exp.add_user(User(name, name, save_regs=regs, static=static))
        # the boot's writes are the boot, not a run's changes: a boot the pool does
        # not keep starts as a kept or a borrowed one does
        self.k.emu.written.clear()

    # ------------------------------------------------------------ helpers

    def remember_ops(self):
        """The users' ops, looked up once: a booted kernel keeps its ops objects
        (a restore puts their fields back), and the checks ask for them every step.

        user_names, user_objs, user_opses: the users sorted by name, their User
        and their ops; by_ptr: ops address -> the user whose callback it
        carries (graph's carries none, the probe's is told by its func).
        """
        self.user_names = sorted(self.exp.users)
        self.user_objs = list(map(self.exp.users.__getitem__, self.user_names))
        self.user_opses = list(map(self.ops_of, self.user_names))
        self.by_ptr = {
            ops.ptr: u
            for u, ops in zip(self.user_names, self.user_opses, strict=True)
            if u not in ("graph", "probe")
        }

    def add_function(self, identity, name, ip):
        """A function comes: the expectation learns it, the index its record."""
        self.exp.add_function(identity, name, ip)
        rec = self.k.recs_by_name[name][0]
        self.sys.rec_of[identity] = rec
        self.sys.identity_of[rec] = identity

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
        """The functions this step's invariants visit, in a stable order.

        An incremental check visits those whose tracers changed (touched) and
        those whose record the kernel changed: every other function was right
        after the last step and neither side changed it, so it is still
        right, and the cost of a step follows what it touches, not the size
        of the kernel.  A full check (every FULL_CHECK_EVERY steps, the first
        check of a boot and the end of an example) visits every live function
        and counts the trampoline owners afresh, so that nothing the
        bookkeeping of changes missed can slip through.
        """
        if self.checking is None:
            changed = self.k.rec_watch.changed
            self.touched |= self.identities_of(changed)
            changed.clear()
            # a step that changed every record (a wide one) leaves no site to add
            everything = self.touched.issuperset(self.exp.live)
            if everything:
                self.k.emu.written = set()
            else:
                self.touch_written()
            self.full, self.full_due = self.full_due, False
            if self.full:
                self.tramp_owner = Owners()
                self.tramp_en_owner = Owners()
            if self.full or everything:
                self.checking = list(self.exp.order)
            elif len(self.touched) * 8 > len(self.exp.order):  # most: the order, filtered
                self.checking = list(filter(self.touched.__contains__, self.exp.order))
            else:
                self.checking = sorted(self.touched, key=self.exp.rank.__getitem__)
            checking = self.checking
            self.visit_recs = list(map(self.sys.rec_of.__getitem__, checking))
            self.visit_tracers = tracers = self.exp.tracers_of(checking)
            self.visit_keys = None
            self.touched = set()
            self.tracer_cache = dict(zip(checking, tracers, strict=True))
            self.site_reads = None
            self.expected_cache = {}
        return self.checking

    def touch_written(self):
        """The functions whose call behaves anew after the step's text writes.

        A write at a call site (or one byte into it, pass 2 of the update)
        touches that function; a write into the caller routines, or a new
        function_trace_op, touches every function whose record is enabled or
        counted, since every site that calls ftrace_caller or
        ftrace_regs_caller now runs differently (a nop'd site does not).
        """
        emu = self.k.emu
        written, emu.written = emu.written, set()
        if not written:
            return
        image = emu.image
        routines = range(image.base, image.base + len(image.code))
        # each write asked (a step's writes, not the routines' bytes, set the cost)
        rewired = any(map(routines.__contains__, written))
        if emu.sym["function_trace_op"] in written or rewired:
            self.touched |= self.identities_of(self.k.rec_watch.live)
        at = self.exp.at
        sites = written & at.keys()
        sites |= set(map(sub, written - sites, repeat(1))) & at.keys()
        self.touched |= set(map(at.__getitem__, sites))

    def identities_of(self, recs):
        """The identities of the live functions the records are of."""
        found = set(map(self.sys.identity_of.get, recs))
        found.discard(None)
        return found

    def keys(self):
        """(flags, tracers) of each function to_check() names, in its order.

        A record's verdict in the accounting depends on these alone, so the
        invariants judge each distinct key once.  Read once per check: the
        checks change no record.  Each key is hashed once here: key_at names
        each function's key by the place of its first occurrence (ints, which
        the invariants group by), first_key maps each distinct key to that
        place, in the order keys first occur.
        """
        self.to_check()
        if self.visit_keys is None:
            flags = map(attrgetter("flags"), self.visit_recs)
            self.visit_keys = list(zip(flags, self.visit_tracers, strict=True))
            self.first_key = {}
            self.key_at = list(map(self.first_key.setdefault, self.visit_keys, count()))
        return self.visit_keys

    def sites(self):
        """(bytes, aims) at the visited functions' call sites: an aim is where
        the site calls, or its bytes when it holds no call.

        Read once per check for the invariants that look at the sites: the
        checks write no text, and should a write appear in emu.written after
        the check began (to_check empties it), the sites are read again.
        """
        self.to_check()
        if self.site_reads is None or self.k.emu.written:
            ips = list(map(attrgetter("ip"), self.visit_recs))
            codes = self.k.emu.read_each(ips, 5)
            self.site_reads = (codes, call_aims(ips, codes))
        return self.site_reads

    def full_check(self):
        """Every invariant, visiting every function: a full check now."""
        self.checking = None
        self.full_due = True
        self.check()

    def tracers(self, identity):
        """exp.tracers(identity) as a tuple, computed once per check (the users stand still)."""
        tracers = self.tracer_cache.get(identity)
        if tracers is None:
            tracers = self.tracer_cache[identity] = self.exp.tracers_of([identity])[0]
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
        return self.sys.rec_of[identity]

    # deep states reached, over every machine of the process (see test_reach.py)
    REACHED = Counter()

    def reached(self, label):
        """A deep state: a hypothesis event, and a count the tests can read.

        An example's events are a set: a label is sent once per machine (the
        checks reach some every step), which leaves them as they were.
        """
        if label not in self.events and currently_in_test_context():
            event(label)
            self.events.add(label)
        FtraceMachine.REACHED[label] += 1

    def step(self, text):
        """The step in kernel words: printed with a failing program, and remembered."""
        self.last_step = text
        self.checking = None
        self.healthy = False  # until this step's checks pass
        self.stepped += 1
        if self.stepped % FULL_CHECK_EVERY == 0:
            self.full_due = True
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

    def graph_alone(self):
        """ftrace is enabled and the graph tracer is the only user running: a filter
        write then changes what graph_ops alone traces."""
        users = self.exp.users
        graph = users["graph"]
        if not (graph.active and self.exp.ftrace_enabled):
            return False
        return not any(u.active for u in users.values() if u is not graph)

    # ------------------------------------------------------------ rules: perf

    @rule(close=S.perf_closes)
    def perf_event(self, close):
        """The event's next step: OPEN, then ADD and DEL in turn, CLOSE after a DEL."""
        user = self.exp.users["perf"]
        if not user.active:
            self.do_perf("open")
        elif user.enabled_here:
            self.do_perf("del")
        else:
            self.do_perf("close" if close else "add")

    def perf_filter_waits(self):
        """perf's event is closed and its filter or notrace has entries (kept till its open)."""
        hashes = self.exp.hashes["perf"]
        return not self.exp.users["perf"].active and bool(hashes.filter or hashes.notrace)

    def perf_open(self):
        """perf's event is open."""
        return self.exp.users["perf"].active

    def do_perf(self, what):
        """TRACE_REG_PERF_OPEN/ADD/DEL/CLOSE of the ftrace:function event on this CPU."""
        user, ops, k = self.exp.users["perf"], self.sys.ops["perf"], self.k
        call = {
            "open": "perf_ftrace_function_register",
            "add": "perf_ftrace_function_enable",
            "del": "perf_ftrace_function_disable",
            "close": "perf_ftrace_function_unregister",
        }[what]
        self.step(f"{call}(perf)")
        self.touch(self.admitted("perf"))
        if what == "open":
            self.start("perf")
            user.enabled_here = False  # control_ops_alloc() disables every CPU
            self.expect_ret(k.perf_ftrace_function_register(ops), call)
            self.reached(f"register while ftrace_enabled={k.ftrace_enabled}")
        elif what == "close":
            self.stop("perf")
            self.expect_ret(k.perf_ftrace_function_unregister(ops), call)
            # ftrace_free_filter(): the event's filters go with it
            self.exp.hashes["perf"].filter.clear()
            self.exp.hashes["perf"].notrace.clear()
        else:
            # ADD and DEL come in turn: the disable count goes 1 -> 0 -> 1
            user.enabled_here = what == "add"
            getattr(k, call)(ops)
            if user.enabled_here and self.admitted("perf"):
                self.reached("perf event enabled while tracing")

    # ------------------------------------------------------------ rules: kprobes

    @rule(data=st.data(), alloc_fails=S.faults)
    def kprobe(self, data, alloc_fails):
        """A kprobe armed on a vmlinux function, or disarmed if it has one."""
        fname = data.draw(S.one_of_names(self.vmlinux))
        self.do_kprobe(fname, fname not in self.kprobes, alloc_fails)

    def do_kprobe(self, fname, arm, alloc_fails=False):
        """A kprobe on fname armed (the first one registers the ops) or disarmed."""
        call = "arm_kprobe_ftrace" if arm else "disarm_kprobe_ftrace"
        first = arm and not self.kprobes
        self.step(f"{call}({fname})" + S.fault_note(alloc_fails and first))
        identity = self.exp.names[fname]
        before = self.admitted("kprobe") if self.exp.users["kprobe"].active else set()
        filt = self.exp.hashes["kprobe"].filter
        if arm:
            self.kprobes.add(fname)
            filt.add(identity)
            if first:
                self.exp.users["kprobe"].active = True
                self.allocate_trampoline("kprobe", alloc_fails)
        else:
            self.kprobes.discard(fname)
            filt.discard(identity)
            self.exp.users["kprobe"].active = bool(self.kprobes)
        after = self.admitted("kprobe") if self.exp.users["kprobe"].active else set()
        self.touch(before ^ after)
        getattr(self.k, call)(self.sys.ip(fname))
        if first:
            self.reached(f"register while ftrace_enabled={self.k.ftrace_enabled}")
        if len(self.kprobes) > 1:
            self.reached("two kprobes armed")

    # ------------------------------------------------------------ rules: tracefs

    @rule(data=st.data(), remove=st.booleans())
    def function_probe(self, data, remove):
        pattern = data.draw(S.one_of_names([*self.vmlinux, "f*"]))
        self.do_function_probe(pattern, remove)

    def probed(self):
        """The names of the functions with a function probe."""
        return [self.exp.live[i] for i in self.probes]

    def do_function_probe(self, pattern, remove):
        """echo '[!]pattern:traceon' >> set_ftrace_filter: the tracefs path of a probe."""
        buf = f"{'!' if remove else ''}{pattern}:traceon"
        self.step(f"echo '{buf}' >> set_ftrace_filter")
        user = self.exp.users["probe"]
        before = self.admitted("probe") if user.active else set()
        filt = self.exp.hashes["probe"].filter
        found = self.exp.matches(pattern)
        if remove:
            filt -= found
            for identity in found:
                self.probes.pop(identity, None)
        else:
            filt |= found
            # each registration adds a probe entry: a function probed twice fires twice
            self.probes.update(found)
        user.active = bool(filt)
        after = self.admitted("probe") if user.active else set()
        self.touch(before ^ after)
        ret = self.tracefs_write("global_ops", buf, trunc=False, notrace=False)
        self.require(ret == len(buf) + 1, f"write of {buf!r} returned {ret}")
        if len(filt) > 1 and remove and found:
            self.reached("a function probe removed beside another")

    @rule(data=st.data(), trunc=st.booleans(), notrace=st.booleans(), negate=st.booleans())
    def tracefs_filter(self, data, trunc, notrace, negate):
        pattern = data.draw(self.patterns())
        self.do_tracefs_filter(("!" if negate else "") + pattern, trunc, notrace)

    def do_tracefs_filter(self, buf, trunc, notrace):
        """echo 'buf' > (or >>) set_ftrace_filter (or set_ftrace_notrace) of global_ops."""
        which = "notrace" if notrace else "filter"
        self.step(f"echo '{buf}' {'>' if trunc else '>>'} set_ftrace_{which}")
        live = any(u.active and u.ops_name == "global_ops" for u in self.exp.users.values())
        before = self.admitted("global_ops") if live else set()
        found = self.exp.write_hash("global_ops", which, buf, trunc)
        self.module_entries.write("global_ops", which, buf, trunc, self.live_modular)
        if live:
            self.touch(before ^ self.admitted("global_ops"))
        ret = self.tracefs_write("global_ops", buf, trunc, notrace)
        want = len(buf) + 1 if found else -22
        self.require(ret == want, f"write of {buf!r} to set_ftrace_{which} returned {ret}")
        if live and trunc and not notrace:
            self.reached("a '>' write replaced a live filter")

    def tracefs_write(self, ops_name, buf, trunc, notrace):
        """open(), write(buf + newline), release() of a filter file; the write's return."""
        k = self.k
        flag = FTRACE_ITER_NOTRACE if notrace else FTRACE_ITER_FILTER
        it = k.ftrace_regex_open(self.ops_named(ops_name), flag, trunc)
        ret = k.ftrace_regex_write(it, buf + "\n")
        k.ftrace_regex_release(it)
        return ret

    # ------------------------------------------------------------ rules: recursion

    @rule(data=st.data(), stop=st.booleans(), follow=S.follows)
    def callback_calls(self, data, stop, follow):
        """A user's callback calls a function from now on, or stops calling one.

        A draw that follows the state takes a running user and, for a
        kprobe or a function probe, a function it probes.
        """
        everyone = [*ALL_OPS_USERS, "function"]
        running = [u for u in everyone if self.exp.users[u].active] if follow else []
        user = data.draw(S.one_of_names(running or everyone))
        if stop and user in self.calling:
            self.do_callback_calls(user, None)
            return
        probed = {"kprobe": self.kprobes, "probe": self.probed()}.get(user) if follow else None
        self.do_callback_calls(user, data.draw(S.one_of_names(probed or self.vmlinux)))

    def do_callback_calls(self, user, fname):
        """From now on, user's callback calls fname each time it runs (None: nothing)."""
        self.step(f"{user}'s callback calls {fname or 'nothing'}")
        for func in self.callbacks_of(user):
            if fname is None:
                self.sys.calls_from.pop(func, None)
            else:
                self.sys.calls_from[func] = fname
        if fname is None:
            self.calling.pop(user, None)
        else:
            self.calling[user] = fname

    def callbacks_of(self, user):
        """The funcs whose runs make the user's calls: its ops->func (both of the tracer's)."""
        if user == "function":
            return [self.sys.function_trace_call, self.sys.function_stack_trace_call]
        return [self.ops_of(user).func]

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
        self.module_entries.set(ops, which, buf, reset, self.live_modular)
        if live:
            self.touch(before ^ self.admitted(ops))
        ret = getattr(self.k, call)(self.ops_named(ops), buf, int(reset))
        self.require(ret == (0 if accepted else -22), f"{call} returned {ret}")

    def ops_named(self, name):
        return self.k.global_ops if name == "global_ops" else self.sys.ops[name]

    # ------------------------------------------------------------ rules: sysctl

    @rule(flip=S.sysctl_flips)
    def sysctl(self, flip):
        """echo 0 or 1 > /proc/sys/kernel/ftrace_enabled: the other value if ``flip``."""
        self.do_sysctl(int(self.exp.ftrace_enabled != flip))

    def do_sysctl(self, value):
        self.step(f"echo {value} > /proc/sys/kernel/ftrace_enabled")
        if bool(value) != self.exp.ftrace_enabled:
            live = list(self.exp.live)
            self.touch(compress(live, self.exp.tracers_of(live)))
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
            self.add_function((serial, f), f, self.sys.ip(f))
            self.touch({(serial, f)})
        self.module_names |= set(functions)
        self.live_modular |= set(functions)
        if any(u.active for u in self.exp.users.values()):
            self.reached("module loaded while tracing")
        return serial

    def module_entry_loaded(self):
        """A trace array's filter or notrace names a loaded module's function: its
        rmmod leaves the entry behind."""
        return self.module_entries.name_a_loaded_module()

    @rule(serial=consumes(modules))
    def unload_module(self, serial):
        if serial is not None:
            self.do_unload_module(serial)

    def do_unload_module(self, serial):
        mod = self.loaded.pop(serial)
        self.step(f"rmmod mod{serial}")
        ips = {ip for ip in mod.ftrace_callsites}
        self.freed_ips |= ips
        gone = [(serial, f"mod{serial}_{f}") for f in S.MODULE_FUNCTIONS]
        self.module_entries.unloaded([name for _, name in gone])
        for identity in gone:
            self.dead_names.add(identity[1])
            self.live_modular.discard(identity[1])
            self.exp.remove_function(identity)
            del self.sys.identity_of[self.sys.rec_of.pop(identity)]
            self.touched.discard(identity)
        self.tramp_owner.update(gone, [None] * len(gone))
        self.tramp_en_owner.update(gone, [None] * len(gone))
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
        """Each record's count is the number of users tracing it; REGS and TRAMP follow.

        A record's verdict depends on its flags and its tracers alone, so each
        distinct (flags, tracers) of the step is judged once, on the first
        record that has it.
        """
        self.keys()
        recs = self.visit_recs
        # a key's first place -> the ops whose TRAMP its records have, or None
        judged = {at: self.judge_record(recs[at], key[1]) for key, at in self.first_key.items()}
        self.tramp_owner.update(self.checking, list(map(judged.__getitem__, self.key_at)))
        # the keys (by first place) of the records two or more users trace, and one
        many = {at for (_, tracers), at in self.first_key.items() if len(tracers) > 1}
        if many:
            self.shared.update(compress(self.checking, map(many.__contains__, self.key_at)))
        one = {at for (_, tracers), at in self.first_key.items() if len(tracers) == 1}
        if one and not self.shared.isdisjoint(
            compress(self.checking, map(one.__contains__, self.key_at))
        ):
            self.reached("a record back to one user after sharing")
        opses = self.user_opses
        owned = list(map(self.tramp_owner.counts.get, map(NAME, opses), repeat(0)))
        for ops, n in miscounted(opses, owned):
            self.require(
                False,
                f"{ops.name}->trampolines is {ops.trampolines}, {n} records have TRAMP for it",
            )

    def judge_record(self, rec, tracers):
        """The accounting of one record: the name of the ops whose TRAMP it has (or None)."""

        def where():
            return (
                f"{rec.name}: flags {flag_names(rec.flags, REC_FLAG_NAMES) or 0} "
                f"count {ftrace_rec_count(rec)}, traced by {list(tracers)}"
            )

        if ftrace_rec_count(rec) != len(tracers):
            self.require(False, f"count wrong: {where()}")
        # REGS must be there for a tracer that wants regs.  A REGS nobody
        # needs is allowed: the kernel clears REGS lazily (count-0 records
        # keep their flags until ftrace_check_record() runs an update, and
        # test_rec_ops_needs_regs() still sees the ops being changed), and
        # a spare REGS only sends the site through ftrace_regs_caller.
        users = self.exp.users
        if any(users[t].save_regs for t in tracers):
            if not rec.flags & FTRACE_FL_REGS:
                self.require(False, f"REGS missing: {where()}")
        elif rec.flags & FTRACE_FL_REGS and tracers:
            self.reached("a spare REGS on a record")
        if len(tracers) > 1:
            self.reached("a record shared by two or more users")
        if not rec.flags & FTRACE_FL_TRAMP:
            return None
        if len(tracers) != 1:
            self.require(False, f"TRAMP on a record {len(tracers)} users trace: {where()}")
        ops = self.ops_of(tracers[0])
        if not ops.trampoline:
            self.require(False, f"TRAMP but {ops.name} has no trampoline: {where()}")
        return ops.name

    @invariant()
    def tramp_hash_matches(self):
        """The seed's own check: cnt == ops->trampolines, counting TRAMP_EN records."""
        self.keys()
        owner = {
            at: tracers[0] if flags & FTRACE_FL_TRAMP_EN and len(tracers) == 1 else None
            for (flags, tracers), at in self.first_key.items()
        }
        self.tramp_en_owner.update(self.checking, list(map(owner.__getitem__, self.key_at)))
        if not self.k.ftrace_enabled:
            return
        active = list(map(ACTIVE, self.user_objs))
        counts = self.tramp_en_owner.counts
        cnts = list(map(counts.get, compress(self.user_names, active), repeat(0)))
        for ops, cnt in miscounted(list(compress(self.user_opses, active)), cnts):
            self.require(
                False, f"{cnt} trampolines activated, {ops.trampolines} expected ({ops.name})"
            )

    @invariant()
    def text(self):
        """Every site calls what the record's flags say; a disabled one holds the nop.

        A full check also compares the text unicorn runs with the copy the
        checks read (model/arch/x86/emu.py): they may differ only while an
        update is between two run_sync()s.
        """
        sym = self.k.emu.sym
        keys = self.keys()
        codes, aims = self.sites()
        if self.full:
            stale = self.k.emu.unflushed_text()
            if stale is not None:
                self.require(False, f"unicorn's text differs from the copy at {stale:#x}")
        on_trampoline = False
        # a site's verdict depends on its record's key and its aim alone:
        # each distinct pair is judged once, on the first site that has it
        pairs = list(zip(self.key_at, aims, strict=True))
        for at in first_places(pairs):
            (flags, tracers), aim = keys[at], aims[at]
            rec, code = self.visit_recs[at], codes[at]
            got = aim if type(aim) is int else None
            if not flags & FTRACE_FL_ENABLED:
                if code != NOP:
                    self.require(False, f"{rec.name} is disabled but holds {code.hex(' ')}")
                continue
            if flags & FTRACE_FL_TRAMP_EN and len(tracers) == 1:
                want = self.ops_of(tracers[0]).trampoline
                on_trampoline = True
            elif flags & FTRACE_FL_REGS_EN:
                want = sym["ftrace_regs_caller"]
            else:
                want = sym["ftrace_caller"]
            if got != want:
                self.require(
                    False,
                    f"{rec.name} ({flag_names(flags, REC_FLAG_NAMES)}) calls "
                    f"{self.k.emu.symbolize(got) if got else code.hex(' ')}, "
                    f"expected {self.k.emu.symbolize(want)}",
                )
        if on_trampoline:
            self.reached("a record on a trampoline")

    def check(self):
        """Every invariant, in the order hypothesis runs them (used by replay)."""
        for name in INVARIANTS:
            getattr(self, name)()

    @invariant()
    def trampolines_load_their_own_ops(self):
        """Each allocated trampoline loads its own ops pointer and calls its func."""
        guard = self.k.emu.sym["ftrace_ops_recurs_func"]
        for user in ALL_OPS_USERS + ["function"]:
            ops = self.ops_of(user)
            if self.exp.users[user].active and ops.flags & FTRACE_OPS_FL_ALLOC_TRAMP:
                # an ops that is not RECURSION_SAFE may be called through a guard
                funcs = [ops.func]
                if not ops.flags & FTRACE_OPS_FL_RECURSION_SAFE:
                    funcs.append(guard)
                try:
                    check_trampoline_bytes(self.k.emu, ops, funcs)
                except AssertionError as e:
                    self.require(False, str(e))

    @invariant()
    def machine_code(self):
        """Running a function calls exactly the callbacks of its tracers, each once.

        The functions to check fall into classes: sites whose bytes call the
        same place (or hold the same non-call bytes) and that the expectation
        says should run the same callbacks.  One member of each class, drawn
        afresh each step, runs in the emulator (its own bytes at its own
        address), so a site whose bytes differ from its class's is a class
        of its own and runs; SAMPLE live functions run besides, whatever
        their class.  A sampled function that is a member of a class is
        that class's run: a second member would run what the first ran.
        """
        live = self.exp.order
        # "Random" from the step itself, not from the steps before it, so that
        # deleting an earlier step does not move the probes of a later one.
        rng = random.Random(self.last_step)
        probes = rng.sample(live, min(SAMPLE, len(live)))
        _, aims = self.sites()
        self.keys()
        tracers = self.visit_tracers
        distinct = {t for _, t in self.first_key}
        if self.exp.ftrace_enabled and any("probe" in t for t in distinct):
            kinds = map(self.call_kind, self.checking, tracers)
        else:  # the kind depends on the tracers alone: worked out once for each
            kind = {t: self.call_kind(None, t) for t in distinct}
            kinds = map(kind.__getitem__, tracers)
        classes = {}
        for key, identity in zip(zip(aims, kinds, strict=True), self.checking, strict=True):
            classes.setdefault(key, []).append(identity)
        sampled = set(probes)
        for members in classes.values():
            drawn = members[rng.randrange(len(members))]
            if sampled.isdisjoint(members):
                probes.append(drawn)
        for identity in probes:
            self.check_run(identity, self.by_ptr)

    def call_kind(self, identity, tracers):
        """(the callbacks one call of the function should run, graph?): with its aim,
        its class."""
        if not self.exp.ftrace_enabled:
            tracers = ()
        return (self.expected_calls(identity, tracers), "graph" in tracers)

    def expected_calls(self, identity, tracers):
        """The users whose callbacks one call of the function runs, sorted (as tracers are).

        The same for every function with the same tracers (and as many
        probes), so worked out once per check for each.
        """
        key = (tracers, self.probes[identity]) if "probe" in tracers else tracers
        want = self.expected_cache.get(key)
        if want is None:
            want = [t for t in self.exp.callers(tracers) if t != "graph"]
            if "probe" in want:
                want += ["probe"] * (self.probes[identity] - 1)
                want.sort()
            want = self.expected_cache[key] = tuple(want)
        return want

    def check_run(self, identity, by_ptr):
        name = self.exp.live[identity]
        tracers = self.tracers(identity) if self.exp.ftrace_enabled else ()
        result, calls = self.sys.run_callbacks(name)
        want = list(self.expected_calls(identity, tracers))
        users = [self.sys.user_of(inv, by_ptr) for inv in calls]
        got = sorted(users)
        if got != want:
            self.require(False, f"{name}: callbacks of {got} ran, expected {want}")
        for inv, user in zip(calls, users, strict=True):
            ops = self.ops_of(user)
            func = ops.func
            if user != "probe" and inv.func != func:
                self.require(
                    False,
                    f"{name}: {user}'s ops was passed to {self.k.emu.symbolize(inv.func)}, "
                    f"not its func {self.k.emu.symbolize(func)}",
                )
            if self.exp.users[user].save_regs and not inv.regs:
                self.require(False, f"{name}: {user} wants regs but got NULL")
        graphed = any(g.accepted for g in result.graph_calls)
        if graphed != ("graph" in tracers):
            self.require(
                False,
                f"{name}: graph entry {'ran' if graphed else 'did not run'}, graph traces it: "
                f"{'graph' in tracers}",
            )
        if len(want) == 1 and self.rec(identity).flags & FTRACE_FL_TRAMP_EN:
            self.reached("a traced call through a trampoline")
        if "perf" in tracers and "perf" not in want:
            self.reached("a call perf traces while its event is disabled")

    @invariant()
    def recursion_contract(self):
        """No callback without RECURSION_SAFE is entered again while it runs.

        ftrace.h: an ops that does not set RECURSION_SAFE gets recursion
        protection from ftrace.  Each callback that calls a traced function
        is run once through that function's call: a re-entry of a callback
        whose ops is not RECURSION_SAFE breaks the contract.
        """
        if not self.calling or not self.exp.ftrace_enabled:
            return
        flags = {self.ops_of(u).ptr: (u, self.ops_of(u).flags) for u in ALL_OPS_USERS}
        flags[self.k.global_ops.ptr] = ("function", self.k.global_ops.flags)
        for fname in sorted(set(self.calling.values())):
            result = self.sys.run(fname)
            for inv in result.reentered:
                who, ops_flags = flags.get(inv.op, (hex(inv.op), 0))
                if inv.func == self.sys.probe_func:
                    continue  # a probe's own func: trace_probe_ops' callback calls it
                if not ops_flags & FTRACE_OPS_FL_RECURSION_SAFE:
                    self.require(
                        False,
                        f"{who}'s callback {self.k.emu.symbolize(inv.func)} (not RECURSION_SAFE) "
                        f"re-entered at {self.k.emu.function_name(inv.ip)} from "
                        f"{self.k.emu.symbolize(inv.ret) if inv.ret else 'a C caller'}",
                    )
                self.reached("a RECURSION_SAFE callback re-entered")
            if result.nested and not result.reentered:
                self.reached("a callback's call of a traced function")

    def check_invariants(self, settings, output, runtimes):
        """Hypothesis's run of the invariants after a step; the step is healthy if they pass."""
        super().check_invariants(settings, output, runtimes)
        self.healthy = True

    def teardown(self):
        """The end of an example: a full check, unless a step or its checks failed
        (whose failure it must not hide), then the kernel goes back for reuse."""
        if self.healthy and self.stepped:
            self.full_check()
        self.reached(f"steps reached: {min(self.steps, 30) // 10 * 10}+")
        if self.booted is not None:
            self.booted.free = True  # the next machine of this kind puts it back to boot


selection.weigh(FtraceMachine, RULE_WEIGHTS)
selection.weigh_while(FtraceMachine, STATE_WEIGHTS)
