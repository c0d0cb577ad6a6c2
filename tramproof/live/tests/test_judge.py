"""The verdict on a program, from what a kernel showed (made up here), and the
self-test reading of a boot log."""

import pytest

from tramproof.live.replay import (
    LiveResult,
    Observation,
    StepResult,
    claimed_failure,
    judge,
    model_line,
)
from tramproof.live.selftest import kernel_verdict, printed_messages

WARN = "the kernel warned: FTRACE_WARN_ON: Bad trampoline accounting at: 0xffffffff81010000 (f0)"
BAD_TRAMP = "Bad trampoline accounting at: ffffffff8100a000 (tp_f0_tp+0x0/0x10)"


def result(claim, notable=(), enabled=None, statuses=(0,), outputs=("",), died="", sysctl=True):
    obs = Observation(list(statuses), list(outputs), list(notable), enabled or {}, False, sysctl)
    step = StepResult(1, "x", ["x"], "", obs, {}, None, 0.0)
    return LiveResult(steps=[step], claimed=claim, died=died)


def sized(claim, predicted, notable=()):
    """A result whose claim was measured on another size than the model's run at the guest's."""
    res = result(claim, notable)
    res.predicted = predicted
    return res


@pytest.mark.parametrize(
    "res, verdict",
    [
        (result(WARN, notable=["WARNING: CPU: 0 PID: 1 at kernel/trace/ftrace.c:1987", BAD_TRAMP]),
         "confirmed"),
        (result(WARN), "not reproduced"),
        (result(WARN, notable=["WARNING: CPU: 0 PID: 1 at kernel/trace/ftrace.c:1663"]), "differs"),
        (result(WARN, died="step 1: QEMU exited"), "differs"),
        (result(WARN, notable=[BAD_TRAMP], died="step 1: no answer"), "confirmed"),
        (result("count wrong: f0: flags ENABLED|TRAMP|TRAMP_EN count 1, traced by []",
                enabled={"f0": "f0 (1)  \ttramp: 0xffffffffa0000000"}), "confirmed"),
        (result("count wrong: f0: flags ENABLED|TRAMP|TRAMP_EN count 1, traced by []"),
         "not reproduced"),
        (result("count wrong: f0: flags ENABLED count 2, traced by []",
                enabled={"f0": "f0 (1)  "}), "not reproduced"),
        (result("TRAMP on a record 0 users trace: f0: flags TRAMP count 0, traced by []"),
         "not reproduced"),
        # a record users trace that is not ENABLED: a right kernel would list it
        (result("count wrong: mod1_a: flags 0 count 0, traced by ['perf']"), "confirmed"),
        (result("count wrong: mod1_a: flags 0 count 0, traced by ['perf']",
                enabled={"mod1_a": "mod1_a [mod1] (1)  "}), "not reproduced"),
        (result("count wrong: mod1_a: flags 0 count 0, traced by ['perf']", sysctl=False),
         "not reproduced"),
        (result("function tracer start returned -16", statuses=(1,),
                outputs=("sh: write error: Device or resource busy",)), "confirmed"),
        (result("function tracer start returned -16"), "not reproduced"),
        (result("global_ops->trampolines is 1, 0 records have TRAMP for it",
                notable=["0 trampolines activated, 1 expected"]), "confirmed"),
        (result("global_ops->trampolines is 1, 0 records have TRAMP for it",
                notable=["2 trampolines activated, 3 expected"]), "differs"),
        (result("global_ops->trampolines is 1, 0 records have TRAMP for it"), "not reproduced"),
        # the same count in the kernel's own words (tramp_hash_matches)
        (result("0 trampolines activated, 1 expected (graph_ops)",
                notable=["0 trampolines activated, 1 expected"]), "confirmed"),
        (result("0 trampolines activated, 1 expected (graph_ops)",
                notable=["0 trampolines activated, 2 expected"]), "differs"),
        (sized("0 trampolines activated, 4 expected (graph_ops)",
               "step 4: 0 trampolines activated, 16 expected (graph_ops)",
               notable=["0 trampolines activated, 16 expected"]), "confirmed"),
        # the claim counted 4 functions; the guest has 16, and the model at that size says 16
        (sized("global_ops->trampolines is 4, 3 records have TRAMP for it",
               "step 2: global_ops->trampolines is 16, 15 records have TRAMP for it",
               notable=["15 trampolines activated, 16 expected"]), "confirmed"),
        (sized("global_ops->trampolines is 4, 3 records have TRAMP for it",
               "step 2: global_ops->trampolines is 16, 15 records have TRAMP for it",
               notable=["3 trampolines activated, 4 expected"]), "differs"),
    ],
)  # fmt: skip
def test_the_verdict_follows_what_the_kernel_showed(res, verdict):
    assert judge(res, guest=None)[0] == verdict


def test_the_claim_is_read_from_golden_programs_and_reports():
    assert claimed_failure("steps: 1\n  1. x\nfailure: the kernel warned: A: b\n") == (
        "the kernel warned: A: b"
    )
    report = "failure (accounting):\n  TRAMP on a record 2 users trace: f3\n"
    assert claimed_failure(report) == "TRAMP on a record 2 users trace: f3"


def test_kernel_lines_read_in_the_models_names():
    assert model_line("tp_f3_tp (2)  \ttramp: ftrace_graph_caller+0x0/0x5d") == (
        "f3 (2)  \ttramp: ftrace_graph_caller+0x0"
    )
    assert model_line("tp_mod2_a_tp [tpmod2] (1) R") == "mod2_a [mod2] (1) R"


BOOT = """\
[    1.0] Testing tracer function: PASSED
[    1.1] Testing dynamic ftrace: PASSED
[    1.2] Testing dynamic ftrace ops #1: (1 0 1 0 0) (1 1 2 0 0) (2 1 3 1 60) PASSED
[    1.3] Testing dynamic ftrace ops #2: (1 0 1 1 0) (1 1 2 1 0) (2 1 3 1 1) PASSED
"""


def test_a_boot_log_whose_ops_tests_pass_passes():
    assert kernel_verdict(BOOT)[0]


@pytest.mark.parametrize(
    "broken",
    [
        BOOT.replace("(2 1 3 1 1) PASSED", "(2 1 3 1 1) .. filter failed count=0 .. FAILED!"),
        BOOT + "[    1.4] WARNING: CPU: 0 PID: 1 at kernel/trace/ftrace.c:1663\n",
        BOOT.replace("dynamic ftrace ops", "something else"),
    ],
)
def test_a_failed_test_a_warning_or_no_ops_test_fails(broken):
    assert not kernel_verdict(broken)[0]


class Scripted:
    """A guest that answers the callback probes: which users "ran"."""

    def __init__(self, ran):
        self.ran = set(ran)
        self.calls = 0

    def run(self, command):
        from tramproof.live.guest import Reply

        out, status = "", 0
        if command.startswith("echo tp_") and "tramproof/call" in command:
            self.calls += 1
        elif command.startswith("grep ' tp_f0_tp ' ") and "graph" in self.ran:
            out = f"  tp_f0_tp  {self.calls}  1.0 us\n"
        elif command.startswith("grep -q"):
            user = "instance" if "instances/tp" in command else "function"
            status = 0 if user in self.ran else 1
        elif command.startswith("cat") and "tracing_on" in command:
            out = "1\n" if "probe" in self.ran else "0\n"
        elif command.startswith("cat") and "stack_max_size" in command:
            out = "1200\n" if "stack_trace" in self.ran else "0\n"
        elif command == "tp_perf read":
            out = f"{self.calls if 'perf' in self.ran else 0}\n"
        return Reply(out, status, 0.0)


@pytest.mark.parametrize(
    "claim, ran, verdict",
    [
        ("f0: callbacks of [] ran, expected ['instance']", [], "confirmed"),
        ("f0: callbacks of [] ran, expected ['instance']", ["instance"], "not reproduced"),
        ("f0: callbacks of ['stack_trace'] ran, expected []", ["stack_trace"], "confirmed"),
        ("f0: callbacks of ['stack_trace'] ran, expected []", [], "not reproduced"),
        ("f0: graph entry ran, graph traces it: False", ["graph"], "confirmed"),
        ("f0: graph entry ran, graph traces it: False", [], "not reproduced"),
        ("f0: graph entry did not run, graph traces it: True", [], "confirmed"),
        ("f0: graph entry did not run, graph traces it: True", ["graph"], "not reproduced"),
        ("f0: callbacks of ['kprobe'] ran, expected []", ["function"], "not reproduced"),
        ("f0: callbacks of [] ran, expected ['probe']", [], "confirmed"),
        ("f0: callbacks of [] ran, expected ['probe']", ["probe"], "not reproduced"),
        ("f0: callbacks of ['perf'] ran, expected []", ["perf"], "confirmed"),
        ("f0: callbacks of ['perf'] ran, expected []", [], "not reproduced"),
        ("f0: callbacks of [] ran, expected ['perf']", [], "confirmed"),
    ],
)
def test_callbacks_are_judged_by_what_ran(claim, ran, verdict):
    assert judge(result(claim), Scripted(ran))[0] == verdict


def test_a_claim_is_judged_where_the_models_run_failed_with_it():
    """A program that goes on past the model's failure (ftrace dies later) is
    judged on the step of the failure, not the last."""
    claim = "count wrong: mod1_a: flags ENABLED count 1, traced by ['function', 'perf']"
    at = Observation([0], [""], [], {"mod1_a": "mod1_a [mod1] (1)  "})
    later = Observation([0], [""], ["WARNING: ..."], {}, dead=True)
    steps = [StepResult(n, "x", ["x"], "", o, {}, None, 0.0) for n, o in ((1, at), (2, later))]
    res = LiveResult(steps=steps, claimed=claim, predicted=f"step 1: {claim}")
    assert judge(res, guest=None)[0] == "confirmed"
    res.predicted = f"step 2: {claim}"
    assert judge(res, guest=None)[0] == "differs"


def test_the_models_warnings_are_looked_for_in_the_boot_log():
    messages = ["test_probe1: cnt 0 != ops->trampolines 1", "0 trampolines activated, 1 expected"]
    log = (
        "[ 1.46] WARNING: CPU: 0 PID: 1 at kernel/trace/ftrace.c:2286 x()\n"
        "[ 1.47] 0 trampolines activated, 1 expected\n"
    )
    assert printed_messages(messages, log) == messages
    assert printed_messages(messages, BOOT) == []
    assert printed_messages(messages, log.replace("0 trampolines", "1 trampolines")) == messages[:1]


def test_the_first_difference_of_model_and_kernel_is_named():
    from tramproof.live.replay import first_difference

    same = Observation([0], [""], [], {"f0": "f0 (1)  \ttramp: 0xffffffffa0001000"})
    step = StepResult(1, "x", ["x"], "", same, {"f0": "f0 (1)  \ttramp: 0xffffffffa0000000"},
                      None, 0.0)  # fmt: skip
    assert first_difference([step]) is None  # trampoline addresses are the allocator's
    other = Observation([0], [""], [], {"f0": "f0 (2)  "})
    step2 = StepResult(2, "y", ["y"], "", other, {"f0": "f0 (1)  "}, None, 0.0)
    assert first_difference([step, step2]).startswith("step 2: f0:")


def test_a_dead_ftrace_is_compared_as_such():
    from tramproof.live.replay import first_difference

    dead = Observation([0], [""], [], {}, dead=True)
    both = StepResult(1, "x", ["x"], "", dead, {"f0": "f0 (1)  "}, None, 0.0, model_dead=True)
    assert first_difference([both]) is None
    one = StepResult(1, "x", ["x"], "", dead, {"f0": "f0 (1)  "}, None, 0.0, model_dead=False)
    assert "ftrace killed" in first_difference([one])


def test_perfs_count_is_read_on_the_victims_kernel_only():
    """On the full kernel every traced function the guest runs counts: no verdict from it."""
    from tramproof.live.guest import FULL
    from tramproof.live.replay import perf_count

    guest = Scripted(["perf"])
    guest.calls = 3
    assert perf_count(guest) == 3
    guest.kernel = FULL
    assert perf_count(guest) is None
