"""include/linux/ftrace.h at the patch: flags, commands and the structs.

Structs are plain classes with the kernel's field names.  Kernel pointers
that the emulated machine code reads (a callback, a trampoline, the ops
itself) are integers holding emulated addresses; pointers that only C
code follows (``next``, the hashes) are Python references.
"""

import itertools
import operator
import sys
from dataclasses import dataclass

MCOUNT_INSN_SIZE = 5

# enum in include/linux/ftrace.h: ftrace_ops->flags
FTRACE_OPS_FL_ENABLED = 1 << 0
FTRACE_OPS_FL_DYNAMIC = 1 << 1
FTRACE_OPS_FL_CONTROL = 1 << 2
FTRACE_OPS_FL_SAVE_REGS = 1 << 3
FTRACE_OPS_FL_SAVE_REGS_IF_SUPPORTED = 1 << 4
FTRACE_OPS_FL_RECURSION_SAFE = 1 << 5
FTRACE_OPS_FL_STUB = 1 << 6
FTRACE_OPS_FL_INITIALIZED = 1 << 7
FTRACE_OPS_FL_DELETED = 1 << 8
FTRACE_OPS_FL_ALLOC_TRAMP = 1 << 9  # added by the patch

OPS_FLAG_NAMES = {
    FTRACE_OPS_FL_ENABLED: "ENABLED",
    FTRACE_OPS_FL_DYNAMIC: "DYNAMIC",
    FTRACE_OPS_FL_CONTROL: "CONTROL",
    FTRACE_OPS_FL_SAVE_REGS: "SAVE_REGS",
    FTRACE_OPS_FL_SAVE_REGS_IF_SUPPORTED: "SAVE_REGS_IF_SUPPORTED",
    FTRACE_OPS_FL_RECURSION_SAFE: "RECURSION_SAFE",
    FTRACE_OPS_FL_STUB: "STUB",
    FTRACE_OPS_FL_INITIALIZED: "INITIALIZED",
    FTRACE_OPS_FL_DELETED: "DELETED",
    FTRACE_OPS_FL_ALLOC_TRAMP: "ALLOC_TRAMP",
}

# dyn_ftrace->flags: the low 27 bits count the ops tracing the record.
FTRACE_FL_ENABLED = 1 << 31
FTRACE_FL_REGS = 1 << 30
FTRACE_FL_REGS_EN = 1 << 29
FTRACE_FL_TRAMP = 1 << 28
FTRACE_FL_TRAMP_EN = 1 << 27
FTRACE_FL_BITS = 5
FTRACE_REF_MAX_SHIFT = 27
FTRACE_FL_MASKED_BITS = (1 << FTRACE_FL_BITS) - 1
FTRACE_FL_MASK = FTRACE_FL_MASKED_BITS << FTRACE_REF_MAX_SHIFT
# ~FTRACE_FL_MASK as the C's unsigned long: ftrace_rec_count()'s mask, positive, which
# Python ands without the two's-complement copies a negative mask costs (model's)
REC_COUNT_MASK = ~FTRACE_FL_MASK & ((1 << 64) - 1)
_LIVE = FTRACE_FL_ENABLED | REC_COUNT_MASK  # a record with a count or ENABLED (model's)
_TRAMP_ANY = FTRACE_FL_TRAMP | FTRACE_FL_TRAMP_EN  # a record in RecordWatch.tramp (model's)
_flags_of = operator.attrgetter("flags")
FTRACE_REF_MAX = (1 << FTRACE_REF_MAX_SHIFT) - 1

REC_FLAG_NAMES = {
    FTRACE_FL_ENABLED: "ENABLED",
    FTRACE_FL_REGS: "REGS",
    FTRACE_FL_REGS_EN: "REGS_EN",
    FTRACE_FL_TRAMP: "TRAMP",
    FTRACE_FL_TRAMP_EN: "TRAMP_EN",
}

# ftrace_run_update_code() commands
FTRACE_UPDATE_CALLS = 1 << 0
FTRACE_DISABLE_CALLS = 1 << 1
FTRACE_UPDATE_TRACE_FUNC = 1 << 2
FTRACE_START_FUNC_RET = 1 << 3
FTRACE_STOP_FUNC_RET = 1 << 4

# ftrace_update_record() / ftrace_test_record() results
FTRACE_UPDATE_IGNORE = 0
FTRACE_UPDATE_MAKE_CALL = 1
FTRACE_UPDATE_MODIFY_CALL = 2
FTRACE_UPDATE_MAKE_NOP = 3

# ftrace_hash->flags
FTRACE_HASH_FL_MOD = 1 << 0


class ftrace_hash:
    """struct ftrace_hash: a set of instruction pointers.

    The kernel keeps hlist buckets of ftrace_func_entry; a set gives the
    same answers to ftrace_lookup_ip() and ->count.

    linux-3.17.0+seed/kernel/trace/ftrace.c:1075 (struct ftrace_hash is private to
    kernel/trace/ftrace.c).
    """

    __slots__ = ("ips", "flags")

    def __init__(self, ips=(), flags=0):
        self.ips = set(ips)
        self.flags = flags

    @property
    def count(self):
        """Not a C function: the ``count`` field of struct ftrace_hash at
        linux-3.17.0+seed/kernel/trace/ftrace.c:1075."""
        return len(self.ips)

    def __repr__(self):
        return f"ftrace_hash({sorted(self.ips)!r})"


EMPTY_HASH = ftrace_hash(flags=0)


class ftrace_ops_hash:
    """The pair of hashes an ops filters with (struct ftrace_ops_hash of 3.17).

    At the seed's base the two pointers are fields of ftrace_ops itself; the
    model keeps them in this pair for every kernel so that the fix that lets
    graph_ops share global_ops' hashes can be switched on.  Without that fix
    every ops has a pair of its own, which is the base's layout.

    linux-3.17.0+seed/include/linux/ftrace.h:115; its regex_lock is not modelled
    (nothing runs concurrently).
    """

    __slots__ = ("notrace_hash", "filter_hash")

    def __init__(self):
        self.notrace_hash = EMPTY_HASH
        self.filter_hash = EMPTY_HASH


class ftrace_ops:
    """struct ftrace_ops at the patch's base (``trampolines``, not ``nr_trampolines``).

    ``ptr`` is the emulated address of the struct, what C writes as
    ``(unsigned long)ops``; ``func`` is the emulated address of the
    callback.  ``name`` is the model's label for reports only.

    linux-3.17.0+seed/include/linux/ftrace.h:133.  Not modelled: ``private``,
    ``disabled`` (the CONTROL ops' per-cpu counter) and ``local_hash``
    (``func_hash`` is the ops' own pair, which a fix may share).
    """

    def __init__(self, name, func=0, flags=0, trampoline=0):
        self.name = name
        self.func = func
        self.next = None
        self.flags = flags
        self.ptr = 0
        self.trampolines = 0
        self.func_hash = ftrace_ops_hash()
        self.tramp_hash = None
        self.trampoline = trampoline
        # CONTROL ops: the per-cpu disable count (one CPU in the model);
        # None until control_ops_alloc()
        self.disabled = None
        # Not in the C: the ips this ops set TRAMP on and still holds, kept
        # only by the tramproof fix tramp-owner (model/fixes.py).
        self.tramp_owned = set()

    @property
    def filter_hash(self):
        """Not a C function: ops->func_hash->filter_hash, struct ftrace_ops_hash at
        linux-3.17.0+seed/include/linux/ftrace.h:115."""
        return self.func_hash.filter_hash

    @filter_hash.setter
    def filter_hash(self, hash):
        self.func_hash.filter_hash = hash

    @property
    def notrace_hash(self):
        """Not a C function: ops->func_hash->notrace_hash, struct ftrace_ops_hash at
        linux-3.17.0+seed/include/linux/ftrace.h:115."""
        return self.func_hash.notrace_hash

    @notrace_hash.setter
    def notrace_hash(self, hash):
        self.func_hash.notrace_hash = hash

    def __repr__(self):
        return self.name


def _settled(attr, doc):
    """No C counterpart: a RecordWatch property, the set ``attr`` once the noted
    records are sorted into the sets (settle)."""

    def get(self):
        self.settle()
        return getattr(self, attr)

    return property(get, doc=doc)


class RecordWatch:
    """Which records' flags changed, kept for one kernel.  Not in the C.

    The C walks every record on every code update; the model walks the
    records whose flags changed since the last walk (``pending``), plus every
    live one when the walk's direction (enable or disable) changes, which
    visits every record that can need an update (DEVIATIONS.md).  ``changed``
    is the same since its last reader cleared it (the state machine), and
    ``tramp_en`` / ``tramp`` / ``live`` are the records with TRAMP_EN / with
    TRAMP or TRAMP_EN / with a count or ENABLED.  ``dirty`` is every record
    whose flags changed since the test harness last put the kernel back to
    its boot (properties/boot.py).  SETS names them.

    A store that changes rec->flags only notes the record in ``touched``;
    reading any of the sets first settles what was noted (its settle method), so a
    reader sees every store, and a record stored to several times in a walk
    is sorted into the sets once.

    No C counterpart: the model's bookkeeping; the C keeps none and walks every
    record with do_for_each_ftrace_rec() at linux-3.17.0+seed/kernel/trace/ftrace.c:1415.
    """

    SETS = ("pending", "changed", "tramp_en", "tramp", "live", "dirty")
    __slots__ = ("touched", *(f"_{name}" for name in SETS))

    def __init__(self):
        self.touched = set()
        for name in self.__slots__[1:]:
            setattr(self, name, set())

    def settle(self):
        """Sort the records noted since the last sorting into the sets, by their flags now.

        No C counterpart: the model's bookkeeping.
        """
        touched = self.touched
        if not touched:
            return
        self._pending |= touched
        self._changed |= touched
        self._dirty |= touched
        tramp_en, tramp, live = self._tramp_en, self._tramp, self._live
        # the records by their flags (a walk's records mostly share one value):
        # each group goes into or out of each set at once; a few, one by one
        if len(touched) < 16:
            groups = [(rec.flags, (rec,)) for rec in touched]
        else:
            groups = itertools.groupby(sorted(touched, key=_flags_of), _flags_of)
        for flags, group in groups:
            group = tuple(group)
            if flags & FTRACE_FL_TRAMP_EN:
                tramp_en.update(group)
            else:
                tramp_en.difference_update(group)
            if flags & _TRAMP_ANY:
                tramp.update(group)
            else:
                tramp.difference_update(group)
            if flags & _LIVE:
                live.update(group)
            else:
                live.difference_update(group)
        touched.clear()

    pending = _settled("_pending", "the records whose flags changed since the last walk.")
    changed = _settled("_changed", "the records whose flags changed since a reader cleared them.")
    tramp_en = _settled("_tramp_en", "the records with TRAMP_EN.")
    tramp = _settled("_tramp", "the records with TRAMP or TRAMP_EN.")
    live = _settled("_live", "the records with a count or ENABLED.")
    dirty = _settled("_dirty", "the records whose flags changed since the boot was put back.")

    def store_flags(self, recs, flags):
        """Store each record its flags (``flags`` in the same order): the stores
        ``rec.flags = value`` make, with no call per record, each record watched here.

        Not a C function: the stores to rec->flags of
        ftrace_check_record() at linux-3.17.0+seed/kernel/trace/ftrace.c:1791.
        """
        for rec, value in zip(recs, flags, strict=True):
            store_flags_unwatched(rec, value)
        self.touched.update(recs)

    def compact(self):
        """Give a set that emptied out a table of its size.

        A Python set keeps the table of its largest size, and walking it
        costs that size: after a step that traced every record and one that
        untraced them, a walk of ``live`` would cost 40,000 slots for one
        record.  No C counterpart: the model's bookkeeping.
        """
        self.settle()
        for name in ("_tramp_en", "_tramp", "_live"):
            kept = getattr(self, name)
            if sys.getsizeof(kept) > 64 * len(kept) + 4096:
                setattr(self, name, set(kept))


class dyn_ftrace:
    """struct dyn_ftrace: one traceable call site.

    linux-3.17.0+seed/include/linux/ftrace.h:323.  ``name`` and ``watch`` are the
    model's; the C's ``arch`` is empty on x86.  ``flags`` is a plain field to
    read; a store to it also tells the watch (``__setattr__``).
    """

    __slots__ = ("ip", "flags", "name", "watch")

    def __init__(self, ip, flags=0, name="", watch=None):
        self.ip = ip
        self.name = name  # kallsyms name of the function, for reports
        self.watch = None
        object.__setattr__(self, "flags", 0)
        self.watch = watch
        self.flags = flags

    def __setattr__(self, field, value):
        """Not a C function: a store to a field of struct dyn_ftrace at
        linux-3.17.0+seed/include/linux/ftrace.h:323; one to rec->flags is watched."""
        if field == "flags":
            w = self.watch
            if w is not None and value != self.flags:
                w.touched.add(self)
        _store(self, field, value)

    def __repr__(self):
        return f"dyn_ftrace({self.name or hex(self.ip)})"


_store = object.__setattr__  # the plain store, which the watch does not see
# rec->flags = value without the watch: for code that notes the record itself
store_flags_unwatched = dyn_ftrace.flags.__set__


@dataclass(eq=False)
class ftrace_page:
    """struct ftrace_page: a block of records, all of one module or of vmlinux.

    linux-3.17.0+seed/kernel/trace/ftrace.c:1103.  The C keeps ``index`` of ``size``
    slots; ``mod`` and ``seq`` are the model's (the C finds a module's pages by
    address, in ftrace_release_mod() at linux-3.17.0+seed/kernel/trace/ftrace.c:4588).
    """

    records: list
    next: "ftrace_page | None" = None
    mod: object = None  # the struct module the records belong to (None: vmlinux)
    seq: int = 0  # creation order: pages are only ever appended

    @property
    def index(self):
        """Not a C function: pg->index of struct ftrace_page at
        linux-3.17.0+seed/kernel/trace/ftrace.c:1103."""
        return len(self.records)


def ftrace_rec_count(rec):
    """ftrace_rec_count(): the reference count held in the low bits of rec->flags.

    linux-3.17.0+seed/include/linux/ftrace.h:321
    """
    return rec.flags & ~FTRACE_FL_MASK


def ftrace_hash_empty(hash):
    """ftrace_hash_empty(): NULL or no entries.

    linux-3.17.0+seed/kernel/trace/ftrace.c:1119
    """
    return not hash or not hash.ips


def flag_names(flags, names):
    """Flag bits as '|'-joined kernel names, for reports and notes.

    No C counterpart: reports.
    """
    return "|".join(n for bit, n in sorted(names.items(), reverse=True) if flags & bit)
