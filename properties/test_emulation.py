"""The emulated machine: templates, running, faults, module_alloc, patching and injection."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from unicorn import UcError

from model.arch.x86.emu import (
    CALL_BOUND,
    CALLBACK_BASE,
    CALLBACK_END,
    CFUNC_BASE,
    CFUNCS,
    FUNCTIONS_BASE,
    MODULES_END,
    MODULES_VADDR,
    PAGE_SIZE,
    PARENT_BASE,
    STACK_LIMIT,
    TEXT_BASE,
    TEXT_SIZE,
    Emu,
    EmulationFault,
    _differing_span,
)
from model.arch.x86.kernel import ftrace as x86_ftrace
from model.arch.x86.kernel import mcount_64
from model.arch.x86.kernel.ftrace import EINVAL, EPERM, IDEAL_NOP5
from model.include.linux.ftrace import (
    FTRACE_OPS_FL_ALLOC_TRAMP,
    FTRACE_OPS_FL_SAVE_REGS,
    FTRACE_UPDATE_IGNORE,
)
from properties.x86_checks import call_aims, call_target, check_returned_intact
from properties.x86_kernel import StandInKernel, StandInRecord
from properties.x86_rig import Rig, call_params, rig

BUILDS = pytest.mark.parametrize("fentry", [True, False], ids=["fentry", "mcount"])
FAST = settings(deadline=None)  # examples per property: the hypothesis profile

# kernel-notes section 3, measured with GNU as on the seed's file: (mcount, fentry)
NOTES_OFFSETS = {
    ("ftrace_caller", "ftrace_caller_op_ptr"): (0x3A, 0x3A),
    ("ftrace_caller", "ftrace_call"): (0x58, 0x5C),
    ("ftrace_caller", "ftrace_caller_end"): (0x87, 0x8B),
    ("ftrace_regs_caller", "ftrace_regs_caller_op_ptr"): (0x3B, 0x3B),
    ("ftrace_regs_caller", "ftrace_regs_call"): (0xBB, 0xBF),
    ("ftrace_regs_caller", "ftrace_regs_caller_end"): (0x12D, 0x131),
}


# ---- templates ----------------------------------------------------------------------


@BUILDS
def test_template_offsets_match_the_notes(fentry):
    sym = rig(fentry).emu.sym
    for (start, label), offsets in NOTES_OFFSETS.items():
        assert sym[label] - sym[start] == offsets[fentry], label


@BUILDS
def test_patch_points_are_five_byte_e8_e9(fentry):
    emu = rig(fentry).emu
    for label, opcode, target in [
        ("ftrace_call", 0xE8, "ftrace_stub"),
        ("ftrace_regs_call", 0xE8, "ftrace_stub"),
        ("ftrace_graph_call", 0xE9, "ftrace_stub"),
        ("ftrace_regs_caller_end", 0xE9, "ftrace_return"),
    ]:
        code = emu.read(emu.sym[label], 5)
        insn = next(emu.md.disasm(code, emu.sym[label]))
        assert (insn.size, code[0]) == (5, opcode), label
        assert mcount_64.branch_target(insn) == emu.sym[target], label


@BUILDS
def test_op_loads_read_function_trace_op(fentry):
    emu = rig(fentry).emu
    for label in ("ftrace_caller_op_ptr", "ftrace_regs_caller_op_ptr"):
        insn = next(emu.md.disasm(emu.read(emu.sym[label], 7), emu.sym[label]))
        assert insn.bytes[:3] == bytearray(b"\x48\x8b\x15")
        assert mcount_64.branch_target(insn) == emu.sym["function_trace_op"]


def test_assembly_is_cached_and_checked():
    emu = rig(True).emu
    externs = tuple(sorted((n, emu.sym[n]) for n in ("function_trace_op", *CFUNCS)))
    assert mcount_64.assemble(True, externs) is emu.image
    for fx in emu.image.fixups:  # every loader-made field decodes to its target
        insn = next(emu.md.disasm(emu.read(fx.site, fx.length), fx.site))
        assert mcount_64.branch_target(insn) == emu.sym[fx.target]


# ---- running ------------------------------------------------------------------------


@BUILDS
@FAST
@given(c=call_params)
def test_untraced_function_runs_and_preserves(fentry, c):
    r = rig(fentry)
    result = r.call(c)
    assert result.calls == [] and result.graph_calls == []
    check_returned_intact(result, c["args"])


@BUILDS
def test_fresh_site_calls_mcount(fentry):
    emu = Emu(fentry=fentry)
    ip = emu.kernel_function("fresh")
    insn = next(emu.md.disasm(emu.read(ip, 5), ip))
    assert mcount_64.branch_target(insn) == emu.sym["mcount"]
    assert emu.function_name(ip) == "fresh"
    check_returned_intact(emu.call(ip), (1, 2, 3, 4, 5, 6))


@pytest.mark.parametrize(
    "code, what",
    [
        (None, "UC_ERR_FETCH_UNMAPPED"),  # call to an unmapped address
        (b"\x0f\x0b\x90\x90\x90", "UC_ERR_INSN_INVALID"),  # ud2
        (b"\xeb\xfe\x90\x90\x90", "did not return"),  # jmp . : the bound ends it
    ],
)
def test_faults_are_reported_with_a_listing(code, what):
    r = rig(True)
    if code is None:
        code = r.k.ftrace_call_replace(r.site, MODULES_VADDR + 0x100000)
    r.emu.write_text(r.site, code)
    try:
        with pytest.raises(EmulationFault, match=what) as fault:
            r.emu.call(r.site)
    finally:
        r.point_site(None)
    assert f"{r.site:#x}" in str(fault.value) or "[rsp]" in str(fault.value)
    assert "\n" in str(fault.value)


def test_a_trampoline_that_loops_through_its_callback_is_a_fault():
    """The instruction bound ends a run that keeps entering a hooked callback."""
    r = Rig(True)
    emu = r.emu
    ops = r.new_ops(True, dynamic=False, func=r.callbacks[0])
    r.k.arch_ftrace_update_trampoline(ops)
    r.point_site(ops.trampoline)
    assert len(emu.call(r.site).calls) == 1
    # after the callback returns, jump back to the trampoline's start: it saves the
    # registers and calls the callback again, for ever
    call_at = ops.trampoline + emu.sym["ftrace_regs_call"] - emu.sym["ftrace_regs_caller"]
    emu.write_text(call_at + 5, b"\xe9" + struct.pack("<i", ops.trampoline - (call_at + 10)))
    entries = []
    emu.set_on_call(r.callbacks[0], lambda emu, inv: entries.append(inv))
    with pytest.raises(EmulationFault, match=f"within {CALL_BOUND} instructions"):
        emu.call(r.site)
    assert len(entries) > 100  # the hook saw every round until the bound


def test_a_return_elsewhere_in_the_parent_area_is_a_fault():
    """A run ends at any hlt of the parent area; only parent_ip's is a return."""
    emu = Emu(fentry=True)
    ip = emu.kernel_function("returns_past_its_parent")
    emu.write_text(ip, b"\x48\x83\x04\x24\x01")  # addq $0x1, (%rsp): the return address
    with pytest.raises(EmulationFault, match=f"returned to {PARENT_BASE + 6:#x}"):
        emu.call(ip, PARENT_BASE + 5)


def test_the_direct_map_is_not_executable():
    """As the kernel's (PAGE_KERNEL is NX): the emulator writes the stack behind
    unicorn's back, which would leave a translation of code run there stale."""
    emu = Emu(fentry=True)
    ip = emu.kernel_function("calls_into_the_direct_map")
    target = STACK_LIMIT - 0x10
    emu.write_data(target, b"\xc3")  # a ret: were it run, the call would return intact
    # movabs $target, %rax; call *%rax; retq
    emu.write_text(ip, b"\x48\xb8" + struct.pack("<Q", target) + b"\xff\xd0\xc3")
    with pytest.raises(EmulationFault, match="UC_ERR_FETCH_PROT"):
        emu.call(ip)


def entered_without_a_branch(emu):
    """Addresses in or just before the hooked areas (C functions, callbacks) holding a
    byte other than int3 or ret: code there could run on into a hooked entry
    without starting a block, unseen by the emulator's block hooks."""
    areas = ((CFUNC_BASE, CFUNC_BASE + 0x10 * len(CFUNCS)), (CALLBACK_BASE, CALLBACK_END))
    return [
        lo - 1 + i
        for lo, hi in areas
        for i, byte in enumerate(emu.read(lo - 1, hi - lo + 1))
        if byte not in (0xCC, 0xC3)
    ]


@BUILDS
def test_hooked_entries_are_entered_only_by_a_branch(fentry):
    assert entered_without_a_branch(Emu(fentry=fentry)) == []
    # broken: a nop before a callback; a call to it runs on into the callback unrecorded
    r = Rig(fentry)
    target = r.callbacks[1] - 1
    r.emu.write_text(target, b"\x90")
    assert entered_without_a_branch(r.emu) == [target]
    r.emu.write_text(r.site, r.k.ftrace_call_replace(r.site, target))
    assert r.emu.call(r.site).calls == []


def test_list_func_hook_records_calls():
    r = rig(True)
    emu, k = r.emu, r.k
    seen = []

    def hook(ip, parent_ip, regs):
        seen.append((ip, parent_ip, regs))
        emu.record_call(r.callbacks[1], ip, parent_ip, 0x1234, regs)

    emu.list_func_hook = hook
    k.ftrace_update_ftrace_func(emu.sym["ftrace_ops_list_func"])
    r.point_site(emu.sym["ftrace_regs_caller"])
    try:
        result = emu.call(r.site)
    finally:
        r.point_site(None)
        k.ftrace_update_ftrace_func(emu.sym["ftrace_stub"])
        emu.list_func_hook = None
    assert len(seen) == 1 and seen[0][:2] == (r.site, PARENT_BASE + 5)
    (inv,) = result.calls
    assert inv.via_list and inv.func == r.callbacks[1] and inv.op == 0x1234
    assert inv.pt_regs["ip"] == r.site + 5


def test_ops_layout_in_memory():
    r = rig(True)
    emu = r.emu
    ops = r.new_ops(True, dynamic=False, func=r.callbacks[2])
    assert emu.core_kernel_data(ops.ptr)
    dyn = r.new_ops(False, dynamic=True, func=r.callbacks[3])
    assert not emu.core_kernel_data(dyn.ptr) and dyn.ptr >> 40 == 0xFFFF88
    ops.trampoline, ops.trampolines, ops.next = 0xFFFFFFFFA0001000, 3, dyn
    emu.sync_ops(ops)
    func, nxt, flags = struct.unpack("<QQQ", emu.read(ops.ptr, 24))
    assert (func, nxt, flags) == (r.callbacks[2], dyn.ptr, FTRACE_OPS_FL_SAVE_REGS)
    assert emu.read_u64(ops.ptr + 0x60) == ops.trampoline
    assert struct.unpack("<i", emu.read(ops.ptr + 0x20, 4))[0] == 3


# ---- module_alloc -----------------------------------------------------------------

SIZES = st.integers(1, 5 * PAGE_SIZE)


@FAST
@given(st.lists(st.tuples(st.booleans(), SIZES, st.integers(0, 7)), max_size=20))
def test_module_alloc_first_fit_with_guard_pages(steps):
    k = StandInKernel()
    live = {}  # addr -> pages
    for alloc, size, pick in steps:
        if alloc or not live:
            addr = k.module_alloc(size)
            pages = -(-size // PAGE_SIZE)
            # the lowest page-aligned start whose pages and guard page are free
            taken = {a + i * PAGE_SIZE for a, n in live.items() for i in range(n + 1)}
            want = MODULES_VADDR
            while any(want + i * PAGE_SIZE in taken for i in range(pages + 1)):
                want += PAGE_SIZE
            assert addr == want, (hex(addr), hex(want), live)
            assert k.emu.read(addr + size - 1, 1) == b"\x00"
            with pytest.raises(UcError):
                k.emu.read(addr + pages * PAGE_SIZE, 1)  # the guard page is not mapped
            live[addr] = pages
        else:
            addr = sorted(live)[pick % len(live)]
            k.module_free(None, addr)
            del live[addr]
    assert set(k.emu.modules) == set(live) and not k.warnings


def test_freed_module_range_is_reused():
    k = StandInKernel()
    a = k.module_alloc(3 * PAGE_SIZE)
    b = k.module_alloc(PAGE_SIZE)
    k.module_free(None, a)
    assert k.module_alloc(2 * PAGE_SIZE) == a
    assert b > a and k.module_alloc(MODULES_END - MODULES_VADDR + 1) == 0
    k.module_free(None, 0)  # vfree(NULL) is fine
    k.module_free(None, b + PAGE_SIZE)
    assert k.warnings and "nonexistent" in k.warnings[-1][1]


# ---- create_trampoline's failure paths (fault injection) --------------------------


@pytest.mark.parametrize(
    "inject, warns", [("module_alloc", False), ("probe_kernel_read", True), ("op_ref", True)]
)
@BUILDS
def test_create_trampoline_failure_paths(fentry, inject, warns):
    r = rig(fentry)
    k = r.k
    before = dict(k.emu.modules)
    nwarn = len(k.warnings)
    ops = r.new_ops(True, dynamic=False, func=r.callbacks[0])
    k.emu.inject[inject] = 1
    k.arch_ftrace_update_trampoline(ops)
    assert ops.trampoline == 0 and not ops.flags & FTRACE_OPS_FL_ALLOC_TRAMP
    assert k.emu.modules == before, "the trampoline memory was not freed"
    assert (len(k.warnings) > nwarn) == warns
    assert k.emu.read_u64(ops.ptr + 0x60) == 0
    assert k.emu.inject[inject] == 0


def test_own_trampoline_is_never_modified():
    r = rig(True)
    ops = r.new_ops(False, dynamic=False, func=r.callbacks[0])
    ops.trampoline = r.emu.sym["ftrace_graph_caller"]
    before = r.emu.read(ops.trampoline, 0x40)
    r.k.arch_ftrace_update_trampoline(ops)
    assert r.emu.read(ops.trampoline, 0x40) == before


# ---- the breakpoint passes ----------------------------------------------------------


@BUILDS
def test_replace_code_verifies_old_bytes(fentry):
    k = StandInKernel(fentry=fentry)
    recs = [k.traced_function(f"t{i}") for i in range(4)]
    caller = k.emu.sym["ftrace_caller"]
    k.records = recs
    for rec in recs:
        rec.new = caller
    k.ftrace_replace_code(1)
    for rec in recs:
        assert k.emu.read(rec.ip, 5) == k.ftrace_call_replace(rec.ip, caller)
    k.emu.write_text(recs[2].ip, IDEAL_NOP5)  # someone else changed this site
    for rec in recs:
        rec.new = 0
    k.ftrace_replace_code(0)
    assert k.bugs == [(-EINVAL, recs[2].ip)]
    assert all(k.emu.read(rec.ip, 1) != b"\xcc" for rec in recs), "breakpoints left behind"
    assert any(kind == "pr_warn" and "adding breakpoints" in m for kind, m in k.warnings)


def _fail_on_third(k, rec, enable):
    """add_update() that fails with -EPERM on the third record it is given."""
    k.seen = getattr(k, "seen", 0) + 1
    return -EPERM if k.seen == 3 else x86_ftrace.add_update(k, rec, enable)


def test_replace_code_counts_pass_one_only():
    """The C counts records in pass 1 only (count++ once, arch ftrace.c 553)."""
    k = StandInKernel(overrides={"add_update": _fail_on_third})
    k.records = [k.traced_function(f"t{i}") for i in range(4)]
    for rec in k.records:
        rec.new = k.emu.sym["ftrace_caller"]
    k.ftrace_replace_code(1)
    assert ("pr_warn", "Failed on updating code (4):") in k.warnings
    assert k.bugs == [(-EPERM, k.records[2].ip)]


def _addresses_asked(overrides=None):
    """{pass: records whose call address the pass asked for}, over IGNORE ones too."""
    k = StandInKernel(overrides=overrides)
    k.records = recs = [k.traced_function(f"t{i}") for i in range(3)]
    recs[1].new = k.emu.sym["ftrace_caller"]  # t0 and t2 stay settled: IGNORE in every pass
    asked = []
    k.ftrace_get_addr_curr = lambda rec: asked.append(("curr", rec.name)) or rec.cur
    k.ftrace_get_addr_new = lambda rec: asked.append(("new", rec.name)) or rec.new
    k.ftrace_replace_code(1)
    return asked


def _skip_settled(k, rec, enable):
    """add_breakpoints() that returns on IGNORE before it asks for the current address."""
    if k.ftrace_test_record(rec, enable) == FTRACE_UPDATE_IGNORE:
        return 0
    return x86_ftrace.add_breakpoints(k, rec, enable)


def test_replace_code_asks_every_record_its_addresses():
    """Pass 1 asks ftrace_get_addr_curr, passes 2 and 3 ftrace_get_addr_new, of every record
    (arch ftrace.c 349, 457, 503), IGNORE ones included: their warnings fire as the C's do."""
    names = ["t0", "t1", "t2"]
    expected = [("curr", n) for n in names] + [("new", n) for n in names] * 2
    assert _addresses_asked() == expected
    assert _addresses_asked({"add_breakpoints": _skip_settled}) != expected


def test_make_nop_only_converts_mcount():
    k = StandInKernel()
    rec = StandInRecord(k.emu.kernel_function("x"))
    assert k.ftrace_make_nop(None, rec, k.emu.sym["ftrace_caller"]) == -EINVAL
    assert k.warnings[-1][0] == "WARN_ON"
    assert k.ftrace_make_nop(None, rec, k.emu.sym["mcount"]) == 0
    assert k.emu.read(rec.ip, 5) == IDEAL_NOP5
    assert k.ftrace_make_call(rec, k.emu.sym["ftrace_caller"]) == 0
    assert k.ftrace_make_nop(None, rec, k.emu.sym["mcount"]) == -EINVAL  # not the mcount call


def test_call_replace_truncates_like_the_c_cast():
    k = rig(True).k
    far = 0xFFFF880000000000
    code = k.ftrace_call_replace(0xFFFFFFFF81000000, far)
    assert code[0] == 0xE8 and len(code) == 5
    rel = struct.unpack("<i", code[1:])[0]
    assert rel == ((far - 0xFFFFFFFF81000005 + 2**31) % 2**32) - 2**31


@FAST
@given(st.binary(min_size=1, max_size=300), st.data())
def test_differing_span_is_the_first_and_last_changed_byte(old, data):
    """retranslate() drops from the first byte that changed to the last one."""
    new = bytearray(old)
    for i in data.draw(st.sets(st.integers(0, len(old) - 1), min_size=1)):
        new[i] ^= data.draw(st.integers(1, 255))
    changed = [i for i in range(len(old)) if old[i] != new[i]]
    assert _differing_span(old, bytes(new)) == (changed[0], changed[-1])


@FAST
@given(st.lists(st.sampled_from(["kernel", "module", "edge"]), max_size=12), st.data())
def test_read_each_reads_as_a_read_of_each(places, data):
    """read_each() (the checks' bulk read of call sites) gives what read() gives at
    each address: kernel text in one pass, module text or text's last bytes each."""
    k = StandInKernel()
    emu = k.emu
    module = k.module_alloc(PAGE_SIZE)
    emu.write_text(module, bytes(range(1, 65)))
    sites = [emu.place_function(emu._next_function, f"f{i}") for i in range(4)]
    span = {
        "kernel": st.sampled_from(sites),
        "module": st.integers(module, module + 59),
        "edge": st.just(TEXT_BASE + TEXT_SIZE - 5),
    }
    addrs = [data.draw(span[place]) for place in places]
    assert emu.read_each(addrs, 5) == [emu.read(addr, 5) for addr in addrs]


@FAST
@given(
    st.integers(60, 140), st.integers(1, 5), st.sampled_from([5, 8, 0x20]), st.booleans(), st.data()
)
def test_a_pass_s_writes_are_the_writes_of_each_site(n, size, stride, uneven, data):
    """write_text_each() and text_holds_each() (a pass of the update; evenly spaced
    sites by byte columns) write and compare what write_text() site by site does."""
    addrs = [FUNCTIONS_BASE + i * stride for i in range(n)]
    if uneven:
        addrs[-1] += 1
    datas = data.draw(st.lists(st.binary(min_size=size, max_size=size), min_size=n, max_size=n))
    bulk, each = Emu(fentry=True), Emu(fentry=True)
    bulk.write_text_each(addrs, datas)
    for addr, code in zip(addrs, datas, strict=True):
        each.write_text(addr, code)
    assert bulk._kernel_text == each._kernel_text and bulk.written == each.written
    assert bulk.text_holds_each(addrs, datas)
    site, byte = data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, size - 1))
    other = bytearray(datas[site])
    other[byte] ^= 0xFF
    assert not bulk.text_holds_each(addrs, [*datas[:site], bytes(other), *datas[site + 1 :]])


@FAST
@given(
    st.lists(
        st.tuples(
            st.integers(0, 2**64 - 1),
            st.binary(min_size=4, max_size=4),
            st.sampled_from([0xE8, 0xE9, 0x0F, 0xCC]),
        )
    )
)
def test_call_aims_decode_as_call_target(sites):
    """call_aims() (every visited site at once) agrees with call_target() site by site."""
    ips = [ip for ip, _, _ in sites]
    codes = [bytes([op]) + rest for _, rest, op in sites]
    pairs = zip(ips, codes, strict=True)
    want = [call_target(ip, code) if code[0] == 0xE8 else code for ip, code in pairs]
    assert call_aims(ips, codes) == want


def test_text_written_back_before_a_run_keeps_its_translation():
    """Bytes changed and changed back between two runs are no change to what runs:
    nothing is dropped.  Bytes that differ from those the last run saw are."""
    emu = Emu(fentry=True)
    site = emu.place_function(emu._next_function, "f")
    nop = emu.read(site, 5)
    emu.call(site)
    dropped = []
    drop = emu.drop_translations
    emu.drop_translations = lambda begin, end: (dropped.append((begin, end)), drop(begin, end))
    emu.write_text(site, b"\xcc")
    emu.flush()
    emu.write_text(site, nop[:1])
    emu.flush()
    emu.call(site)
    assert dropped == []
    emu.write_text(site + 1, b"\xcc")
    emu.flush()
    emu.write_text(site + 3, b"\xcc")
    emu.flush()
    with pytest.raises(EmulationFault):
        emu.call(site)
    assert dropped == [(site + 1, site + 4)]
