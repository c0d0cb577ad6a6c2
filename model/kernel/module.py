"""kernel/module.c: the part of module load and unload that ftrace sees.

A module here is its core text: functions laid out by the emulator in memory
from module_alloc(), each with an mcount call site, and the list of those
sites (``mod->ftrace_callsites``).  Everything else load_module() does
(relocation, symbols, sysfs) is outside the model.
"""

from dataclasses import dataclass, field

ENOMEM = 12


@dataclass(eq=False)
class module:
    """struct module: what ftrace and the allocator use of it.

    C outside the reference: include/linux/module.h.  ftrace reads
    ``mod->ftrace_callsites`` in ftrace_module_init() at
    linux-3.17.0+seed/kernel/trace/ftrace.c:4640.
    """

    name: str
    module_core: int = 0
    core_size: int = 0
    ftrace_callsites: list = field(default_factory=list)

    def __repr__(self):
        return self.name


def load_module(k, name, functions):
    """load_module(): allocate core text, lay out the functions, let ftrace see them.

    ``functions`` are the names of the module's traceable functions.  The
    call of ftrace_module_init() stands where the kernel makes it, once the
    text is in place and before the module runs.  Returns the module, or
    -ENOMEM if module_alloc() failed.

    C outside the reference: kernel/module.c.  The ftrace call it makes is
    ftrace_module_init() at linux-3.17.0+seed/kernel/trace/ftrace.c:4640.
    """
    mod = module(name)
    mod.core_size = len(functions) * k.emu.FUNCTION_SIZE
    mod.module_core = k.module_alloc(mod.core_size)
    if not mod.module_core:
        return -ENOMEM
    for i, fname in enumerate(functions):
        ip = k.emu.place_function(mod.module_core + i * k.emu.FUNCTION_SIZE, fname)
        mod.ftrace_callsites.append(ip)
    k.ftrace_module_init(mod)
    return mod


def free_module(k, mod):
    """delete_module() -> free_module(): ftrace lets go of the records, then the text goes.

    ftrace_release_mod() runs from the MODULE_STATE_GOING notifier, before
    the core text is freed and may be reused by the next load.

    C outside the reference: kernel/module.c.  The notifier is
    ftrace_module_notify_exit() at linux-3.17.0+seed/kernel/trace/ftrace.c:4647.
    """
    k.ftrace_release_mod(mod)
    k.module_free(mod, mod.module_core)
