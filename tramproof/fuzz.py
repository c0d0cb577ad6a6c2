"""`tramproof fuzz`: run the state machine for a budget, shrink and report what fails.

A run is a sequence of batches.  Batch i runs hypothesis for up to BATCH
examples, seeded from the run's seed and i, on the current kernel.  A
failure is cut down by replay (replay.minimize), explained by the smallest
set of catalogued fixes that makes its program hold (one fix, else two,
else three when that is cheap), and reported once per invariant, ops and
set.  A failure that a set explains is then masked: later batches run the
kernel with those fixes, so that one known bug does not hide the next one.

Batches run in worker processes, one pipe each.  With one worker, a seed
gives the same run and the same reports, byte for byte.  Every way a run
ends is bounded and has its verdict (tramproof.exits):

- each batch has a wall-clock bound (batch_bound); a worker past it is
  killed and the run ends unanswered;
- a worker dies with the coordinator (a parent-death signal on Linux, else
  a thread that watches the parent);
- the first SIGINT or SIGTERM lets the workers finish the example in hand,
  for at most GRACE seconds (a failure being cut down is reported as cut so
  far); a second one kills them at once;
- the example database or the report directory failing is an answer the
  run could not give, never a failure of the kernel;
- reports are written whole (a temporary file, then a rename).
"""

import contextlib
import ctypes
import hashlib
import io
import itertools
import math
import multiprocessing
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

from hypothesis import Phase, seed, settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.errors import HypothesisException
from hypothesis.stateful import run_state_machine_as_test

from model import fixes
from properties.machine import FtraceMachine
from properties.variant import load_variant
from tramproof import exits
from tramproof import report as reports
from tramproof.database import DatabaseError, DatabaseFault, open_database
from tramproof.hunt import HUNT, kernel_steps, program_of
from tramproof.replay import CRASHES, ReplayError, minimize, replay

BATCH = 50  # examples per batch: a few seconds of work, the unit of dispatch
GRACE = 10  # seconds the workers have to finish the example in hand after a signal
SECONDS_PER_EXAMPLE = 5  # a batch's bound under a budget in examples only
PROGRESS = 15  # seconds between progress lines when the output is not a terminal
MAX_TRIPLES = 120  # sets of three fixes are searched when there are at most this many


class Interrupted(KeyboardInterrupt):
    """Raised in a worker's next example after a signal or at the end of its budget.

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
    deadline: float | None  # time.time() at which the batch stops starting examples


@dataclass
class BatchResult:
    index: int
    kernel: str
    examples: int = 0
    steps: int = 0
    report: reports.Report | None = None
    interrupted: bool = False
    fault: str = ""  # the infrastructure failed under the batch (not the kernel)


# ---------------------------------------------------------------- workers

STOP = {"requested": False}


def request_stop(signum, frame):
    STOP["requested"] = True


def variant_digest(path):
    """Part of the database key: a variant's failures are not replayed on the plain kernel."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16] if path else ""


def variant_record(path):
    """{"path", "sha256"} of a variant file, as reports carry it; None without one."""
    if not path:
        return None
    return {"path": str(path), "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}


def die_with_parent(parent):
    """End this process when ``parent`` ends, whatever this process is doing."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
            if os.getppid() != parent:  # the parent died before the call
                os._exit(1)
            return
    except (OSError, AttributeError):
        pass

    def watch():  # elsewhere: a thread that looks for the parent every second
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def run_batch(task, config, overrides, db, progress):
    """Run one batch; its BatchResult.  ``progress(examples, steps)`` is told per example."""
    result = BatchResult(task.index, task.kernel)
    last = {}
    failed = {"seen": False}

    def count_last():
        m = last.pop("m", None)
        if m is not None:
            result.steps += m.steps
            progress(1, m.steps)

    def teardown(original, outer):
        def note_failure():
            # in hypothesis's `finally`: an exception here that was not already
            # being handled around the example, and is not hypothesis's own
            # (an invalid example, the end of the data), is the example failing
            error = sys.exc_info()[1]
            if isinstance(error, CRASHES) and not isinstance(error, HypothesisException):
                failed["seen"] = failed["seen"] or error is not outer
            original()

        return note_failure

    def factory():
        count_last()
        # once an example failed, the next call is hypothesis replaying it to
        # raise its error: that replay must run, whatever the clock says
        if not failed["seen"]:
            out_of_time = task.deadline and time.time() > task.deadline
            if STOP["requested"] or out_of_time or result.examples >= task.examples:
                raise Interrupted()
        result.examples += 1
        m = FtraceMachine(kernel=task.kernel, overrides=overrides)
        m.teardown = teardown(m.teardown, sys.exc_info()[1])
        last["m"] = m
        return m

    factory = seed(task.seed)(factory)
    # one database key per kernel (and variant): a failure saved on one
    # kernel is not replayed, and then deleted, on another
    canonical = fixes.kernel_name(fixes.kernel_fixes(task.kernel))
    factory._hypothesis_internal_add_digest = f"{canonical} {config.variant_digest}".encode()
    phases = [Phase.explicit, Phase.reuse, Phase.generate] if task.reuse else [Phase.generate]
    # a hunt's settings (find, do not shrink), but seeded, with the database;
    # the factory ends the batch at its examples, invalid ones included
    batch = settings(
        HUNT,
        database=db,
        max_examples=2 * task.examples + 10,
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
        result.interrupted = STOP["requested"]
    except DatabaseFault as fault:
        result.fault = str(fault)
    except CRASHES as error:
        if db is not None and db.fault:
            result.fault = db.fault
        else:
            # hypothesis ran the failing example once more to raise its error:
            # that run is no example of its own
            last.pop("m", None)
            result.examples -= 1
            result.report = describe(task, config, overrides, error)
    count_last()
    if db is not None and db.fault:
        result.fault, result.report = db.fault, None
    return result


def describe(task, config, overrides, error):
    """The Report of a failure hypothesis raised: cut down by replay, explained by the
    catalogue; a report of its own when replay does not reproduce it."""
    # past the budget, half the grace to cut down and explain, well before the kill
    stop_at = task.deadline + grace(config) / 2 if task.deadline else None

    def stop():
        return STOP["requested"] or (stop_at is not None and time.time() > stop_at)

    program = program_of(error)
    blob = re.search(r"@reproduce_failure\(.*?\)", program)
    masked = sorted(fixes.kernel_fixes(task.kernel) - fixes.kernel_fixes(config.kernel))
    meta = dict(
        seed=f"{config.seed} (batch {task.index})",
        blob=blob.group(0) if blob else "",
        examples=0,
        masked=masked,
        variant=config.variant_record,
    )
    try:
        steps = kernel_steps(program)
    except ValueError:
        steps = []
    try:
        steps, failure = minimize(task.kernel, steps, overrides, stop=stop)
        partial = "stopped while the program was cut down" if stop() else ""
        sets, searched = explain(task.kernel, steps, overrides, stop)
        rep = reports.build(
            task.kernel,
            steps,
            overrides,
            known=sets[0] if sets else [],
            alternatives=sets[1:],
            searched=searched,
            partial=partial,
            plain=on_plain(config.kernel, task.kernel, steps, overrides),
            **meta,
        )
    except ReplayError as why:
        text = "".join(traceback.format_exception(error)).rstrip()
        first = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        found = Found(steps, first, f"{why}\n\n{text}\n\n{program}")
        rep = reports.unreplayable(task.kernel, found, **meta)
    return rep


@dataclass
class Found:
    """A failure that replay does not reproduce, as reports.unreplayable takes it."""

    steps: list
    failure: str
    error: str


def holds_on(kernel_fixes_, steps, overrides):
    try:
        return replay(fixes.kernel_name(kernel_fixes_), steps, overrides) is None
    except ReplayError:
        return False


def explain(kernel, steps, overrides, stop=lambda: False):
    """(sets, size searched): the smallest sets of catalogued fixes (reachable, not in
    ``kernel``) that together make the program hold, in catalogue order.

    Sets of one fix, then two, then three when there are at most MAX_TRIPLES
    of them; size searched 0 when ``stop()`` cut the search short.
    """
    have = fixes.kernel_fixes(kernel)
    candidates = [f.id for f in fixes.CATALOGUE if f.id not in have and not f.unreachable_because]
    searched = 0
    for size in (1, 2, 3):
        combinations = list(itertools.combinations(candidates, size))
        if size == 3 and len(combinations) > MAX_TRIPLES:
            break
        sets = []
        for chosen in combinations:
            if stop():
                return [], 0
            if holds_on(have | set(chosen), steps, overrides):
                sets.append(list(chosen))
        searched = size
        if sets:
            return sets, searched
    return [], searched


def on_plain(run_kernel, kernel, steps, overrides):
    """On a masked kernel: what the run's own kernel, the one the report is filed under,
    does with the program."""
    if kernel == run_kernel:
        return ""
    masked = [f.id for f in fixes.CATALOGUE if f.id in fixes.kernel_fixes(kernel)]
    masked = [f for f in masked if f not in fixes.kernel_fixes(run_kernel)]
    where = f"on {run_kernel}, which it is filed under"
    try:
        found = replay(run_kernel, steps, overrides)
    except ReplayError as why:
        return f"{where}: the program cannot run ({why})"
    if found is None:
        return f"{where}: holds; it shows only with the masked fix(es) {', '.join(masked)}"
    return f"{where}: fails, at step {found[1]} of {len(steps)}: {found[0]}"


def worker(conn, config, parent):
    """A worker process: take tasks from the pipe until it closes or says stop."""
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator owns Ctrl-C
    signal.signal(signal.SIGUSR1, request_stop)  # finish the example in hand
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    overrides = load_variant(config.variant) if config.variant else None

    def send(*message):
        conn.send(message)

    try:
        db = open_database(config.db, warn=lambda w: send("warn", w))
        while not STOP["requested"]:
            try:
                task = conn.recv()
            except (EOFError, OSError):
                break
            if task is None:
                break
            progress = lambda e, s: send("progress", e, s)  # noqa: E731
            send("done", run_batch(task, config, overrides, db, progress))
    except DatabaseError as error:  # the database went away since the run checked it
        with contextlib.suppress(OSError):
            send("fault", str(error))
    except Exception as error:  # the worker's own machinery, not the kernel: no answer
        with contextlib.suppress(OSError):
            send("fault", f"a worker failed: {type(error).__name__}: {error}")
    conn.close()


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
    signals: int = 0
    fault: str = ""  # why the run could not answer, if it could not
    cut: list = field(default_factory=list)  # batches the stop cut
    planned: int = 0  # examples of the batches handed out, less those they did not run

    def current_kernel(self):
        """The run's kernel with the masked fixes, always in the run kernel's notation."""
        have = fixes.kernel_fixes(self.kernel)
        added = [f.id for f in fixes.CATALOGUE if f.id in self.mask and f.id not in have]
        return self.kernel + "".join(f"+{f}" for f in added)


def batch_seed(run_seed, index):
    digest = hashlib.sha256(f"tramproof {run_seed} {index}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


@dataclass
class Config:
    """A run's options, as `tramproof fuzz` takes them."""

    kernel: str = "as-posted"
    variant: str | None = None
    variant_digest: str = ""
    variant_record: dict | None = None
    seed: int = 0
    examples: int | None = None
    minutes: float | None = None
    workers: int = 1
    db: str | None = None
    report_dir: str = "tramproof-reports"
    step_count: int = 30
    profile: str = "ci"


def grace(config):
    """Seconds past its share of the budget that a batch may take (the example in hand,
    replaying and explaining a failure): a tenth of the budget, 5 to 30 s."""
    return min(30.0, max(5.0, config.minutes * 6)) if config.minutes else 30.0


def batch_bound(config, left, examples):
    """Seconds a batch may run before its worker is killed: the time left in the budget
    and the grace; under a budget in examples only, SECONDS_PER_EXAMPLE each."""
    if config.minutes:
        return left + grace(config)
    return examples * SECONDS_PER_EXAMPLE + grace(config)


class Log:
    """Events as lines; on a terminal, also a status line redrawn in place, else a
    progress line every PROGRESS seconds."""

    def __init__(self, out, tty, start):
        self.out, self.tty, self.start = out, tty, start
        self.drawn = start

    def event(self, text):
        if self.tty:
            self.out.write("\r\033[K")
        self.out.write(f"[{time.monotonic() - self.start:7.1f}s] {text}\n")
        self.out.flush()

    def status(self, run, config):
        now = time.monotonic()
        if now - self.drawn < (0.5 if self.tty else PROGRESS):
            return
        self.drawn = now
        elapsed = now - self.start
        left = []
        if config.minutes:
            left.append(f"{max(0.0, config.minutes * 60 - elapsed):.0f}s left")
        if config.examples:
            left.append(f"{max(0, config.examples - run.examples)} examples left")
        text = (
            f"{run.examples} examples  {run.steps} steps  {elapsed:.0f}s elapsed  "
            f"{'  '.join(left)}  {len(run.reports)} failures"
        )
        if self.tty:
            self.out.write(f"\r\033[K{text}")
            self.out.flush()
        else:
            self.event(text)


def write_atomic(path, text):
    """Write ``text`` to ``path`` whole or not at all."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def check_report_dir(path):
    """Refuse, changing nothing, a report directory that cannot be made or written."""
    path = Path(path)
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"--report-dir {path}: {probe} is not a directory")
    try:
        fd, name = tempfile.mkstemp(dir=probe, prefix=".tramproof-probe-")
        os.close(fd)
        os.unlink(name)
    except OSError as error:
        why = error.strerror or error
        raise ValueError(f"--report-dir {path}: cannot write in {probe}: {why}") from None


def check_budget(minutes, examples):
    for name, value in (("--minutes", minutes), ("--examples", examples)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, not {value}")


class Worker:
    """A worker process, its pipe, and the batch it holds (index, bound as monotonic time)."""

    def __init__(self, ctx, config):
        self.conn, theirs = ctx.Pipe()
        self.process = ctx.Process(target=worker, args=(theirs, config, os.getpid()), daemon=True)
        self.process.start()
        theirs.close()
        self.batch = None
        self.examples = 0
        self.bound = None

    def kill(self):
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)

    def close(self):
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.process.join(2)
        self.kill()
        self.conn.close()


def fuzz(config, out, tty=None):
    """Run the budget; the exit code (tramproof.exits)."""
    check_budget(config.minutes, config.examples)
    tty = out.isatty() if tty is None else tty
    start = time.monotonic()
    log = Log(out, tty, start)
    run = Run(config.kernel, config.seed)
    report_dir = Path(config.report_dir)
    check_report_dir(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    end = start + config.minutes * 60 if config.minutes else None

    STOP["requested"] = False
    ctx = multiprocessing.get_context("fork")
    # without a database, hypothesis's own files (a cache of the constants
    # in the source) go to a directory of the run's, not .hypothesis/ here
    scratch = None if config.db else tempfile.mkdtemp(prefix="tramproof-hypothesis-")
    if scratch:
        set_hypothesis_home_dir(scratch)

    def on_signal(signum, frame):
        run.signals += 1
        run.signal = run.signal or signal.Signals(signum).name

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
    workers = []
    next_index = 0
    reused = set()
    stopped_at = None
    try:
        workers = [Worker(ctx, config) for _ in range(config.workers)]
        while True:
            now = time.monotonic()
            if run.signal and stopped_at is None:
                stopped_at = now
                STOP["requested"] = True
                log.event(
                    f"{run.signal}: finishing the examples in hand (at most {GRACE} s; "
                    "send it again to stop now)"
                )
                for w in workers:
                    if w.batch is not None and w.process.is_alive():
                        os.kill(w.process.pid, signal.SIGUSR1)
            if run.signals > 1 or (stopped_at is not None and now - stopped_at > GRACE):
                for w in workers:
                    if w.batch is not None:
                        run.cut.append(w.batch)
                        w.kill()
                        w.batch = None
                break
            for w in workers:
                if w.batch is not None or run.fault or STOP["requested"]:
                    continue
                if end is not None and now >= end:
                    break
                n = BATCH
                if config.examples is not None:
                    n = min(BATCH, config.examples - run.planned)
                    if n <= 0:
                        break
                kernel = run.current_kernel()
                deadline = time.time() + (end - now) if end is not None else None
                task = Task(
                    next_index, batch_seed(config.seed, next_index), kernel, n,
                    kernel not in reused, deadline,
                )  # fmt: skip
                reused.add(kernel)
                try:
                    w.conn.send(task)
                except OSError:
                    run.fault = f"worker {w.process.pid} was lost before batch {next_index}"
                    break
                w.batch, w.examples = next_index, n
                w.bound = now + batch_bound(config, end - now if end else None, n)
                run.planned += n
                next_index += 1
            busy = [w for w in workers if w.batch is not None]
            if not busy:
                break
            for conn in wait([w.conn for w in busy], timeout=0.25):
                w = next(w for w in busy if w.conn is conn)
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    w.process.join(1)
                    run.fault = run.fault or (
                        f"a worker was lost in batch {w.batch} (exit code "
                        f"{w.process.exitcode}); rerun with --seed {config.seed} --workers 1"
                    )
                    w.batch = None
                    continue
                handle(message, w, run, config, report_dir, log)
            for w in busy:
                if w.batch is not None and time.monotonic() > w.bound:
                    bound = w.bound - start
                    run.fault = run.fault or (
                        f"batch {w.batch} ran past its bound ({bound:.0f} s into the run); "
                        "its worker was killed"
                    )
                    log.event(f"batch {w.batch}: past its time bound, worker killed")
                    w.kill()
                    w.batch = None
            if run.fault:
                for w in workers:
                    if w.batch is not None:
                        w.kill()
                        w.batch = None
                break
            log.status(run, config)
    finally:
        for w in workers:
            w.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
        STOP["requested"] = False
        if scratch:
            set_hypothesis_home_dir(None)
            shutil.rmtree(scratch, ignore_errors=True)
    return verdict(run, config, report_dir, out, time.monotonic() - start)


def handle(message, w, run, config, report_dir, log):
    """One message from a worker."""
    kind = message[0]
    if kind == "progress":
        run.examples += message[1]
        run.steps += message[2]
    elif kind == "warn":
        if message[1] not in run.warnings:
            run.warnings.append(message[1])
            log.event(f"warning: {message[1]}")
    elif kind == "fault":
        run.fault = run.fault or message[1]
    elif kind == "done":
        result = message[1]
        w.batch = None
        run.batches += 1
        run.planned -= w.examples - result.examples
        if result.fault:
            run.fault = run.fault or result.fault
            log.event(f"batch {result.index}: {result.fault}")
        elif result.report:
            try:
                record(run, result, report_dir, log)
            except OSError as error:
                run.fault = f"cannot write a report in {report_dir}: {error.strerror or error}"


def verdict(run, config, report_dir, out, elapsed):
    """Print the verdict line; the exit code."""
    found = [rep for _, rep in sorted(run.reports.values(), key=lambda v: v[0])]
    summary = (
        f"{run.examples} examples, {run.steps} steps, {elapsed:.0f} s on {config.kernel}"
        f" (seed {config.seed})"
    )
    names = ", ".join(describe_report(rep) for rep in found)
    cut = f"; batch(es) {', '.join(map(str, run.cut))} cut, their failures unreported" * bool(
        run.cut
    )
    if run.signal:
        names = f": {names}" if names else ""
        out.write(
            f"\nverdict: stopped by {run.signal} after {summary}; "
            f"{len(found)} failure(s) reported in {report_dir}{names}{cut}\n"
        )
        return exits.STOPPED
    if found:
        also = f"; and then the run could not go on: {run.fault}" if run.fault else ""
        out.write(
            f"\nverdict: FAIL: {len(found)} distinct failure(s) in {summary}: {names}; "
            f"reports in {report_dir}{also}\n"
        )
        return exits.FAILED
    if not run.fault and run.examples == 0:
        run.fault = "the budget ran out before a single example; no example ran"
    if run.fault:
        out.write(f"\nverdict: could not answer: {run.fault}; after {summary}\n")
        return exits.UNANSWERED
    out.write(f"\nverdict: ok: nothing failed in {summary}\n")
    return exits.OK


def describe_report(rep):
    return "+".join(rep.known) if rep.known else f"new ({rep.invariant})"


def record(run, result, report_dir, log):
    """Report a batch's failure once per key, and mask it when catalogued fixes explain it."""
    rep = result.report
    rep.examples = result.examples
    key = rep.key
    if key in run.reports and run.reports[key][0] <= result.index:
        log.event(f"batch {result.index}: the same failure again ({rep.slug})")
        return
    write_atomic(report_dir / f"{rep.slug}.txt", rep.to_text())
    write_atomic(report_dir / f"{rep.slug}.json", rep.to_json())
    if not rep.error:
        write_atomic(report_dir / f"test_{rep.test_name}.py", rep.to_test())
    tc = rep.to_tc()
    if tc is not None:  # its steps for the real kernel, as `tramproof live tc` writes them
        write_atomic(report_dir / f"{rep.slug}.tc", tc)
    run.reports[key] = (result.index, rep)
    # the masked kernel's full name is in the report; the log keeps lines short
    on = f"{run.kernel} ({len(rep.masked)} masked)" if rep.masked else run.kernel
    log.event(f"failure in batch {result.index} on {on}: {rep.verdict}")
    log.event(f"  report: {report_dir / (rep.slug + '.txt')}")
    if rep.plain:
        log.event(f"  {rep.plain}")
    if rep.known:
        run.mask.update(rep.known)
        log.event(
            f"  known bug {describe_report(rep)}: masked from now on "
            f"({len(run.mask)} fix(es) masked)"
        )


def new_seed():
    return random.SystemRandom().randrange(2**32)
