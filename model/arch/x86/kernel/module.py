"""arch/x86/kernel/module.c (module_alloc) and the module_free it pairs with.

module_alloc() is vmalloc in [MODULES_VADDR, MODULES_END): page-granular,
first fit from the lowest address, each area followed by an unmapped guard
page, so that a freed range is taken again by the next allocation of its
size.  The pages are mapped in the emulator (k.emu) for as long as the area
lives.  Fault injection: ``k.emu.inject["module_alloc"]`` makes the next
allocations fail.
"""

from model.arch.x86.emu import MODULES_END, MODULES_VADDR, PAGE_SIZE

MODULES_LEN = MODULES_END - MODULES_VADDR


def module_alloc(k, size):
    """module_alloc() (arch/x86/kernel/module.c): __vmalloc_node_range in the module area.

    Returns the address, or 0 for NULL.  No KASLR load offset
    (CONFIG_RANDOMIZE_BASE is off in the modelled configuration).

    C outside the reference: arch/x86/kernel/module.c.  ftrace's caller is
    alloc_tramp() at linux-3.17.0+seed/arch/x86/kernel/ftrace.c:669.
    """
    emu = k.emu
    pages = -(-size // PAGE_SIZE) * PAGE_SIZE
    if pages > MODULES_LEN or not size or emu.injected("module_alloc"):
        return 0
    need = pages + PAGE_SIZE  # the guard page __get_vm_area_node adds
    addr = MODULES_VADDR
    for start, length in sorted(emu.modules.items()):
        if addr + need <= start:
            break
        addr = max(addr, start + length + PAGE_SIZE)
    if addr + need > MODULES_END:
        return 0
    emu.map_module(addr, pages)
    return addr


def module_free(k, mod, module_region):
    """module_free() (kernel/module.c, the weak default x86 uses): vfree(module_region).

    C outside the reference: kernel/module.c.  ftrace's caller is tramp_free() at
    linux-3.17.0+seed/arch/x86/kernel/ftrace.c:673.
    """
    if not module_region:
        return
    if module_region not in k.emu.modules:
        k.warn("WARN_ON", f"Trying to vfree() nonexistent vm area ({module_region:#x})")
        return
    k.emu.unmap_module(module_region)
