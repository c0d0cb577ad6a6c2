"""Properties of the seed's trampolines and of the static callers, run as machine code.

Each property is a plain function of a rig (a kernel) and drawn
parameters, run by hypothesis on the model in both builds, and run again
on deliberately broken variants, where hypothesis must find a failure.
"""

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from model.arch.x86.emu import REDIRECT_RAX, STACK_TOP, EmulationFault
from model.include.linux.ftrace import FTRACE_OPS_FL_ALLOC_TRAMP
from properties.x86_checks import check_one_call, check_returned_intact, check_trampoline_bytes
from properties.x86_rig import call_params, ops_params, rig

BUILDS = pytest.mark.parametrize("fentry", [True, False], ids=["fentry", "mcount"])
# examples per property come from the hypothesis profile (conftest.py)
GOOD = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
# a broken variant must fail within a few examples, the same ones every run;
# no shrinking is needed to show it
BROKEN = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    phases=[Phase.generate],
    report_multiple_bugs=False,
)


def run(prop, r, strategy, cfg):
    """Run ``prop(r, params)`` under hypothesis with ``cfg``."""
    cfg(given(params=strategy)(lambda params: prop(r, params)))()


def with_trampoline(r, o, body):
    """Build a trampoline for a fresh ops at the drawn page, run body(ops), clean up."""
    k = r.k
    func = r.redirector if o["func"] < 0 else r.callbacks[o["func"]]
    ops = r.new_ops(o["save_regs"], o["dynamic"], func)
    r.place(o["page"])
    k.arch_ftrace_update_trampoline(ops)
    try:
        assert ops.trampoline, f"no trampoline; warnings {k.warnings}"
        body(ops)
    finally:
        r.point_site(None)
        if ops.trampoline:
            k.tramp_free(ops.trampoline)
        k.place_next = None


# ---- the trampoline calls ops->func, once, with the right arguments -----------------


def prop_trampoline_call(r, params):
    o, c = params

    def body(ops):
        if o["func2"] != o["func"]:
            # the callback changed: ALLOC_TRAMP lets the update rewrite the trampoline's call
            ops.func = r.callbacks[o["func2"]]
            r.k.arch_ftrace_update_trampoline(ops)
        r.point_site(ops.trampoline)
        result = r.call(c)
        check_one_call(
            r.emu,
            result,
            site=r.site,
            parent_ip=c["parent_ip"],
            func=ops.func,
            op=ops.ptr,
            save_regs=o["save_regs"],
            args=c["args"],
            flags=c["flags"],
            preserved=c["preserved"],
            where=f"\ntrampoline at {ops.trampoline:#x}",
        )

    with_trampoline(r, o, body)


TRAMP_PARAMS = st.tuples(ops_params, call_params)


@BUILDS
def test_trampoline_calls_ops_func_once(fentry):
    run(prop_trampoline_call, rig(fentry), TRAMP_PARAMS, GOOD)


@BUILDS
@pytest.mark.parametrize(
    "variant", ["disp32_off_by_one", "jmp_misplaced", "no_alloc_tramp", "call_left_stale"]
)
def test_trampoline_call_catches(fentry, variant):
    with pytest.raises((AssertionError, EmulationFault)):
        run(prop_trampoline_call, rig(fentry, variant), TRAMP_PARAMS, BROKEN)


@BUILDS
def test_trampoline_call_catches_copied_regs_jmp(fentry):
    regs_only = st.tuples(ops_params.map(lambda o: {**o, "save_regs": True}), call_params)
    with pytest.raises(EmulationFault):
        run(prop_trampoline_call, rig(fentry, "regs_jmp_copied"), regs_only, BROKEN)


# ---- the trampoline's bytes are the template's except the rewritten fields ----------


def prop_trampoline_bytes(r, o):
    def body(ops):
        assert ops.flags & FTRACE_OPS_FL_ALLOC_TRAMP, "ALLOC_TRAMP not set"
        check_trampoline_bytes(r.emu, ops)

    with_trampoline(r, o, body)


@BUILDS
def test_trampoline_bytes_match_template(fentry):
    run(prop_trampoline_bytes, rig(fentry), ops_params, GOOD)


@BUILDS
@pytest.mark.parametrize(
    "variant",
    ["disp32_off_by_one", "jmp_misplaced", "no_alloc_tramp", "call_left_stale", "regs_jmp_copied"],
)
def test_trampoline_bytes_catches(fentry, variant):
    with pytest.raises(AssertionError) as failure:
        run(prop_trampoline_bytes, rig(fentry, variant), ops_params, BROKEN)
    if variant == "disp32_off_by_one":  # the message decodes the trampoline
        assert "op slot" in str(failure.value) and "movq" in str(failure.value)


def test_trampoline_bytes_message_names_slot_and_target():
    r = rig(True, "disp32_off_by_one")
    with pytest.raises(AssertionError, match=r"op slot 0x[0-9a-f]+ holds .*call at .* -> "):
        prop_trampoline_bytes(
            r, {"save_regs": False, "dynamic": False, "func": 0, "func2": 0, "page": 3}
        )


# ---- a regs handler that changes regs->ip redirects the return ------------------------


def prop_redirect(r, params):
    o, c = params

    def body(ops):
        r.point_site(ops.trampoline)
        result = r.call(c)
        assert len(result.calls) == 1, f"calls: {result.calls}"
        assert result.rax == REDIRECT_RAX, "the return was not redirected to regs->ip"
        assert result.after == result.before

    with_trampoline(r, {**o, "save_regs": True, "func": -1}, body)


@BUILDS
def test_regs_handler_redirects(fentry):
    run(prop_redirect, rig(fentry), TRAMP_PARAMS, GOOD)


@BUILDS
def test_redirect_catches_ip_not_written_back(fentry):
    with pytest.raises(AssertionError):
        run(prop_redirect, rig(fentry, "regs_ip_not_written_back"), TRAMP_PARAMS, BROKEN)


# ---- through ftrace_caller / ftrace_regs_caller, rdx is function_trace_op -------------

STATIC_PARAMS = st.tuples(st.booleans(), st.integers(0, 5), st.integers(0, 2**64 - 1), call_params)


def prop_static_caller(r, params):
    save_regs, func_i, op, c = params
    k, emu = r.k, r.emu
    func = r.callbacks[func_i]
    emu.function_trace_op = op
    k.ftrace_update_ftrace_func(func)
    r.point_site(emu.sym["ftrace_regs_caller" if save_regs else "ftrace_caller"])
    try:
        result = r.call(c)
        check_one_call(
            emu,
            result,
            site=r.site,
            parent_ip=c["parent_ip"],
            func=func,
            op=op,
            save_regs=save_regs,
            args=c["args"],
            flags=c["flags"],
            preserved=c["preserved"],
            where="\nthrough the static caller",
        )
    finally:
        r.point_site(None)
        k.ftrace_update_ftrace_func(emu.sym["ftrace_stub"])


@BUILDS
def test_static_callers_pass_function_trace_op(fentry):
    run(prop_static_caller, rig(fentry), STATIC_PARAMS, GOOD)


@BUILDS
@pytest.mark.parametrize("variant", ["op_load_misaimed", "regs_call_not_updated"])
def test_static_caller_catches(fentry, variant):
    with pytest.raises(AssertionError):
        run(prop_static_caller, rig(fentry, variant), STATIC_PARAMS, BROKEN)


# ---- the graph caller reaches prepare_ftrace_return iff enabled ----------------------

GRAPH_PARAMS = st.tuples(st.booleans(), st.booleans(), st.booleans(), ops_params, call_params)


def prop_graph(r, params):
    enabled, accept, via_tramp, o, c = params
    k, emu = r.k, r.emu
    emu.graph_entry_hook = lambda self_addr: accept
    if enabled:
        k.ftrace_enable_ftrace_graph_caller()

    def body(ops):
        r.point_site(ops.trampoline if via_tramp else emu.sym["ftrace_caller"])
        result = r.call(c)
        assert len(result.calls) == (1 if via_tramp else 0)
        if not enabled:
            assert result.graph_calls == [] and not result.returned_via_handler
            return
        fp = 0 if emu.fentry else c["preserved"]["rbp"]
        assert len(result.graph_calls) == 1, f"graph calls: {result.graph_calls}"
        g = result.graph_calls[0]
        want = (STACK_TOP - 8, r.site, fp, c["parent_ip"], accept)
        assert (g.parent, g.self_addr, g.frame_pointer, g.old, g.accepted) == want, (
            f"prepare_ftrace_return got {g}, want {want}"
        )
        assert result.returned_via_handler == accept
        assert not result.graph_warnings and not emu.ret_stack
        check_returned_intact(result, c["args"])

    try:
        with_trampoline(r, o, body)
    finally:
        k.ftrace_disable_ftrace_graph_caller()
        emu.graph_entry_hook = None


@BUILDS
def test_graph_caller_reaches_prepare_ftrace_return_iff_enabled(fentry):
    run(prop_graph, rig(fentry), GRAPH_PARAMS, GOOD)


@BUILDS
def test_graph_catches_call_instead_of_jmp(fentry):
    with pytest.raises((AssertionError, EmulationFault)):
        run(prop_graph, rig(fentry, "graph_call_not_jmp"), GRAPH_PARAMS, BROKEN)


# ---- a re-patched site takes its new target ---------------------------------------

TARGETS = st.lists(st.one_of(st.none(), st.integers(0, 5)), min_size=2, max_size=6)


def prop_repatch(r, targets):
    """Each target in turn: None is the nop, i routes the site through ftrace_caller to callback i.

    The site and ftrace_call are rewritten with update_ftrace_func (int3, tail,
    head), so every run must see the bytes now there, not a stale translation.
    """
    k, emu = r.k, r.emu
    caller = emu.sym["ftrace_caller"]
    try:
        for t in targets:
            new = r.nop if t is None else k.ftrace_call_replace(r.site, caller)
            assert k.update_ftrace_func(r.site, new) == 0
            if t is not None:
                k.ftrace_update_ftrace_func(r.callbacks[t])
            result = emu.call(r.site)
            got = [emu.symbolize(i.func) for i in result.calls]
            want = [] if t is None else [emu.symbolize(r.callbacks[t])]
            assert got == want, f"after re-patching to {t}: called {got}, want {want}"
    finally:
        r.point_site(None)
        k.ftrace_update_ftrace_func(emu.sym["ftrace_stub"])


@BUILDS
def test_repatched_site_takes_new_target(fentry):
    run(prop_repatch, rig(fentry), TARGETS, GOOD)


@BUILDS
def test_repatch_catches_stale_translation(fentry):
    with pytest.raises(AssertionError):
        run(prop_repatch, rig(fentry, "no_translation_drop"), TARGETS, BROKEN)
