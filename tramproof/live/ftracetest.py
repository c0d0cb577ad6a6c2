"""A program's expressible steps as a test in ftracetest's format
(tools/testing/selftests/ftrace in later kernels: a shell script run in the
tracing folder; it passes with exit status 0).  The test fails where the
kernel misbehaves as the model's failure says it does: it checks dmesg for
the warning a ``the kernel warned`` failure names, and for any WARNING.
"""

import base64
import re

from tramproof.live.actions import TRACING, Inexpressible, translate
from tramproof.live.replay import claimed_failure, parse, read_program


def to_tc(text, name, partial=False):
    """The .tc text of the program in ``text``; Inexpressible if it has no such form.

    With ``partial`` (a fuzz report's .tc) an inexpressible step is a comment
    that says why, and the test runs the other steps; Inexpressible only when
    no step is expressible.
    """
    steps = read_program(text)
    claim = claimed_failure(text)
    kernel_steps = translate(steps, parse, partial)
    skipped = [n for n, s in enumerate(kernel_steps, 1) if not s.commands]
    if len(skipped) == len(steps):
        raise Inexpressible("no step is expressible")
    lines = [
        "#!/bin/sh",
        f"# description: tramproof {name}: {claim or 'a program in kernel words'}",
        "# Written by tramproof live from the program's steps; the model's functions",
        "# f<N> and mod<N>_<x> are tramproof's victims tp_f<N>_tp and tp_mod<N>_<x>_tp",
        "# (guest/victim/), loaded as tpmod<N>.ko; perf's steps use its tp_perf.",
    ]
    if skipped:
        lines.append(
            f"# Not run: step(s) {', '.join(map(str, skipped))}, which the kernel's"
            " interfaces cannot take (named below): the test may miss the failure."
        )
    lines.append("dmesg -c > /dev/null")
    for number, step in enumerate(kernel_steps, 1):
        lines.append(f"# {number}. {step.line}" + (f"  ({step.note})" if step.note else ""))
        lines += step.commands
    warned = re.match(r"the kernel warned: [\w_]+: (.+?)(?: at:|$)", claim)
    if warned:
        lines.append(f"! dmesg | grep -q -F '{warned.group(1).strip()}'")
    lines.append("! dmesg | grep -q 'WARNING:'")
    return "\n".join(lines) + "\n"


def run_tc(guest, tc, timeout=120):
    """Run a .tc text in the guest, in the tracing folder; (exit status, output)."""
    blob = base64.b64encode(tc.encode()).decode()
    guest.run(f"echo {blob} | base64 -d > /tramproof.tc")
    reply = guest.run(f"(cd {TRACING} && sh -e /tramproof.tc)", timeout=timeout)
    return reply.status, reply.output
