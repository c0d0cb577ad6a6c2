"""A revision of the patch that forgets to take a trampoline away when a second ops joins.

Run the suite against it:  pytest --variant properties/variants/clear_tramps_forgotten.py
"""


def ftrace_clear_tramps(k, rec, ops=None):
    """ftrace_clear_tramps(): this revision leaves the first ops' count as it was."""
