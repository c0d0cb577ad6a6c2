"""The strategies of the state machine, in one place.

Every sampled_from list is sorted, so that a replayed example draws the same
thing whatever the order of a dict or a set.
"""

from hypothesis import strategies as st

VMLINUX_FUNCTIONS = 8
MODULE_FUNCTIONS = ("a", "b")
MAX_MODULES = 6

# the ops whose filters can be edited (function and graph share global_ops')
FILTERED_OPS = sorted(["global_ops", "stack_trace", "kprobe", "kprobe_ifs", "perf", "instance"])
# users started with register_ftrace_function()
OPS_USERS = sorted(["stack_trace", "kprobe", "kprobe_ifs", "perf", "instance"])

vmlinux_names = [f"f{i}" for i in range(VMLINUX_FUNCTIONS)]
module_names = [f"mod{m}_{f}" for m in range(MAX_MODULES) for f in MODULE_FUNCTIONS]
globs = sorted(["f*", "mod*", "*_a", "f1*", "mod1_*"])

patterns = st.sampled_from(sorted(vmlinux_names + module_names + globs))
