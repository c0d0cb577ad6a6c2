"""arch/x86/kernel/ftrace.c of v3.17.0 with the seed applied (x86-64, DYNAMIC_FTRACE).

One function per C function, first parameter the kernel ``k``.  Code
lives in the emulated machine ``k.emu``: every byte written here is the
byte the kernel writes (e8/e9 rel32, the 5-byte atomic nop, int3); the
emulated CPU runs them from run_sync() on (or the next emulated call), its
translation of those bytes dropped.

Records are walked with the core's ftrace_rec_iter_start(), which yields
them in the order for_ftrace_rec_iter() visits them.  Not modelled (see DEVIATIONS.md): the int3
handler and what only it reads (modifying_ftrace_code, ftrace_update_func),
since nothing executes while an update is in progress; text_ip_addr(),
which has no effect on one emulated CPU with writable text.
"""

import itertools
import operator
import struct

from model import fixes
from model.arch.x86.emu import TEXT_BASE, TEXT_END
from model.include.linux.ftrace import (
    FTRACE_FL_REGS,
    FTRACE_FL_REGS_EN,
    FTRACE_FL_TRAMP,
    FTRACE_FL_TRAMP_EN,
    FTRACE_OPS_FL_ALLOC_TRAMP,
    FTRACE_OPS_FL_SAVE_REGS,
    FTRACE_UPDATE_MAKE_CALL,
    FTRACE_UPDATE_MAKE_NOP,
    FTRACE_UPDATE_MODIFY_CALL,
    MCOUNT_INSN_SIZE,
    dyn_ftrace,
)
from model.vmlinux import runs_own

EFAULT, EINVAL, EPERM = 14, 22, 1
BREAKPOINT_INSTRUCTION = b"\xcc"
IDEAL_NOP5 = bytes.fromhex("0f1f440000")  # ideal_nops[NOP_ATOMIC5] on x86-64
_REL32 = struct.Struct("<BI")  # an opcode byte and its rel32, as e8/e9 take them
_U32 = struct.Struct("<I")  # a rel32 alone: the 4 bytes after the opcode
CALL_HEAD = b"\xe8"  # the first byte of ftrace_call_replace()'s call, as pass 3 writes it
_flags_of, _ip_of = operator.attrgetter("flags"), operator.attrgetter("ip")
OP_REF = b"\x48\x8b\x15"  # movq <disp32>(%rip), %rdx
OP_REF_SIZE = 7
FTRACE_RETFUNC_DEPTH = 50


def ftrace_arch_code_modify_prepare(k):
    """ftrace_arch_code_modify_prepare(): make text writable; emulated text always is.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:34
    """
    return 0


def ftrace_arch_code_modify_post_process(k):
    """ftrace_arch_code_modify_post_process(): text back to read-only; nothing to do.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:41
    """
    return 0


def ftrace_calc_offset(k, ip, addr):
    """ftrace_calc_offset(): (int)(addr - ip), truncated to 32 bits as the C cast does.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:56
    """
    return (addr - ip) & 0xFFFFFFFF


def ftrace_call_replace(k, ip, addr):
    """ftrace_call_replace(): ``call addr`` as placed at ip (e8 rel32).

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:61
    """
    return _REL32.pack(0xE8, k.ftrace_calc_offset(ip + MCOUNT_INSN_SIZE, addr))


def ftrace_jmp_replace(k, ip, addr):
    """ftrace_jmp_replace(): ``jmp addr`` as placed at ip (e9 rel32).

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:649
    """
    return _REL32.pack(0xE9, k.ftrace_calc_offset(ip + MCOUNT_INSN_SIZE, addr))


def ftrace_nop_replace(k):
    """ftrace_nop_replace(): ideal_nops[NOP_ATOMIC5].

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:97
    """
    return IDEAL_NOP5


def ftrace_modify_code_direct(k, ip, old_code, new_code):
    """ftrace_modify_code_direct(): check the 5 bytes at ip, then write new_code at once.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:103
    """
    replaced = k.emu.probe_read(ip, MCOUNT_INSN_SIZE)
    if replaced is None:
        return -EFAULT
    if replaced != old_code:
        return -EINVAL
    if not k.emu.probe_write(ip, new_code):
        return -EPERM
    return 0


def ftrace_make_nop(k, mod, rec, addr):
    """ftrace_make_nop(): only the boot/module-load conversion of the mcount call.

    The C warns with WARN_ONCE; the model warns on every misuse.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:137
    """
    old = k.ftrace_call_replace(rec.ip, addr)
    new = k.ftrace_nop_replace()
    if addr == k.emu.sym["mcount"]:
        return k.ftrace_modify_code_direct(rec.ip, old, new)
    k.WARN_ON(True, "invalid use of ftrace_make_nop")
    return -EINVAL


def ftrace_make_call(k, rec, addr):
    """ftrace_make_call(): nop -> call, directly (module load only).

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:162
    """
    old = k.ftrace_nop_replace()
    new = k.ftrace_call_replace(rec.ip, addr)
    return k.ftrace_modify_code_direct(rec.ip, old, new)


def ftrace_modify_call(k, rec, old_addr, addr):
    """ftrace_modify_call(): never called on x86 (it overrides ftrace_replace_code).

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:219
    """
    k.WARN_ON(True, "ftrace_modify_call")
    return -EINVAL


def update_ftrace_func(k, ip, new):
    """update_ftrace_func(): replace the 5 bytes at ip, whatever they are, via breakpoint.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:228
    """
    old = k.emu.read(ip, MCOUNT_INSN_SIZE)
    return k.ftrace_modify_code(ip, old, new)


def ftrace_update_ftrace_func(k, func):
    """ftrace_update_ftrace_func(): point ftrace_call, then ftrace_regs_call, at func.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:249
    """
    ip = k.emu.sym["ftrace_call"]
    ret = k.update_ftrace_func(ip, k.ftrace_call_replace(ip, func))
    if not ret:
        ip = k.emu.sym["ftrace_regs_call"]
        ret = k.update_ftrace_func(ip, k.ftrace_call_replace(ip, func))
    return ret


def ftrace_write(k, ip, val):
    """ftrace_write(): probe_kernel_write of len(val) bytes.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:299
    """
    return 0 if k.emu.probe_write(ip, val) else -EPERM


def add_break(k, ip, old):
    """add_break(): verify the 5 bytes at ip are ``old``, then write int3 over the first.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:309
    """
    replaced = k.emu.probe_read(ip, MCOUNT_INSN_SIZE)
    if replaced is None:
        return -EFAULT
    if replaced != old:
        return -EINVAL
    return k.ftrace_write(ip, BREAKPOINT_INSTRUCTION)


def add_brk_on_call(k, rec, addr):
    """add_brk_on_call(): breakpoint on a site that calls addr.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:324
    """
    return k.add_break(rec.ip, k.ftrace_call_replace(rec.ip, addr))


def add_brk_on_nop(k, rec):
    """add_brk_on_nop(): breakpoint on a site that holds the nop.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:335
    """
    return k.add_break(rec.ip, k.ftrace_nop_replace())


def add_breakpoints(k, rec, enable):
    """add_breakpoints(): pass 1 for one record.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:344
    """
    ftrace_addr = k.ftrace_get_addr_curr(rec)
    ret = k.ftrace_test_record(rec, enable)
    if ret == FTRACE_UPDATE_MAKE_CALL:
        return k.add_brk_on_nop(rec)
    if ret in (FTRACE_UPDATE_MODIFY_CALL, FTRACE_UPDATE_MAKE_NOP):
        return k.add_brk_on_call(rec, ftrace_addr)
    return 0


def remove_breakpoint(k, rec):
    """remove_breakpoint(): on error, put back whichever instruction the tail matches.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:377
    """
    ip = rec.ip
    ins = k.emu.probe_read(ip, MCOUNT_INSN_SIZE)
    if ins is None:
        return -EFAULT
    if ins[:1] != BREAKPOINT_INSTRUCTION:
        return 0
    nop = k.ftrace_nop_replace()
    if ins[1:] != nop[1:]:
        nop = k.ftrace_call_replace(ip, k.ftrace_get_addr_new(rec))
        if ins[1:] != nop[1:]:
            nop = k.ftrace_call_replace(ip, k.ftrace_get_addr_curr(rec))
            if ins[1:] != nop[1:]:
                return -EINVAL
    return k.ftrace_write(ip, nop[:1])


def add_update_code(k, ip, new):
    """add_update_code(): write the 4 bytes after the breakpoint.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:424
    """
    return k.ftrace_write(ip + 1, new[1:])


def add_update_call(k, rec, addr):
    """add_update_call().

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:432
    """
    return k.add_update_code(rec.ip, k.ftrace_call_replace(rec.ip, addr))


def add_update_nop(k, rec):
    """add_update_nop().

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:441
    """
    return k.add_update_code(rec.ip, k.ftrace_nop_replace())


def add_update(k, rec, enable):
    """add_update(): pass 2 for one record.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:450
    """
    ret = k.ftrace_test_record(rec, enable)
    ftrace_addr = k.ftrace_get_addr_new(rec)
    if ret in (FTRACE_UPDATE_MODIFY_CALL, FTRACE_UPDATE_MAKE_CALL):
        return k.add_update_call(rec, ftrace_addr)
    if ret == FTRACE_UPDATE_MAKE_NOP:
        return k.add_update_nop(rec)
    return 0


def finish_update_call(k, rec, addr):
    """finish_update_call(): replace the breakpoint by the call's first byte.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:476
    """
    return k.ftrace_write(rec.ip, k.ftrace_call_replace(rec.ip, addr)[:1])


def finish_update_nop(k, rec):
    """finish_update_nop(): replace the breakpoint by the nop's first byte.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:486
    """
    return k.ftrace_write(rec.ip, k.ftrace_nop_replace()[:1])


def finish_update(k, rec, enable):
    """finish_update(): pass 3 for one record; commits the record's new state.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:496
    """
    ret = k.ftrace_update_record(rec, enable)
    ftrace_addr = k.ftrace_get_addr_new(rec)
    if ret in (FTRACE_UPDATE_MODIFY_CALL, FTRACE_UPDATE_MAKE_CALL):
        return k.finish_update_call(rec, ftrace_addr)
    if ret == FTRACE_UPDATE_MAKE_NOP:
        return k.finish_update_nop(rec)
    return 0


def run_sync(k):
    """run_sync(): sync_core on every CPU: the emulated CPU now runs the text written so far.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:527
    """
    k.emu.flush()


def ftrace_replace_code(k, enable):
    """ftrace_replace_code() (x86): three breakpoint passes over the records.

    for_ftrace_rec_iter() at linux-3.17.0+seed/include/linux/ftrace.h:386 is
    ``for rec in k.ftrace_rec_iter_start()``: each pass, and the clean-up
    after a failure, asks the core for the records afresh, and every record
    it yields goes through the pass's step, IGNORE ones included (each step
    asks ftrace_get_addr_curr() or _new() for the record whatever it is to
    do, as the C does).  ``count`` counts pass 1 only, as the C's does.
    While every function a pass calls for a record is the model's own, the
    passes over INLINE_FROM records or more run as inline_passes()
    (DEVIATIONS.md).

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:539
    """
    if (
        operator.length_hint(k.ftrace_rec_iter_start()) >= INLINE_FROM
        and runs_own(k, INLINED)
        and not k.emu.inject["probe_kernel_read"]
    ):
        k.inline_passes(enable)
        return
    rec = None
    count = 0
    passes = (
        ("adding breakpoints", k.add_breakpoints, 1),
        ("updating code", k.add_update, 0),
        ("removing breakpoints", k.finish_update, 0),
    )
    for report, step, counted in passes:
        for rec in k.ftrace_rec_iter_start():
            ret = step(rec, enable)
            if ret:
                k.replace_code_failed(report, count, ret, rec)
                return
            count += counted
        k.run_sync()


def replace_code_failed(k, report, count, ret, rec):
    """The end of ftrace_replace_code() after a failed step: report, then take every
    breakpoint out.

    Not a C function: the ``remove_breakpoints:`` path of
    ftrace_replace_code() at linux-3.17.0+seed/arch/x86/kernel/ftrace.c:539.
    """
    k.warn("pr_warn", f"Failed on {report} ({count}):")
    k.ftrace_bug(ret, rec.ip if rec else 0)
    for other in k.ftrace_rec_iter_start():
        if k.remove_breakpoint(other):
            k.warn("BUG", "remove_breakpoint failed in ftrace_replace_code")
    k.run_sync()


# walks shorter than this go function by function: the inline passes' set-up
# costs more than they save on a few records
INLINE_FROM = 4
# What ftrace_replace_code()'s passes call for one record, through k.  While
# each is the model's own (no variant, fix or test replaced it), inline_passes()
# does their work with no call per record; else the passes call them one by one.
INLINED = (
    "add_breakpoints",
    "add_brk_on_nop",
    "add_brk_on_call",
    "add_break",
    "add_update",
    "add_update_call",
    "add_update_nop",
    "add_update_code",
    "finish_update",
    "finish_update_call",
    "finish_update_nop",
    "ftrace_write",
    "ftrace_call_replace",
    "ftrace_calc_offset",
    "ftrace_nop_replace",
    "ftrace_test_record",
    "ftrace_update_record",
    "ftrace_check_record",
    "ftrace_get_addr_curr",
    "ftrace_get_addr_new",
    "ftrace_find_tramp_ops_curr",
    "ftrace_find_tramp_ops_new",
    "ftrace_ops_test",
    "ftrace_lookup_ip",
)


def inline_passes(k, enable):
    """ftrace_replace_code()'s three passes, each record's step written out in the loop.

    Each pass does, record by record and in the walk's order, what
    add_breakpoints(), add_update() and finish_update() do (and the
    functions they call): the same reads, flag stores, text writes (handed
    to the emulator a pass at a time; nothing reads them before the pass's
    run_sync()) and warnings.  What a step computes from a record's flags
    alone (ftrace_check_record()'s answer and the flags it leaves) is
    computed once per distinct flags value.  A pass whose records all
    share one flags value, all in vmlinux text and in rising order, and
    need no lookup per record, does its work list by list.  A record the
    inline step does not cover (a site outside vmlinux text, a trampoline
    lookup that would warn, bytes that are not the expected ones) goes to
    the pass's own step, after the writes before it, and that step does
    all of it, errors included.

    Not a C function: the passes of
    ftrace_replace_code() at linux-3.17.0+seed/arch/x86/kernel/ftrace.c:539.
    """
    emu = k.emu
    sym = emu.sym
    caller, regs_caller = sym["ftrace_caller"], sym["ftrace_regs_caller"]
    nop = k.ftrace_nop_replace()
    nop_tail, nop_head = nop[1:], nop[:1]
    call, rel32 = _REL32.pack, _U32.pack
    probe_read, write_text_each = emu.probe_read, emu.write_text_each
    first, last = TEXT_BASE, TEXT_END - MCOUNT_INSN_SIZE  # where a site is vmlinux text
    scratch = dyn_ftrace(0)  # unwatched: asked with each distinct flags value
    tested = {}  # flags -> ftrace_test_record()'s answer

    def test(flags):
        ret = tested.get(flags)
        if ret is None:
            scratch.flags = flags
            ret = tested[flags] = k.ftrace_check_record(scratch, enable, 0)
        return ret

    # ftrace_find_tramp_ops_curr()'s and _new()'s lookups, ops by ops in their
    # order: no step of the update changes an ops, its hashes or the list
    removed = k.removed_ops
    curr = [removed] if removed is not None and removed.tramp_hash else []
    new = []
    control_tramp = k.fixed(fixes.CONTROL_TRAMP)
    op = k.ftrace_ops_list
    while op is not k.ftrace_list_end:
        if op.tramp_hash:
            curr.append(op)
        if op.trampoline or not control_tramp:
            new.append(op)
        op = op.next
    curr = [(op.tramp_hash.ips, op.trampoline) for op in curr]
    new = [
        (
            op.filter_hash.ips if op.filter_hash and op.filter_hash.ips else None,
            op.notrace_hash.ips if op.notrace_hash and op.notrace_hash.ips else None,
            op.trampoline or None,  # None: ftrace_get_addr_new() would warn
        )
        for op in new
    ]
    lookup = object()  # an address that depends on the record's ip

    def addr_new(flags):
        """ftrace_get_addr_new() for these flags (None: it would warn).

        linux-3.17.0+seed/kernel/trace/ftrace.c:1948
        """
        if not flags & FTRACE_FL_TRAMP:
            return regs_caller if flags & FTRACE_FL_REGS else caller
        if new and new[0][0] is None and new[0][1] is None:
            return new[0][2]  # the first ops tested admits every record
        return lookup

    def tramp_new(ip):
        """ftrace_find_tramp_ops_new()'s trampoline for ip (None: it would warn).

        linux-3.17.0+seed/kernel/trace/ftrace.c:1925
        """
        for filter_ips, notrace_ips, tramp in new:
            if (filter_ips is None or ip in filter_ips) and (
                notrace_ips is None or ip not in notrace_ips
            ):
                return tramp
        return None

    # a plan per flags value and pass: pass 1's (test, current address, the bytes
    # expected at the site: None when they depend on its ip), pass 2's (test, new
    # address), pass 3's (update, the flags it leaves, the new address by those,
    # the byte written)
    plans1, plans2, plans3 = {}, {}, {}

    def plan1(flags):
        ret = test(flags)
        if flags & FTRACE_FL_TRAMP_EN:
            addr = lookup
        else:
            addr = regs_caller if flags & FTRACE_FL_REGS_EN else caller
        plan = plans1[flags] = (ret, addr, nop if ret == FTRACE_UPDATE_MAKE_CALL else None)
        return plan

    def plan2(flags):
        plan = plans2[flags] = (test(flags), addr_new(flags))
        return plan

    def plan3(flags):
        scratch.flags = flags
        ret = k.ftrace_check_record(scratch, enable, 1)
        left = scratch.flags
        head = nop_head if ret == FTRACE_UPDATE_MAKE_NOP else CALL_HEAD
        plan = plans3[flags] = (ret, left, addr_new(left), head)
        return plan

    def shared(recs):
        """The flags and ips of records that share one flags value and whose sites
        are vmlinux text in rising order; None for any others."""
        flags = set(map(_flags_of, recs))
        if len(flags) != 1:
            return None
        ips = list(map(_ip_of, recs))
        if ips[0] < first or ips[-1] > last or not all(map(operator.lt, ips, ips[1:])):
            return None
        return flags.pop(), ips

    # each pass's writes (and pass 3's flag stores), handed over before a record
    # goes to its own step and at the pass's end
    addrs, datas, moved, left_flags = [], [], [], []

    def write_out():
        write_text_each(addrs, datas)
        addrs.clear()
        datas.clear()
        if moved:
            k.rec_watch.store_flags(moved, left_flags)
            moved.clear()
            left_flags.clear()

    def start_pass():
        """The records the pass walks, and shared()'s answer for them.

        Not a C function: a pass's for_ftrace_rec_iter() in
        ftrace_replace_code() at linux-3.17.0+seed/arch/x86/kernel/ftrace.c:539.
        """
        recs = list(k.ftrace_rec_iter_start())
        return recs, shared(recs) if recs else None

    def own_step(step, report, rec):
        """The pass's own step for a record the inline one does not cover, after the
        writes before it; on failure ftrace_replace_code()'s report (truthy).

        Not a C function: a pass's call of its step and its failure report in
        ftrace_replace_code() at linux-3.17.0+seed/arch/x86/kernel/ftrace.c:539.
        """
        write_out()
        ret = step(rec, enable)
        if ret:
            k.replace_code_failed(report, count, ret, rec)
        return ret

    def end_pass():
        write_out()
        k.run_sync()

    # pass 1: add_breakpoints()
    count = 0
    recs, together = start_pass()
    if together is not None:
        flags, ips = together
        ret, addr, old = plans1.get(flags) or plan1(flags)
        if addr is lookup and curr and curr[0][0].issuperset(ips):
            addr = curr[0][1]  # the first tramp_hash looked in holds every ip
        if addr is lookup or addr is None:
            together = None
        elif ret:
            olds = (
                [old] * len(ips)
                if old is not None
                else [call(0xE8, (addr - ip - MCOUNT_INSN_SIZE) & 0xFFFFFFFF) for ip in ips]
            )
            if emu.text_holds_each(ips, olds):
                addrs.extend(ips)
                datas.extend([BREAKPOINT_INSTRUCTION] * len(ips))
            else:
                together = None  # a site to fail on: record by record
    if together is not None:
        count = len(recs)
        recs = ()
    for rec in recs:
        flags = rec.flags
        ret, addr, old = plans1.get(flags) or plan1(flags)
        ip = rec.ip
        if addr is lookup:  # ftrace_get_addr_curr()
            addr = None  # it would warn, unless a tramp_hash holds ip
            for ips, tramp in curr:
                if ip in ips:
                    addr = tramp
                    break
        if addr is not None:
            if not ret:
                count += 1
                continue
            if first <= ip <= last:
                if old is None:
                    old = call(0xE8, (addr - ip - MCOUNT_INSN_SIZE) & 0xFFFFFFFF)
                if addrs and ip <= addrs[-1]:
                    write_out()  # a site not after the last written: it reads what is written
                if probe_read(ip, MCOUNT_INSN_SIZE) == old:
                    addrs.append(ip)
                    datas.append(BREAKPOINT_INSTRUCTION)
                    count += 1
                    continue
        if own_step(k.add_breakpoints, "adding breakpoints", rec):
            return
        count += 1
    end_pass()

    # pass 2: add_update()
    recs, together = start_pass()
    if together is not None:
        flags, ips = together
        ret, addr = plans2.get(flags) or plan2(flags)
        if addr is lookup or addr is None:
            together = None
        elif ret == FTRACE_UPDATE_MAKE_NOP:
            addrs.extend(map(operator.add, ips, itertools.repeat(1)))
            datas.extend([nop_tail] * len(ips))
        elif ret:  # the call's 4 bytes after its opcode
            addrs.extend(map(operator.add, ips, itertools.repeat(1)))
            datas.extend([rel32((addr - ip - MCOUNT_INSN_SIZE) & 0xFFFFFFFF) for ip in ips])
    if together is not None:
        recs = ()
    for rec in recs:
        flags = rec.flags
        ret, addr = plans2.get(flags) or plan2(flags)
        if addr is lookup:
            addr = tramp_new(rec.ip)
        if addr is not None:
            if not ret:
                continue
            ip = rec.ip
            if first <= ip <= last:
                addrs.append(ip + 1)
                if ret == FTRACE_UPDATE_MAKE_NOP:
                    datas.append(nop_tail)
                else:  # the call's 4 bytes after its opcode
                    datas.append(rel32((addr - ip - MCOUNT_INSN_SIZE) & 0xFFFFFFFF))
                continue
        if own_step(k.add_update, "updating code", rec):
            return
    end_pass()

    # pass 3: finish_update()
    recs, together = start_pass()
    if together is not None:
        flags, ips = together
        ret, left, addr, head = plans3.get(flags) or plan3(flags)
        if addr is lookup or addr is None:
            together = None
        elif ret:
            if left != flags:
                moved.extend(recs)
                left_flags.extend([left] * len(recs))
            addrs.extend(ips)
            datas.extend([head] * len(ips))
    if together is not None:
        recs = ()
    for rec in recs:
        flags = rec.flags
        ret, left, addr, head = plans3.get(flags) or plan3(flags)
        if addr is lookup:
            addr = tramp_new(rec.ip)
        if addr is not None:
            if not ret:  # IGNORE leaves the flags as they are
                continue
            ip = rec.ip
            if first <= ip <= last:
                if left != flags:
                    moved.append(rec)
                    left_flags.append(left)
                addrs.append(ip)
                datas.append(head)
                continue
        if own_step(k.finish_update, "removing breakpoints", rec):
            return
    end_pass()


def ftrace_modify_code(k, ip, old_code, new_code):
    """ftrace_modify_code(): breakpoint, tail, head, for one 5-byte site.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:600
    """
    ret = k.add_break(ip, old_code)
    if not ret:
        k.run_sync()
        ret = k.add_update_code(ip, new_code)
        if ret:
            if k.ftrace_write(ip, old_code[:1]):
                k.warn("BUG", "ftrace_modify_code could not restore the breakpoint")
        else:
            k.run_sync()
            ret = k.ftrace_write(ip, new_code[:1])
            if ret:
                k.warn("BUG", "ftrace_modify_code could not remove the breakpoint")
    k.run_sync()
    return ret


def arch_ftrace_update_code(k, command):
    """arch_ftrace_update_code(): ftrace_modify_all_code (under modifying_ftrace_code).

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:634
    """
    k.ftrace_modify_all_code(command)


def ftrace_dyn_arch_init(k):
    """ftrace_dyn_arch_init(): returns 0.

    The model also binds the C function the emulated ftrace_graph_caller calls.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:644
    """
    k.emu.c_functions["prepare_ftrace_return"] = k.prepare_ftrace_return
    return 0


def alloc_tramp(k, size):
    """alloc_tramp(): module_alloc(size).

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:669
    """
    return k.module_alloc(size)


def tramp_free(k, tramp):
    """tramp_free(): module_free(NULL, tramp).

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:673
    """
    k.module_free(None, tramp)


def create_trampoline(k, ops):
    """create_trampoline() (the seed): copy the caller, add jmp and ops pointer, aim the op load.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:710
    """
    emu = k.emu
    if ops.flags & FTRACE_OPS_FL_SAVE_REGS:
        start_offset = emu.sym["ftrace_regs_caller"]
        end_offset = emu.sym["ftrace_regs_caller_end"]
        op_offset = emu.sym["ftrace_regs_caller_op_ptr"]
    else:
        start_offset = emu.sym["ftrace_caller"]
        end_offset = emu.sym["ftrace_caller_end"]
        op_offset = emu.sym["ftrace_caller_op_ptr"]

    size = end_offset - start_offset
    trampoline = k.alloc_tramp(size + MCOUNT_INSN_SIZE + 8)
    if not trampoline:
        return 0

    code = emu.probe_read(start_offset, size)  # probe_kernel_read()
    if k.WARN_ON(code is None, "create_trampoline: probe_kernel_read failed"):
        k.tramp_free(trampoline)
        return 0
    emu.write_text(trampoline, code)

    ip = trampoline + size
    emu.write_text(ip, k.ftrace_jmp_replace(ip, emu.sym["ftrace_return"]))

    ptr = trampoline + size + MCOUNT_INSN_SIZE
    emu.write_u64(ptr, ops.ptr)

    op_offset -= start_offset
    if emu.injected("op_ref"):  # fault injection: the copy lacks the op load here
        emu.write_text(trampoline + op_offset, b"\x90")
    op_ptr = emu.read(trampoline + op_offset, OP_REF_SIZE)

    if k.WARN_ON(op_ptr[:3] != OP_REF, "create_trampoline: op load not found"):
        k.tramp_free(trampoline)
        return 0

    offset = (ptr - (trampoline + op_offset + OP_REF_SIZE)) & 0xFFFFFFFF
    emu.write_text(trampoline + op_offset, op_ptr[:3] + struct.pack("<I", offset))

    ops.flags |= FTRACE_OPS_FL_ALLOC_TRAMP
    return trampoline


def arch_ftrace_update_trampoline(k, ops):
    """arch_ftrace_update_trampoline() (the seed): create if needed, then call ops->func.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:784
    """
    if ops.trampoline:
        if not ops.flags & FTRACE_OPS_FL_ALLOC_TRAMP:
            return
    else:
        ops.trampoline = k.create_trampoline(ops)
        if ops.ptr:
            k.emu.sync_ops(ops)  # the stores to ops->trampoline and ops->flags
        if not ops.trampoline:
            return

    sym = k.emu.sym
    if ops.flags & FTRACE_OPS_FL_SAVE_REGS:
        start_offset, call_offset = sym["ftrace_regs_caller"], sym["ftrace_regs_call"]
    else:
        start_offset, call_offset = sym["ftrace_caller"], sym["ftrace_call"]

    ip = ops.trampoline + call_offset - start_offset
    if k.fixed(fixes.TRAMP_RECURSION):
        # arch_ftrace_update_trampoline() at linux-3.19.8/arch/x86/kernel/ftrace.c:819
        # calls what ftrace_ops_get_func() says
        func = k.ftrace_ops_get_func(ops)
    else:
        func = ops.func
    new = k.ftrace_call_replace(ip, func)
    ret = k.update_ftrace_func(ip, new)
    k.WARN_ON(ret, "arch_ftrace_update_trampoline: update_ftrace_func failed")


def ftrace_mod_jmp(k, ip, func):
    """ftrace_mod_jmp(): turn the 5 bytes at ip into ``jmp func``.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:832
    """
    return k.update_ftrace_func(ip, k.ftrace_jmp_replace(ip, func))


def ftrace_enable_ftrace_graph_caller(k):
    """ftrace_enable_ftrace_graph_caller(): ftrace_graph_call jumps to ftrace_graph_caller.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:841
    """
    sym = k.emu.sym
    return k.ftrace_mod_jmp(sym["ftrace_graph_call"], sym["ftrace_graph_caller"])


def ftrace_disable_ftrace_graph_caller(k):
    """ftrace_disable_ftrace_graph_caller(): ftrace_graph_call jumps to ftrace_stub.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:848
    """
    sym = k.emu.sym
    return k.ftrace_mod_jmp(sym["ftrace_graph_call"], sym["ftrace_stub"])


def prepare_ftrace_return(k, parent, self_addr, frame_pointer):
    """prepare_ftrace_return(): hook the return address at *parent.

    Entered from the emulated ftrace_graph_caller.  ftrace_graph_entry is
    ``k.emu.graph_entry_hook`` (None: the stub, which declines) and
    ftrace_push_return_trace() at
    linux-3.17.0+seed/kernel/trace/trace_functions_graph.c:116 pushes on
    ``k.emu.ret_stack`` (-EBUSY when FTRACE_RETFUNC_DEPTH deep).  The
    graph-dead and pause checks are not modelled, nor the ftrace_graph_stop()
    the C calls before its WARN_ON on a fault.

    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:861
    """
    emu = k.emu
    old = emu.probe_read(parent, 8)
    if old is None or not emu.probe_write(
        parent, emu.sym["return_to_handler"].to_bytes(8, "little")
    ):
        k.WARN_ON(True, "prepare_ftrace_return: fault on the parent return slot")
        return
    old = int.from_bytes(old, "little")
    entry = emu.graph_entry_hook
    if not (entry and entry(self_addr)):
        emu.write_u64(parent, old)
        return
    if len(emu.ret_stack) >= FTRACE_RETFUNC_DEPTH:  # ftrace_push_return_trace() == -EBUSY
        emu.write_u64(parent, old)
        return
    emu.ret_stack.append((old, self_addr, frame_pointer))
