"""Variant files: what loads, what is refused, and that a broken revision fails the suite."""

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from properties.machine import FtraceMachine
from properties.variant import VariantError, load_variant
from tramproof.hunt import HUNT

EXAMPLE = "properties/variants/clear_tramps_forgotten.py"


def write(tmp_path, text):
    path = tmp_path / "variant.py"
    path.write_text(text)
    return path


def test_top_level_functions_replace_model_functions(tmp_path):
    path = write(
        tmp_path,
        "from model.kernel.trace.ftrace import ftrace_ops_test\n"
        "def __ftrace_hash_rec_update(k, ops, filter_hash, inc):\n    pass\n",
    )
    assert list(load_variant(path)) == ["__ftrace_hash_rec_update"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("def helper(k):\n    pass\n", "defines helper, which the model does not have"),
        ("def ftrace_startup(k, ops, command)\n", "failed to load: SyntaxError"),
        ("raise RuntimeError('boom')\n", "failed to load: RuntimeError: boom"),
        ("X = 1\n", "replaces no model function"),
    ],
)
def test_bad_variants_are_refused_with_the_reason(tmp_path, text, message):
    with pytest.raises(VariantError, match=message):
        load_variant(write(tmp_path, text))


def test_missing_variant_file(tmp_path):
    with pytest.raises(VariantError, match="no such file"):
        load_variant(tmp_path / "absent.py")


def test_the_example_variant_fails_the_state_machine():
    overrides = load_variant(EXAMPLE)
    with pytest.raises(AssertionError):
        run_state_machine_as_test(
            lambda: FtraceMachine(kernel="fixed", overrides=overrides),
            settings=settings(
                HUNT, max_examples=200, stateful_step_count=30, phases=["generate"]
            ),
        )
