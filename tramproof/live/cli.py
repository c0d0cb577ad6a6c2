"""`tramproof live`: the real kernel as the final judge.

    tramproof live replay PROGRAM...   run each program on a fresh guest beside the model
    python -m tramproof.live PROGRAM...   the same
    tramproof live diff [--minutes M]  random expressible programs on model and kernel
    tramproof live tc PROGRAM [--run] [--partial]  the program as an ftracetest .tc file

Each PROGRAM is a report or a golden program.  Exit codes of replay: 0
every program confirmed on the real kernel; 1 some program not reproduced
or differing; 2 bad input (no such file, not a program); 3 a program the
real kernel cannot express (nothing was run for it); 4 no guest (QEMU or the
image is missing, or the guest did not boot).  Of diff: 0 no disagreement,
1 some, 4 no guest.  Of tc --run: 0 the test passes, 1 it fails (the bug shows).
"""

import argparse
import sys
from pathlib import Path

from tramproof.live.actions import Inexpressible
from tramproof.live.diff import diff
from tramproof.live.ftracetest import run_tc, to_tc
from tramproof.live.guest import FULL, IMAGES, VICTIMS, Guest, GuestError, images_kernel
from tramproof.live.replay import NOTABLE, TIMESTAMP, render, replay_live
from tramproof.replay import ReplayError

KERNELS = {"victims": VICTIMS, "full": FULL}


def guest_options(p):
    p.add_argument(
        "--images", default=IMAGES, type=Path, help="folder of the kernels and initramfs.cpio.gz"
    )
    p.add_argument(
        "--kernel",
        choices=sorted(KERNELS),
        default="victims",
        help="victims: only the victims are traceable, the model's world (default); "
        "full: every function, as users run it (slow: warnings come per record)",
    )


def other_kernel_note(images, out):
    """Say so when the guest is not the kernel the model is of."""
    kernel = images_kernel(images)
    if kernel and not kernel.startswith("3.17.0+seed"):
        out.write(
            f"note: the guest is {kernel}; the model is of 3.17.0+seed, and its "
            "enabled_functions lines have 3.17's format\n"
        )


def replay(args, out):
    """Run every program; print each side by side, then a table; the exit code."""
    rows, code = [], 0
    other_kernel_note(args.images, out)
    for path in args.program:
        try:
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as e:
            print(f"tramproof live: {path}: {e}", file=sys.stderr)
            return 2
        out.write(f"== {path}\n")
        try:
            result = replay_live(text, images=args.images, kernel=KERNELS[args.kernel])
        except ReplayError as e:
            print(f"tramproof live: {path}: {e}", file=sys.stderr)
            return 2
        except Inexpressible as e:
            out.write(f"not expressible: {e}\n")
            rows.append((Path(path).stem, "no", "-", "-"))
            code = max(code, 3)
            continue
        except GuestError as e:
            print(f"tramproof live: {e}", file=sys.stderr)
            return 4
        out.write(render(result) + "\n")
        rows.append((Path(path).stem, "yes", result.predicted or "holds", result.verdict))
        if result.verdict != "confirmed":
            code = max(code, 1)
    if len(rows) > 1:
        out.write(f"\n{'program':22}{'expressible':13}{'on the real kernel':20}model\n")
        for name, expressible, model, verdict in rows:
            out.write(f"{name:22}{expressible:13}{verdict:20}{model}\n")
    return code


def run_diff(args, out):
    other_kernel_note(args.images, out)
    try:
        _, _, findings = diff(
            args.minutes, args.seed, args.steps, args.images, KERNELS[args.kernel], out
        )
    except GuestError as e:
        print(f"tramproof live: {e}", file=sys.stderr)
        return 4
    return 1 if findings else 0


def tc(args, out):
    """Print (or run in a guest) the .tc file of a program."""
    try:
        text = Path(args.program).read_text()
        script = to_tc(text, Path(args.program).stem, args.partial)
    except (OSError, UnicodeDecodeError, ReplayError) as e:
        print(f"tramproof live: {args.program}: {e}", file=sys.stderr)
        return 2
    except Inexpressible as e:
        print(f"tramproof live: {args.program}: not expressible: {e}", file=sys.stderr)
        return 3
    if not args.execute:
        out.write(script)
        return 0
    try:
        with Guest(args.images, KERNELS[args.kernel]) as g:
            status, output = run_tc(g, script)
    except GuestError as e:
        print(f"tramproof live: {e}", file=sys.stderr)
        return 4
    verdict = "PASS" if status == 0 else "FAIL"
    # the console's kernel lines: only those that say what went wrong
    shown = [x for x in output.splitlines() if not TIMESTAMP.match(x) or NOTABLE.search(x)]
    out.write("".join(f"{x}\n" for x in shown[:40]))
    out.write(f"{Path(args.program).stem}.tc: {verdict} (exit {status})\n")
    return 0 if status == 0 else 1


def add_arguments(parser):
    """The subcommands of `tramproof live`; each parser's ``run`` takes (args, out)."""
    sub = parser.add_subparsers(dest="live_command", required=True)
    p = sub.add_parser("replay", help="run programs on the real kernel beside the model")
    p.add_argument("program", nargs="+", help="a report or a golden program")
    guest_options(p)
    p.set_defaults(run=replay)
    p = sub.add_parser("diff", help="random expressible programs on the model and the kernel")
    p.add_argument("--minutes", type=float, default=10.0, help="budget (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--steps", type=int, default=8, help="steps a program (default: %(default)s)")
    guest_options(p)
    p.set_defaults(run=run_diff)
    p = sub.add_parser("tc", help="a program as an ftracetest .tc file; --run runs it in a guest")
    p.add_argument("program", help="a report or a golden program")
    p.add_argument("--run", dest="execute", action="store_true", help="run it on a fresh guest")
    p.add_argument(
        "--partial",
        action="store_true",
        help="name the steps the kernel cannot take in comments and write the rest "
        "(the .tc that fuzz writes beside each report)",
    )
    guest_options(p)
    p.set_defaults(run=tc)


def main(argv=None, out=sys.stdout):
    parser = argparse.ArgumentParser(prog="tramproof live", description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    return args.run(args, out)
