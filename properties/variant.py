"""Variants: a Python file whose top-level functions replace model functions by name.

Every function defined at the top level of the file (not imported into it)
replaces the model function of the same name, leading underscores included
(``__ftrace_hash_rec_update``).  Each takes the kernel ``k`` first, like the
function it replaces, and calls the rest of the kernel through ``k``.
"""

import importlib.util
import inspect
from pathlib import Path

from model.vmlinux import model_functions


class VariantError(Exception):
    """A variant file that cannot be used, with the reason."""


def load_variant(path):
    """{name: function} of the variant file at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise VariantError(f"variant {path}: no such file")
    spec = importlib.util.spec_from_file_location(f"tramproof_variant_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # any failure to load is the variant's
        raise VariantError(f"variant {path} failed to load: {type(e).__name__}: {e}") from e
    functions = {
        name: obj
        for name, obj in vars(module).items()
        if inspect.isfunction(obj) and obj.__module__ == module.__name__
    }
    unknown = sorted(set(functions) - set(model_functions()))
    if unknown:
        raise VariantError(
            f"variant {path} defines {', '.join(unknown)}, which the model does not have "
            "(helpers belong inside the functions that use them)"
        )
    if not functions:
        raise VariantError(f"variant {path} replaces no model function")
    return functions
