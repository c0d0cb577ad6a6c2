"""Rule selection (properties/selection.py): swarm testing is off, weights are copies,
some only while a state holds.

Measured on a machine of ten no-op rules, so that each example's rules can be
counted; the same run with hypothesis's swarm left on is the broken variant.
"""

import statistics
from collections import Counter
from fnmatch import fnmatchcase

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    RuleStrategy,
    invariant,
    rule,
    run_state_machine_as_test,
)

from properties import machine, selection
from properties import strategies as S
from properties.machine import FtraceMachine
from properties.module_entries import TRACE_ARRAYS, ModuleEntries
from tramproof.bench import NoopMachine
from tramproof.replay import take

RUN = settings(
    max_examples=100,
    stateful_step_count=20,
    derandomize=True,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def rules_of_each_example(swarm_off, weights=None, condition=None):
    """Per example of a ten-rule machine: how often each rule ran.

    With ``condition``, r9 has weight 3 while ``condition(machine)`` holds.
    """
    examples = []

    class Ten(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            if swarm_off:
                selection.every_rule(self)
            examples.append(Counter())

    for i in range(10):

        def body(self, name=f"r{i}"):
            examples[-1][name] += 1

        body.__name__ = f"r{i}"
        setattr(Ten, body.__name__, rule()(body))
    selection.weigh(Ten, weights or {})
    if condition is not None:
        Ten.holds = condition
        selection.weigh_while(Ten, [("r9", 3, "holds")])
    run_state_machine_as_test(Ten, settings=RUN)
    return examples


def rules_per_example(examples):
    """The median number of different rules an example ran."""
    return statistics.median(len(ran) for ran in examples)


def test_hypothesis_still_draws_the_enabled_rules_where_every_rule_replaces_them():
    machine = FtraceMachine()
    assert isinstance(machine._rules_strategy, RuleStrategy)
    assert machine._rules_strategy.enabled_rules_strategy is selection.EVERY_RULE


def test_without_swarm_an_example_runs_more_of_the_rules():
    swarm = rules_per_example(rules_of_each_example(False))
    every = rules_per_example(rules_of_each_example(True))
    print(f"different rules per 20-step example (median): swarm {swarm}, every rule {every}")
    assert every >= swarm + 3


def test_a_rule_of_weight_three_is_drawn_about_three_times_as_often():
    ran = Counter()
    for example in rules_of_each_example(True, {"r9": 3}):
        ran.update(example)
    others = [ran[f"r{i}"] for i in range(1, 9)]  # r0: hypothesis's simplest choice
    assert ran["r9"] >= 2 * max(others)


def test_the_copies_of_a_rule_keep_its_arguments_target_and_preconditions():
    rules = {r.function.__name__: r for r in FtraceMachine.setup_state().rules}
    for name, weight in selection_weights().items():
        original = rules[name]
        for i in range(2, weight + 1):
            copy = rules[f"{name}_{i}"]
            assert copy.arguments == original.arguments
            assert copy.targets == original.targets
            assert copy.preconditions == original.preconditions


def selection_weights():
    return machine.RULE_WEIGHTS


# ---------------------------------------------------------------- draws that follow the state

DRAWS = settings(RUN, max_examples=20, stateful_step_count=20, deadline=None)


def calls_drawn(rule_name, state, follow=None):
    """The share of each call of the rule's do_ method (its arguments) among the rule's
    400 draws, as a state machine draws them, each made on the no-op twin of the
    machine (tramproof bench's: the same rules and draws, no kernel) in the state the
    steps ``state`` leave.

    ``follow`` replaces the rule's own draw of whether to follow the state
    (False: the broken variant, which draws from every name as before).
    """
    rule_ = next(r for r in FtraceMachine.setup_state().rules if r.function.__name__ == rule_name)
    arguments = dict(rule_.arguments)
    if follow is not None:
        arguments["follow"] = st.just(follow)
    taken = Counter()

    class Draws(RuleBasedStateMachine):
        @rule(data=st.data())
        def draw(self, data):
            m = NoopMachine()
            for line in state:
                take(m, line)
            setattr(m, f"do_{rule_name}", lambda *args: taken.update([args]))
            rule_.function(m, **{name: data.draw(s) for name, s in arguments.items()})

    run_state_machine_as_test(Draws, settings=DRAWS)
    total = sum(taken.values())
    return {call: n / total for call, n in taken.items()}


def test_a_callback_follows_to_a_running_kprobe_and_the_function_it_probes():
    # tramp-recursion: a kprobe's handler calls the function it probes
    state = ["arm_kprobe_ftrace(f2)"]
    call = ("kprobe", "f2")
    following = calls_drawn("callback_calls", state).get(call, 0)
    everyone = calls_drawn("callback_calls", state, follow=False).get(call, 0)
    print(f"P(kprobe's callback calls f2): {following:.2f} following the state, {everyone:.2f} not")
    assert following >= 0.5 and everyone <= 0.1


def test_a_callback_stops_calling_only_where_it_calls():
    # "calls nothing" where nothing is called changes nothing: a step spent
    assert not [c for c in calls_drawn("callback_calls", []) if c[1] is None]
    calls = calls_drawn("callback_calls", ["arm_kprobe_ftrace(f2)", "kprobe's callback calls f2"])
    assert calls.get(("kprobe", None), 0) >= 0.2


# ---------------------------------------------------------------- weights that follow the state


def test_a_rule_weighed_while_a_state_holds_is_drawn_more_only_in_that_state():
    def share_of_r9(holds):
        ran = Counter()
        for example in rules_of_each_example(True, condition=lambda m: holds):
            ran.update(example)
        return ran["r9"] / sum(ran.values())

    on, off = share_of_r9(True), share_of_r9(False)
    print(f"P(r9): {on:.2f} while the state holds, {off:.2f} while it does not")
    assert on >= 2 * off


class Holds:
    """A machine whose every state method says ``value``."""

    def __init__(self, value):
        self.value = value

    def __getattr__(self, name):
        return lambda: self.value


def test_the_copies_of_a_rule_weighed_while_a_state_holds_need_that_state():
    rules = {r.function.__name__: r for r in FtraceMachine.setup_state().rules}
    for name, weight, condition in machine.STATE_WEIGHTS:
        for i in range(2, weight + 1):
            copy = rules[f"{name}_while_{condition}_{i}"]
            assert copy.arguments == rules[name].arguments
            # the rule's own preconditions, then the state's
            *own, holds = copy.preconditions
            assert tuple(own) == rules[name].preconditions
            assert holds(Holds(True)) and not holds(Holds(False))


def waits_after(m, state):
    for line in state:
        take(m, line)
    return m.perf_filter_waits(), m.perf_open()


def test_the_full_machine_and_its_twin_see_perf_filter_wait_alike():
    programs = {
        (): (False, False),
        ("ftrace_set_filter(perf, 'f1', reset=0)",): (True, False),
        ("ftrace_set_notrace(perf, 'f*', reset=1)",): (True, False),
        ("ftrace_set_filter(perf, 'f1', reset=0)", "ftrace_set_filter(perf, NULL, reset=1)"): (
            False,
            False,
        ),
        ("ftrace_set_filter(perf, 'f1', reset=0)", "perf_ftrace_function_register(perf)"): (
            False,
            True,
        ),
        (
            "ftrace_set_filter(perf, 'f1', reset=0)",
            "perf_ftrace_function_register(perf)",
            "perf_ftrace_function_unregister(perf)",
        ): (False, False),
    }
    for state, expected in programs.items():
        full = FtraceMachine()
        try:
            assert waits_after(full, state) == expected, state
        finally:
            full.teardown()
        assert waits_after(NoopMachine(), state) == expected, state


# ---------------------------------------------------------------- the twin draws alike


def programs_drawn(machine_class, examples=30):
    """Each example's do_ calls (name and arguments) in a derandomized run of
    ``machine_class``: what the rules drew, whatever the machine then did."""
    programs = []

    class Recorded(machine_class):
        def __init__(self):
            super().__init__()
            programs.append([])

    def recorded(name):
        def call(self, *args, **kwargs):
            programs[-1].append((name, args, sorted(kwargs.items())))
            return getattr(machine_class, name)(self, *args, **kwargs)

        return call

    for name in dir(machine_class):
        if name.startswith("do_"):
            setattr(Recorded, name, recorded(name))
    run_state_machine_as_test(
        Recorded, settings=settings(RUN, max_examples=examples, stateful_step_count=30)
    )
    return programs


class EntriesForgotten(NoopMachine):
    """A twin that keeps no module entries (the broken variant)."""

    def __init__(self):
        super().__init__()
        self.module_entries.set = lambda *args: None


def test_the_twin_draws_the_programs_the_full_machine_draws():
    full = programs_drawn(FtraceMachine)
    assert programs_drawn(NoopMachine) == full
    assert programs_drawn(EntriesForgotten) != full
    steps = [name for program in full for name, _, _ in program]
    assert {"do_load_module", "do_unload_module", "do_tracefs_filter"} <= set(steps)


# ---------------------------------------------------------------- module entries


def module_entries_of(exp):
    """(ops, which) -> the names of the loaded module functions a trace array's hash holds."""
    named = {}
    for ops in TRACE_ARRAYS:
        for which in ("filter", "notrace"):
            live = {e[1] for e in getattr(exp.hashes[ops], which) if type(e[0]) is int}
            if live:
                named[(ops, which)] = live
    return named


def entries_agree(entries_class):
    """Per step of a derandomized run of the full machine, with ``entries_class``
    keeping its module entries: whether they agree with the expectation's hashes,
    and whether they name a loaded module's function."""
    seen = Counter()

    class Checked(FtraceMachine):
        def __init__(self):
            super().__init__()
            self.module_entries = entries_class(self.functions)

        @invariant()
        def entries_agree(self):
            kept = {k: v for k, v in self.module_entries.entries.items() if v}
            seen[kept == module_entries_of(self.exp)] += 1
            seen["a loaded module named"] += self.module_entry_loaded()

    run_state_machine_as_test(
        Checked, settings=settings(RUN, max_examples=30, stateful_step_count=30)
    )
    return seen


class UnloadIgnored(ModuleEntries):
    """Module entries that keep naming an unloaded module's functions (the broken variant)."""

    def unloaded(self, names):
        pass


def test_module_entries_follow_the_expectations_hashes():
    seen = entries_agree(ModuleEntries)
    print(f"steps: {dict(seen)}")
    assert seen[False] == 0 and seen[True] > 300 and seen["a loaded module named"] > 10
    assert entries_agree(UnloadIgnored)[False] > 0


def test_the_full_machine_and_its_twin_see_module_entries_alike():
    mod0_a = ("insmod mod0", "echo 'mod0_a' >> set_ftrace_filter")
    programs = {
        mod0_a: True,
        ("insmod mod0", "echo '*_a' > set_ftrace_notrace"): True,
        ("insmod mod0", "ftrace_set_filter(instance, 'mod0_b', reset=0)"): True,
        (*mod0_a, "rmmod mod0"): False,
        # a stack_trace filter is not a trace array's: ftrace keeps it by address
        ("insmod mod0", "ftrace_set_filter(stack_trace, 'mod0_b', reset=0)"): False,
        (*mod0_a, "echo 'f1' > set_ftrace_filter"): False,
        (*mod0_a, "ftrace_set_filter(global_ops, NULL, reset=1)"): False,
        (*mod0_a, "echo '!mod0_a' >> set_ftrace_filter"): False,
        (*mod0_a, "echo '!mod0_b' >> set_ftrace_filter"): True,
        # a pattern that matches nothing is refused: the hash keeps its entry
        (*mod0_a, "ftrace_set_filter(global_ops, 'mod1_*', reset=1)"): True,
        (*mod0_a, "rmmod mod0", "insmod mod1"): False,
    }
    for state, expected in programs.items():
        for m in (FtraceMachine(), NoopMachine()):
            try:
                for line in state:
                    take(m, line)
                assert m.module_entry_loaded() == expected, (type(m).__name__, state)
            finally:
                m.teardown()


def test_module_entries_know_which_patterns_name_a_vmlinux_function():
    # a pattern that names no live function is refused, so the glob's reading matters
    names = S.vmlinux_names(64)
    for pattern in [*S.GLOBS, "f0", "f63", "f64", "mod0_a", "fx"]:
        named = any(fnmatchcase(name, pattern) for name in names)
        assert ModuleEntries(64).in_vmlinux(pattern) == named, pattern
