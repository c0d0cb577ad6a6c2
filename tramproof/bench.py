"""tramproof bench: figures a fuzzing farm can plan with, from one run on one machine.

- steps per second of the full state machine (every invariant, emulated
  dispatch) beside a no-op twin (the same rules, strategies and
  preconditions, so the same draws, but no kernel and no checks), at
  several kernel sizes up to a real kernel's ~40,000 records, in rounds
  taken in turn so that the ratios compare machines timed side by side;
- per catalogued bug: examples and seconds until the ``ci`` profile's
  settings find it from scratch on one worker, each seed's hunt bounded by
  ``--seconds`` of wall time (60): how many seeds found it, the medians over
  every seed and the slowest, and the length of its shrunk program
  (properties/golden/<id>.txt);
- one emulated traced call through a SAVE_REGS trampoline against bare
  unicorn on the same bytes;
- with ``--live SECONDS``: the model's steps per second against the real
  kernel's under QEMU, on the same random programs (tramproof/live/bench.py);
- the peak memory of the run.

Times are wall-clock and CPU (process) time: the ratios use CPU time, which
another process on the machine disturbs less.  Plain text by default,
``--json`` for tools, ``--plot FILE`` for a PNG of steps/s against records
(needs matplotlib: ``pip install tramproof[bench]``).
"""

import gc
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import hypothesis
import unicorn
from hypothesis import Phase, seed, settings
from hypothesis.stateful import invariant, run_state_machine_as_test

import properties
from model import fixes
from properties import selection
from properties import strategies as S
from properties.expectation import Expectation, User
from properties.machine import OPS_USERS, FtraceMachine
from properties.module_entries import ModuleEntries
from properties.users import PATH_USERS, USERS
from tramproof import bench_emulation
from tramproof.hunt import HUNT
from tramproof.live import bench as live_bench

GOLDEN = Path(properties.__file__).parent / "golden"
REACHABLE = [f.id for f in fixes.CATALOGUE if f.unreachable_because is None]
# the ci profile (tramproof/profiles.py) as far as an exploration goes
CI_STEPS = 30
NOOP_STEPS = 300  # at least this many steps of the no-op twin are timed per round
ROUNDS = 3  # rounds of the three machines at each size (see scaling)
TARGETS = {
    "full_over_noop_at_64": 4.0,
    "wide_step_seconds": 0.5,
    "narrow_large_over_small": 1.5,
    "bug_median_seconds": 5.0,
    "bug_every_seed_within_seconds": 60.0,
    "emulated_over_bare": 2.0,
}


class UsageError(Exception):
    """Bad options: exit 2 with the message."""


class OutOfTime(KeyboardInterrupt):
    """The measurement's time budget is spent.  A KeyboardInterrupt, so that
    hypothesis lets it through instead of treating it as a failure."""


class NoopMachine(FtraceMachine):
    """FtraceMachine's rules and draws with no kernel, no model and no checks.

    Keeps only what the preconditions and strategies read (which users are
    running, which modules are loaded, the names filters are drawn from, the
    functions with a kprobe or a function probe, the callbacks that call a
    function, whether perf's filter has entries, the trace arrays' entries
    for module functions), so that it draws what the full machine draws; it
    keeps no other filter, so a draw that reads one (a '!' edit) draws as on
    empty filters, and perf's filter counts as set by any edit that adds a
    pattern (on the full machine, one that matches).
    """

    def __init__(self, kernel=None, overrides=None, functions=S.VMLINUX_FUNCTIONS):
        super(FtraceMachine, self).__init__()
        selection.every_rule(self)
        self.kernel = kernel or "fixed"
        self.functions = functions
        self.exp = Expectation(cleaned_on_unload=())
        for user in ("function", "graph"):
            self.exp.add_user(User(user, "global_ops"))
        for name in OPS_USERS:
            self.exp.add_user(User(name, name, static=not USERS[name][1]))
        for name, (static, _) in PATH_USERS.items():
            self.exp.add_user(User(name, name, static=static))
        self.vmlinux = S.vmlinux_names(functions)
        self.kprobes = set()
        self.probes = set()  # names of the functions with a function probe
        self.calling = {}
        self.perf_filtered = False  # perf's filter or notrace has entries
        self.next_module = 0
        self.loaded = {}
        self.dead_names = set()
        self.module_names = frozenset()
        self.live_modular = set()
        self.module_entries = ModuleEntries(functions)
        self.steps = 0
        self.booted = None

    def do_register(self, user, alloc_fails=False):
        self.exp.users[user].active = True

    def do_unregister(self, user):
        self.exp.users[user].active = False

    def do_function_tracer_start(self, stack, alloc_fails=False):
        self.exp.users["function"].active = True

    def do_function_tracer_stop(self):
        self.exp.users["function"].active = False

    def do_graph_start(self):
        self.exp.users["graph"].active = True

    def do_graph_stop(self):
        self.exp.users["graph"].active = False

    def do_set_filter(self, ops, buf, reset, notrace):
        which = "notrace" if notrace else "filter"
        self.module_entries.set(ops, which, buf, reset, self.live_modular)
        if ops == "perf":
            # any pattern but a '!' one matches something (the twin's filters stay empty)
            adds = bool(buf) and not buf.startswith("!")
            self.perf_filtered = adds or (self.perf_filtered and not reset)

    def perf_filter_waits(self):
        return not self.exp.users["perf"].active and self.perf_filtered

    def do_sysctl(self, value):
        self.exp.ftrace_enabled = bool(value)  # the sysctl rule draws the other value

    def do_perf(self, what):
        user = self.exp.users["perf"]
        user.active = what != "close"
        if what == "close":
            self.perf_filtered = False  # ftrace_free_filter()
        if what != "close":
            user.enabled_here = what == "add"  # open leaves it disabled

    def do_kprobe(self, fname, arm, alloc_fails=False):
        if arm:
            self.kprobes.add(fname)
        else:
            self.kprobes.discard(fname)
        self.exp.users["kprobe"].active = bool(self.kprobes)

    def do_function_probe(self, pattern, remove):
        found = set(self.vmlinux) if pattern == "f*" else {pattern}
        self.probes = self.probes - found if remove else self.probes | found
        self.exp.users["probe"].active = bool(self.probes)

    def probed(self):
        return sorted(self.probes)

    def do_tracefs_filter(self, buf, trunc, notrace):
        which = "notrace" if notrace else "filter"
        self.module_entries.write("global_ops", which, buf, trunc, self.live_modular)

    def do_callback_calls(self, user, fname):
        if fname is None:
            self.calling.pop(user, None)
        else:
            self.calling[user] = fname

    def do_load_module(self, serial, alloc_fails=False):
        self.next_module = max(self.next_module, serial + 1)
        if alloc_fails:
            return None
        functions = [f"mod{serial}_{f}" for f in S.MODULE_FUNCTIONS]
        self.loaded[serial] = functions
        self.module_names |= set(functions)
        self.live_modular |= set(functions)
        return serial

    def do_unload_module(self, serial):
        self.module_entries.unloaded(self.loaded[serial])
        for f in self.loaded.pop(serial):
            self.dead_names.add(f)
            self.live_modular.discard(f)

    @invariant()
    def no_warning(self):
        self.steps += 1

    @invariant()
    def accounting(self):
        pass

    @invariant()
    def tramp_hash_matches(self):
        pass

    @invariant()
    def text(self):
        pass

    @invariant()
    def trampolines_load_their_own_ops(self):
        pass

    @invariant()
    def machine_code(self):
        pass

    @invariant()
    def recursion_contract(self):
        pass

    def check(self):
        pass

    def teardown(self):
        pass


class ModelOnlyMachine(FtraceMachine):
    """FtraceMachine's rules and model with no invariant checked: what the kernel's
    own work (and the expectation's bookkeeping) costs a step, the floor that no
    speed-up of the checks can go below."""

    @invariant()
    def no_warning(self):
        self.steps += 1
        self.k.rec_watch.changed.clear()
        self.touched.clear()

    def accounting(self):
        pass

    def tramp_hash_matches(self):
        pass

    def text(self):
        pass

    def trampolines_load_their_own_ops(self):
        pass

    def machine_code(self):
        pass

    def recursion_contract(self):
        pass


def explore(
    machine_class, records, budget, examples, steps=CI_STEPS, kernel="fixed", max_steps=None
):
    """Run ``machine_class`` over derandomized examples until ``examples`` ran, ``budget``
    seconds passed (checked after every step but the first) or, with ``max_steps``,
    that many steps ran: the no-op twin then runs exactly the steps the full machine did.

    The first machine of a size (its boot, and the first check of every
    function) is made and timed before the clock starts: a fuzzing farm pays
    it once per process.  Returns the counts and times of the explored steps.
    """
    started = time.perf_counter()
    warm = machine_class(kernel=kernel, functions=records)
    warm.check()
    warm.patterns()  # the pool filters are drawn from, built once per process
    warm.teardown()
    boot_seconds = time.perf_counter() - started
    tally = {"steps": 0, "examples": 0, "checked": 0}

    class Timed(machine_class):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            tally["examples"] += 1

        def check_invariants(self, settings, output, runtimes):
            super().check_invariants(settings, output, runtimes)
            # every check after a rule is a step (the first one is the example's start)
            started = getattr(self, "bench_started", False)
            tally["steps"] += started
            if started and getattr(self, "checking", None) is not None:
                tally["checked"] += len(self.checking)  # functions this step's checks visited
            self.bench_started = True
            tally["wall"], tally["cpu"] = time.perf_counter(), time.process_time()
            # at least one step, however short the budget: a round on a loaded
            # machine must still measure something
            out_of_time = tally["steps"] and time.perf_counter() > deadline
            if out_of_time or tally["steps"] == max_steps:
                raise OutOfTime()

    def factory():
        return Timed(kernel=kernel, functions=records)

    # a hunt's settings (derandomized, no database): the same examples every run
    budget_settings = settings(
        HUNT, max_examples=examples, stateful_step_count=steps, phases=[Phase.generate]
    )
    wall0, cpu0 = time.perf_counter(), time.process_time()
    tally["wall"], tally["cpu"] = wall0, cpu0
    deadline = wall0 + budget
    try:
        run_state_machine_as_test(factory, settings=budget_settings)
    except OutOfTime:
        pass
    wall, cpu = tally["wall"] - wall0, tally["cpu"] - cpu0
    n = max(tally["steps"], 1)
    return {
        "examples": tally["examples"],
        "steps": tally["steps"],
        "seconds": round(wall, 4),
        "cpu_seconds": round(cpu, 4),
        "steps_per_s": round(tally["steps"] / wall, 2) if wall else None,
        "cpu_ms_per_step": round(cpu / n * 1e3, 4),
        "functions_checked_per_step": round(tally["checked"] / n, 1),
        "first_boot_seconds": round(boot_seconds, 4),
    }


def scaling(sizes, budget, examples, rounds=ROUNDS):
    """At each size, ``rounds`` rounds of the full machine, its no-op twin and the
    model alone, in turn, each round on the same examples with ``budget / rounds``
    seconds per machine.

    On a shared machine, CPU time per step moves by a quarter from one second
    to the next, and a slow spell lands on whichever machine runs in it.
    Taken in turn, each round's machines see about the same spell: a ratio is
    the median of the rounds' ratios (each round's is in ``*_rounds``), and
    each machine's figures are its rounds' totals.
    """
    rows = []
    for records in sizes:
        progress(f"{records} records")
        runs = {"full": [], "noop": [], "model": []}
        for _ in range(rounds):
            full = explore(FtraceMachine, records, budget / rounds, examples)
            # The no-op twin runs the same examples (same seed, same draws): the
            # full machine's steps, and further along the same sequence when they
            # are too few to time (a large kernel's few steps).
            noop = explore(
                NoopMachine,
                records,
                budget / rounds,
                examples,
                max_steps=max(full["steps"], NOOP_STEPS),
            )
            # the model alone, on exactly the full machine's steps
            model = explore(
                ModelOnlyMachine, records, budget / rounds, examples, max_steps=full["steps"]
            )
            for name, run in (("full", full), ("noop", noop), ("model", model)):
                runs[name].append(run)
        row = {"records": records, **{name: combined(r) for name, r in runs.items()}}
        for name in ("full", "model"):
            ratios = [
                round(a["cpu_ms_per_step"] / b["cpu_ms_per_step"], 2)
                for a, b in zip(runs[name], runs["noop"], strict=True)
                if a["steps"] and b["cpu_ms_per_step"]
            ]
            row[f"{name}_over_noop"] = round(statistics.median(ratios), 2) if ratios else None
            row[f"{name}_over_noop_rounds"] = ratios
        row["peak_rss_mib"] = peak_rss_mib()
        rows.append(row)
    return rows


def combined(runs):
    """One machine's rounds as one exploration: their totals, per step."""
    steps = sum(r["steps"] for r in runs)
    wall = sum(r["seconds"] for r in runs)
    cpu = sum(r["cpu_seconds"] for r in runs)
    n = max(steps, 1)
    checked = sum(r["functions_checked_per_step"] * r["steps"] for r in runs)
    return {
        "examples": sum(r["examples"] for r in runs),
        "steps": steps,
        "seconds": round(wall, 4),
        "cpu_seconds": round(cpu, 4),
        "steps_per_s": round(steps / wall, 2) if wall else None,
        "cpu_ms_per_step": round(cpu / n * 1e3, 4),
        "functions_checked_per_step": round(checked / n, 1),
        "first_boot_seconds": runs[0]["first_boot_seconds"],
        "rounds": len(runs),
    }


# one step of each kind, on a booted machine of each size: (name, the step, its undo)
STEP_KINDS = {
    # every record changes: an ops with an empty filter traces everything
    "wide": (
        lambda m: m.do_register("stack_trace"),
        lambda m: m.do_unregister("stack_trace"),
    ),
    # one record changes: a kprobe on one function
    "narrow": (lambda m: m.do_kprobe("f1", True), lambda m: m.do_kprobe("f1", False)),
}
# times each kind is taken: a narrow step costs about a millisecond, so more
# of them are needed for a median above the machine's noise; one wide step's
# CPU time moves by a third from one repeat to the next on a shared machine
STEP_REPEATS = {"wide": 5, "narrow": 15}
FULL_CHECK_REPEATS = 3  # full checks timed per kind (each costs a wide step's checks)


def step_costs(sizes):
    """CPU seconds of one wide and one narrow step at each size, every check on.

    Each step is taken STEP_REPEATS times (with its undo between, also
    checked) on one booted machine whose boot was checked in full first;
    the figures are medians: the model's own work (the step) and the
    incremental checks after it, then, apart, a full check of the state the
    step leaves (what every FULL_CHECK_EVERY-th step and the end of an
    example add; the periodic one is not let fall on a measured step).  As
    timeit does, the cyclic garbage collector is off while a step is timed:
    its passes over the whole heap come from all that ran before, not from
    the step.
    """
    rows = []
    for records in sizes:
        progress(f"one wide and one narrow step at {records} records")
        m = FtraceMachine(kernel="fixed", functions=records)
        m.check()
        row = {"records": records}
        for kind, (take, undo) in STEP_KINDS.items():
            model, checks, full = [], [], []
            for i in range(STEP_REPEATS[kind]):
                gc.collect()
                gc.disable()
                try:
                    t0 = time.process_time()
                    take(m)
                    m.full_due = False
                    t1 = time.process_time()
                    m.check()
                    t2 = time.process_time()
                    visited = len(m.checking)
                    if i < FULL_CHECK_REPEATS:
                        m.full_check()
                        full.append(time.process_time() - t2)
                finally:
                    gc.enable()
                model.append(t1 - t0)
                checks.append(t2 - t1)
                undo(m)
                m.full_due = False
                m.check()
            row[kind] = {
                "model_s": round(statistics.median(model), 4),
                "checks_s": round(statistics.median(checks), 4),
                "step_s": round(
                    statistics.median(a + b for a, b in zip(model, checks, strict=True)), 4
                ),
                "full_check_s": round(statistics.median(full), 4),
                "functions_checked": visited,
            }
        m.teardown()
        rows.append(row)
    return rows


def progress(what):
    """What is being measured, on stderr (the figures go to ``out``)."""
    print(f"tramproof bench: {what} ...", file=sys.stderr, flush=True)


def golden_length(fix):
    path = GOLDEN / f"{fix}.txt"
    if not path.exists():
        return None
    return sum(1 for line in path.read_text().splitlines() if line.startswith("  "))


# a hunt with no --cap: only its seconds bound it
UNCAPPED = 10**9


def find(fix, seed_value, limit, cap=None, steps=CI_STEPS):
    """(examples, seconds) until the machine fails on fixed-<fix> from scratch, with
    hypothesis seeded by ``seed_value``; examples is None if it held for ``limit``
    seconds of wall time (checked as each example starts) or ``cap`` examples."""
    starts = []
    kernel = f"fixed-{fix}"
    start = time.perf_counter()

    def factory():
        now = time.perf_counter()
        if now - start > limit:
            raise OutOfTime()
        starts.append(now)
        return FtraceMachine(kernel=kernel)

    factory = seed(seed_value)(factory)
    # a hunt's settings, seeded instead of derandomized
    find_settings = settings(
        HUNT,
        max_examples=cap or UNCAPPED,
        stateful_step_count=steps,
        derandomize=False,
        phases=[Phase.generate],
    )
    try:
        run_state_machine_as_test(factory, settings=find_settings)
    except OutOfTime:
        return None, time.perf_counter() - start
    except Exception:  # an invariant's AssertionError, or another kind of failure: a find
        # hypothesis runs the failing example once more to print it: that
        # run's start is when the find was made
        if len(starts) < 2:
            raise
        return len(starts) - 1, starts[-1] - start
    return None, time.perf_counter() - start


def median_or_none(values):
    """The median, counting None (not found) as worse than any figure; None if that is it."""
    ranked = sorted(values, key=lambda v: (v is None, v or 0))
    middle = ranked[(len(ranked) - 1) // 2 : len(ranked) // 2 + 1]
    if None in middle:
        return None
    return statistics.mean(middle)


def bugs(ids, seeds, limit, cap=None):
    """Per bug: how many of seeds 0..seeds-1 found it within ``limit`` s (and ``cap``
    examples), and the medians over every seed (one that did not find it counts
    as slower than any that did)."""
    rows = []
    for fix in ids:
        progress(f"hunting {fix}")
        runs = [find(fix, s, limit, cap) for s in range(seeds)]
        found = [(n, t) for n, t in runs if n is not None]
        med_n = median_or_none([n for n, _ in runs])
        med_t = median_or_none([t if n is not None else None for n, t in runs])
        rows.append(
            {
                "fix": fix,
                "seeds": seeds,
                "found": len(found),
                "limit_seconds": limit,
                "examples": [n for n, _ in runs],
                "seconds": [round(t, 3) for _, t in runs],
                "median_examples": med_n,
                "median_seconds": None if med_t is None else round(med_t, 3),
                "max_seconds": round(max(t for _, t in runs), 3),
                "shrunk_steps": golden_length(fix),
            }
        )
    return rows


def peak_rss_mib():
    """Peak resident memory of this process so far (ru_maxrss is KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def machine_info():
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "hypothesis": hypothesis.__version__,
        "unicorn": unicorn.__version__,
    }


def targets(report):
    """Each target of the issue: its figure and whether it is met (None: not measured)."""
    out = {}
    rows = report["scaling"]
    small = next((r for r in rows if r["records"] == 64), rows[0] if rows else None)
    if small:
        ratio = small["full_over_noop"]
        out["full_over_noop_at_64"] = {
            "records": small["records"],
            "value": ratio,
            "target": f"<= {TARGETS['full_over_noop_at_64']}",
            "met": None if ratio is None else ratio <= TARGETS["full_over_noop_at_64"],
        }
    steps = report["steps"]
    if steps:
        big = max(steps, key=lambda r: r["records"])
        value = big["wide"]["step_s"]
        out["wide_step_seconds"] = {
            "records": big["records"],
            "value": value,
            "target": f"<= {TARGETS['wide_step_seconds']}",
            "met": value <= TARGETS["wide_step_seconds"],
        }
        little = next(
            (r for r in steps if r["records"] == 64), min(steps, key=lambda r: r["records"])
        )
        if big is not little:
            value = round(big["narrow"]["step_s"] / max(little["narrow"]["step_s"], 1e-6), 2)
            out["narrow_large_over_small"] = {
                "records": [little["records"], big["records"]],
                "value": value,
                "target": f"<= {TARGETS['narrow_large_over_small']}",
                "met": value <= TARGETS["narrow_large_over_small"],
            }
    if report["bugs"]:
        out.update(bug_targets(report["bugs"]))
    emu = report["emulation"]
    if emu:
        out["emulated_over_bare"] = {
            "value": emu["ratio"],
            "target": f"<= {TARGETS['emulated_over_bare']}",
            "met": emu["ratio"] <= TARGETS["emulated_over_bare"],
            # Emu.call makes unicorn's C calls directly, and stops and fills the TLB
            # its own way (bench_emulation); against a bare run that does all that
            # too, what is left is the recording alone
            "against_direct_calls": emu["ratio_direct"],
            "against_run_as_emu": emu["ratio_as_emu"],
        }
    return out


def bug_targets(rows):
    """The per-bug targets: every bug's median seconds to find, and every seed finding
    every bug within the bound (None: the run's own bound was shorter than it)."""
    medians = [b["median_seconds"] for b in rows]
    worst = None if None in medians else max(medians)
    median_target = TARGETS["bug_median_seconds"]
    bound = TARGETS["bug_every_seed_within_seconds"]
    within = [
        b["fix"]
        for b in rows
        if all(
            n is not None and t < bound for n, t in zip(b["examples"], b["seconds"], strict=True)
        )
    ]
    # a seed that ran out of a shorter bound might still have found it within this one
    unknown = any(b["found"] < b["seeds"] and b["limit_seconds"] < bound for b in rows)
    return {
        "bug_median_seconds": {
            "value": worst,
            "target": f"< {median_target:g} s for every bug",
            "met": worst is not None and worst < median_target,
        },
        "bug_every_seed_within_seconds": {
            "value": f"{len(within)}/{len(rows)} bugs",
            "target": f"every seed finds every bug in < {bound:g} s",
            "met": None if unknown and len(within) < len(rows) else len(within) == len(rows),
        },
    }


def add_arguments(parser):
    """The options of `tramproof bench`; the parser's ``run`` is bench()."""
    parser.set_defaults(run=bench)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--plot", metavar="FILE", help="write a PNG of steps/s against records")
    parser.add_argument(
        "--sizes",
        default="64,1000,10000,40000",
        help="vmlinux records to measure at, comma-separated (default: %(default)s)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=10.0,
        help="seconds of exploration per machine per size (default: %(default)s)",
    )
    parser.add_argument(
        "--examples",
        type=int,
        default=60,
        help="at most this many examples per size, as the ci profile (default: %(default)s)",
    )
    parser.add_argument(
        "--bugs",
        default="all",
        help="catalogued fixes to hunt, comma-separated, 'all' or 'none' (default: all)",
    )
    parser.add_argument("--seeds", type=int, default=5, help="seeds per bug (default: %(default)s)")
    parser.add_argument(
        "--seconds",
        type=float,
        default=60.0,
        help="wall seconds a hunt may take before it counts as not found (default: %(default)s)",
    )
    parser.add_argument(
        "--cap",
        type=int,
        default=None,
        help="also stop a hunt after this many examples (default: no cap)",
    )
    parser.add_argument(
        "--calls", type=int, default=2000, help="emulated calls per batch (default: %(default)s)"
    )
    parser.add_argument(
        "--live",
        type=float,
        metavar="SECONDS",
        help="also measure model steps/s against the real kernel's under QEMU, on live "
        "diff's random programs for about SECONDS (default: off)",
    )


def parse_options(args):
    """Validated (sizes, bug ids); UsageError for bad ones."""
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--sizes must be integers, got {args.sizes!r}") from None
    if not sizes or any(n < 1 for n in sizes):
        raise UsageError("--sizes needs at least one positive size")
    if args.bugs == "all":
        ids = list(REACHABLE)
    elif args.bugs == "none":
        ids = []
    else:
        ids = [b.strip() for b in args.bugs.split(",") if b.strip()]
        unknown = [b for b in ids if b not in REACHABLE]
        if unknown:
            raise UsageError(
                f"not a reachable catalogued fix: {', '.join(unknown)} "
                f"(known: {', '.join(REACHABLE)})"
            )
    if min(args.seeds, args.calls, args.examples) < 1 or (args.cap is not None and args.cap < 1):
        raise UsageError("--seeds, --cap, --calls and --examples must be positive")
    if args.budget <= 0 or args.seconds <= 0:
        raise UsageError("--budget and --seconds must be positive")
    if args.plot:
        check_plot_path(args.plot)
    if args.live is not None and args.live <= 0:
        raise UsageError("--live must be positive")
    return sizes, ids


def check_plot_path(path):
    """Refuse, before measuring anything, a plot that could not be written."""
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UsageError(f"cannot write the plot to {path}: it is a directory")
    if not parent.is_dir():
        raise UsageError(f"cannot write the plot to {path}: no directory {parent}")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise UsageError(f"cannot write the plot to {path}: permission denied")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(
            "--plot needs matplotlib: pip install 'tramproof[bench]' (or matplotlib)"
        ) from None


def plot(report, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["scaling"] if r["full"]["steps"]]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for which, style in (("full", "o-"), ("noop", "s--")):
        xs = [r["records"] for r in rows]
        ys = [1e3 / r[which]["cpu_ms_per_step"] for r in rows]
        label = "full machine" if which == "full" else "no-op machine (hypothesis alone)"
        ax.plot(xs, ys, style, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("vmlinux records")
    ax.set_ylabel("steps per CPU second")
    info = report["machine"]
    ax.set_title(f"tramproof state machine, {info['cpus']} cores, Python {info['python']}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def render(report, out):
    info = report["machine"]
    out.write(
        f"tramproof bench: {info['cpus']} cores, Python {info['python']}, "
        f"hypothesis {info['hypothesis']}, unicorn {info['unicorn']}, {info['platform']}\n\n"
    )
    out.write("steps of the state machine (30-step examples, derandomized; ms are CPU time)\n")
    out.write(
        f"{'records':>8} {'full steps':>10} {'steps/s':>9} {'ms/step':>9}   "
        f"{'no-op steps':>11} {'steps/s':>9} {'ms/step':>8}   {'full/no-op':>10} "
        f"{'model ms/step':>13} {'model/no-op':>11} {'first boot s':>12} {'checked/step':>12}\n"
    )
    for r in report["scaling"]:
        f, n = r["full"], r["noop"]
        out.write(
            f"{r['records']:>8} {f['steps']:>10} {f['steps_per_s'] or 0:>9.1f} "
            f"{f['cpu_ms_per_step']:>9.3f}   {n['steps']:>11} {n['steps_per_s'] or 0:>9.1f} "
            f"{n['cpu_ms_per_step']:>8.3f}   {r['full_over_noop'] or 0:>9.1f}x "
            f"{r['model']['cpu_ms_per_step']:>13.3f} {r['model_over_noop'] or 0:>10.1f}x "
            f"{f['first_boot_seconds']:>12.2f} {f['functions_checked_per_step']:>12.1f}\n"
        )
    out.write("full/no-op and model/no-op: the median of the rounds' ratios, each round's:\n")
    for r in report["scaling"]:
        out.write(
            f"{r['records']:>8}   full/no-op {rounds_text(r['full_over_noop_rounds'])}   "
            f"model/no-op {rounds_text(r['model_over_noop_rounds'])}\n"
        )
    out.write(
        "\none step, every check on (CPU s, median): the model's work, the incremental "
        "checks, the full check every 10th step adds\n"
    )
    out.write(
        f"{'records':>8} {'kind':>7} {'model':>8} {'checks':>8} {'step':>8} "
        f"{'full check':>10} {'checked':>8}\n"
    )
    for r in report["steps"]:
        for kind in STEP_KINDS:
            c = r[kind]
            out.write(
                f"{r['records']:>8} {kind:>7} {c['model_s']:>8.4f} {c['checks_s']:>8.4f} "
                f"{c['step_s']:>8.4f} {c['full_check_s']:>10.4f} {c['functions_checked']:>8}\n"
            )
    if report["bugs"]:
        render_bugs(report["bugs"], out)
    emu = report["emulation"]
    if emu:
        out.write(
            f"\none emulated traced call through a SAVE_REGS trampoline: "
            f"{emu['recorded_us']:.1f} us recorded, {emu['bare_us']:.1f} us bare unicorn, "
            f"{emu['ratio']:.2f}x ({emu['bare_direct_us']:.1f} us and "
            f"{emu['ratio_direct']:.2f}x against bare with its C calls made directly; "
            f"{emu['bare_as_emu_us']:.1f} us and {emu['ratio_as_emu']:.2f}x against bare "
            f"run as Emu.call runs it)\n"
        )
    if report.get("live"):
        live_bench.render(report["live"], out)
    out.write(f"\npeak memory (max RSS): {report['peak_rss_mib']:.1f} MiB\n\ntargets\n")
    for name, t in report["targets"].items():
        verdict = {True: "met", False: "NOT met", None: "not measured"}[t["met"]]
        out.write(f"  {name:<22} {t['value']!s:>10}  target {t['target']:<24} {verdict}\n")


def rounds_text(ratios):
    """A row's per-round ratios, as the plain text shows them."""
    return " ".join(f"{x:.2f}x" for x in ratios) or "-"


def render_bugs(rows, out):
    out.write(
        f"\ncatalogued bugs found from scratch on fixed-<id> (ci settings, one worker, "
        f"seeds 0-{rows[0]['seeds'] - 1}, at most {rows[0]['limit_seconds']:g} s each; "
        f"medians over every seed)\n"
    )
    out.write(
        f"{'fix':<20} {'found':>6} {'examples':>9} {'median s':>9} {'max s':>7} {'shrunk':>7}\n"
    )
    for b in rows:
        med_n = "-" if b["median_examples"] is None else f"{b['median_examples']:g}"
        med_t = "-" if b["median_seconds"] is None else f"{b['median_seconds']:.2f}"
        shrunk = "-" if b["shrunk_steps"] is None else b["shrunk_steps"]
        out.write(
            f"{b['fix']:<20} {b['found']:>3}/{b['seeds']:<2} {med_n:>9} {med_t:>9} "
            f"{b['max_seconds']:>7.2f} {shrunk:>7}\n"
        )


def bench(args, out):
    """Run the benchmarks; the exit code (0, or 2 for bad usage)."""
    try:
        sizes, ids = parse_options(args)
    except UsageError as e:
        print(f"tramproof bench: {e}", file=sys.stderr)
        return 2
    report = {"machine": machine_info()}
    report["scaling"] = scaling(sizes, args.budget, args.examples)
    report["steps"] = step_costs(sizes)
    report["bugs"] = bugs(ids, args.seeds, args.seconds, args.cap)
    report["emulation"] = bench_emulation.measure(args.calls)
    report["live"] = live_bench.measure(args.live) if args.live else None
    report["peak_rss_mib"] = peak_rss_mib()
    report["targets"] = targets(report)
    if args.plot:
        try:
            plot(report, args.plot)
        except OSError as e:
            print(f"tramproof bench: cannot write the plot to {args.plot}: {e}", file=sys.stderr)
            return 2
    if args.json:
        json.dump(report, out, indent=2)
        out.write("\n")
    else:
        render(report, out)
    return 0


def main(argv=None, out=sys.stdout):
    import argparse

    parser = argparse.ArgumentParser(prog="tramproof bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return bench(parser.parse_args(argv), out)


if __name__ == "__main__":
    sys.exit(main())
