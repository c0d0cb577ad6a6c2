"""The kernel's own boot self test (FTRACE_STARTUP_TEST) read from dmesg, and
what the model says of the part it models.

3.17 tests each tracer as it registers ("Testing tracer function: PASSED")
and, within the function tracer's test, dynamic ftrace and its ops
("Testing dynamic ftrace ops #1: (1 0 1 0 0) ... PASSED",
linux-3.17.0+seed/kernel/trace/trace_selftest.c:194).  The model's scenario
``selftest_ops`` is trace_selftest_ops(); both must end the same way.
"""

import re
from dataclasses import dataclass

from tramproof.live.replay import NOTABLE, TIMESTAMP, model_kernel

TEST = re.compile(r"Testing ([^:]+): (.*)$")


@dataclass
class SelfTest:
    name: str
    text: str

    @property
    def passed(self):
        return self.text.rstrip().endswith("PASSED") and "FAILED" not in self.text


def selftests(dmesg):
    """Every "Testing X: ..." line of a boot log, in order."""
    out = []
    for line in dmesg.splitlines():
        m = TEST.search(TIMESTAMP.sub("", line.strip()))
        if m:
            out.append(SelfTest(m.group(1), m.group(2)))
    return out


def kernel_verdict(dmesg):
    """(ops tests passed, every test line, notable lines) of a boot log.

    The ops tests are the "dynamic ftrace ops" lines; there must be some.
    """
    tests = selftests(dmesg)
    ops = [t for t in tests if t.name.startswith("dynamic ftrace ops")]
    notable = [TIMESTAMP.sub("", x) for x in dmesg.splitlines() if NOTABLE.search(x)]
    return bool(ops) and all(t.passed for t in ops) and not notable, tests, notable


def model_verdict():
    """(passed, what failed, the warnings' messages) of the model's selftest_ops
    on the guest's kernel."""
    from properties.scenarios import run

    outcome = run("selftest_ops", model_kernel())
    messages = [w.split(": ", 1)[1] for w in outcome.warnings]
    passed = outcome.passed and not outcome.warnings
    return passed, outcome.failures + outcome.warnings, messages


def printed_messages(messages, dmesg):
    """The model's warning messages that the kernel printed too (pr_warn's own
    words; an FTRACE_WARN_ON prints only "WARNING: ... at <file:line>", so its
    model message is matched by the file: kernel/trace/ftrace.c)."""
    found = []
    for message in messages:
        if message in dmesg or (
            " != " in message and "WARNING: CPU: " in dmesg and "kernel/trace/ftrace.c:" in dmesg
        ):
            found.append(message)
    return found
