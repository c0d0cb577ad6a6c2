"""The inline breakpoint passes do what the passes do function by function, at every sync.

ftrace_replace_code() runs its three passes inline (no call per record)
while every function a pass calls for a record is the model's own; a
variant that replaces one of them gets the passes function by function.
(Likewise __ftrace_hash_rec_update() counts an ops with a trampoline into
every record at once when none had a count, and one by one otherwise; and
ftrace_save_ops_tramp_hash() adds its records to the tramp hash at once
when none warns.)
Both ways are run here over the golden programs, on the kernels that fail
them and on fixed: unicorn's text, the copy of text, every record's flags,
the addresses written and the kernel log are compared at every run_sync()
and at the end; and over random programs, step by step.
"""

import pytest
from hypothesis import HealthCheck, reject, settings
from hypothesis.stateful import invariant, run_state_machine_as_test

from model.arch.x86.emu import TEXT_BASE
from model.arch.x86.kernel import ftrace as x86_ftrace
from model.kernel.trace import ftrace as core_ftrace
from model.vmlinux import runs_own
from properties.machine import FtraceMachine
from properties.test_bugs import REACHABLE, read_golden
from properties.test_incremental import invariants_by_hand
from properties.test_text_writes import golden_run, unicorn_text
from tramproof.hunt import HUNT
from tramproof.replay import ReplayError, take


def add_update(k, rec, enable):
    """add_update() as the model has it, but not the model's own: the passes go one by one."""
    return x86_ftrace.add_update(k, rec, enable)


def hash_rec_candidates(k, hash, all_):
    """The candidates as an iterator: __ftrace_hash_rec_update() takes them one by one."""
    return iter(core_ftrace.hash_rec_candidates(k, hash, all_))


def ftrace_ops_test(k, ops, ip, regs):
    """ftrace_ops_test() as the model has it, but not the model's own: the tramp
    hash is saved record by record."""
    return core_ftrace.ftrace_ops_test(k, ops, ip, regs)


ONE_BY_ONE = {
    "add_update": add_update,
    "ftrace_ops_test": ftrace_ops_test,
    "hash_rec_candidates": hash_rec_candidates,
}


def state(k, written=True):
    """What the checks can see of kernel ``k``, and what unicorn holds (with the
    addresses written since the checks last took them, unless ``written`` is False)."""
    emu = k.emu
    return (
        unicorn_text(emu),
        bytes(emu._kernel_text[: emu._next_function - TEXT_BASE]),
        [(rec.ip, rec.flags) for rec in k.do_for_each_ftrace_rec()],
        sorted(emu.written) if written else None,
        list(k.warnings),
        [(op.name, op.trampolines, tramp_ips(op)) for op in k.do_for_each_ftrace_op()],
    )


def tramp_ips(ops):
    """The ips in ops' tramp hash, sorted (None: it has none)."""
    return sorted(ops.tramp_hash.ips) if ops.tramp_hash else None


def state_at_each_sync(kernel, steps, overrides=None):
    """What can be seen of the kernel at every run_sync() of the program, and at its end."""
    m = FtraceMachine(kernel=kernel, overrides=overrides)
    k, emu = m.k, m.k.emu
    assert runs_own(k, x86_ftrace.INLINED) == (overrides is None)
    seen = []
    run_sync = k.run_sync

    def synced():
        run_sync()
        seen.append(state(k))

    k.run_sync = synced
    for line in steps:
        try:
            take(m, line)
        except AssertionError:
            break  # a step the kernel refused: the state up to here is compared
        except Exception as error:  # noqa: BLE001 - a step that raised is part of what is seen
            seen.append(repr(error))
            break
    emu.flush()
    seen.append(state(k))
    return seen


@pytest.mark.parametrize("fix", REACHABLE)
@pytest.mark.parametrize("fixed", [False, True], ids=["failing", "fixed"])
def test_inline_passes_show_what_the_passes_show(fix, fixed):
    kernel, steps = golden_run(fix, fixed)
    inline = state_at_each_sync(kernel, steps)
    one_by_one = state_at_each_sync(kernel, steps, ONE_BY_ONE)
    assert len(inline) > 3
    assert inline == one_by_one


def test_a_wrong_tramp_hash_is_seen(monkeypatch):
    """The comparison fails for a tramp hash saved at once that misses a record."""
    _, steps, _ = read_golden("tramp-loop")
    own = core_ftrace.ops_tramp_ips

    def one_short(k, ops):
        ips = own(k, ops)
        return ips and set(sorted(ips)[1:])

    monkeypatch.setattr(core_ftrace, "ops_tramp_ips", one_short)
    assert state_at_each_sync("fixed", steps) != state_at_each_sync("fixed", steps, ONE_BY_ONE)


def test_a_wrong_inline_write_is_seen(monkeypatch):
    """The comparison fails for inline passes that end a call with the wrong opcode."""
    _, steps, _ = read_golden("tramp-loop")
    monkeypatch.setattr(x86_ftrace, "CALL_HEAD", b"\xe9")
    assert state_at_each_sync("fixed", steps) != state_at_each_sync("fixed", steps, ONE_BY_ONE)


class InlineTwin(FtraceMachine):
    """The state machine, each step taken again on a twin whose passes go one by one
    and the two kernels compared; a step a kernel refuses, or a check that fails
    (a buggy kernel's), ends the example."""

    kernel_name = "fixed"
    compared = 0

    def __init__(self):
        super().__init__(kernel=InlineTwin.kernel_name)
        self.twin = FtraceMachine(kernel=InlineTwin.kernel_name, overrides=ONE_BY_ONE)

    @invariant()
    def twin_sees_the_same(self):
        if self.stepped != self.twin.stepped:  # a rule took a step (some take none)
            try:
                take(self.twin, self.last_step)
            except (AssertionError, ReplayError):
                reject()
            assert self.stepped == self.twin.stepped
        # this machine's checks ran code (flushing text to unicorn) and took the
        # addresses written; the twin's did not run
        self.k.emu.flush()
        self.twin.k.emu.flush()
        assert state(self.k, False) == state(self.twin.k, False), f"after {self.last_step!r}"
        InlineTwin.compared += 1
        try:
            self.check()  # the checks after the comparison: a buggy kernel's fail here
        except AssertionError:
            reject()

    def require(self, condition, message):
        if not condition:
            reject()
        super().require(condition, message)

    def teardown(self):
        self.twin.teardown()
        super().teardown()


invariants_by_hand(InlineTwin)  # twin_sees_the_same runs them


@pytest.mark.parametrize("kernel", ["fixed", "as-posted"])
def test_inline_passes_on_random_programs(kernel):
    InlineTwin.kernel_name, InlineTwin.compared = kernel, 0
    run_state_machine_as_test(
        InlineTwin,
        settings=settings(
            HUNT, max_examples=20, stateful_step_count=25, suppress_health_check=list(HealthCheck)
        ),
    )
    assert InlineTwin.compared > 100


def test_a_wrong_inline_write_is_seen_on_random_programs(monkeypatch):
    """The step-by-step comparison fails for inline passes that end a call with the
    wrong opcode."""
    monkeypatch.setattr(x86_ftrace, "CALL_HEAD", b"\xe9")
    with pytest.raises(AssertionError, match="after "):
        test_inline_passes_on_random_programs("fixed")
