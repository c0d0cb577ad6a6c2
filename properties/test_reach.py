"""The state machine reaches the deep states the bugs live in, under the ci budget.

Prints how often each was reached (run with -s to see the figures).
"""

from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from properties.machine import FtraceMachine

DEEP = [
    "a record shared by two or more users",
    "a record back to one user after sharing",
    "a record on a trampoline",
    "a traced call through a trampoline",
    "register while ftrace_enabled=0",
    "graph tracer beside the function tracer",
    "module loaded while tracing",
    "module loaded over an unloaded module's text",
    "trampoline allocation failed",
    "perf event enabled while tracing",
    "a call perf traces while its event is disabled",
    "two kprobes armed",
    "a function probe removed beside another",
    "a '>' write replaced a live filter",
    "a callback's call of a traced function",
]


def test_deep_states_are_reached():
    FtraceMachine.REACHED.clear()
    run_state_machine_as_test(
        lambda: FtraceMachine(kernel="fixed"),
        settings=settings(
            settings.get_profile("ci"),
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    reached = FtraceMachine.REACHED
    for label in sorted(reached):
        print(f"{reached[label]:7d}  {label}")
    assert [label for label in DEEP if not reached[label]] == []
