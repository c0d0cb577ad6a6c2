"""Steps in kernel words as guest commands: names, globs, expressibility."""

import re
from pathlib import Path

import pytest

from tramproof.live import actions
from tramproof.live.actions import Inexpressible, real_name, real_pattern, translate
from tramproof.live.replay import golden_programs, parse, read_program

MODEL = ["f0", "f1", "f3", "f12", "mod1_a", "mod1_b", "mod2_a", "mod12_b"]
# kernel functions beside the victims that a careless mapping would catch
OTHERS = ["free_pages", "vfs_read", "do_mod_a", "tp_x", "x_tp", "mod1_a", "f3"]


def glob_317(pattern, name):
    """3.17's filter_parse_regex() + ftrace_match(): name, front*, *end, *middle*.

    linux-3.17.0+seed/kernel/trace/trace_events_filter.c has the parser: the
    first '*' not at the start ends the pattern (front match).
    """
    if pattern.startswith("*"):
        rest = pattern[1:]
        if "*" in rest:
            return rest[: rest.index("*")] in name
        return name.endswith(rest)
    if "*" in pattern:
        return name.startswith(pattern[: pattern.index("*")])
    return name == pattern


def model_glob(pattern, name):
    """The model's glob (fnmatch) over its own names."""
    import fnmatch

    return fnmatch.fnmatchcase(name, pattern)


@pytest.mark.parametrize("pattern", ["f3", "f*", "*_a", "mod1_*", "mod*", "f1"])
def test_a_mapped_glob_picks_the_victims_of_the_model_glob_and_nothing_else(pattern):
    want = {real_name(n) for n in MODEL if model_glob(pattern, n)}
    victims = [real_name(n) for n in MODEL]
    got = {n for n in victims + OTHERS if glob_317(real_pattern(pattern), n)}
    assert got == want


def test_a_naive_mapping_is_caught():
    """The check above fails for a mapping that only adds the prefix."""
    naive = "tp_" + "*_a"
    victims = [real_name(n) for n in MODEL]
    got = {n for n in victims + OTHERS if glob_317(naive, n)}
    assert got != {real_name(n) for n in MODEL if model_glob("*_a", n)}


def test_negation_keeps_its_bang():
    assert real_pattern("!f3") == "!tp_f3_tp"
    assert real_pattern("!*_a") == "!*_a_tp"


def test_the_sysctl_program_becomes_tracefs_writes():
    steps = [
        "function tracer on (func_stack_trace=0)",
        "echo 0 > /proc/sys/kernel/ftrace_enabled",
        "register_ftrace_graph() (function profiler on)",
        "ftrace_set_notrace(global_ops, 'f3', reset=0)",
        "insmod mod2",
    ]
    cmds = [c for s in translate(steps, parse) for c in s.commands]
    assert cmds == [
        "echo function > /sys/kernel/debug/tracing/current_tracer",
        "echo 0 > /proc/sys/kernel/ftrace_enabled",
        "echo 1 > /sys/kernel/debug/tracing/function_profile_enabled",
        "echo 'tp_f3_tp' >> /sys/kernel/debug/tracing/set_ftrace_notrace",
        "insmod /lib/modules/tpmod2.ko",
    ]


def test_the_stack_variant_of_the_function_tracer_is_noted():
    on1, on0 = translate(
        ["function tracer on (func_stack_trace=1)", "function tracer off",
         "function tracer on (func_stack_trace=0)"], parse
    )[::2]  # fmt: skip
    assert on1.commands == on0.commands
    assert on1.note and not on0.note


@pytest.mark.parametrize(
    "line",
    [
        "register_ftrace_function(kprobe)",
        "register_ftrace_function(perf)",
        "insmod mod0 (module_alloc fails)",
        "ftrace_set_notrace(stack_trace, 'f1', reset=1)",
        "ftrace_set_filter(kprobe_ifs, 'f1', reset=1)",
        "ftrace_set_filter(global_ops, '*od1*', reset=1)",
        "ftrace_set_filter(perf, 'f1', reset=1)",
    ],
)
def test_what_the_kernel_cannot_do_is_named(line):
    with pytest.raises(Inexpressible, match=r"step 1 \("):
        translate([line], parse)


def test_perfs_steps_are_the_helpers_commands():
    steps = [
        "perf_ftrace_function_register(perf)",
        "perf_ftrace_function_enable(perf)",
        "perf_ftrace_function_disable(perf)",
        "perf_ftrace_function_unregister(perf)",
    ]
    cmds = [c for s in translate(steps, parse) for c in s.commands]
    assert cmds == ["tp_perf open", "tp_perf add", "tp_perf del", "tp_perf close"]


def test_perfs_filter_is_its_ioctl_while_the_event_is_open():
    program = [
        "perf_ftrace_function_register(perf)",
        "ftrace_set_filter(perf, 'f1', reset=1)",
        "ftrace_set_notrace(perf, 'f*', reset=1)",
    ]
    steps = translate(program, parse)
    assert [s.commands for s in steps[1:]] == [
        ["tp_perf filter 'ip == tp_f1_tp'"],
        ["tp_perf filter 'ip != tp_f*'"],
    ]


@pytest.mark.parametrize(
    "steps",
    [
        ["ftrace_set_filter(perf, 'f1', reset=1)"],  # no event yet
        ["perf_ftrace_function_register(perf)", "perf_ftrace_function_unregister(perf)",
         "ftrace_set_filter(perf, 'f1', reset=1)"],  # the event is gone
        ["perf_ftrace_function_register(perf)", "ftrace_set_filter(perf, 'f1', reset=0)"],
        ["perf_ftrace_function_register(perf)", "ftrace_set_filter(perf, '!f1', reset=1)"],
        ["perf_ftrace_function_register(perf)", "ftrace_set_notrace(perf, NULL, reset=1)"],
    ],
)  # fmt: skip
def test_perfs_filter_without_an_ioctl_form_is_named(steps):
    with pytest.raises(Inexpressible, match="perf"):
        translate(steps, parse)


def test_every_golden_program_is_either_translated_or_named_inexpressible():
    programs = golden_programs()
    assert programs
    for path in programs:
        steps = read_program(Path(path).read_text())
        try:
            ks = translate(steps, parse)
        except Inexpressible as e:
            assert any(reason in str(e) for reason in actions.INEXPRESSIBLE.values())
        else:
            assert all(re.fullmatch(r"[^\n]+", c) for s in ks for c in s.commands)


def test_a_tc_file_has_the_steps_and_fails_on_the_claimed_warning():
    from tramproof.live.ftracetest import to_tc

    program = """\
  1. function tracer on (func_stack_trace=0)
  2. echo 0 > /proc/sys/kernel/ftrace_enabled
failure: the kernel warned: FTRACE_WARN_ON: Bad trampoline accounting at: 0x1 (f0)
"""
    tc = to_tc(program, "x").splitlines()
    assert tc[0] == "#!/bin/sh" and tc[1].startswith("# description: tramproof x:")
    steps = [x for x in tc if not x.startswith(("#", "!", "dmesg"))]
    assert steps == [
        "echo function > /sys/kernel/debug/tracing/current_tracer",
        "echo 0 > /proc/sys/kernel/ftrace_enabled",
    ]
    assert "! dmesg | grep -q -F 'Bad trampoline accounting'" in tc
    assert tc[-1] == "! dmesg | grep -q 'WARNING:'"
