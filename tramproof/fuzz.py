"""`tramproof fuzz`: run the state machine for a budget, shrink and report what fails.

A run is a sequence of batches.  Batch i runs hypothesis for up to BATCH
examples, seeded from the run's seed and i, on the current kernel.  A
failure is cut down by replay (replay.minimize), matched against the
catalogue (which single fix makes the program hold) and reported once per
invariant, ops and fix.  A failure that a catalogued fix explains is then
masked: later batches run the kernel with that fix, so that one known bug
does not hide the next one.

Batches run in worker processes that the coordinator (this process) feeds.
With one worker, a seed gives the same run and the same reports, byte for
byte.  A signal stops the run within a few seconds: workers finish the
example in hand, a failure being shrunk is reported as shrunk so far.
"""

import contextlib
import hashlib
import io
import multiprocessing
import os
import queue
import random
import re
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import Phase, seed, settings
from hypothesis.stateful import run_state_machine_as_test

from model import fixes
from properties.machine import FtraceMachine
from properties.variant import load_variant
from tramproof import report as reports
from tramproof.database import open_database
from tramproof.hunt import HUNT, kernel_steps, program_of
from tramproof.replay import ReplayError, minimize, replay

BATCH = 50  # examples per batch: a few seconds of work, the unit of dispatch
GRACE = 10  # seconds the coordinator waits for workers after a signal
EXIT_INTERRUPTED = 3


class Interrupted(KeyboardInterrupt):
    """Raised in a worker's next example after a signal or the end of the time budget.

    A KeyboardInterrupt, because hypothesis lets that through without saving
    the example in hand to the database as a failure.
    """


@dataclass
class Task:
    index: int
    seed: int
    kernel: str
    examples: int
    reuse: bool  # replay the database's entries first (the first batch on each kernel)
    deadline: float | None


@dataclass
class Found:
    """A failure a worker found: its steps in kernel words, shrunk if it could be replayed."""

    steps: list
    failure: str
    blob: str
    error: str = ""  # the traceback, for a failure that replay does not reproduce


@dataclass
class BatchResult:
    index: int
    kernel: str
    examples: int = 0
    steps: int = 0
    found: Found | None = None
    interrupted: bool = False


# ---------------------------------------------------------------- workers

STOP = {"requested": False}


def request_stop(signum, frame):
    STOP["requested"] = True


def variant_digest(path):
    """Part of the database key: a variant's failures are not replayed on the plain kernel."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16] if path else ""


def run_batch(task, config, overrides, db, progress):
    """Run one batch; its BatchResult.  ``progress(examples, steps)`` is told per example."""
    result = BatchResult(task.index, task.kernel)
    last = {}

    def count_last():
        m = last.pop("m", None)
        if m is not None:
            result.steps += m.steps
            progress(1, m.steps)

    def factory():
        count_last()
        if STOP["requested"] or (task.deadline and time.time() > task.deadline):
            raise Interrupted()
        result.examples += 1
        last["m"] = FtraceMachine(kernel=task.kernel, overrides=overrides)
        return last["m"]

    factory = seed(task.seed)(factory)
    # one database key per kernel (and variant): a failure saved on one
    # kernel is not replayed, and then deleted, on another
    factory._hypothesis_internal_add_digest = f"{task.kernel} {config.variant_digest}".encode()
    phases = [Phase.explicit, Phase.reuse, Phase.generate] if task.reuse else [Phase.generate]
    # a hunt's settings (find, do not shrink), but seeded, with the database
    batch = settings(
        HUNT,
        database=db,
        max_examples=task.examples,
        stateful_step_count=config.step_count,
        phases=phases,
        derandomize=False,
        print_blob=True,
    )
    try:
        # hypothesis attaches the failing program to the error and prints it
        # too: the error is what the report is made of, the print goes
        with contextlib.redirect_stdout(io.StringIO()):
            run_state_machine_as_test(factory, settings=batch)
    except Interrupted:
        result.interrupted = True
    except Exception as error:
        # hypothesis ran the failing example once more to raise its error:
        # that run is no example of its own
        last.pop("m", None)
        result.examples -= 1
        result.found = shrink(task.kernel, overrides, error)
    count_last()
    return result


def shrink(kernel, overrides, error):
    """Found for a failure hypothesis raised, cut down by replay where replay reproduces it."""
    program = program_of(error)
    blob = re.search(r"@reproduce_failure\(.*?\)", program)
    blob = blob.group(0) if blob else ""
    try:
        steps = kernel_steps(program)
    except ValueError:
        steps = []
    try:
        steps, failure = minimize(kernel, steps, overrides, stop=lambda: STOP["requested"])
    except Exception:
        text = "".join(traceback.format_exception(error)).rstrip()
        first = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        return Found(steps, first, blob, error=text + "\n\n" + program)
    return Found(steps, failure, blob)


def worker(tasks, results, config):
    """A worker process: take tasks until told to stop, send back progress and results."""
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    overrides = load_variant(config.variant) if config.variant else None
    db = open_database(config.db, warn=lambda w: results.put(("warn", w)))

    def progress(examples, steps):
        results.put(("progress", examples, steps))

    while not STOP["requested"]:
        task = tasks.get()
        if task is None:
            break
        results.put(("done", run_batch(task, config, overrides, db, progress)))
    results.put(("exit", os.getpid()))


# ---------------------------------------------------------------- the coordinator


@dataclass
class Run:
    """What a run has done so far, and what it found."""

    kernel: str
    seed: int
    examples: int = 0
    steps: int = 0
    batches: int = 0
    mask: set = field(default_factory=set)
    reports: dict = field(default_factory=dict)  # key -> (batch index, Report)
    warnings: list = field(default_factory=list)
    signal: str = ""

    def current_kernel(self):
        return fixes.kernel_name(fixes.kernel_fixes(self.kernel) | self.mask)


def batch_seed(run_seed, index):
    digest = hashlib.sha256(f"tramproof {run_seed} {index}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def explain(kernel, steps, overrides):
    """The catalogued fixes (reachable, not in ``kernel``) that alone make the program hold."""
    have = fixes.kernel_fixes(kernel)
    known = []
    for fix in fixes.CATALOGUE:
        if fix.id in have or fix.unreachable_because:
            continue
        try:
            holds = replay(fixes.kernel_name(have | {fix.id}), steps, overrides) is None
        except (ReplayError, KeyError):
            holds = False
        if holds:
            known.append(fix.id)
    return known


@dataclass
class Config:
    """A run's options, as `tramproof fuzz` takes them."""

    kernel: str = "as-posted"
    variant: str | None = None
    variant_digest: str = ""
    seed: int = 0
    examples: int | None = None
    minutes: float | None = None
    workers: int = 1
    db: str | None = None
    report_dir: str = "tramproof-reports"
    step_count: int = 30
    profile: str = "ci"


class Log:
    """Events as lines; on a terminal, also a status line redrawn in place."""

    def __init__(self, out, tty, start):
        self.out, self.tty, self.start = out, tty, start
        self.drawn = 0.0

    def event(self, text):
        if self.tty:
            self.out.write("\r\033[K")
        self.out.write(f"[{time.monotonic() - self.start:7.1f}s] {text}\n")
        self.out.flush()

    def status(self, run, config, failures):
        now = time.monotonic()
        if not self.tty or now - self.drawn < 0.5:
            return
        self.drawn = now
        elapsed = now - self.start
        left = []
        if config.minutes:
            left.append(f"{max(0.0, config.minutes * 60 - elapsed):.0f}s left")
        if config.examples:
            left.append(f"{max(0, config.examples - run.examples)} examples left")
        self.out.write(
            f"\r\033[K{run.examples} examples  {run.steps} steps  {elapsed:.0f}s elapsed  "
            f"{'  '.join(left)}  {failures} failures"
        )
        self.out.flush()


def write_atomic(path, text):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def fuzz(config, out, tty=None):
    """Run the budget; the exit code (0 clean, 1 failures reported, 2 a worker died,
    3 stopped by a signal)."""
    tty = out.isatty() if tty is None else tty
    start = time.monotonic()
    log = Log(out, tty, start)
    run = Run(config.kernel, config.seed)
    overrides = load_variant(config.variant) if config.variant else None
    report_dir = Path(config.report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.time() + config.minutes * 60 if config.minutes else None

    STOP["requested"] = False
    ctx = multiprocessing.get_context("fork")
    tasks, results = ctx.Queue(), ctx.Queue()
    workers = [
        ctx.Process(target=worker, args=(tasks, results, config), daemon=True)
        for _ in range(config.workers)
    ]

    def on_signal(signum, frame):
        if not run.signal:
            run.signal = signal.Signals(signum).name
            STOP["requested"] = True
            for p in workers:
                if p.pid and p.is_alive():
                    os.kill(p.pid, signal.SIGTERM)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    budget = [
        f"{config.minutes:g} min" if config.minutes else "",
        (f"{config.examples} examples" if config.examples else ""),
    ]
    log.event(
        f"fuzz {config.kernel}{' with ' + config.variant if config.variant else ''}: "
        f"seed {config.seed}, budget {' or '.join(b for b in budget if b)}, "
        f"{config.workers} worker(s), profile {config.profile} ({config.step_count} steps), "
        f"database {config.db or 'none'}, reports in {report_dir}"
    )
    for p in workers:
        p.start()
    in_flight = {}  # batch index -> examples planned
    done_examples = 0
    next_index = 0
    reused = set()
    stopped_at = None
    error = ""
    try:
        while True:
            while (
                not STOP["requested"]
                and len(in_flight) < config.workers
                and (deadline is None or time.time() < deadline)
                and (
                    config.examples is None
                    or done_examples + sum(in_flight.values()) < config.examples
                )
            ):
                kernel = run.current_kernel()
                n = BATCH
                if config.examples is not None:
                    n = min(BATCH, config.examples - done_examples - sum(in_flight.values()))
                task = Task(
                    next_index,
                    batch_seed(config.seed, next_index),
                    kernel,
                    n,
                    kernel not in reused,
                    deadline,
                )
                reused.add(kernel)
                tasks.put(task)
                in_flight[next_index] = n
                next_index += 1
            if not in_flight:
                break
            if STOP["requested"] and stopped_at is None:
                stopped_at = time.monotonic()
                log.event(f"{run.signal or 'stop'}: finishing the examples in hand")
            try:
                message = results.get(timeout=0.25)
            except queue.Empty:
                log.status(run, config, len(run.reports))
                dead = [p for p in workers if not p.is_alive() and p.exitcode not in (0, None)]
                if dead and not STOP["requested"]:
                    error = (
                        f"a worker died (exit code {dead[0].exitcode}); rerun with "
                        f"--seed {config.seed} --workers 1 to reproduce"
                    )
                    break
                if stopped_at is not None and time.monotonic() - stopped_at > GRACE:
                    break
                continue
            kind = message[0]
            if kind == "progress":
                run.examples += message[1]
                run.steps += message[2]
                log.status(run, config, len(run.reports))
            elif kind == "warn":
                if message[1] not in run.warnings:
                    run.warnings.append(message[1])
                    log.event(f"warning: {message[1]}")
            elif kind == "done":
                result = message[1]
                in_flight.pop(result.index, None)
                done_examples += result.examples
                run.batches += 1
                if result.found:
                    record(run, config, overrides, result, report_dir, log)
                elif not tty:
                    log.event(
                        f"batch {result.index} on {result.kernel}: {result.examples} "
                        f"examples, {result.steps} steps, no failure"
                    )
    finally:
        for _ in workers:
            tasks.put(None)
        for p in workers:
            p.join(timeout=2)
            if p.is_alive():
                p.terminate()
                p.join()
        for s, handler in previous.items():
            signal.signal(s, handler)
    elapsed = time.monotonic() - start
    found = [rep for _, rep in sorted(run.reports.values(), key=lambda v: v[0])]
    summary = (
        f"{run.examples} examples, {run.steps} steps, {elapsed:.0f} s on {config.kernel}"
        f" (seed {config.seed})"
    )
    names = ", ".join(describe(rep) for rep in found)
    if error:
        out.write(f"\nverdict: ERROR: {error}; {len(found)} failure(s) reported before\n")
        return 2
    if run.signal:
        names = f": {names}" if names else ""
        out.write(
            f"\nverdict: stopped by {run.signal} after {summary}; "
            f"{len(found)} failure(s) reported in {report_dir}{names}\n"
        )
        return EXIT_INTERRUPTED
    if found:
        out.write(
            f"\nverdict: FAIL: {len(found)} distinct failure(s) in {summary}: {names}; "
            f"reports in {report_dir}\n"
        )
        return 1
    out.write(f"\nverdict: ok: nothing failed in {summary}\n")
    return 0


def describe(rep):
    return rep.known[0] if rep.known else f"new ({rep.invariant})"


def record(run, config, overrides, result, report_dir, log):
    """Report a batch's failure once per key, and mask it when a catalogued fix explains it."""
    found = result.found
    masked = sorted(fixes.kernel_fixes(result.kernel) - fixes.kernel_fixes(config.kernel))
    meta = dict(
        seed=f"{config.seed} (batch {result.index})",
        blob=found.blob,
        examples=result.examples,
        masked=masked,
    )
    rep = None
    if not found.error:
        try:
            known = explain(result.kernel, found.steps, overrides)
            rep = reports.build(result.kernel, found.steps, overrides, known=known, **meta)
        except ReplayError as why:
            found.error = f"replay of the shrunk program: {why}"
    if rep is None:
        rep = reports.unreplayable(result.kernel, found, **meta)
    key = rep.key
    if key in run.reports and run.reports[key][0] <= result.index:
        log.event(f"batch {result.index}: the same failure again ({rep.slug})")
        return
    run.reports[key] = (result.index, rep)
    write_atomic(report_dir / f"{rep.slug}.txt", rep.to_text())
    write_atomic(report_dir / f"{rep.slug}.json", rep.to_json())
    if not found.error:
        write_atomic(report_dir / f"test_{rep.test_name}.py", rep.to_test())
    log.event(f"failure in batch {result.index} on {result.kernel}: {rep.verdict}")
    log.event(f"  report: {report_dir / (rep.slug + '.txt')}")
    if rep.known:
        run.mask.add(rep.known[0])
        log.event(f"  known bug {rep.known[0]}: from now on batches run {run.current_kernel()}")


def new_seed():
    return random.SystemRandom().randrange(2**32)
