"""What a correct kernel traces, kept by the state machine beside the model.

Nothing here reads the model's accounting: the expectation follows the
users' own requests (who is running, with which filters) and the functions
that exist.  Decisions taken from the C about what "correct" means:

- A function is known by an identity that outlives its module.  When a
  module goes, the trace arrays' ops (global_ops, instances) forget its
  functions, as upstream's "Zero out ftrace hashes when a module is
  removed" does; every other ops keeps its entry by address, as the kernel
  leaves it then and now (its user owns the filter: kprobes remove theirs),
  so a function loaded later at that address is traced (or hidden) by it.
- The function graph tracer filters with global_ops' hashes (graph_ops
  shares them once fixed); it is a user of its own with no callback.
- With ftrace_enabled=0 nothing is called, though records keep their counts.
- perf's event counts in the records it traces from its open to its close,
  but its callback runs only while the event is enabled on this CPU (the
  model has one): control_ops_alloc() leaves it disabled until the first
  TRACE_REG_PERF_ADD.
- A write to set_ftrace_filter opened with O_TRUNC (``>``) empties the
  filter even when the pattern matches nothing: the write fails, the
  release still moves the emptied hash (ftrace_regex_release()).
- A function probe (``func:traceon``) fires where a probe was registered
  and not yet removed; the probe user's filter is the probed functions.
"""

from dataclasses import dataclass, field
from fnmatch import fnmatchcase


@dataclass
class User:
    """One ftrace user: the ops it owns and what it asked for."""

    name: str
    ops_name: str  # whose hashes it filters with ('global_ops' for function and graph)
    save_regs: bool = False
    static: bool = True
    active: bool = False
    enabled_here: bool = True  # a CONTROL user (perf): enabled on this CPU


@dataclass
class Hashes:
    """An ops' filter and notrace sets, as function identities."""

    filter: set = field(default_factory=set)
    notrace: set = field(default_factory=set)


class Expectation:
    """The users, their requests and the live functions."""

    def __init__(self, cleaned_on_unload):
        self.users = {}
        self.hashes = {}  # ops name -> Hashes
        self.live = {}  # identity -> function name
        self.names = {}  # function name -> identity of the live function
        self.ips = {}  # identity -> address of its call site
        self.order = []  # live identities, in the order they came
        self.rank = {}  # live identity -> its place in that order (a sort key)
        self.came = 0  # functions that ever came
        self.at = {}  # call site -> identity of the live function there
        self.ftrace_enabled = True
        # ops whose hashes ftrace itself cleans when a module goes (the trace
        # arrays'); the others keep an entry by address, as their users left it
        self.cleaned_on_unload = set(cleaned_on_unload)

    def add_user(self, user):
        self.users[user.name] = user
        self.hashes.setdefault(user.ops_name, Hashes())

    def add_function(self, identity, name, ip):
        self.live[identity] = name
        self.names[name] = identity
        self.ips[identity] = ip
        self.order.append(identity)
        self.rank[identity] = self.came
        self.came += 1
        self.at[ip] = identity

    def remove_function(self, identity):
        """A module's function goes; users' entries for it stay, by address, unless cleaned."""
        del self.names[self.live.pop(identity)]
        self.order.remove(identity)
        del self.rank[identity]
        ip = self.ips.pop(identity)
        del self.at[ip]
        for ops_name, h in self.hashes.items():
            for entries in (h.filter, h.notrace):
                if identity in entries:
                    entries.discard(identity)
                    entries.add(
                        ("dead", identity) if ops_name in self.cleaned_on_unload else ("addr", ip)
                    )

    def matches(self, pattern):
        """Identities of the live functions a filter pattern (no '!') names."""
        if "*" in pattern:
            return {i for i, n in self.live.items() if fnmatchcase(n, pattern)}
        return {self.names[pattern]} if pattern in self.names else set()

    def set_hash(self, ops_name, which, buf, reset):
        """Apply a ftrace_set_filter/notrace request; False if the kernel must refuse it."""
        target = getattr(self.hashes[ops_name], which)
        new = set() if reset else set(target)
        if buf:
            negate = buf.startswith("!")
            found = self.matches(buf[1:] if negate else buf)
            if not found:
                return False
            if negate:
                addrs = {("addr", self.ips[i]) for i in found}
                new = new - found - addrs
            else:
                new = new | found
        target.clear()
        target.update(new)
        return True

    def write_hash(self, ops_name, which, buf, trunc):
        """A write of buf to a tracefs filter file (``>`` when trunc), then its release.

        True if the write matched something; the hash is moved either way.
        """
        target = getattr(self.hashes[ops_name], which)
        if trunc:
            target.clear()
        return self.set_hash(ops_name, which, buf, False)

    def named(self, entries):
        """The identities hash entries name now: an address entry names the live
        function at that address (None if there is none)."""
        at = self.at
        return {at.get(e[1]) if e[0] == "addr" else e for e in entries}

    def admitted(self, ops_name, among=None):
        """Of the live functions (or of ``among``, live ones), those an ops' hashes
        admit: its filter's, or all of them, less its notrace's."""
        h = self.hashes[ops_name]
        among = self.live.keys() if among is None else among
        inside = self.named(h.filter) & among if h.filter else set(among)
        if h.notrace:
            inside -= self.named(h.notrace)
        return inside

    def tracer_groups(self):
        """The active users, grouped by the ops whose hashes they filter with."""
        groups = {}
        for u in self.users.values():
            if u.active:
                groups.setdefault(u.ops_name, []).append(u.name)
        return list(groups.items())

    def tracers(self, identity):
        """The active users that trace a live function, by name, sorted."""
        return list(self.tracers_of([identity])[0])

    def tracers_of(self, identities):
        """tracers() of each identity, as tuples; equal ones are one tuple.

        The users of an ops that filters nothing trace every function, so
        only the filtering ops are asked about each one; when none filters
        (a step that registered an ops with an empty filter changed every
        function), every function gets the same tuple and none is asked.
        """
        everyone, filtering = [], []
        for ops_name, names in self.tracer_groups():
            h = self.hashes[ops_name]
            if h.filter or h.notrace:
                filtering.append((ops_name, names))
            else:
                everyone += names
        if not filtering:
            return [tuple(sorted(everyone))] * len(identities)
        # which filtering ops admit each function: a few distinct answers,
        # each worked out into its tuple once
        among = set(identities)
        admitted = [self.admitted(ops_name, among) for ops_name, _ in filtering]
        answers = list(zip(*[map(a.__contains__, identities) for a in admitted], strict=True))
        tuples = {}
        for answer in set(answers):
            found = everyone.copy()
            for admits, (_, names) in zip(answer, filtering, strict=True):
                if admits:
                    found += names
            tuples[answer] = tuple(sorted(found))
        return list(map(tuples.__getitem__, answers))

    def callers(self, tracers):
        """Of a function's tracers, those whose callback runs now (perf only when enabled)."""
        return [t for t in tracers if self.users[t].enabled_here]
