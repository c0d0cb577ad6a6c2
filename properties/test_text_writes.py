"""Text written in bulk is the text written site by site, at every point anything can look.

The emulator keeps a copy of text that the model's writes go to, and hands
unicorn what changed in one write per region at run_sync() (or before an
emulated call).  Written site by site instead, unicorn would hold the same
bytes at each run_sync() of the three-pass update and at each call: both
ways are run here over the golden programs, on the kernels that fail them
and on fixed, and unicorn's text is compared at every run_sync().
"""

import pytest

from model.arch.x86.emu import TEXT_BASE, Emu
from properties.machine import FtraceMachine
from properties.test_bugs import REACHABLE, read_golden
from tramproof.replay import take

ENABLE = "echo 1 > /proc/sys/kernel/ftrace_enabled"


def golden_run(fix, fixed):
    """(kernel, steps) to compare a golden program on: ``fixed``, or fixed less
    ``fix``; ftrace enabled at the end, since a program that leaves it disabled
    (tramp-pg-flag's golden does) writes no text of its own to compare."""
    _, steps, _ = read_golden(fix)
    return ("fixed" if fixed else f"fixed-{fix}"), [*steps, ENABLE]


def text_at_each_sync(kernel, steps, site_by_site):
    """unicorn's kernel and module text at every run_sync() of the program, and when
    the next emulated call would run."""
    m = FtraceMachine(kernel=kernel)
    emu = m.k.emu
    seen = []
    if site_by_site:
        bulk_write = emu.write_text

        def write_text(addr, data):
            bulk_write(addr, data)
            emu.flush()

        emu.write_text = write_text
    run_sync = m.k.run_sync

    def synced():
        run_sync()
        seen.append(unicorn_text(emu))

    m.k.run_sync = synced
    for line in steps:
        try:
            take(m, line)
        except AssertionError:
            break  # a step the kernel refused: the text up to here is compared
    emu.flush()  # what the next emulated call runs
    seen.append(unicorn_text(emu))
    return seen


def unicorn_text(emu):
    used = emu._next_function - TEXT_BASE
    regions = [(TEXT_BASE, used), *sorted(emu.modules.items())]
    return [(base, bytes(emu.uc.mem_read(base, size))) for base, size in regions]


@pytest.mark.parametrize("fix", REACHABLE)
@pytest.mark.parametrize("fixed", [False, True], ids=["failing", "fixed"])
def test_bulk_writes_show_what_site_writes_show(fix, fixed):
    kernel, steps = golden_run(fix, fixed)
    bulk = text_at_each_sync(kernel, steps, site_by_site=False)
    each = text_at_each_sync(kernel, steps, site_by_site=True)
    assert len(bulk) > 1
    assert bulk == each


def test_a_missing_flush_is_seen():
    """The comparison fails for an emulator that never hands a pass's text to unicorn."""
    _, steps, _ = read_golden("sysctl-order")
    flush = Emu.flush
    try:
        Emu.flush = lambda self: None
        stale = text_at_each_sync("fixed", steps, site_by_site=False)
    finally:
        Emu.flush = flush
    assert stale != text_at_each_sync("fixed", steps, site_by_site=False)
