"""The pytest plugin: the --kernel/--variant options and tramproof's hypothesis profiles.

Registered through the ``pytest11`` entry point, so that the regression
tests `tramproof fuzz` writes run wherever tramproof is installed, not only
inside this repository.  It registers the profiles (``--hypothesis-profile
ci`` works anywhere) but loads none: which one a session runs is the
choice of the project's conftest.py, not of every project that has
tramproof installed.
"""

import pytest

import tramproof.profiles  # noqa: F401  (registers dev, ci and nightly)


def pytest_addoption(parser):
    group = parser.getgroup("tramproof")
    group.addoption(
        "--kernel",
        default="fixed",
        help="the kernel the state machine runs: as-posted, 3.17.0+seed or fixed (default), "
        "then +<fix id> or -<fix id>",
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
    machine.CONFIG.update(kernel=kernel, overrides=overrides, variant=variant)
