"""The trace arrays' filter and notrace entries for loaded modules' functions, by name.

What mod-hash-zero's weight follows (properties/machine.py STATE_WEIGHTS): a
module unloaded while global_ops' or an instance's filter or notrace names
one of its functions leaves that entry behind (by address where the fix is
missing), and the next module loaded at the freed text inherits it.  The
state machine and its no-op twin (tramproof bench) each keep one from the
requests alone, so that they weigh their draws alike: the twin keeps no
filters, and the expectation's own hashes hold every vmlinux entry too
(40,000 on a real kernel's size).
"""

from fnmatch import fnmatchcase

# the ops whose hashes ftrace cleans when a module goes (Expectation.cleaned_on_unload)
TRACE_ARRAYS = ("global_ops", "instance")


class ModuleEntries:
    """Expectation.set_hash on the trace arrays' hashes, for loaded module functions alone."""

    def __init__(self, functions):
        self.functions = functions  # vmlinux has f0 .. f<functions - 1>
        self.entries = {}  # (ops, "filter" or "notrace") -> names of loaded module functions

    def set(self, ops, which, buf, reset, live):
        """ftrace_set_filter/notrace(ops, buf, reset); ``live``: the live module functions."""
        if ops not in TRACE_ARRAYS:
            return
        entries = self.entries.setdefault((ops, which), set())
        new = set() if reset else set(entries)
        if buf:
            negate = buf.startswith("!")
            pattern = buf[1:] if negate else buf
            found = {name for name in live if fnmatchcase(name, pattern)}
            if not found and not self.in_vmlinux(pattern):
                return  # a pattern that matches nothing is refused, the hash kept
            new = new - found if negate else new | found
        entries.clear()
        entries.update(new)

    def write(self, ops, which, buf, trunc, live):
        """A write of buf to a tracefs filter file (``>`` when trunc): Expectation.write_hash."""
        if trunc and ops in TRACE_ARRAYS:
            self.entries.pop((ops, which), None)
        self.set(ops, which, buf, False, live)

    def in_vmlinux(self, pattern):
        """Whether a pattern names a vmlinux function: f<i>, or a glob (strategies.GLOBS)
        that matches f0 (every vmlinux name is f and digits)."""
        if "*" in pattern:
            return fnmatchcase("f0", pattern)
        digits = pattern[1:]
        return pattern[:1] == "f" and digits.isdigit() and int(digits) < self.functions

    def unloaded(self, names):
        """A module's functions went: the entries naming them no longer name a loaded one."""
        for entries in self.entries.values():
            entries.difference_update(names)

    def name_a_loaded_module(self):
        """A trace array's hash names a loaded module's function."""
        return any(self.entries.values())
