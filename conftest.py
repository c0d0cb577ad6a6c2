"""pytest glue: the hypothesis profile, and the --kernel/--variant options.

The profiles themselves (dev, ci, nightly) live in properties/profiles.py,
shared with the `tramproof` command.
"""

import pytest

from properties import profiles

profiles.load()


def pytest_addoption(parser):
    group = parser.getgroup("tramproof")
    group.addoption(
        "--kernel",
        default="fixed",
        help="the kernel the state machine runs: as-posted, 3.17.0+seed or fixed (default), then +<fix id> or -<fix id>",
    )
    group.addoption(
        "--variant",
        metavar="FILE",
        help="a Python file whose top-level functions replace model functions by name",
    )


def pytest_configure(config):
    """Hand --kernel and --variant to the state machine; refuse bad ones before any test."""
    from model.fixes import kernel_fixes
    from properties import machine
    from properties.variant import VariantError, load_variant

    kernel, variant = config.getoption("kernel"), config.getoption("variant")
    try:
        kernel_fixes(kernel)
        overrides = load_variant(variant) if variant else None
    except (ValueError, VariantError) as e:
        raise pytest.UsageError(str(e)) from None
    machine.CONFIG.update(kernel=kernel, overrides=overrides)
