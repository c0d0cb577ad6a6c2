"""The `tramproof` command.

    tramproof scenarios [--kernel K ...]   run the hand-written scenarios
    tramproof bugs                         list the catalogue of known bugs
    tramproof fuzz [--minutes M] ...       run the state machine for a budget, report failures
    tramproof replay REPORT [--kernel K]   replay a report (or a golden program)
    tramproof bench [--json] [--plot FILE] speed and scale figures

Exit codes: tramproof.exits (printed by --help).
"""

import argparse
import os
import sys
from pathlib import Path

import properties
from model import fixes
from properties.scenarios import SCENARIOS, run
from properties.variant import VariantError, load_variant
from tramproof import bench, exits, profiles, report
from tramproof import fuzz as fuzzing
from tramproof.database import DatabaseError, open_database
from tramproof.fuzz import variant_record
from tramproof.live import cli as live_cli
from tramproof.replay import ReplayError, replay

GOLDEN = Path(properties.__file__).parent / "golden"

SEED = "c7e999f1d2a78dba"
KERNEL_HELP = "as-posted, 3.17.0+seed or fixed, then +<fix id> or -<fix id> any number of times"


def scenarios(args, out):
    kernels = args.kernel or ["as-posted", "3.17.0+seed", "fixed"]
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
    """The catalogue: id, where the fix comes from, whether the bug is real on as-posted
    and on 3.17.0+seed (measured by replaying its golden program), shrunk length,
    title, and the C reasoning."""
    from tramproof.reality import BASES, real_on

    for fix in fixes.CATALOGUE:
        if fix.unreachable_because:
            real = ["unreachable on x86-64"] * len(BASES)
        else:
            real = [real_on(fix.id, base) for base in BASES]
        cells = "  ".join(f"{base}: {r:<24}" for base, r in zip(BASES, real, strict=True))
        out.write(
            f"{fix.id:<17} {fix.source:<27} {cells} {shrunk_length(fix):<10} {fix.title}\n"
            f"{'':<17} C: {fix.why}\n"
        )
    return 0


def replay_program(args, out):
    """Replay a report or program: 1 if it still fails, 0 if it holds."""
    try:
        text = Path(args.program).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ReplayError(f"cannot read {args.program}: {getattr(e, 'strerror', e)}") from None
    recorded = report.read(text)
    kernel = args.kernel or recorded.kernel or "fixed"
    fixes.kernel_fixes(kernel)
    if recorded.variant and not args.variant:
        raise ReplayError(
            f"{args.program} was found with the variant {recorded.variant['path']} "
            f"(sha256 {recorded.variant['sha256'][:16]}...): replay it with --variant FILE"
        )
    overrides = load_variant(args.variant) if args.variant else None
    on = kernel + (f" with {args.variant}" if args.variant else "")
    if recorded.variant and variant_record(args.variant)["sha256"] != recorded.variant["sha256"]:
        on += " (not the variant it was found with)"
    found = replay(kernel, recorded.steps, overrides)
    if found is None:
        out.write(f"{on}: the {len(recorded.steps)} steps hold\n")
        return exits.OK
    failure, at = found
    out.write(f"{on}: fails at step {at} of {len(recorded.steps)}: {failure}\n")
    return exits.FAILED


def fuzz(args, out):
    """Run the state machine for the budget and report what fails."""
    fixes.kernel_fixes(args.kernel)
    if args.variant:
        load_variant(args.variant)
    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    fuzzing.check_budget(args.minutes, args.examples)
    fuzzing.check_report_dir(args.report_dir)
    profile = profiles.load(os.environ.get("HYPOTHESIS_PROFILE") or "ci")
    db = None if args.db == "none" else args.db
    open_database(db, warn=lambda w: None)  # refuse a database that cannot be used, now
    config = fuzzing.Config(
        kernel=args.kernel,
        variant=args.variant,
        variant_digest=fuzzing.variant_digest(args.variant),
        variant_record=variant_record(args.variant),
        seed=fuzzing.new_seed() if args.seed is None else args.seed,
        examples=args.examples,
        minutes=args.minutes if args.minutes or args.examples else 5,
        workers=args.workers,
        db=db,
        report_dir=args.report_dir,
        step_count=profiles.settings.default.stateful_step_count,
        profile=profile,
    )
    return fuzzing.fuzz(config, out)


def command_line():
    """The parser of the command line."""
    parser = argparse.ArgumentParser(
        prog="tramproof",
        description=__doc__.splitlines()[0],
        epilog=exits.HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tramproof {report.version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("scenarios", help="run the hand-written scenarios and print a verdict")
    p.add_argument(
        "--kernel",
        action="append",
        help="as-posted, 3.17.0+seed, fixed, then +<fix id> or -<fix id> (repeatable;"
        " default: as-posted, 3.17.0+seed and fixed)",
    )
    p.set_defaults(run=scenarios)
    sub.add_parser("bugs", help="list the catalogue of known bugs").set_defaults(run=bugs)
    p = sub.add_parser(
        "fuzz",
        help="run the state machine for a budget and report failures",
        description="Run the state machine for a budget and report failures.",
        epilog=exits.HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--kernel", default="as-posted", help=KERNEL_HELP + " (default as-posted)")
    p.add_argument("--variant", metavar="FILE", help="functions replacing model functions")
    p.add_argument("--minutes", type=float, help="time budget (default 5 without --examples)")
    p.add_argument("--examples", type=int, help="example budget")
    p.add_argument("--seed", type=int, help="seed of the run (default: a random one, printed)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument(
        "--db",
        default=".tramproof/examples",
        help="example database: a directory (default .tramproof/examples), "
        "redis://host:port, or none",
    )
    p.add_argument("--report-dir", default="tramproof-reports", help="where reports go")
    p.set_defaults(run=fuzz)
    p = sub.add_parser(
        "replay",
        help="replay a report or program; exit 1 if it still fails",
        description="Replay a report or program: exit 1 while it fails, 0 once it holds.",
        epilog=exits.HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("program", help="a report (.txt or .json) or a golden program")
    p.add_argument("--kernel", help=KERNEL_HELP + " (default: the report's, else fixed)")
    p.add_argument("--variant", metavar="FILE", help="functions replacing model functions")
    p.set_defaults(run=replay_program)
    bench.add_arguments(sub.add_parser("bench", help="speed and scale figures (see README)"))
    live_cli.add_arguments(
        sub.add_parser("live", help="the real 3.17.0+seed kernel under QEMU beside the model")
    )
    return parser


def main(argv=None, out=sys.stdout):
    args = command_line().parse_args(argv)
    try:
        return args.run(args, out)
    except (ValueError, ReplayError, VariantError, DatabaseError) as e:
        print(f"tramproof: {e}", file=sys.stderr)
        return exits.USAGE


if __name__ == "__main__":
    sys.exit(main())
