"""The users' kernel paths, step by step, against what their C does."""

from model.include.linux.ftrace import (
    FTRACE_OPS_FL_CONTROL,
    FTRACE_OPS_FL_DYNAMIC,
    FTRACE_OPS_FL_ENABLED,
)
from properties.machine import FtraceMachine
from tramproof.replay import take


def machine(*steps, kernel="fixed"):
    m = FtraceMachine(kernel=kernel)
    for line in steps:
        take(m, line)
    m.check()
    return m


def test_perf_goes_through_control_ops_which_has_no_trampoline():
    m = machine("perf_ftrace_function_register(perf)")
    k, perf = m.k, m.sys.ops["perf"]
    assert perf.flags & (FTRACE_OPS_FL_CONTROL | FTRACE_OPS_FL_DYNAMIC | FTRACE_OPS_FL_ENABLED)
    assert [op.name for op in k.do_for_each_ftrace_op()] == ["control_ops"]
    assert [op.name for op in k.control_list_ops()] == ["perf"]
    # control_ops is static and never registered itself: no DYNAMIC, no trampoline
    assert not k.control_ops.flags & FTRACE_OPS_FL_DYNAMIC and k.control_ops.trampoline == 0
    # alone on the list, it is called directly from ftrace_call
    assert k.ftrace_trace_function == k.emu.sym["ftrace_ops_control_func"]
    assert perf.disabled == 1 and m.sys.called("f0") == []
    take(m, "perf_ftrace_function_enable(perf)")
    assert perf.disabled == 0 and m.sys.called("f0") == ["perf"]
    take(m, "perf_ftrace_function_disable(perf)")
    assert perf.disabled == 1 and m.sys.called("f0") == []
    take(m, "perf_ftrace_function_unregister(perf)")
    assert k.ftrace_ops_list is k.ftrace_list_end and perf.disabled is None


def test_kprobes_filter_by_address_and_register_once():
    m = machine("arm_kprobe_ftrace(f1)", "arm_kprobe_ftrace(f2)")
    k, ops = m.k, m.k.kprobe_ftrace_ops
    assert ops.filter_hash.ips == {m.sys.ip("f1"), m.sys.ip("f2")}
    assert k.kprobe_ftrace_enabled == 2 and ops.flags & FTRACE_OPS_FL_ENABLED
    assert m.sys.called("f0") == [] and m.sys.called("f1") == ["kprobe"]
    take(m, "disarm_kprobe_ftrace(f1)")
    take(m, "disarm_kprobe_ftrace(f2)")
    m.check()
    assert not ops.flags & FTRACE_OPS_FL_ENABLED and not ops.filter_hash.ips


def test_a_probe_registered_twice_fires_twice_and_goes_at_once():
    m = machine("echo 'f1:traceon' >> set_ftrace_filter", "echo 'f*:traceon' >> set_ftrace_filter")
    assert m.sys.called("f1") == ["probe", "probe"] and m.sys.called("f2") == ["probe"]
    take(m, "echo '!f1:traceon' >> set_ftrace_filter")
    m.check()
    assert m.sys.called("f1") == [] and m.sys.called("f2") == ["probe"]


def test_a_truncating_write_that_matches_nothing_still_empties_the_filter():
    m = machine(
        "function tracer on (func_stack_trace=0)",
        "echo 'f1' > set_ftrace_filter",
        "echo 'f9' > set_ftrace_filter",
    )
    assert not m.k.global_ops.filter_hash.ips
    assert m.sys.called("f2") == ["global_ops"]


def test_a_probe_left_beside_a_removed_one_keeps_a_stale_site_without_probe_update():
    steps = [
        "echo 'f1:traceon' >> set_ftrace_filter",
        "echo 'f2:traceon' >> set_ftrace_filter",
        "echo '!f1:traceon' >> set_ftrace_filter",
    ]
    machine(*steps)
    m = FtraceMachine(kernel="fixed-probe-update")
    for line in steps:
        take(m, line)
    assert m.k.trace_probe_ops.trampoline
    f1 = m.rec(m.exp.names["f1"])
    assert f1.flags and not f1.flags & 0x7FFFFFF  # ENABLED with a count of 0
