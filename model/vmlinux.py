"""One simulated kernel: the globals of the modelled C files and its functions.

Every model function is a top-level function of a module in MODEL_MODULES
whose first parameter is the kernel, ``k``.  A Kernel binds each of them
as an attribute, so model code calls ``k.ftrace_startup(ops, command)``
where C calls ``ftrace_startup(ops, command)``.  Binding per kernel is what
lets a variant (or a fix) replace a function in one kernel while another
kernel runs the original beside it.
"""

import functools
import importlib
import inspect
import operator
import types
from dataclasses import dataclass

MODEL_MODULES = (
    "model.kernel.trace.ftrace",
    "model.kernel.module",
    "model.arch.x86.kernel.ftrace",
    "model.arch.x86.kernel.module",
)


def model_functions():
    """{name: function} for every C function the model has.

    No C counterpart: the model's binding of its functions to a kernel.
    """
    table = {}
    for modname in MODEL_MODULES:
        mod = importlib.import_module(modname)
        for name, fn in vars(mod).items():
            if inspect.isfunction(fn) and fn.__module__ == modname:
                table[name] = fn
    return table


@functools.cache
def own_functions():
    """{name: function} of the model as it is, no variant applied (not to be changed).

    No C counterpart: the model's binding of its functions to a kernel.
    """
    return model_functions()


_funcs_of = functools.cache(lambda names: [own_functions()[name] for name in names])
_func_of = operator.attrgetter("__func__")


def runs_own(k, names):
    """Is each C function in ``names`` (a tuple) bound on ``k`` to the model's own
    function (no variant, and no test, replaced it)?

    No C counterpart: the model's binding of its functions to a kernel, asked.
    """
    try:
        bound = map(_func_of, map(vars(k).get, names))  # AttributeError: not a method
        return all(map(operator.is_, bound, _funcs_of(names)))
    except AttributeError:
        return False


@dataclass(frozen=True)
class Warning_:
    """One WARN_ON / FTRACE_WARN_ON / ftrace_bug / pr_warn the kernel printed.

    Not a C function: a line of the kernel log, as FTRACE_WARN_ON() at
    linux-3.17.0+seed/kernel/trace/ftrace.c:43 or ftrace_bug() at
    linux-3.17.0+seed/kernel/trace/ftrace.c:1764 print one.
    """

    kind: str
    message: str

    def __str__(self):
        return f"{self.kind}: {self.message}"


class Kernel:
    """The state of one kernel: every global of the modelled files lives here.

    Not a C function: one booted kernel.  Its globals are those of the C, such
    as `ftrace_ops_list` at linux-3.17.0+seed/kernel/trace/ftrace.c:110 and
    `ftrace_enabled` at linux-3.17.0+seed/kernel/trace/ftrace.c:86; booting it
    runs ftrace_init() at linux-3.17.0+seed/kernel/trace/ftrace.c:4670.
    """

    def __init__(self, fixes=frozenset(), overrides=None, functions=64, fentry=True):
        """Boot a kernel with ``functions`` traceable vmlinux functions f0, f1, ...

        ``fixes`` is a set of ids from model.fixes; ``overrides`` maps C
        function names to replacement functions (a variant); ``fentry``
        chooses the -mfentry build of the caller routines.
        """
        from model.arch.x86.emu import Emu

        self.fixes = frozenset(fixes)
        # fixed(fix_id): is this kernel built with the catalogued fix fix_id (model/fixes.py)?
        # The set's own membership test: model code asks it per record.
        self.fixed = self.fixes.__contains__
        self.warnings = []
        self.emu = Emu(fentry=fentry)
        table = model_functions()
        for name, fn in (overrides or {}).items():
            if name not in table:
                raise KeyError(f"the model has no function {name!r}")
            table[name] = fn
        for name, fn in table.items():
            setattr(self, name, types.MethodType(fn, self))
        self.ftrace_boot([f"f{i}" for i in range(functions)])

    def warn(self, kind, message):
        """Not a C function: the kernel log, which FTRACE_WARN_ON() at
        linux-3.17.0+seed/kernel/trace/ftrace.c:43 writes."""
        self.warnings.append(Warning_(kind, message))
