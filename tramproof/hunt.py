"""Run the state machine until it fails, and say what it found in kernel words.

Used by the bug tests (fixed minus one fix must fail, with a short program)
and by the command line.
"""

import re
from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from properties.machine import FtraceMachine
from tramproof.replay import minimize

# Derandomized, so that a hunt is the same run every time, byte for byte.
# Hypothesis only finds: the program it prints is then cut down by replaying
# it in kernel words (replay.minimize), which is faster than hypothesis's
# shrinker on this machine and deletes pairs of steps it keeps.
HUNT = settings(
    max_examples=2000,
    stateful_step_count=40,
    phases=[Phase.explicit, Phase.generate],
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    report_multiple_bugs=False,
    print_blob=False,
)


@dataclass
class Finding:
    """A failure the state machine shrank: its steps in kernel words and the invariant's word."""

    kernel: str
    steps: list
    failure: str
    program: str

    def render(self):
        lines = [f"kernel: {self.kernel}", f"steps: {len(self.steps)}"]
        lines += [f"  {i}. {step}" for i, step in enumerate(self.steps, 1)]
        lines.append(f"failure: {self.failure}")
        return "\n".join(lines) + "\n"


def program_of(error):
    """The printed program hypothesis attached to a failure (its notes)."""
    return "\n".join(getattr(error, "__notes__", []))


def kernel_steps(program):
    """The note() lines of a printed program: each step in kernel vocabulary."""
    lines = program.splitlines()
    start = lines.index("Failing test case: <state machine>") + 1
    steps = []
    for line in lines[start:]:
        if not line or line.startswith(("Explanation:", "You can reproduce")):
            break
        if not re.match(r"(\w+ = )?state\b|Draw \d+:", line):
            steps.append(line)
    return steps


def hunt(kernel, overrides=None, budget=HUNT):
    """Run the machine on ``kernel``; the minimized Finding, or None if it held."""
    try:
        run_state_machine_as_test(
            lambda: FtraceMachine(kernel=kernel, overrides=overrides), settings=budget
        )
    except AssertionError as error:
        program = program_of(error)
        steps, failure = minimize(kernel, kernel_steps(program), overrides)
        return Finding(kernel, steps, failure, program)
    return None
