"""The emulated x86-64 kernel: one unicorn instance holding text, data, modules, stacks.

Not a kernel file: this is the machine the model's C functions patch and
run.  Address map (all 4 KiB aligned, UC_TLB_VIRTUAL so that the upper
half works):

    TEXT     0xffffffff81000000  mcount_64.S routines, then the C functions
                                 modelled in Python (one ``retq`` each, hooked
                                 at entry), callbacks, parent call sites, and
                                 the traced functions appended by
                                 kernel_function()
    DATA     0xffffffff82000000  function_trace_op, then static ftrace_ops
    MODULES  0xffffffffa0000000  mapped page by page by module_alloc
    DIRECT   0xffff880000000000  kmalloc'd (dynamic) ftrace_ops, the stack

ftrace_ops layout in emulated memory (what alloc_ops/sync_ops write; see
DEVIATIONS.md): func 0x0, next 0x8, flags 0x10, disabled 0x18,
trampolines 0x20 (int), notrace_hash 0x28, filter_hash 0x30,
tramp_hash 0x38, regex_lock 0x40 (0x20 bytes, left zero), trampoline 0x60.
"""

import bisect
import ctypes
import functools
import itertools
import operator
import struct
from dataclasses import dataclass

from capstone import CS_ARCH_X86, CS_MODE_64, CS_OPT_SYNTAX_ATT, Cs
from keystone import KS_ARCH_X86, KS_MODE_64, KS_OPT_SYNTAX_ATT, Ks
from unicorn import (
    UC_ARCH_X86,
    UC_HOOK_BLOCK,
    UC_HOOK_TLB_FILL,
    UC_MODE_64,
    UC_PROT_ALL,
    UC_PROT_READ,
    UC_PROT_WRITE,
    UC_TLB_VIRTUAL,
    Uc,
    UcError,
)
from unicorn import x86_const as X
from unicorn.unicorn_const import UC_CTL_IO_WRITE, UC_CTL_TB_REMOVE_CACHE, UC_ERR_OK
from unicorn.unicorn_py3.unicorn import HOOK_CODE_CFUNC, HOOK_TLB_FILL_CFUNC, uc_hook_h, uclib

from model.arch.x86.kernel import mcount_64
from model.arch.x86.kernel.mcount_64 import branch_target

# The same library's functions without argtypes: called with ctypes objects
# built once, a call skips the per-argument conversion, about half its cost
# (valgrind: ~4,300 instructions a register batch against ~8,600).  Loaded as a
# PyDLL, a call keeps the GIL instead of releasing and taking it back: the calls
# are short, and the hooks unicorn calls during emu_start take a GIL their thread
# already holds.
_RAW = ctypes.PyDLL(uclib._name)
_reg_read_batch = _RAW.uc_reg_read_batch
_reg_write_batch = _RAW.uc_reg_write_batch
_mem_read = _RAW.uc_mem_read
_mem_write = _RAW.uc_mem_write
_emu_start = _RAW.uc_emu_start
_emu_stop = _RAW.uc_emu_stop
_ctl = _RAW.uc_ctl

PAGE_SIZE = 0x1000
TEXT_BASE = mcount_64.TEXT_BASE
TEXT_SIZE = 0x400000
TEXT_END = TEXT_BASE + TEXT_SIZE
CFUNC_BASE = TEXT_BASE + 0x1000  # C functions modelled in Python
REDIRECT_BASE = TEXT_BASE + 0x1800  # landing site for handlers that change regs->ip
CALLBACK_BASE = TEXT_BASE + 0x2000
CALLBACK_END = TEXT_BASE + 0x8000
CALLBACK_SLOT = 0x10
PARENT_BASE = TEXT_BASE + 0x8000  # return addresses of the traced functions' callers
PARENT_END = TEXT_BASE + 0x10000
FUNCTIONS_BASE = TEXT_BASE + 0x10000
DATA_BASE = 0xFFFFFFFF82000000
DATA_SIZE = 0x100000
MODULES_VADDR = 0xFFFFFFFFA0000000
MODULES_END = 0xFFFFFFFFFF000000
DIRECT_BASE = 0xFFFF880000000000
DIRECT_SIZE = 0x100000
STACK_TOP = DIRECT_BASE + DIRECT_SIZE - 0x100
STACK_LIMIT = DIRECT_BASE + DIRECT_SIZE - 0x10000  # kmalloc'd ops stay below the stack

FUNCTION_SIZE = 0x20
CALL_BOUND = 20000  # instructions per emu.call()
# emu_start's arguments, made as ctypes passes them (see _handle)
_BOUND = ctypes.c_size_t.from_param(CALL_BOUND)
_NO_TIMEOUT = ctypes.c_uint64.from_param(0)
_UNTIL = ctypes.c_uint64.from_param(DATA_BASE + 1)  # never reached (see Emu._run)
_RET_AT = STACK_TOP - 8 - DIRECT_BASE  # a call's return address, in the direct map's memory
NEST_BOUND = 8  # emu.call()s a callback may nest inside one another
NEST_GAP = 0x800  # a nested call's stack starts this far below the caller's rsp
REDIRECT_RAX = 0x5EED  # what the redirect landing returns
SCRATCH = {"rax": 0xAAAA, "r10": 0x1010, "r11": 0x1111}  # what emu.call() starts them at
POISON = 0xDEADBEEFDEAD0000  # what a callback leaves in the registers C may clobber
OPS_SIZE = 0x80
OPS_FIELDS = {"func": 0x0, "next": 0x8, "flags": 0x10, "trampolines": 0x20, "trampoline": 0x60}

# the C functions this machine runs in Python, entered through a hooked retq
CFUNCS = (
    "prepare_ftrace_return",
    "ftrace_return_to_handler",
    "ftrace_ops_list_func",
    "ftrace_ops_control_func",
    "ftrace_ops_recurs_func",
)
# the ftrace_func_t functions among them, run by a hook the core sets in ops_func_hooks
OPS_FUNCS = ("ftrace_ops_control_func", "ftrace_ops_recurs_func")

PT_REGS = "r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax cx dx si di orig_ax ip cs flags sp ss".split()
PT_REGS_SIZE = 21 * 8
_U64 = struct.Struct("<Q")
PRESERVED = {
    "rbx": X.UC_X86_REG_RBX,
    "rbp": X.UC_X86_REG_RBP,
    "r12": X.UC_X86_REG_R12,
    "r13": X.UC_X86_REG_R13,
    "r14": X.UC_X86_REG_R14,
    "r15": X.UC_X86_REG_R15,
    "rsp": X.UC_X86_REG_RSP,
}
ARGS = (
    X.UC_X86_REG_RDI,
    X.UC_X86_REG_RSI,
    X.UC_X86_REG_RDX,
    X.UC_X86_REG_RCX,
    X.UC_X86_REG_R8,
    X.UC_X86_REG_R9,
)
CLOBBERED = (X.UC_X86_REG_RAX, *ARGS, X.UC_X86_REG_R10, X.UC_X86_REG_R11)
_POISON = tuple(POISON + i for i in range(len(CLOBBERED)))
_SCRATCH = tuple(SCRATCH.values())
_SAVED = tuple(PRESERVED)[:-1]  # the callee-saved registers emu.call() sets (not rsp)
_DEFAULT_SAVED = (0xB0B0B0B0, STACK_TOP, 0x1212, 0x1313, 0x1414, 0x1515)
_DEFAULT_BEFORE = (*_DEFAULT_SAVED, STACK_TOP)  # and the parent's rsp around its call
_ARGS = (1, 2, 3, 4, 5, 6)  # emu.call()'s default arguments and flags
_FLAGS = 0x246
# entry: the six arguments, rax, r10, r11, flags, rsp, then the preserved registers
_ENTRY_REGS = (
    *ARGS,
    X.UC_X86_REG_RAX,
    X.UC_X86_REG_R10,
    X.UC_X86_REG_R11,
    X.UC_X86_REG_EFLAGS,
    X.UC_X86_REG_RSP,
    *list(PRESERVED.values())[:-1],
)
_EXIT_REGS = (*PRESERVED.values(), X.UC_X86_REG_RAX, X.UC_X86_REG_RIP)
# a C function's view on entry: rdi, rsi, rdx, rcx, rsp
_ARG_REGS = (*ARGS[:4], X.UC_X86_REG_RSP)

_TRACED_BODY = {
    # fentry: the call is the first instruction; the body returns the sum of its arguments
    True: (
        b"",
        "leaq (%rdi,%rsi,1), %rax\naddq %rdx, %rax\naddq %rcx, %rax\n"
        "addq %r8, %rax\naddq %r9, %rax\nretq",
    ),
    # mcount: the call follows the frame-pointer prologue
    False: (
        b"\x55\x48\x89\xe5",
        "leaq (%rdi,%rsi,1), %rax\naddq %rdx, %rax\naddq %rcx, %rax\n"
        "addq %r8, %rax\naddq %r9, %rax\npopq %rbp\nretq",
    ),
}
_REDIRECT_BODY = {
    True: f"movq $0x{REDIRECT_RAX:x}, %rax\nretq",
    False: f"movq $0x{REDIRECT_RAX:x}, %rax\npopq %rbp\nretq",
}


# uc_ctl(UC_CTL_TB_REMOVE_CACHE, begin, end), encoded as unicorn's ctl() does; called
# directly, because the Python wrapper costs ~14 us and every text write makes one.
_REMOVE_CACHE = (UC_CTL_IO_WRITE << 30) | (2 << 26) | UC_CTL_TB_REMOVE_CACHE
_READ_BUFFER = 0x1000
_SHORT_SPAN = 64  # bytes: _differing_span's one-number case
_COLUMNS_FROM = 64  # sites: from this many, evenly spaced ones are written by columns


def _keystone(text):
    """No C counterpart: keystone for the emulator's own snippets (traced bodies, landings)."""
    ks = Ks(KS_ARCH_X86, KS_MODE_64)
    ks.syntax = KS_OPT_SYNTAX_ATT
    return bytes(ks.asm(text, 0)[0])


_BODIES = {}
_CS = []


def _capstone():
    """One capstone instance per process (creating one costs ~0.3 ms).

    No C counterpart: the emulator's disassembler, for checks and reports.
    """
    if not _CS:
        md = Cs(CS_ARCH_X86, CS_MODE_64)
        md.syntax = CS_OPT_SYNTAX_ATT  # as mcount_64.S is written
        _CS.append(md)
    return _CS[0]


def _body(fentry):
    """(prologue, body, redirect landing) machine code, assembled once per process.

    No C counterpart: what a compiler would emit for a traced function's body.
    """
    if fentry not in _BODIES:
        prologue, body = _TRACED_BODY[fentry]
        _BODIES[fentry] = (prologue, _keystone(body), _keystone(_REDIRECT_BODY[fentry]))
    return _BODIES[fentry]


def _differing_span(old, new):
    """(first, last) offsets where two equal-length, unequal byte strings differ.

    A short span (a site's few bytes) as one number: its lowest and highest
    set bits of old XOR new are the bytes that changed first and last.

    No C counterpart: the emulator's instruction cache.
    """
    if len(old) <= _SHORT_SPAN:
        x = int.from_bytes(old, "little") ^ int.from_bytes(new, "little")
        return ((x & -x).bit_length() - 1) >> 3, (x.bit_length() - 1) >> 3
    last = len(old) - 1 - _first_difference(old[::-1], new[::-1])
    return _first_difference(old, new), last


def _columns(addrs, datas, size):
    """(offset in vmlinux text of the first site, stride, the bytes joined) when the
    sites rise evenly, at least ``size`` apart, their bytes all of that size (None:
    of several sizes); else None.

    A pass over a kernel's functions writes such sites: its j-th bytes are
    then one extended slice of text, stored or compared in C.

    No C counterpart: the emulator's copy of text.
    """
    n = len(addrs)
    if n < _COLUMNS_FROM or size is None:
        return None
    stride = addrs[1] - addrs[0]
    if stride < size or addrs[-1] - addrs[0] != stride * (n - 1):  # cheap refusals first
        return None
    if set(map(operator.sub, addrs[1:], addrs[:-1])) != {stride}:
        return None
    return addrs[0] - TEXT_BASE, stride, b"".join(datas)


def _first_difference(old, new):
    """The first offset where two equal-length, unequal byte strings differ.

    Halving with slice comparisons (memcmp in C): a few dozen of them over a
    region of any size, where a loop over its bytes would cost one step each.

    No C counterpart: the emulator's instruction cache.
    """
    lo, hi = 0, len(old)  # old[:lo] == new[:lo]; they differ in [lo, hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if old[lo:mid] == new[lo:mid]:
            lo = mid
        else:
            hi = mid
    return lo


def _handle(uc):
    """The instance's uc_engine pointer as ctypes passes an argument, made once.

    ctypes passes an argument it made with from_param() or byref() as it is,
    where a ctypes object (the binding's c_void_p handle, a c_uint64) costs
    a conversion object per call.

    No C counterpart: the emulator's calls into unicorn.
    """
    return ctypes.c_void_p.from_param(uc._uch.value)


class RegBlock:
    """Read or write a fixed set of registers in one C call.

    unicorn's Python reg_read_batch/reg_write_batch cost ~25 us each; the
    same uc_reg_*_batch calls with every argument built once cost ~1 us.

    No C counterpart: the emulator's register access.
    """

    def __init__(self, uc, regs, values=None):
        n = len(regs)  # a Python int: ctypes passes it as a C int
        self._vals = (ctypes.c_uint64 * n)(*(values or ()))
        self._layout = struct.Struct(f"<{n}Q")  # the values, packed as the C array holds them
        base = ctypes.addressof(self._vals)
        args = (
            _handle(uc),
            ctypes.byref((ctypes.c_int * n)(*regs)),  # each byref keeps its array
            ctypes.byref((ctypes.c_void_p * n)(*(base + 8 * i for i in range(n)))),
            n,
        )
        # the C calls and the unpacking as partials: a caller that calls them itself
        # runs no Python frame of the block's (about 300 instructions each)
        self.load = functools.partial(_reg_read_batch, *args)  # the registers into values()
        self.store = functools.partial(_reg_write_batch, *args)  # values() into the registers
        self.values = functools.partial(self._layout.unpack_from, self._vals)

    def read(self):
        """No C counterpart: one batch read of the block's registers, as a tuple."""
        self.load()
        return self.values()

    def write(self, values=None):
        """Write unsigned 64-bit values (struct.error for others); without values,
        those the block was made with.

        No C counterpart.
        """
        if values is not None:
            self._layout.pack_into(self._vals, 0, *values)
        self.store()


class EmulationFault(Exception):
    """The emulated code faulted, ran an invalid instruction or ran past its bound.

    No C counterpart: the CPU's fault, or the emulator's bound.
    """


@dataclass(slots=True)
class Invocation:
    """One call of a callback (an ops->func): its arguments and, with pt_regs, their fields.

    Not a C function: one call of an ops->func, as `ftrace_call` at
    linux-3.17.0+seed/arch/x86/kernel/mcount_64.S:56,
    `ftrace_regs_call` at linux-3.17.0+seed/arch/x86/kernel/mcount_64.S:109 or
    __ftrace_ops_list_func() at linux-3.17.0+seed/kernel/trace/ftrace.c:4837 make it.
    """

    func: int
    ip: int  # rdi
    parent_ip: int  # rsi
    op: int  # rdx
    regs: int  # rcx
    ret: int = 0  # the return address on the stack (0 when called through the list hook)
    regs_bytes: bytes = b""  # the pt_regs as they were on entry (decoded by pt_regs)
    via_list: bool = False
    reentered: bool = False  # entered while an earlier entry of the same func was running

    @property
    def pt_regs(self):
        """The pt_regs fields by name (r15 .. ss), or None without pt_regs.

        C outside the reference: arch/x86/include/asm/ptrace.h (struct pt_regs), as
        `ftrace_regs_caller` at linux-3.17.0+seed/arch/x86/kernel/mcount_64.S:78 fills it.
        """
        if not self.regs:
            return None
        return dict(zip(PT_REGS, struct.unpack("<21Q", self.regs_bytes), strict=True))


@dataclass
class GraphCall:
    """One prepare_ftrace_return(parent, self_addr, frame_pointer).

    Not a C function: one entry of prepare_ftrace_return() at
    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:861.
    """

    parent: int
    self_addr: int
    frame_pointer: int
    old: int  # *parent when it was entered
    accepted: bool


@dataclass(slots=True, init=False)
class CallResult:
    """What one emu.call() observed.

    No C counterpart: what the emulator saw during one call.
    """

    calls: list
    list_calls: list  # (ip, parent_ip, regs) per list-func entry
    graph_calls: list
    returned_via_handler: bool
    graph_warnings: list
    saved_before: tuple  # PRESERVED's values on entry (rsp: the parent's, around its call)
    saved_after: tuple  # and when the parent got control back
    rax: int
    nested: list  # CallResults of the calls callbacks made
    reentered: list  # re-entering Invocations, at any depth

    def __init__(self, saved_before=()):
        # written out: the generated __init__ with default factories costs twice as much
        self.calls = []
        self.list_calls = []
        self.graph_calls = []
        self.returned_via_handler = False
        self.graph_warnings = []
        self.saved_before = saved_before
        self.saved_after = ()
        self.rax = 0
        self.nested = []
        self.reentered = []

    @property
    def before(self):
        """Callee-saved registers and rsp by name, as the parent had them before the call.

        No C counterpart.
        """
        return dict(zip(PRESERVED, self.saved_before, strict=True))

    @property
    def after(self):
        """The same registers when the call returned to the parent.

        No C counterpart.
        """
        return dict(zip(PRESERVED, self.saved_after, strict=True))


@dataclass
class _Callback:
    """No C counterpart: the emulator's note of one callback: its name and a test's action."""

    name: str
    on_call: object = None  # callable(emu, Invocation) run when it is entered


class Emu:
    """The address space of one kernel on one unicorn instance.

    No C counterpart: the emulated machine itself.
    """

    FUNCTION_SIZE = FUNCTION_SIZE

    def __init__(self, fentry=True):
        self.fentry = fentry
        self.uc = uc = Uc(UC_ARCH_X86, UC_MODE_64)
        self._uch = uc._uch
        self._uch_arg = _handle(uc)
        uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)
        for base, size in ((TEXT_BASE, TEXT_SIZE), (DATA_BASE, DATA_SIZE)):
            uc.mem_map(base, size, UC_PROT_ALL)
        # the direct map (stack, kmalloc'd ops) in memory of our own, which unicorn runs
        # on: the hooks read the stack from it with no C call (one costs ~8,000
        # instructions: unicorn walks its TLB); and the return address a call starts
        # with is stored there the same way.  No code runs there: the kernel's direct
        # map is not executable (PAGE_KERNEL has _PAGE_NX), nor is this one, so no
        # translation of its bytes can go stale when they change behind unicorn's back
        # (a slice of the ctypes buffer is bytes, made in one step)
        self._direct = direct = ctypes.create_string_buffer(DIRECT_SIZE)
        self._direct_view = memoryview(direct).cast("B")
        uc.mem_map_ptr(
            DIRECT_BASE, DIRECT_SIZE, UC_PROT_READ | UC_PROT_WRITE, ctypes.addressof(direct)
        )
        # what unicorn holds pointers to (that memory, the hooks' callbacks) lives
        # as long as the instance does, as the binding's own hook_add keeps its callbacks
        self._held = uc.held_for_emu = [direct]
        self.md = _capstone()
        self.sym = {"function_trace_op": DATA_BASE}
        self.sym.update((name, CFUNC_BASE + 0x10 * i) for i, name in enumerate(CFUNCS))
        self.image = mcount_64.assemble(fentry, tuple(sorted(self.sym.items())))
        self.sym.update(self.image.sym)
        self.sym["mcount"] = self.sym["function_hook"]
        if fentry:
            self.sym["__fentry__"] = self.sym["function_hook"]
        uc.mem_write(self.image.base, self.image.code)
        # int3 from the image's end to the parent area: the hooks are block hooks, and
        # no instruction can run on into a hooked entry, so one is entered only by a
        # branch, which starts a block (see _hook)
        code_end = self.image.base + len(self.image.code)
        uc.mem_write(code_end, b"\xcc" * (PARENT_BASE - code_end))
        # hlt in the parent area: a call ends when the traced function returns there
        # (see _run)
        uc.mem_write(PARENT_BASE, b"\xf4" * (PARENT_END - PARENT_BASE))
        uc.mem_write(CFUNC_BASE, b"\xc3".ljust(0x10, b"\xcc") * len(CFUNCS))
        self._prologue, self._traced_body, redirect = _body(fentry)
        self.sym["ftrace_redirected"] = REDIRECT_BASE
        uc.mem_write(REDIRECT_BASE, redirect)
        self._cfunc = {
            self.sym[n]: getattr(self, "_" + n, None) or self._ops_func(n) for n in CFUNCS
        }
        self._hook_error = None  # what a hook raised, raised again when the run stops
        self._hook(self._on_cfunc, CFUNC_BASE, CFUNC_BASE + 0x10 * len(CFUNCS))
        self._hook(self._on_callback, CALLBACK_BASE, CALLBACK_END)
        self._fill_tlb()
        self._callbacks = {}
        self._functions = {}  # call site -> (function start, name)
        self._starts = {}  # call site -> its function's start, as emu_start takes it
        self._names = []  # sorted (address, name) for reports
        self._next_function = FUNCTIONS_BASE
        self._next_data = DATA_BASE + 0x100
        self._next_direct = DIRECT_BASE
        self.modules = {}  # mapped module-area ranges: start -> size
        self.inject = {"module_alloc": 0, "probe_kernel_read": 0, "op_ref": 0}
        self.list_func_hook = None
        self.ops_func_hooks = {}  # name in OPS_FUNCS -> callable(ip, parent_ip, op, regs)
        self._running = []  # callbacks entered whose on_call has not returned, outermost first
        self._root = None  # the outermost CallResult while calls nest
        self.graph_entry_hook = None
        self.ret_stack = []  # current->ret_stack: (ret, func, frame_pointer)
        self.c_functions = {}  # C functions of the model entered from machine code
        self._result = None
        self._fault = None
        self._read_buffer = ctypes.create_string_buffer(_READ_BUFFER)
        self._entry = RegBlock(uc, _ENTRY_REGS)
        # what call() with the default arguments writes: packed once
        self._default_entry = RegBlock(
            uc, _ENTRY_REGS, (*_ARGS, *_SCRATCH, _FLAGS, STACK_TOP - 8, *_DEFAULT_SAVED)
        )
        self._exit = RegBlock(uc, _EXIT_REGS)
        self._args = RegBlock(uc, _ARG_REGS)
        self._clobber = RegBlock(uc, CLOBBERED, _POISON)  # written with no values
        self._rax = RegBlock(uc, (X.UC_X86_REG_RAX,))
        # text regions (kernel text, each module mapping): base -> a copy of their bytes,
        # sorted bases, and the [lo, hi) offsets written since the last flush(): the
        # kernel text's in two fields of their own (empty: lo > hi), a module's by base
        self._kernel_text = bytearray(uc.mem_read(TEXT_BASE, TEXT_SIZE))
        # its slices read and written through a view: a few times cheaper than the
        # bytearray's own for the 1..5 bytes of a site (the bytearray is never resized)
        self._kernel_view = memoryview(self._kernel_text)
        self._text = {TEXT_BASE: self._kernel_text}
        self._text_bases = [TEXT_BASE]
        self._kernel_lo, self._kernel_hi = TEXT_SIZE, 0
        self._dirty = {}
        # what unicorn held in each text region when code last ran (its translations
        # were made from these bytes), and the [lo, hi) offsets given to unicorn since
        self._ran = {TEXT_BASE: bytearray(self._kernel_text)}
        self._stale = {}
        # addresses of the text writes (and function_trace_op stores) since their
        # last reader cleared them: the state machine's account of what changed
        self.written = set()

    # ---- memory -------------------------------------------------------------

    def read(self, addr, size):
        """Bytes of emulated memory (UcError if unmapped).

        Text comes from the copy writes go to (see write_text), which
        unicorn is given at each flush, before anything runs.  Other
        small reads go through one reused buffer: unicorn's mem_read makes a
        ctypes buffer and a bytearray per call, and the checks read often.

        No C counterpart: memory.
        """
        region = self._text_region(addr, size)
        if region is not None:
            base, text = region
            return bytes(text[addr - base : addr - base + size])
        self.flush()
        if size > _READ_BUFFER:
            return bytes(self.uc.mem_read(addr, size))
        buf = self._read_buffer
        status = _mem_read(self._uch, ctypes.c_uint64(addr), buf, ctypes.c_size_t(size))
        if status != UC_ERR_OK:
            raise UcError(status, addr, size)
        return buf[:size]

    def read_each(self, addrs, size):
        """The ``size`` bytes at each address, in their order, as a read of each gives them.

        No C counterpart: the checks read every call site a step changed;
        kernel text comes from its copy with no call per site.
        """
        text, read = self._kernel_text, self.read
        out = []
        for addr in addrs:
            lo = addr - TEXT_BASE
            if 0 <= lo and lo + size <= TEXT_SIZE:
                out.append(bytes(text[lo : lo + size]))
            else:
                out.append(read(addr, size))
        return out

    def _text_region(self, addr, size):
        """(base, bytes) of the text region holding [addr, addr+size), or None.

        No C counterpart: the emulator's copy of text.
        """
        if TEXT_BASE <= addr and addr + size <= TEXT_END:
            return TEXT_BASE, self._kernel_text
        bases = self._text_bases
        i = bisect.bisect_right(bases, addr) - 1
        if i < 0:
            return None
        base = bases[i]
        text = self._text[base]
        if addr + size > base + len(text):
            return None
        return base, text

    def write_text(self, addr, data):
        """Write code: into the copy of text now, into unicorn at the next flush().

        What the CPU running the update reads back is its own writes; no
        other CPU runs text before run_sync(), which flushes (as does every
        emulated call), so unicorn executes each pass's writes in one
        write per region instead of one per site.

        Not a C function: the store under the arch's text writes, such as
        ftrace_write() at linux-3.17.0+seed/arch/x86/kernel/ftrace.c:299.
        """
        lo = addr - TEXT_BASE
        hi = lo + len(data)
        if 0 <= lo and hi <= TEXT_SIZE:  # kernel text: _text_region()'s first answer
            self.written.add(addr)
            self._kernel_view[lo:hi] = data
            if lo < self._kernel_lo:
                self._kernel_lo = lo
            if hi > self._kernel_hi:
                self._kernel_hi = hi
            return
        region = self._text_region(addr, len(data))
        if region is None:  # not text (a probe_kernel_write to the stack): not in written
            self.flush()
            self._store(addr, bytes(data))  # UcError if unmapped, as before
            self.drop_translations(addr, addr + len(data))
            return
        self.written.add(addr)
        base, text = region
        lo, hi = addr - base, addr - base + len(data)
        text[lo:hi] = data
        dirty = self._dirty.get(base)
        if dirty is None:
            self._dirty[base] = [lo, hi]
        else:
            if lo < dirty[0]:
                dirty[0] = lo
            if hi > dirty[1]:
                dirty[1] = hi

    def flush(self):
        """Give unicorn the text written since the last flush, one write per region.

        Its translations of those bytes are dropped before code next runs
        (retranslate()), and only where the bytes differ from those the code
        last ran: the three passes of an update that leave a site as it was
        (an int3, then the same tail and head) cost no translation.

        Not a C function: sync_core() after the stores, which run_sync() at
        linux-3.17.0+seed/arch/x86/kernel/ftrace.c:527 makes every CPU do.
        """
        lo, hi = self._kernel_lo, self._kernel_hi
        if lo < hi:
            self._kernel_lo, self._kernel_hi = TEXT_SIZE, 0
            self._store(TEXT_BASE + lo, bytes(self._kernel_text[lo:hi]))
            self._note_stale(TEXT_BASE, lo, hi)
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, {}
        for base, (lo, hi) in sorted(dirty.items()):
            self._store(base + lo, bytes(self._text[base][lo:hi]))
            self._note_stale(base, lo, hi)

    def _note_stale(self, base, lo, hi):
        """No C counterpart: [lo, hi) of a text region may differ from what code last ran."""
        stale = self._stale.get(base)
        if stale is None:
            self._stale[base] = (lo, hi)
        else:
            self._stale[base] = (min(lo, stale[0]), max(hi, stale[1]))

    def retranslate(self):
        """Drop unicorn's translations of the text that changed since code last ran:
        one range per region, from its first changed byte to its last.

        No C counterpart: the emulator's instruction cache.
        """
        stale, self._stale = self._stale, {}
        for base, (lo, hi) in sorted(stale.items()):
            ran, now = self._ran[base], self._text[base]
            old, new = ran[lo:hi], now[lo:hi]
            if old == new:
                continue
            first, last = _differing_span(old, new)
            ran[lo:hi] = new
            self.drop_translations(base + lo + first, base + lo + last + 1)

    def unflushed_text(self):
        """The first address where unicorn's memory differs from the copy of text
        once flushed (None: it holds every byte of it): the checks read the copy.

        No C counterpart: the emulator's copy of text, checked.
        """
        self.flush()
        for base, text in sorted(self._text.items()):
            used = self._next_function - base if base == TEXT_BASE else len(text)
            held = self.uc.mem_read(base, used)
            if held != text[:used]:
                return base + next(i for i in range(used) if held[i] != text[i])
        return None

    def drop_translations(self, begin, end):
        """Drop unicorn's translated blocks of [begin, end) (UcError on failure).

        No C counterpart: the emulator's instruction cache.
        """
        status = _ctl(
            self._uch_arg,
            _REMOVE_CACHE,
            ctypes.c_uint64.from_param(begin),
            ctypes.c_uint64.from_param(end),
        )
        if status != UC_ERR_OK:
            raise UcError(status)

    def write_data(self, addr, data):
        """No C counterpart: memory (text regions through write_text)."""
        if self._text_region(addr, len(data)) is not None:
            self.write_text(addr, data)
        else:
            self._store(addr, bytes(data))

    def read_u64(self, addr):
        """No C counterpart: memory."""
        return struct.unpack("<Q", self.read(addr, 8))[0]

    def write_u64(self, addr, value):
        """No C counterpart: memory."""
        self.write_data(addr, struct.pack("<Q", value & (2**64 - 1)))

    def probe_read(self, addr, size):
        """probe_kernel_read(): the bytes, or None for a fault (or an injected one).

        C outside the reference: mm/maccess.c; used by ftrace_modify_code_direct() at
        linux-3.17.0+seed/arch/x86/kernel/ftrace.c:103 and add_break() at
        linux-3.17.0+seed/arch/x86/kernel/ftrace.c:309.
        """
        if self.inject["probe_kernel_read"] and self.injected("probe_kernel_read"):
            return None
        lo = addr - TEXT_BASE
        if 0 <= lo and lo + size <= TEXT_SIZE:  # kernel text, from its copy as read() does
            return self._kernel_view[lo : lo + size].tobytes()
        try:
            return self.read(addr, size)
        except UcError:
            return None

    def probe_write(self, addr, data):
        """probe_kernel_write() of code: False for a fault.

        C outside the reference: mm/maccess.c; used by ftrace_write() at
        linux-3.17.0+seed/arch/x86/kernel/ftrace.c:299.
        """
        try:
            self.write_text(addr, data)
        except UcError:
            return False
        return True

    def write_text_each(self, addrs, datas):
        """write_text() of each address its bytes (datas in the same order), all in
        vmlinux text: one call for many sites (ValueError for one outside).

        Not a C function: the ftrace_write() at
        linux-3.17.0+seed/arch/x86/kernel/ftrace.c:299 of each site of a pass.
        """
        if not addrs:
            return
        lo, hi, size = self._kernel_span(addrs, datas)
        if lo < 0 or hi > TEXT_SIZE:
            raise ValueError(f"text writes {lo:#x}..{hi:#x} outside vmlinux text")
        columns = _columns(addrs, datas, size)
        if columns is not None:  # evenly spaced: each byte column in one slice store
            at, stride, joined = columns
            text = self._kernel_text
            for j in range(size):
                text[at + j : hi : stride] = joined[j::size]
        else:
            view = self._kernel_view
            for addr, data in zip(addrs, datas, strict=True):
                at = addr - TEXT_BASE
                view[at : at + len(data)] = data
        self.written.update(addrs)
        if lo < self._kernel_lo:
            self._kernel_lo = lo
        if hi > self._kernel_hi:
            self._kernel_hi = hi

    def text_holds_each(self, addrs, datas):
        """Does vmlinux text hold at each address its bytes (datas in the same order)?
        What a probe_read() of each, compared, would answer (False for one outside).

        Not a C function: the check of add_break() at
        linux-3.17.0+seed/arch/x86/kernel/ftrace.c:309 of each site of a pass.
        """
        if not addrs:
            return True
        lo, hi, size = self._kernel_span(addrs, datas)
        if lo < 0 or hi > TEXT_SIZE:
            return False
        columns = _columns(addrs, datas, size)
        if columns is not None:  # evenly spaced: each byte column in one slice compare
            at, stride, joined = columns
            text = self._kernel_text
            return all(text[at + j : hi : stride] == joined[j::size] for j in range(size))
        starts = map(operator.sub, addrs, itertools.repeat(TEXT_BASE))
        return all(map(self._kernel_text.startswith, datas, starts))

    @staticmethod
    def _kernel_span(addrs, datas):
        """No C counterpart: the [lo, hi) offsets in vmlinux text that the sites' bytes
        span, and the one size of their bytes (None if they have several)."""
        sizes = set(map(len, datas))
        if len(sizes) == 1:  # one size (a pass writes one): the last site ends last
            size = sizes.pop()
            return min(addrs) - TEXT_BASE, max(addrs) + size - TEXT_BASE, size
        hi = max(map(operator.add, addrs, map(len, datas)))
        return min(addrs) - TEXT_BASE, hi - TEXT_BASE, None

    def injected(self, what):
        """Consume one injected failure of ``what`` (a key of emu.inject).

        No C counterpart: fault injection.
        """
        if self.inject.get(what, 0) > 0:
            self.inject[what] -= 1
            return True
        return False

    def map_module(self, addr, size):
        """Back [addr, addr+size) of the module area with memory (vmalloc's page mapping).

        No C counterpart: the emulator's backing of vmalloc'd pages.
        """
        self.uc.mem_map(addr, size, UC_PROT_ALL)
        self.modules[addr] = size
        self._text[addr] = bytearray(size)
        self._ran[addr] = bytearray(size)
        bisect.insort(self._text_bases, addr)

    def unmap_module(self, addr):
        """No C counterpart: the emulator's backing of vmalloc'd pages, released."""
        size = self.modules.pop(addr)
        self.flush()
        del self._text[addr]
        del self._ran[addr]
        self._stale.pop(addr, None)
        self._text_bases.remove(addr)
        self.uc.ctl_remove_cache(addr, addr + size)
        self.uc.mem_unmap(addr, size)

    def core_kernel_data(self, addr):
        """core_kernel_data(): is addr in vmlinux's data (where static ops live)?

        C outside the reference: kernel/extable.c; used by
        __register_ftrace_function() at linux-3.17.0+seed/kernel/trace/ftrace.c:383.
        """
        return DATA_BASE <= addr < DATA_BASE + DATA_SIZE

    @property
    def function_trace_op(self):
        """The ops the static callers pass: linux-3.17.0+seed/kernel/trace/ftrace.c:90."""
        return self.read_u64(self.sym["function_trace_op"])

    @function_trace_op.setter
    def function_trace_op(self, value):
        self.written.add(self.sym["function_trace_op"])
        self.write_u64(self.sym["function_trace_op"], value)

    # ---- things placed in memory --------------------------------------------

    def place_function(self, addr, name):
        """Lay a traced function at ``addr``; returns its call site (the record's ip).

        The site holds the compiler's ``call mcount``/``call __fentry__``.

        Not a C function: the compiler's output, whose site calls `function_hook` at
        linux-3.17.0+seed/arch/x86/kernel/mcount_64.S:26 (the record's ip is this site).
        """
        ip = addr + len(self._prologue)
        call = b"\xe8" + struct.pack("<i", self.sym["mcount"] - (ip + 5))
        code = self._prologue + call + self._traced_body
        assert len(code) <= FUNCTION_SIZE
        self.write_text(addr, code.ljust(FUNCTION_SIZE, b"\xcc"))
        self._functions[ip] = (addr, name)
        self._starts[ip] = ctypes.c_uint64.from_param(addr)
        self._name(addr, name)
        return ip

    def kernel_function(self, name):
        """Append a traced function to kernel text; returns its call site.

        Not a C function: vmlinux's text, laid out by the linker; each site calls
        `function_hook` at linux-3.17.0+seed/arch/x86/kernel/mcount_64.S:26.
        """
        addr = self._next_function
        if addr + FUNCTION_SIZE > TEXT_BASE + TEXT_SIZE:
            raise MemoryError("emulated kernel text is full")
        self._next_function += FUNCTION_SIZE
        return self.place_function(addr, name)

    def function_name(self, ip):
        """No C counterpart: the name a report gives a call site."""
        entry = self._functions.get(ip)
        return entry[1] if entry else self.symbolize(ip)

    def new_callback(self, name, on_call=None):
        """A distinct emulated function to use as an ops->func; its calls are recorded.

        ``on_call(emu, invocation)`` runs when it is entered (a handler may,
        for example, change regs->ip).

        Not a C function: a tracer's callback such as function_trace_call() at
        linux-3.17.0+seed/kernel/trace/trace_functions.c:124.
        """
        addr = CALLBACK_BASE + CALLBACK_SLOT * len(self._callbacks)
        if addr >= CALLBACK_END:
            raise MemoryError("no room for another callback")
        self.write_text(addr, b"\xc3")
        self._callbacks[addr] = _Callback(name, on_call)
        self._name(addr, name)
        return addr

    def set_on_call(self, func, on_call):
        """No C counterpart: give the callback at ``func`` a new on_call (see new_callback)."""
        self._callbacks[func].on_call = on_call

    def on_call_of(self, func):
        """No C counterpart: the on_call of the callback at ``func`` (None if none)."""
        return self._callbacks[func].on_call

    def alloc_ops(self, ops, dynamic):
        """Give ``ops`` an emulated address (direct map if dynamic, else kernel data).

        Not a C function: where a struct ftrace_ops at linux-3.17.0+seed/include/linux/ftrace.h:133
        lives.
        """
        if dynamic:
            ops.ptr, self._next_direct = self._next_direct, self._next_direct + OPS_SIZE
            full = self._next_direct > STACK_LIMIT
        else:
            ops.ptr, self._next_data = self._next_data, self._next_data + OPS_SIZE
            full = self._next_data > DATA_BASE + DATA_SIZE
        if full:
            raise MemoryError(f"no room for another {'dynamic' if dynamic else 'static'} ops")
        self.write_data(ops.ptr, bytes(OPS_SIZE))
        self._name(ops.ptr, f"ops {ops.name}")
        self.sync_ops(ops)
        return ops.ptr

    def sync_ops(self, ops):
        """Write the ftrace_ops fields the machine code or the reports can read.

        Not a C function: the stores to the fields of struct ftrace_ops at
        linux-3.17.0+seed/include/linux/ftrace.h:133.
        """
        nxt = getattr(ops.next, "ptr", 0) or 0
        self.write_data(ops.ptr, struct.pack("<QQQ", ops.func, nxt, ops.flags))
        self.write_data(ops.ptr + OPS_FIELDS["trampolines"], struct.pack("<i", ops.trampolines))
        self.write_u64(ops.ptr + OPS_FIELDS["trampoline"], ops.trampoline)

    def _name(self, addr, name):
        """No C counterpart: the symbol table of reports."""
        bisect.insort(self._names, (addr, name))

    # ---- running ------------------------------------------------------------

    def _hook(self, entry, begin, end):
        """Call ``entry(uch, addr, size, data)`` before each block that starts in [begin, end).

        A block hook, not a code hook: with the instruction bound's per-instruction
        hook, every code hook costs each instruction a test of its range (valgrind:
        ~6,000 instructions a traced call for two).  The hooked areas are int3
        padding around single-byte returns, so code gets to an entry only by a
        branch, which starts a block: the hook sees every entry a code hook would.

        unicorn's hook_add wraps a callback in two Python calls of its own;
        this one is a ctypes callback of ``entry`` itself, which like
        unicorn's wrapper stops the run on an exception (_caught), which _run raises.

        No C counterpart: the emulator's hooks.
        """
        self._add_hook(UC_HOOK_BLOCK, HOOK_CODE_CFUNC(entry), begin, end - 1)

    def _caught(self, e):
        """No C counterpart: what a hook raised, kept for _run to raise, and the run stopped."""
        if self._hook_error is None:
            self._hook_error = e
        _emu_stop(self._uch)

    def _fill_tlb(self):
        """Fill unicorn's TLB misses with every permission, not only the access's.

        unicorn's own fill (UC_TLB_VIRTUAL) maps the page for the one access
        that missed, so a page read after it was written (the stack: a push, a
        pop) misses again, each miss costing ~800 instructions: ~12 a call.  The
        same physical page, every permission, and the region's own permissions
        still apply (a fetch from the direct map faults).

        No C counterpart: the emulator's TLB.
        """

        def fill(_uch, addr, _access, entry, _data):
            e = entry.contents
            e.paddr, e.perms = addr, UC_PROT_ALL
            return True

        self._add_hook(UC_HOOK_TLB_FILL, HOOK_TLB_FILL_CFUNC(fill), 1, 0)

    def _add_hook(self, kind, callback, begin, end):
        """uc_hook_add() of a ctypes ``callback`` over [begin, end] (begin > end: all
        addresses), the callback kept as long as the instance.

        No C counterpart: the emulator's hooks.
        """
        handle = uc_hook_h()
        status = uclib.uc_hook_add(
            self._uch, ctypes.byref(handle), kind, callback, None, begin, end
        )
        if status != UC_ERR_OK:
            raise UcError(status)
        self._held.append(callback)

    def _run(self, start):
        """Run from ``start`` (a value of _starts) until a hlt or CALL_BOUND
        instructions: UcError for a failed run, or what a hook raised.

        A call ends at the parent area's hlt, not at emu_start's ``until``:
        unicorn drops its translation of the code at ``until`` when a run ends,
        so each call would translate it again (and a new translation makes
        unicorn mark the page's TLB entries: ~20,000 instructions a call).  The
        ``until`` given is in data, where no code runs.

        No C counterpart: runs the CPU, with unicorn's C function called directly.
        """
        self._hook_error = None
        status = _emu_start(self._uch_arg, start, _UNTIL, _NO_TIMEOUT, _BOUND)
        if status != UC_ERR_OK:
            raise UcError(status)
        if self._hook_error is not None:
            raise self._hook_error

    def call(self, ip, parent_ip=PARENT_BASE + 5, args=_ARGS, flags=_FLAGS, preserved=None):
        """Call the traced function whose call site is ``ip`` from ``parent_ip``.

        Runs until the function returns to ``parent_ip`` (an address in the
        parent area, where the hlt there stops the run) or CALL_BOUND
        instructions; a fault, an invalid instruction, the bound or a return
        elsewhere raises EmulationFault.

        No C counterpart: runs the CPU.
        """
        start = self._starts[ip]
        if not PARENT_BASE <= parent_ip < PARENT_END:
            raise ValueError(f"parent_ip {parent_ip:#x} is outside the parent area")
        outer = self._result
        if outer is not None:
            return self._nested_call(ip, parent_ip, args, flags, preserved, outer)
        if self._kernel_lo < self._kernel_hi or self._dirty:  # else flush() has nothing to do
            self.flush()
        if self._stale:
            self.retranslate()
        self._direct_view[_RET_AT : _RET_AT + 8] = parent_ip.to_bytes(8, "little")
        if args is _ARGS and flags == _FLAGS and not preserved:
            before = _DEFAULT_BEFORE
            self._default_entry.store()
        else:
            saved = [preserved[n] for n in _SAVED] if preserved else _DEFAULT_SAVED
            self._entry.write((*args, *_SCRATCH, flags, STACK_TOP - 8, *saved))
            before = (*saved, STACK_TOP)
        result = self._result = self._root = CallResult(before)
        self._fault = None
        try:
            self._run(start)
        except UcError as e:
            raise self.fault(self.uc.reg_read(X.UC_X86_REG_RIP), str(e)) from None
        finally:
            self._result = self._root = None
            self._running.clear()
        if self._fault:
            raise self._fault
        self._exit.load()
        regs = self._exit.values()  # PRESERVED, rax, rip (past the hlt that stopped the run)
        if regs[8] != parent_ip + 1:
            raise self._not_returned(regs[8], parent_ip, "did not return")
        result.saved_after, result.rax = regs[:7], regs[7]
        return result

    def _not_returned(self, pc, parent_ip, what):
        """No C counterpart: the fault of a run that stopped at ``pc`` short of ``parent_ip``:
        at another hlt of the parent area (returned elsewhere), or anywhere at the bound."""
        if PARENT_BASE < pc <= PARENT_END:
            return self.fault(pc - 1, f"{what} to {parent_ip:#x}: returned to {pc - 1:#x}")
        return self.fault(pc, f"{what} to {parent_ip:#x} within {CALL_BOUND} instructions")

    def _write_stack(self, addr, data):
        """No C counterpart: a store to the stack: in the direct map, into the memory
        unicorn runs on (no code runs there: no translation to drop); elsewhere, one
        C call (unicorn's mem_write makes a ctypes buffer per call)."""
        lo = addr - DIRECT_BASE
        if 0 <= lo <= DIRECT_SIZE - len(data):
            self._direct_view[lo : lo + len(data)] = data
            return
        self._store(addr, data)

    def _store(self, addr, data):
        """No C counterpart: uc_mem_write of ``data`` (bytes), called directly: unicorn's
        mem_write makes a ctypes buffer per call.  UcError if unmapped."""
        status = _mem_write(self._uch_arg, ctypes.c_uint64.from_param(addr), data, len(data))
        if status != UC_ERR_OK:
            raise UcError(status)

    def _read_stack(self, addr, size):
        """No C counterpart: a load from the stack: in the direct map, from the memory
        unicorn runs on (no text there: nothing to flush, no copy to consult);
        elsewhere, read()."""
        lo = addr - DIRECT_BASE
        if not 0 <= lo <= DIRECT_SIZE - size:
            return self.read(addr, size)
        return self._direct[lo : lo + size]

    def _nested_call(self, ip, parent_ip, args, flags, preserved, outer):
        """No C counterpart: a call a callback makes while a call runs, below its stack.

        The caller's CPU context is put back afterwards, so the outer run goes
        on as if the callback's call had returned.  Bounded by NEST_BOUND.
        """
        uc = self.uc
        if len(self._running) > NEST_BOUND:
            pc = uc.reg_read(X.UC_X86_REG_RIP)
            raise self.fault(pc, f"calls nested deeper than {NEST_BOUND}")
        context = uc.context_save()
        start = self._starts[ip]
        rsp = (uc.reg_read(X.UC_X86_REG_RSP) - NEST_GAP) & ~0xF
        self._write_stack(rsp - 8, parent_ip.to_bytes(8, "little"))
        rsp -= 8
        saved = [preserved[n] for n in _SAVED] if preserved else _DEFAULT_SAVED
        self._entry.write((*args, *_SCRATCH, flags, rsp, *saved))
        result = self._result = CallResult((*saved, rsp + 8))
        try:
            self._run(start)
            if self._fault:
                raise self._fault
            *after, rax, pc = self._exit.read()
            if pc != parent_ip + 1:
                raise self._not_returned(pc, parent_ip, "nested call did not return")
        except UcError as e:
            raise self.fault(uc.reg_read(X.UC_X86_REG_RIP), str(e)) from None
        finally:
            self._result = outer
            uc.context_restore(context)
        result.saved_after, result.rax = tuple(after), rax
        outer.nested.append(result)
        return result

    def _invoke(self, func, ip, parent_ip, op, regs, ret, via_list, regs_bytes=None):
        """Record one callback invocation and run its on_call action.

        No C counterpart: the emulator's record of a callback's call.
        An invocation of a func whose earlier invocation is still running
        (its on_call made a call that came back to it) is marked reentered
        and listed in the outermost call's result.
        """
        if regs and regs_bytes is None:
            regs_bytes = self.read(regs, PT_REGS_SIZE)
        reentered = func in self._running
        inv = Invocation(func, ip, parent_ip, op, regs, ret, regs_bytes or b"", via_list, reentered)
        result = self._result
        if result is not None:
            result.calls.append(inv)
            if reentered:
                self._root.reentered.append(inv)
        cb = self._callbacks.get(func)
        if cb is not None and cb.on_call:
            self._running.append(func)
            try:
                cb.on_call(self, inv)
            finally:
                self._running.pop()
        return inv

    def running(self, func):
        """No C counterpart: is an invocation of ``func`` running (on_call not returned)?"""
        return func in self._running

    def record_call(self, func, ip, parent_ip, op, regs):
        """The list function (modelled by the core in Python) calls ``func``.

        Not a C function: the list function's op->func() call in
        __ftrace_ops_list_func() at linux-3.17.0+seed/kernel/trace/ftrace.c:4837.
        A func of OPS_FUNCS (control_ops' ftrace_ops_control_func) runs its
        hook instead: it is C the core runs, no callback.
        """
        for name in OPS_FUNCS:
            if func == self.sym[name]:
                self.ops_func_hooks[name](ip, parent_ip, op, regs)
                return None
        return self._invoke(func, ip, parent_ip, op, regs, 0, True)

    def _on_callback(self, _uch, addr, _size, _data):
        """No C counterpart: the emulator's hook on a callback's entry (see _hook)."""
        try:
            if addr not in self._callbacks:
                return  # inside a slot: the int3 there faults
            self._args.load()
            rdi, rsi, rdx, rcx, rsp = self._args.values()
            lo = rsp - DIRECT_BASE
            if rcx == rsp + 8:  # the regs caller: pt_regs sit right above the return address
                if 0 <= lo <= _RET_AT - PT_REGS_SIZE:  # on the stack, as the callers leave it
                    ret = _U64.unpack_from(self._direct_view, lo)[0]
                    regs_bytes = self._direct[lo + 8 : lo + 8 + PT_REGS_SIZE]
                else:
                    raw = self._read_stack(rsp, 8 + PT_REGS_SIZE)
                    ret, regs_bytes = int.from_bytes(raw[:8], "little"), raw[8:]
            else:
                ret, regs_bytes = int.from_bytes(self._read_stack(rsp, 8), "little"), None
            self._invoke(addr, rdi, rsi, rdx, rcx, ret, False, regs_bytes)
            self._clobber.store()  # a C callback may clobber these
        except BaseException as e:
            self._caught(e)

    def _on_cfunc(self, _uch, addr, _size, _data):
        """No C counterpart: the emulator's hook on a C function modelled in Python."""
        try:
            self._cfunc[addr](self.uc)
        except BaseException as e:
            self._caught(e)

    def _ftrace_ops_list_func(self, uc):
        """ftrace_ops_list_func(ip, parent_ip, op, regs): handed to the core's hook.

        Not a C function: the entry of ftrace_ops_list_func() at
        linux-3.17.0+seed/kernel/trace/ftrace.c:4880.
        """
        ip, parent_ip, _, regs, _ = self._args.read()
        if self._result is not None:
            self._result.list_calls.append((ip, parent_ip, regs))
        if self.list_func_hook:
            self.list_func_hook(ip, parent_ip, regs)
        self._clobber.store()

    def _ops_func(self, name):
        """No C counterpart: the hook of an ftrace_func_t the core runs in Python (OPS_FUNCS)."""

        def hook(uc):
            ip, parent_ip, op, regs, _ = self._args.read()
            fn = self.ops_func_hooks.get(name)
            if fn:
                fn(ip, parent_ip, op, regs)
            self._clobber.store()

        return hook

    def _prepare_ftrace_return(self, uc):
        """Entry of prepare_ftrace_return: run the model's C function, record the call.

        The model function (arch/x86/kernel/ftrace.py) is bound here by
        ftrace_dyn_arch_init(); it decides by rewriting *parent.

        Not a C function: the entry of prepare_ftrace_return() at
        linux-3.17.0+seed/arch/x86/kernel/ftrace.c:861.
        """
        parent, self_addr, frame_pointer, _, _ = self._args.read()
        fn = self.c_functions.get("prepare_ftrace_return")
        if fn is None:
            self._fault = self.fault(
                CFUNC_BASE, "prepare_ftrace_return entered before ftrace_dyn_arch_init() bound it"
            )
            _emu_stop(self._uch)
            return
        old = self.read_u64(parent)
        fn(parent, self_addr, frame_pointer)
        accepted = self.read_u64(parent) == self.sym["return_to_handler"]
        if self._result is not None:
            self._result.graph_calls.append(
                GraphCall(parent, self_addr, frame_pointer, old, accepted)
            )
        self._clobber.store()

    def _ftrace_return_to_handler(self, uc):
        """ftrace_return_to_handler(frame_pointer): pop the return trace, return its address.

        Not a C function: ftrace_return_to_handler() at
        linux-3.17.0+seed/kernel/trace/trace_functions_graph.c:241, with
        ftrace_pop_return_trace() at linux-3.17.0+seed/kernel/trace/trace_functions_graph.c:177 (its
        frame-pointer test).
        """
        frame_pointer = self._args.read()[0]
        if not self.ret_stack:
            self._fault = self.fault(
                uc.reg_read(X.UC_X86_REG_RIP), "return_to_handler with an empty return stack"
            )
            _emu_stop(self._uch)
            return
        ret, func, fp = self.ret_stack.pop()
        if self._result is not None:
            self._result.returned_via_handler = True
            if not self.fentry and fp != frame_pointer:
                self._result.graph_warnings.append(
                    f"Bad frame pointer: expected {fp:#x}, received {frame_pointer:#x}"
                )
        self._clobber.store()
        self._rax.write((ret,))

    # ---- reports ------------------------------------------------------------

    def symbolize(self, addr):
        """'name+0xoff' for an address (labels, functions, callbacks), else hex.

        No C counterpart: reports.
        """
        best = None
        for name, a in self.sym.items():
            if a <= addr and (best is None or a > best[0]):
                best = (a, name)
        i = bisect.bisect_right(self._names, (addr, "\uffff")) - 1
        if i >= 0 and (best is None or self._names[i][0] > best[0]):
            best = self._names[i]
        if best is None or addr - best[0] > 0x1000:
            return f"{addr:#x}"
        return best[1] if addr == best[0] else f"{best[1]}+{addr - best[0]:#x}"

    def disassemble(self, addr, size, mark=None):
        """Capstone listing of [addr, addr+size) with branch and RIP-relative targets named.

        No C counterpart: reports.
        """
        try:
            code = self.read(addr, size)
        except UcError:
            return [f"{addr:#x}: <unmapped>"]
        lines = []
        for insn in self.md.disasm(code, addr):
            text = f"{insn.address:#x}: {insn.bytes.hex():<16} {insn.mnemonic} {insn.op_str}"
            if insn.bytes[0] in (0xE8, 0xE9) or "rip" in insn.op_str:
                target = branch_target(insn)
                text += f"    -> {self.symbolize(target)}"
            prefix = "=> " if insn.address == mark else "   "
            lines.append(prefix + text)
        return lines

    def describe_trampoline(self, tramp, size, save_regs):
        """Listing of a trampoline plus the ops slot its op load reads and its call target.

        No C counterpart: reports.
        """
        op_label = "ftrace_regs_caller_op_ptr" if save_regs else "ftrace_caller_op_ptr"
        start = "ftrace_regs_caller" if save_regs else "ftrace_caller"
        call_label = "ftrace_regs_call" if save_regs else "ftrace_call"
        op_insn = next(
            self.md.disasm(
                self.read(tramp + self.sym[op_label] - self.sym[start], 7),
                tramp + self.sym[op_label] - self.sym[start],
            )
        )
        slot = branch_target(op_insn)
        try:
            slot_value = f"{self.read_u64(slot):#x} ({self.symbolize(self.read_u64(slot))})"
        except UcError:
            slot_value = "<unmapped>"
        call_at = tramp + self.sym[call_label] - self.sym[start]
        call = next(self.md.disasm(self.read(call_at, 5), call_at), None)
        target = self.symbolize(branch_target(call)) if call and call.bytes[0] == 0xE8 else "?"
        return "\n".join(
            [
                f"trampoline {tramp:#x}: op slot {slot:#x} holds {slot_value}; "
                f"call at {call_at:#x} -> {target}",
                *self.disassemble(tramp, size),
            ]
        )

    def fault(self, pc, what):
        """An EmulationFault naming ``pc`` with the code around it disassembled.

        The listing starts at the nearest known start of code (a label, a
        function, a callback, a module area) so that it decodes in step.

        No C counterpart: reports.
        """
        known = (*self.sym.values(), *(a for a, _ in self._names), *self.modules)
        bases = [b for b in known if b <= pc and pc - b < 0x200]
        start = max(bases) if bases else pc - 0x20
        listing = self.disassemble(start, pc - start + 0x20, mark=pc)
        marks = [i for i, line in enumerate(listing) if line.startswith("=>")]
        if marks:
            listing = listing[max(0, marks[0] - 10) : marks[0] + 4]
        else:
            listing = listing[-14:]
            try:
                top = self.read_u64(self.uc.reg_read(X.UC_X86_REG_RSP))
                listing.append(f"   [rsp] = {top:#x} ({self.symbolize(top)})")
            except UcError:
                pass
        return EmulationFault(f"{what} at {pc:#x} ({self.symbolize(pc)})\n" + "\n".join(listing))
