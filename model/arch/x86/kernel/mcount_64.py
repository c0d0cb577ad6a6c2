"""Assemble mcount_64.S (the ftrace entry routines) with keystone, once per build.

Not a kernel file: the loader that plays the part of cpp + GNU as + ld for
``mcount_64.S``.  The dialect is described at the top of that file.  The
result is the machine code at ``TEXT_BASE`` and its symbol table; every
rel32 and disp32 is computed here and checked with capstone.
"""

import functools
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from capstone import CS_ARCH_X86, CS_MODE_64, Cs
from keystone import KS_ARCH_X86, KS_MODE_64, KS_OPT_SYNTAX_ATT, Ks

TEXT_BASE = 0xFFFFFFFF81000000
SOURCE = Path(__file__).with_name("mcount_64.S")

# labels whose address the kernel C takes (the seed's externs and FTRACE_ADDR & co.)
LABELS = (
    "function_hook",
    "ftrace_caller",
    "ftrace_caller_op_ptr",
    "ftrace_call",
    "ftrace_caller_end",
    "ftrace_return",
    "ftrace_graph_call",
    "ftrace_stub",
    "ftrace_regs_caller",
    "ftrace_regs_caller_op_ptr",
    "ftrace_regs_call",
    "ftrace_regs_caller_end",
    "ftrace_graph_caller",
    "return_to_handler",
)

_PSEUDO = re.compile(r"^\s*(ENTRY|GLOBAL|CALL32|JMP32|RIPREL)\s+(\w+):?\s*(.*)$")


@dataclass(frozen=True)
class Fixup:
    """A rel32 or disp32 field the loader filled in: ``site`` is the instruction.

    No C counterpart: the loader's own bookkeeping (what ld's relocations do).
    """

    site: int
    length: int
    target: str


@dataclass(frozen=True)
class Image:
    """The assembled routines: ``code`` lives at ``base``; ``sym`` maps label -> address.

    Not a C function: mcount_64.S linked, from `function_hook` at
    linux-3.17.0+seed/arch/x86/kernel/mcount_64.S:26 to
    `return_to_handler` at linux-3.17.0+seed/arch/x86/kernel/mcount_64.S:209.
    """

    base: int
    code: bytes
    sym: dict
    fixups: tuple

    @property
    def end(self):
        """No C counterpart: the end of the image."""
        return self.base + len(self.code)


def _build_lines(fentry):
    """The source with the other build's FENTRY:/MCOUNT: lines dropped.

    Not a C function: cpp's choice of build, as `function_hook` at
    linux-3.17.0+seed/arch/x86/kernel/mcount_64.S:19 (the
    CC_USING_FENTRY define) makes it.
    """
    keep, drop = ("FENTRY:", "MCOUNT:") if fentry else ("MCOUNT:", "FENTRY:")
    out = []
    for line in SOURCE.read_text().splitlines():
        stripped = line.lstrip()
        if stripped.startswith(drop):
            continue
        if stripped.startswith(keep):
            line = stripped[len(keep) :]
        out.append(line)
    return out


def _strip_comments(text):
    """No C counterpart: the loader's reading of the dialect."""
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def _pieces(lines):
    """Split into (prelude, [items]); an item is ('asm', text) or a pseudo-op tuple.

    No C counterpart: the loader's reading of the dialect.
    """
    text = _strip_comments("\n".join(lines)).splitlines()
    first = next(i for i, ln in enumerate(text) if ln.strip().startswith("ENTRY "))
    prelude = "\n".join(text[:first])
    items, run = [], []
    for line in text[first:]:
        m = _PSEUDO.match(line)
        if not m:
            if line.strip():
                run.append(line)
            continue
        if run:
            items.append(("asm", "\n".join(run)))
            run = []
        items.append((m.group(1), m.group(2), m.group(3)))
    if run:
        items.append(("asm", "\n".join(run)))
    return prelude, items


def _asm(ks, prelude, text, addr):
    """No C counterpart: keystone, one piece at a time."""
    encoding, _ = ks.asm(prelude + "\n" + text, addr)
    if not encoding:
        raise ValueError(f"keystone produced nothing for:\n{text}")
    return bytes(encoding)


@functools.cache
def assemble(fentry, externs):
    """Assemble mcount_64.S for one build at TEXT_BASE.

    ``externs`` is a tuple of (name, address) for the symbols the routines
    reference outside themselves (function_trace_op, prepare_ftrace_return,
    ftrace_return_to_handler).  Cached: keystone runs once per process and build.

    Not a C function: cpp, GNU as and ld for the labels of mcount_64.S the C uses:
    `function_hook` at linux-3.17.0+seed/arch/x86/kernel/mcount_64.S:26,
    `ftrace_caller` at linux-3.17.0+seed/arch/x86/kernel/mcount_64.S:51,
    `ftrace_call` at linux-3.17.0+seed/arch/x86/kernel/mcount_64.S:56,
    `ftrace_caller_end` at linux-3.17.0+seed/arch/x86/kernel/mcount_64.S:65,
    `ftrace_return` at linux-3.17.0+seed/arch/x86/kernel/mcount_64.S:67,
    `ftrace_graph_call` at linux-3.17.0+seed/arch/x86/kernel/mcount_64.S:70,
    `ftrace_stub` at linux-3.17.0+seed/arch/x86/kernel/mcount_64.S:74,
    `ftrace_regs_caller` at linux-3.17.0+seed/arch/x86/kernel/mcount_64.S:78,
    `ftrace_regs_call` at linux-3.17.0+seed/arch/x86/kernel/mcount_64.S:109,
    `ftrace_regs_caller_end` at linux-3.17.0+seed/arch/x86/kernel/mcount_64.S:141,
    `ftrace_graph_caller` at linux-3.17.0+seed/arch/x86/kernel/mcount_64.S:189,
    `return_to_handler` at linux-3.17.0+seed/arch/x86/kernel/mcount_64.S:209,
    and the two op_ptr labels, from `ftrace_caller_setup` at
    linux-3.17.0+seed/arch/x86/kernel/mcount_64.S:31 (a macro).
    """
    ks = Ks(KS_ARCH_X86, KS_MODE_64)
    ks.syntax = KS_OPT_SYNTAX_ATT
    prelude, items = _pieces(_build_lines(fentry))
    code = bytearray()
    sym, pending = {}, []
    for item in items:
        addr = TEXT_BASE + len(code)
        kind = item[0]
        if kind == "ENTRY":
            code += b"\x90" * (-len(code) % 16)
            sym[item[1]] = TEXT_BASE + len(code)
        elif kind == "GLOBAL":
            sym[item[1]] = addr
        elif kind in ("CALL32", "JMP32"):
            code += (b"\xe8" if kind == "CALL32" else b"\xe9") + bytes(4)
            pending.append(Fixup(addr, 5, item[1]))
        elif kind == "RIPREL":
            insn = _asm(ks, prelude, item[2], addr)
            code += insn
            pending.append(Fixup(addr, len(insn), item[1]))
        else:
            code += _asm(ks, prelude, item[1], addr)
    sym.update(dict(externs))
    for fx in pending:
        off = fx.site - TEXT_BASE + fx.length - 4
        code[off : off + 4] = struct.pack("<i", sym[fx.target] - (fx.site + fx.length))
    image = Image(TEXT_BASE, bytes(code), sym, tuple(pending))
    _check_fixups(image)
    missing = set(LABELS) - set(sym)
    if missing:
        raise ValueError(f"mcount_64.S lacks {sorted(missing)}")
    return image


def branch_target(insn):
    """The absolute address a decoded e8/e9 or RIP-relative instruction reaches.

    No C counterpart: decoding, for checks and reports.
    """
    if insn.bytes[0] in (0xE8, 0xE9):
        return int(insn.op_str.lstrip("$*"), 16)
    disp = struct.unpack_from("<i", bytes(insn.bytes), len(insn.bytes) - 4)[0]
    return insn.address + insn.size + disp


def _check_fixups(image):
    """Decode each loader-made field with capstone and compare with its target.

    No C counterpart: the loader checks its own work.
    """
    md = Cs(CS_ARCH_X86, CS_MODE_64)
    for fx in image.fixups:
        off = fx.site - image.base
        insn = next(md.disasm(image.code[off : off + fx.length], fx.site))
        if insn.size != fx.length or branch_target(insn) != image.sym[fx.target]:
            raise AssertionError(
                f"{insn.mnemonic} {insn.op_str} at {fx.site:#x} does not reach "
                f"{fx.target} ({image.sym[fx.target]:#x})"
            )
