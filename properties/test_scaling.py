"""Per-step work follows what the step touches, not the number of records.

Counts, not timings: for the same narrow program, the records the model's
code update walks and the functions the invariants visit must not grow with
the kernel.  (Speed itself is measured by the benchmarks.)
"""

from model.vmlinux import model_functions
from properties.machine import FtraceMachine
from properties.replay import take

NARROW = [
    "ftrace_set_filter(kprobe, 'f3', reset=0)",
    "register_ftrace_function(kprobe)",
    "ftrace_set_filter(stack_trace, 'f5', reset=0)",
    "register_ftrace_function(stack_trace)",
    "ftrace_set_filter(kprobe, 'f5', reset=0)",
    "unregister_ftrace_function(stack_trace)",
    "insmod mod0",
    "rmmod mod0",
    "unregister_ftrace_function(kprobe)",
]
ORIGINAL = model_functions()["records_to_update"]


def every_record(k, enable):
    """The C's walk: every record, every time."""
    return list(k.do_for_each_ftrace_rec())


def work(functions, walk=ORIGINAL):
    """Per step: (records the code update walked, functions the invariants visited)."""
    walked = []

    def spy(k, enable):
        recs = walk(k, enable)
        walked.append(len(recs))
        return recs

    m = FtraceMachine(kernel="fixed", functions=functions, overrides={"records_to_update": spy})
    m.check()
    per_step = []
    for line in NARROW:
        walked.clear()
        take(m, line)
        m.check()
        per_step.append((sum(walked), len(m.checking)))
    return per_step


def test_narrow_steps_cost_the_same_in_a_small_and_a_large_kernel():
    assert work(64) == work(4096)


def test_the_count_would_see_a_walk_over_every_record():
    assert work(64, every_record) != work(4096, every_record)
