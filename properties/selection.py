"""How the state machine picks its next step: every rule in every example, some rules
drawn more often than others.

hypothesis (6.170) has no rule weights: each step's rule is drawn uniformly
among the rules whose preconditions hold and which the example's swarm
testing left enabled (``RuleStrategy`` draws, once per example, a random
subset of the rules to disable).  Both are changed here, as measured on the
catalogue's hunts (``tramproof bench``'s per-bug figures, README "Speed and
scale"):

- ``every_rule``: swarm testing off.  Most of the catalogue's bugs need 3 to
  5 different rules in one program, and an example whose swarm disabled any
  of them cannot find the bug; with it off, 13 of 17 bugs took fewer
  examples and the 3 that 60 s did not find were found.
- ``weigh``: a rule of weight w is listed w times, as w rules of one body,
  arguments, target and preconditions: hypothesis's own printout names the
  copies ``<rule>_2``, ``<rule>_3``, but the program in kernel words (the
  machine's notes, the golden files, replay) is the same whichever copy ran,
  and each copy shrinks as the rule does.  A subclass that overrides a rule
  method must override its copies too (none does: NoopMachine overrides the
  ``do_`` methods the rules call).
- ``weigh_while``: copies that also need a state of the machine (a method
  that returns True), so that a rule is drawn more often only in that state.
"""

from hypothesis import strategies as st
from hypothesis.stateful import RULE_MARKER, precondition, rule


class EveryRule:
    """The enabled-rules flags of an example with every rule enabled."""

    def is_enabled(self, name):
        return True


EVERY_RULE = st.just(EveryRule())


def every_rule(machine):
    """Turn swarm testing off for ``machine`` (a RuleBasedStateMachine, just made).

    hypothesis draws the enabled rules of an example from its rule
    strategy's ``enabled_rules_strategy``; a release without it has no swarm
    to turn off (tests/test_selection.py says if that changes).
    """
    strategy = machine._rules_strategy
    if hasattr(strategy, "enabled_rules_strategy"):
        strategy.enabled_rules_strategy = EVERY_RULE


def weigh(cls, weights):
    """Give each rule ``name`` of ``cls`` the weight ``weights[name]`` (copies of it)."""
    for name, weight in sorted(weights.items()):
        original = getattr(getattr(cls, name), RULE_MARKER)
        for i in range(2, weight + 1):
            setattr(cls, f"{name}_{i}", copy_of(original, f"{name}_{i}", cls))
    return cls


def weigh_while(cls, weights):
    """For each (rule ``name``, ``weight``, ``condition``) of ``weights``: weight - 1
    copies of the rule that also need the machine's method ``condition`` to return
    True, so that in that state the rule is drawn ``weight`` times as often."""
    for name, weight, condition in weights:
        original = getattr(getattr(cls, name), RULE_MARKER)
        for i in range(2, weight + 1):
            copy_name = f"{name}_while_{condition}_{i}"
            holds = precondition(lambda self, c=condition: getattr(self, c)())
            setattr(cls, copy_name, holds(copy_of(original, copy_name, cls)))
    return cls


def copy_of(original, name, cls):
    """A rule named ``name`` with ``original``'s body, arguments, target and preconditions."""

    def body(self, **kwargs):
        return original.function(self, **kwargs)

    body.__name__ = body.__qualname__ = name
    arguments = dict(original.arguments)
    if original.targets:
        (target,) = original.targets
        arguments["target"] = getattr(cls, target)
    copy = rule(**arguments)(body)
    for condition in original.preconditions:
        copy = precondition(condition)(copy)
    return copy
