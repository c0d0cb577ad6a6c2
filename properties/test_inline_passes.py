"""The inline breakpoint passes do what the passes do function by function, at every sync.

ftrace_replace_code() runs its three passes inline (no call per record)
while every function a pass calls for a record is the model's own; a
variant that replaces one of them gets the passes function by function.
Both ways are run here over the golden programs, on the kernels that fail
them and on fixed: unicorn's text, the copy of text, every record's flags,
the addresses written and the kernel log are compared at every run_sync()
and at the end.
"""

import pytest

from model.arch.x86.kernel import ftrace as x86_ftrace
from model.vmlinux import runs_own
from properties.machine import FtraceMachine
from properties.test_bugs import REACHABLE, read_golden
from properties.test_text_writes import unicorn_text
from tramproof.replay import take


def add_update(k, rec, enable):
    """add_update() as the model has it, but not the model's own: the passes go one by one."""
    return x86_ftrace.add_update(k, rec, enable)


ONE_BY_ONE = {"add_update": add_update}


def state_at_each_sync(kernel, steps, overrides=None):
    """What can be seen of the kernel at every run_sync() of the program, and at its end."""
    m = FtraceMachine(kernel=kernel, overrides=overrides)
    k, emu = m.k, m.k.emu
    assert runs_own(k, x86_ftrace.INLINED) == (overrides is None)
    seen = []

    def state():
        return (
            unicorn_text(emu),
            bytes(emu._kernel_text),
            [(rec.ip, rec.flags) for rec in k.do_for_each_ftrace_rec()],
            sorted(emu.written),
            list(k.warnings),
        )

    run_sync = k.run_sync

    def synced():
        run_sync()
        seen.append(state())

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
    seen.append(state())
    return seen


@pytest.mark.parametrize("fix", REACHABLE)
@pytest.mark.parametrize("fixed", [False, True], ids=["failing", "fixed"])
def test_inline_passes_show_what_the_passes_show(fix, fixed):
    _, steps, _ = read_golden(fix)
    kernel = "fixed" if fixed else f"fixed-{fix}"
    inline = state_at_each_sync(kernel, steps)
    one_by_one = state_at_each_sync(kernel, steps, ONE_BY_ONE)
    assert len(inline) > 3
    assert inline == one_by_one


def test_a_wrong_inline_write_is_seen(monkeypatch):
    """The comparison fails for inline passes that end a call with the wrong opcode."""
    _, steps, _ = read_golden("tramp-loop")
    monkeypatch.setattr(x86_ftrace, "CALL_HEAD", b"\xe9")
    assert state_at_each_sync("fixed", steps) != state_at_each_sync("fixed", steps, ONE_BY_ONE)
