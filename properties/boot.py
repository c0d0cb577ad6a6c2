"""Boot once, restore cheaply: one booted kernel per (kernel, variant, size) per process.

Every example of the state machine starts from the same boot: the same
records, the same text, the same users.  Booting costs O(records) (laying
out the functions in emulated text, nopping every call site, building the
expectation's indexes) and the first check visits every function; at 40,000
records that is seconds per example.  So the first machine of a kind boots
and checks everything; when it is torn down, its kernel is put back to the
state it had at the end of boot, and the next machine of the same kind
takes it over.

Putting back is an undo of what a run changed, at C speed where it is big:

- records: only those whose flags changed since boot (``RecordWatch.dirty``)
  get their boot flags back; module records leave with the indexes;
- Python state of the kernel, its emulator, the users' ops and the
  expectation: shallow copies taken at boot (dicts and lists copied whole,
  which is C speed even at 40,000 entries);
- emulated memory: the used parts of text (through the emulator's copy of
  text), data and the direct map are written back from a copy taken at
  boot, module areas are unmapped, the CPU context is restored and every
  translation dropped.

The boot state is identical every time, so checking it once per process is
the same check as checking it in every example (``boot_checked``).
``properties/test_boot.py`` compares a restored kernel with a fresh boot,
field by field and byte by byte.

A machine that is never torn down (a replay, a test that breaks its kernel
on purpose) keeps its kernel; the next machine of its kind then boots a
fresh one.
"""

from collections import OrderedDict

from model.arch.x86.emu import (
    DATA_BASE,
    DIRECT_BASE,
    DIRECT_SIZE,
    STACK_LIMIT,
    TEXT_BASE,
)
from model.include.linux.ftrace import EMPTY_HASH, ftrace_hash, ftrace_ops

KEPT = 4  # booted kernels kept per process (each holds a unicorn instance)


def _copied(value):
    """A copy of a container (C speed), the value itself otherwise."""
    if type(value) in (dict, list, set):
        return value.copy()
    return value


class _State:
    """A shallow copy of an object's attributes, containers copied one level."""

    def __init__(self, obj):
        self.obj = obj
        self.attrs = {name: _copied(v) for name, v in vars(obj).items()}

    def restore(self):
        d = vars(self.obj)
        d.clear()
        d.update((name, _copied(v)) for name, v in self.attrs.items())


class Snapshot:
    """Everything a run can change in a booted machine's System and Expectation."""

    def __init__(self, system, expectation):
        k, emu = system.k, system.k.emu
        if emu.modules or emu.ret_stack or k.warnings or emu.written:
            raise ValueError("a kernel is snapshotted right after boot")
        emu.flush()  # unicorn holds the boot's text, and no write is pending in the copy
        self.system, self.expectation = system, expectation
        w = k.rec_watch
        self.boot_flags = {rec: rec.flags for rec in w.dirty}
        w.dirty.clear()
        self.watch = {name: set(getattr(w, name)) for name in w.__slots__}
        self.states = [_State(k), _State(emu), _State(system), _State(expectation)]
        self.states += [_State(u) for u in expectation.users.values()]
        self.states += [_State(h) for h in expectation.hashes.values()]
        everyone = (*vars(k).values(), *system.ops.values())
        ops = {id(o): o for o in everyone if isinstance(o, ftrace_ops)}
        ops.update((id(o), o) for o in k.ftrace_trace_arrays)
        self.ops = []
        for o in ops.values():
            hashes = [
                (h, set(h.ips))
                for h in (o.filter_hash, o.notrace_hash, o.tramp_hash)
                if isinstance(h, ftrace_hash) and h is not EMPTY_HASH
            ]
            pair = (o.func_hash, o.func_hash.filter_hash, o.func_hash.notrace_hash)
            self.ops.append((_State(o), pair, hashes))
        self.last_page = k.ftrace_pages
        self.last_page_next = self.last_page.next if self.last_page else None
        # emulated memory: the used parts of each region, and the stack
        self.memory = [
            (TEXT_BASE, emu.read(TEXT_BASE, emu._next_function - TEXT_BASE)),
            (DATA_BASE, emu.read(DATA_BASE, emu._next_data - DATA_BASE)),
            (DIRECT_BASE, emu.read(DIRECT_BASE, emu._next_direct - DIRECT_BASE)),
            (STACK_LIMIT, emu.read(STACK_LIMIT, DIRECT_BASE + DIRECT_SIZE - STACK_LIMIT)),
        ]
        self.cpu = emu.uc.context_save()

    def restore(self):
        """Put the machine back to the boot this snapshot was taken at."""
        k = self.system.k
        emu = k.emu
        w = k.rec_watch
        for rec in w.dirty:
            object.__setattr__(rec, "flags", self.boot_flags.get(rec, 0))  # unwatched
        for name, recs in self.watch.items():
            current = getattr(w, name)
            current.clear()
            current.update(recs)
        for module in list(emu.modules):
            emu.unmap_module(module)
        for state in self.states:
            state.restore()
        for state, (pair, filter_hash, notrace_hash), hashes in self.ops:
            state.restore()
            pair.filter_hash, pair.notrace_hash = filter_hash, notrace_hash
            for h, ips in hashes:
                h.ips.clear()
                h.ips.update(ips)
        if self.last_page is not None:
            self.last_page.next = self.last_page_next
        uc = emu.uc
        for base, data in self.memory:
            emu.write_data(base, data)  # text goes through the emulator's copy of it
        emu.flush()
        emu.written.clear()  # putting the boot back is no change a check must follow
        uc.context_restore(self.cpu)
        uc.ctl_flush_tb()


class Entry:
    """One booted machine's System and Expectation, lent to one machine at a time."""

    def __init__(self, system, expectation):
        self.system = system
        self.expectation = expectation
        self.snapshot = Snapshot(system, expectation)
        self.free = False  # the machine that booted it holds it
        self.boot_checked = False


_ENTRIES = OrderedDict()


def key_of(kernel, overrides, functions):
    """The cache key: the same kernel, variant functions and size boot the same."""
    return (kernel, tuple(sorted((overrides or {}).items())), functions)


def borrow(key):
    """A free booted Entry for ``key``, restored to its boot; None if there is none."""
    entry = _ENTRIES.get(key)
    if entry is None or not entry.free:
        return None
    _ENTRIES.move_to_end(key)
    entry.snapshot.restore()
    entry.free = False
    return entry


def keep(key, system, expectation):
    """Remember a freshly booted machine's state; the Entry, or None if one is kept."""
    if key in _ENTRIES:
        return None
    for old in list(_ENTRIES):
        if len(_ENTRIES) < KEPT:
            break
        if _ENTRIES[old].free:
            del _ENTRIES[old]
    if len(_ENTRIES) >= KEPT:
        return None
    entry = _ENTRIES[key] = Entry(system, expectation)
    return entry


def clear():
    """Forget every booted kernel (tests)."""
    _ENTRIES.clear()
