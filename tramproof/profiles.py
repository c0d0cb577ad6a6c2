"""Hypothesis profiles for tramproof's three ways of running (tests, CI, nightly fuzzing).

Pick one with ``HYPOTHESIS_PROFILE=<name>`` or ``pytest --hypothesis-profile
<name>``.  Without either, ``ci`` when the CI variable is set (hypothesis
would otherwise load its own built-in ``ci`` profile there), else ``dev``.

Shared by all three: ``deadline=None``, because the emulator's first call in
a process assembles templates and maps memory, so a per-example deadline
would flag start-up cost, not slowness (speed has its own benchmarks);
``print_blob=True``, so every failure prints the blob that replays it.
"""

import os

from hypothesis import HealthCheck, Phase, settings

COMMON = dict(deadline=None, print_blob=True)

# dev: quick feedback while editing; the local example database replays
# the last failures first.
settings.register_profile("dev", max_examples=30, stateful_step_count=25, **COMMON)

# ci: the default `tox` run.  derandomize makes every CI run explore the
# same examples (so a red CI is reproducible from its log; it also turns
# the database off); too_slow is suppressed because a 2-core CI machine
# emulating x86 is slow by design, not by accident.  No explain phase: on a
# failing state machine it replays the shrunk program once per step and
# choice to mark what could vary, which took 137 of the 144 s of one failing
# trampoline mutant; the printed program (cut down by tramproof's replay
# where it matters) says what failed without it.
settings.register_profile(
    "ci",
    max_examples=60,
    stateful_step_count=30,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[p for p in Phase if p is not Phase.explain],
    **COMMON,
)

# nightly: long exploration; keeps the database so a night's findings are
# replayed first the next night.
settings.register_profile(
    "nightly",
    max_examples=5000,
    stateful_step_count=60,
    suppress_health_check=[HealthCheck.too_slow],
    **COMMON,
)

DEFAULT = "ci" if os.environ.get("CI") else "dev"


def load(name=None):
    """Load profile ``name``, else $HYPOTHESIS_PROFILE, else DEFAULT; its name."""
    name = name or os.environ.get("HYPOTHESIS_PROFILE") or DEFAULT
    settings.load_profile(name)
    return name
