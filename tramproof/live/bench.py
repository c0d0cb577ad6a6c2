"""The bench's side-by-side figure: the model's steps per second against the real
kernel's, measured in one run on the same random expressible programs (live
diff's: each program on a fresh guest, a step and the reading of its outcome
timed on each side, boots not counted)."""

import random
import statistics
import time
from pathlib import Path

from tramproof.live.diff import Clock, random_program, run_on_fresh_guest
from tramproof.live.guest import IMAGES, VICTIMS, GuestError, qemu_binary

SEED, LENGTH = 0, 8  # the programs: live diff's defaults


def missing(images, kernel):
    """Why no guest can boot here, or None."""
    if qemu_binary() is None:
        return "qemu-system-x86_64 is not installed"
    for name in (kernel, "initramfs.cpio.gz"):
        if not (Path(images) / name).is_file():
            return f"no guest image {name} in {images}"
    return None


def measure(seconds, images=IMAGES, kernel=VICTIMS, seed=SEED, length=LENGTH):
    """Programs for about ``seconds`` on model and kernel; the figures, or an
    ``error`` saying why there are none."""
    why = missing(images, kernel)
    if why:
        return {"error": f"could not measure: {why}"}
    rng = random.Random(seed)
    clock = Clock()
    programs = disagreements = 0
    stopped = None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        steps = random_program(rng, length)
        try:
            found = run_on_fresh_guest(steps, images, kernel, clock)
        except GuestError as e:  # a guest that did not boot
            stopped = str(e)
            break
        programs += 1
        disagreements += found is not None
    if not clock.steps:
        return {"error": f"could not measure: {stopped or 'no step ran in the budget'}"}
    model, real = clock.rates()
    return {
        "error": None,
        "stopped": stopped,
        "seconds": seconds,
        "kernel": kernel,
        "seed": seed,
        "programs": programs,
        "steps": clock.steps,
        "disagreements": disagreements,
        "model_steps_per_s": round(model, 1),
        "kernel_steps_per_s": round(real, 1),
        "model_over_kernel": round(model / real, 1),
        "boot_seconds_median": round(statistics.median(clock.boots), 2),
    }


def render(live, out):
    """The figure's lines of the bench's text."""
    out.write("\nthe model against the real kernel (live diff's random programs, one run)\n")
    if live["error"]:
        out.write(f"  {live['error']}\n")
        return
    out.write(
        f"  model {live['model_steps_per_s']:.1f} steps/s, real kernel "
        f"{live['kernel_steps_per_s']:.1f} steps/s ({live['model_over_kernel']:.1f}x); "
        f"{live['programs']} programs, {live['steps']} steps, {live['disagreements']} "
        f"disagreement(s) in {live['seconds']:g} s on {live['kernel']} (seed {live['seed']}); "
        f"boot {live['boot_seconds_median']:.2f} s median, not counted\n"
    )
    if live["stopped"]:
        out.write(f"  stopped early: {live['stopped']}\n")
