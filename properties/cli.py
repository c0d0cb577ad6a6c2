"""The `tramproof` command.

    tramproof scenarios [--kernel K ...]   run the hand-written scenarios
    tramproof bugs                         list the catalogue of known bugs
    tramproof replay PROGRAM [--kernel K]  replay a printed program (a golden file)

Exit codes: 0 the `fixed` kernel (or every kernel asked for, when `fixed`
is not among them) passed every scenario, or the replayed program held;
1 a failure; 2 bad usage or bad input.
"""

import argparse
import sys
from pathlib import Path

from model import fixes
from properties.replay import ReplayError, read_program, replay
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


def replay_program(args, out):
    """Replay a program on a kernel: 1 if it still fails, 0 if it holds."""
    kernel = args.kernel
    fixes.kernel_fixes(kernel)
    try:
        text = Path(args.program).read_text()
    except OSError as e:
        raise ReplayError(f"cannot read {args.program}: {e.strerror}") from None
    steps = read_program(text)
    found = replay(kernel, steps)
    if found is None:
        out.write(f"{kernel}: the {len(steps)} steps hold\n")
        return 0
    failure, at = found
    out.write(f"{kernel}: fails at step {at} of {len(steps)}: {failure}\n")
    return 1


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
    p = sub.add_parser("replay", help="replay a printed program; exit 1 if it still fails")
    p.add_argument("program", help="a file holding the program, e.g. properties/golden/<id>.txt")
    p.add_argument("--kernel", default="fixed", help="as-posted, fixed (default) or fixed-<id>")
    p.set_defaults(run=replay_program)
    args = parser.parse_args(argv)
    try:
        return args.run(args, out)
    except (ValueError, ReplayError) as e:
        print(f"tramproof: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
