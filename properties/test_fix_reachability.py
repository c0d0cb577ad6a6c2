"""nop-curr-addr (39b5552cd509) cannot be reached on x86-64: pin the reasoning down.

The bug lives in the generic __ftrace_replace_code().  The catalogue says
x86 reaches that function only from ftrace_update_code(), for a new module
record with enable=1 and a non-zero count, so never for MAKE_NOP.  These
tests check both halves: on x86 no call of it ever makes a nop, and a
kernel that used the generic update path would hit the bug.
"""

from model import fixes
from model.include.linux.ftrace import FTRACE_UPDATE_MAKE_NOP, ftrace_rec_count
from model.vmlinux import model_functions
from properties.scenarios import SCENARIOS, Run

ORIGINAL = model_functions()["__ftrace_replace_code"]


def generic_ftrace_replace_code(k, enable):
    """The weak generic ftrace_replace_code() of kernel/trace/ftrace.c."""
    if k.ftrace_disabled:
        return
    for rec in k.do_for_each_ftrace_rec():
        failed = k.__ftrace_replace_code(rec, enable)
        if failed:
            k.ftrace_bug(failed, rec.ip)
            return


def generic_ftrace_make_nop(k, mod, rec, addr):
    """ftrace_make_nop() of an arch that patches directly: verify the call, write the nop.

    x86's own refuses every address but MCOUNT_ADDR (it updates through
    breakpoints), which is a second reason the bug cannot show there.
    """
    return k.ftrace_modify_code_direct(
        rec.ip, k.ftrace_call_replace(rec.ip, addr), k.ftrace_nop_replace()
    )


GENERIC_ARCH = {
    "ftrace_replace_code": generic_ftrace_replace_code,
    "ftrace_make_nop": generic_ftrace_make_nop,
}


def unregister_a_trampolined_ops(r):
    st = r.sys.user("stack_trace")
    r.k.ftrace_set_filter(st, "f1", 1)
    r.k.register_ftrace_function(st)
    r.k.unregister_ftrace_function(st)


def test_the_generic_path_hits_the_bug_without_the_fix():
    broken = Run(f"fixed-{fixes.NOP_CURR_ADDR}", overrides=GENERIC_ARCH)
    unregister_a_trampolined_ops(broken)
    assert [w.kind for w in broken.k.warnings][:1] == ["ftrace_bug"]
    assert "ftrace failed to modify f1" in broken.k.warnings[0].message
    healthy = Run("fixed", overrides=GENERIC_ARCH)
    unregister_a_trampolined_ops(healthy)
    assert healthy.k.warnings == []


def test_x86_uses_its_own_ftrace_replace_code():
    k = Run("fixed").k
    assert k.ftrace_replace_code.__func__.__module__ == "model.arch.x86.kernel.ftrace"


def test_on_x86_the_generic_one_record_update_never_makes_a_nop():
    seen = []

    def spy(k, rec, enable):
        seen.append((enable, ftrace_rec_count(rec), k.ftrace_test_record(rec, enable)))
        return ORIGINAL(k, rec, enable)

    for name in sorted(SCENARIOS):
        for kernel in ("as-posted", f"fixed-{fixes.NOP_CURR_ADDR}"):
            r = Run(kernel, overrides={"__ftrace_replace_code": spy})
            SCENARIOS[name][1](r)
    assert seen, "no scenario reached __ftrace_replace_code: the pin proves nothing"
    assert all(enable == 1 and count > 0 for enable, count, _ in seen)
    assert FTRACE_UPDATE_MAKE_NOP not in {result for _, _, result in seen}
