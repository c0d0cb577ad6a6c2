"""The `tramproof` command.

    tramproof scenarios [--kernel K ...]   run the hand-written scenarios
    tramproof bugs                         list the catalogue of known bugs

Exit codes: 0 the `fixed` kernel (or every kernel asked for, when `fixed`
is not among them) passed every scenario, 1 a failure, 2 bad usage.
"""

import argparse
import sys
from pathlib import Path

from model import fixes
from properties.scenarios import SCENARIOS, run

GOLDEN = Path(__file__).parent / "golden"

SEED = "c7e999f1d2a78dba"


def scenarios(args, out):
    kernels = args.kernel or ["as-posted", "fixed"]
    for kernel in kernels:
        fixes.kernel_fixes(kernel)  # reject an unknown kernel before running anything
    names = sorted(SCENARIOS)
    width = max(map(len, names)) + 2
    out.write(f"tramproof scenarios  seed {SEED}\n")
    out.write(("scenario".ljust(width) + "".join(k.ljust(24) for k in kernels)).rstrip() + "\n")
    failed = {kernel: [] for kernel in kernels}
    for name in names:
        outcomes = [run(name, kernel) for kernel in kernels]
        cells = "".join(("pass" if o.passed else "FAIL").ljust(24) for o in outcomes)
        out.write((name.ljust(width) + cells).rstrip() + "\n")
        for o in outcomes:
            if not o.passed:
                failed[o.kernel].append(name)
                first = (o.warnings + o.failures)[0]
                out.write(f"    {o.kernel}: {first}\n")
    summary = "; ".join(
        f"{kernel} fails {len(failed[kernel])}/{len(names)}"
        + (f" ({', '.join(failed[kernel])})" if failed[kernel] else "")
        for kernel in kernels
    )
    judged = ["fixed"] if "fixed" in kernels else kernels
    bad = any(failed[kernel] for kernel in judged)
    out.write(f"verdict: {'FAIL' if bad else 'ok'}: {summary}\n")
    return 1 if bad else 0


def shrunk_length(fix):
    """Steps of the fix's golden program, or what stands in for it."""
    if fix.unreachable_because:
        return "unreachable on x86-64"
    golden = GOLDEN / f"{fix.id}.txt"
    if not golden.exists():
        return "no golden program"
    steps = [line for line in golden.read_text().splitlines() if line.startswith("  ")]
    return f"{len(steps)} steps"


def bugs(args, out):
    """The catalogue: id, upstream commit (or ours), who found it, shrunk length, title."""
    for fix in fixes.CATALOGUE:
        out.write(
            f"{fix.id:<20} {fix.commit or 'own':<13} {fix.found_by:<13} "
            f"{shrunk_length(fix):<22} {fix.title}\n"
        )
    return 0


def main(argv=None, out=sys.stdout):
    parser = argparse.ArgumentParser(prog="tramproof", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("scenarios", help="run the hand-written scenarios and print a verdict")
    p.add_argument(
        "--kernel",
        action="append",
        help="as-posted, fixed or fixed-<fix id> (repeatable; default: as-posted and fixed)",
    )
    p.set_defaults(run=scenarios)
    sub.add_parser("bugs", help="list the catalogue of known bugs").set_defaults(run=bugs)
    args = parser.parse_args(argv)
    try:
        return args.run(args, out)
    except ValueError as e:
        print(f"tramproof: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
