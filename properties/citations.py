"""The model's citations of the kernel C, and the rules that keep them from rotting.

A citation is ``linux-<tree>/<path>.<c|h|S>:<line>``, the path relative to
the reference folder (``linux-3.17.0+seed/kernel/trace/ftrace.c:1515``), in
a unit's docstring or in a comment inside it.  A unit is a top-level
function, a class, or a method other than a ``__dunder__`` one (those belong
to their class: their docstrings and comments count as the class's).  A
getter and setter of one property are one unit.

The subject of a citation is the C name written right before it, as
``NAME() at CIT``, ``struct NAME at CIT``, ```NAME` at CIT`` (or with double
backquotes), or the same with ``(CIT)`` instead of ``at CIT``; a citation
with none of these before it is about the unit's own name.  A citation is
one line (``:1524-1527`` is refused); the cited file must exist, and the
cited line must hold the subject's name where a definition of it starts,
at the start of the line: a function definition (not a prototype: its
parameter list is followed by ``{``), ``#define NAME``,
``struct``/``union``/``enum NAME {``, a file-scope variable definition (not
``extern``), or in assembly ``ENTRY(NAME)``, ``GLOBAL(NAME)``, ``NAME:`` or
``.macro NAME``.  The check reads no configuration: a definition under any
``#ifdef`` counts, the stub of an unmodelled configuration included.

Then, by the unit's name:

- a name that some reference file defines must be cited at one of its
  definitions;
- otherwise the unit says which of three it is, and:
  ``Not a C function``: it stands for C it names, and cites at least one;
  ``C outside the reference: <path>``: its C is in a file no reference tree
  holds (the test fails once one does), and it cites at least one C user;
  ``No C counterpart``: machinery of the model (the emulator, the loader,
  the catalogue), exempt.

Text outside every unit (module docstrings, comments) has no own name: its
citations must name their subject.
"""

import ast
import functools
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

ENV = "TRAMPROOF_REFERENCE"
DEFAULT = Path("..", "shared", "reference")  # beside the project, as the project is laid out

NOT_C = "Not a C function"
NO_C = "No C counterpart"
OUTSIDE = re.compile(r"C outside the reference: ([\w/.-]+\.[chS])\b")

CITATION = re.compile(
    r"(?P<file>linux-[\w.+-]+/[\w/.-]+?\.(?:c|h|S)):(?P<line>\d+)(?P<range>-\d+)?"
)
SUBJECT = re.compile(
    r"(?:struct\s+(?P<s>\w+)|(?P<f>\w+)\(\)|``(?P<b2>\w+)``|`(?P<b1>\w+)`)\s+(?:at\s+|\()\Z"
)

_DEFINE = re.compile(r"#\s*define\s+(\w+)")
_AGGREGATE = re.compile(r"(?:typedef\s+|static\s+)?(?:struct|union|enum)\s+(\w+)\s*\{")
_CALL_HEAD = re.compile(r"((?:[A-Za-z_]\w*[\s*]+)*?)([A-Za-z_]\w*)\s*\(")
_VARIABLE = re.compile(
    r"(?!extern\b|typedef\b|return\b|(?:struct|union|enum)\s+\w+\s*;)"
    r"(?:[A-Za-z_]\w*[\s*]+)+?([A-Za-z_]\w*)"
    r"\s*(?:\[[^\]]*\])?\s*(?:(?:__read_mostly|__initdata|__refdata|__maybe_unused)\s*)*(?:=|;)"
)
_ASM = re.compile(r"(?:(?:ENTRY|GLOBAL)\((\w+)\)|(\w+):|\.macro\s+(\w+))")
_ANNOTATIONS = {"__acquires", "__releases", "__must_hold"}  # sparse, on a line of their own
_SKIP = re.compile(r"\s+|/\*.*?\*/|//[^\n]*|[A-Za-z_]\w*", re.S)


@dataclass(frozen=True)
class Citation:
    file: str  # linux-<tree>/<path>, relative to the reference folder
    line: int
    subject: str | None  # None: the unit's own name
    text: str
    is_range: bool = False


@dataclass(frozen=True)
class Unit:
    """A function, class or method of the model, with its docstrings and comments."""

    path: str  # the module's file, relative to the project
    qualname: str  # "" for the text outside every unit
    line: int
    text: str

    @property
    def name(self):
        return self.qualname.rpartition(".")[2] or None

    def __str__(self):
        return f"{self.path}::{self.qualname or '<module>'}"


def citations(text):
    """Every citation in ``text``, with the subject written before it (if any)."""
    out = []
    for m in CITATION.finditer(text):
        s = SUBJECT.search(text, max(0, m.start() - 120), m.start())
        subject = s and next(g for g in s.group("s", "f", "b2", "b1") if g)
        out.append(
            Citation(m.group("file"), int(m.group("line")), subject, m.group(0), bool(m["range"]))
        )
    return out


def _opens_body(text, pos):
    """After the '(' at ``pos``: does the parameter list close and a '{' follow?"""
    depth = 0
    for i in range(pos, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if not depth:
                pos = i + 1
                break
    else:
        return False
    while pos < len(text):  # attributes (__acquires(x), __attribute__((...))) and comments
        m = _SKIP.match(text, pos)
        if m:
            pos = m.end()
            continue
        if text[pos] == "(":
            depth, start = 0, pos
            for i in range(start, len(text)):
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                if not depth:
                    pos = i + 1
                    break
            else:
                return False
            continue
        return text[pos] == "{"
    return False


def definitions_in(source, asm=False):
    """{name: {line, ...}}: the lines of ``source`` where a definition of each name starts."""
    lines = source.splitlines()
    offsets, total = [], 0
    for line in lines:
        offsets.append(total)
        total += len(line) + 1
    defs = {}
    for i, line in enumerate(lines):
        names = []
        m = _DEFINE.match(line)
        if m:
            names.append(m.group(1))
        elif asm:
            m = _ASM.match(line)
            if m:
                names.append(next(g for g in m.groups() if g))
        elif line[:1].isalpha() or line[:1] == "_":
            m = _AGGREGATE.match(line)
            if m:
                names.append(m.group(1))
            else:
                m = _CALL_HEAD.match(line)
                window = source[offsets[i] : offsets[i] + 4000]
                if m and m.group(2) not in _ANNOTATIONS and _opens_body(window, m.end() - 1):
                    names.append(m.group(2))
                elif not m:
                    m = _VARIABLE.match(line)
                    if m:
                        names.append(m.group(1))
        for name in names:
            defs.setdefault(name, set()).add(i + 1)
    return defs


class Reference:
    """A folder of kernel trees (linux-3.17.0/, linux-3.17.0+seed/, ...), read lazily."""

    def __init__(self, root):
        self.root = Path(root)
        self.trees = sorted(p.name for p in self.root.glob("linux-*") if p.is_dir())
        self._definitions = {}

    def exists(self, file):
        return (self.root / file).is_file()

    def definitions(self, file):
        """{name: {line, ...}} for one file of the reference (``linux-<tree>/<path>``)."""
        if file not in self._definitions:
            text = (self.root / file).read_text(errors="replace")
            self._definitions[file] = definitions_in(text, asm=file.endswith(".S"))
        return self._definitions[file]

    @functools.cached_property
    def defined(self):
        """{name: [file:line, ...]} over every C, header and assembly file of every tree."""
        out = {}
        for tree in self.trees:
            for path in sorted((self.root / tree).rglob("*")):
                if path.suffix not in (".c", ".h", ".S") or not path.is_file():
                    continue
                file = path.relative_to(self.root).as_posix()
                for name, lines in self.definitions(file).items():
                    out.setdefault(name, []).extend(f"{file}:{n}" for n in sorted(lines))
        return out


def check(unit, ref):
    """What is wrong with ``unit``'s citations under the rules above: a list of sentences."""
    problems, opened = [], set()
    for c in citations(unit.text):
        subject = c.subject or unit.name
        if c.is_range:
            problems.append(f"{c.text}: a citation is one line, not a range")
        elif not ref.exists(c.file):
            problems.append(f"{c.text}: no such file in the reference")
        elif subject is None:
            problems.append(f"{c.text}: outside a function, a citation must name its subject")
        else:
            at = ref.definitions(c.file).get(subject)
            if at and c.line in at:
                opened.add(subject)
                continue
            where = f"it opens at line {min(at, key=lambda n: abs(n - c.line))}" if at else (
                f"{c.file} defines no {subject}"
            )
            problems.append(f"{c.text}: line {c.line} does not open {subject}; {where}")
    name = unit.name
    if name is None:
        return problems
    if name in ref.defined:
        if name not in opened:
            problems.append(
                f"{name} is C ({ref.defined[name][0]}) but no citation opens its definition"
            )
    elif NO_C in unit.text:
        pass
    elif NOT_C in unit.text:
        if not opened:
            problems.append(f"{name} says {NOT_C!r} but no citation of the C it stands for holds")
    elif m := OUTSIDE.search(unit.text):
        held = [t for t in ref.trees if ref.exists(f"{t}/{m.group(1)}")]
        if held:
            problems.append(f"{m.group(1)} is in {', '.join(held)}: cite {name}'s definition there")
        if not opened:
            problems.append(f"{name}: its C is outside the reference, but no C user is cited")
    else:
        problems.append(
            f"{name} is defined in no reference file and cites nothing that holds: cite its C, "
            f"or say {NOT_C!r}, 'C outside the reference: <path>' or {NO_C!r}"
        )
    return problems


def _comments(source):
    """[(line, column, text)] of every comment in a Python source."""
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out.append((tok.start[0], tok.start[1], tok.string.lstrip("#").strip()))
    return out


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def units_in(source, path):
    """The units of one Python module (see the module docstring), in source order.

    A unit's comments are those between its first line and its last, and
    those after its last statement that are indented deeper than its ``def``
    or ``class``, up to the next statement at its own depth.
    """
    tree = ast.parse(source)
    comments = _comments(source)
    end = len(source.splitlines()) or 1
    found = {}  # qualname -> [line, [docstrings], [(first, last, column) spans]]

    def first_line(node):
        return min([node.lineno, *(d.lineno for d in node.decorator_list)])

    def spans_of(body, last):
        """(first, last, column) of each statement of ``body``, up to the next one's start."""
        starts = [first_line(n) if isinstance(n, _DEFS) else n.lineno for n in body]
        return [
            (first, (starts[i + 1] - 1) if i + 1 < len(body) else last, n)
            for i, (first, n) in enumerate(zip(starts, body, strict=True))
        ]

    def span(first, reach, node):
        return (first, node.end_lineno, reach, node.col_offset)

    def add(qualname, node, spans):
        entry = found.setdefault(qualname, [first_line(node), [], []])
        entry[1].append(ast.get_docstring(node) or "")
        entry[2].extend(spans)

    def visit(body, last, prefix, owner):
        holes = []
        for first, reach, node in spans_of(body, last):
            if not isinstance(node, _DEFS):
                continue
            qualname = prefix + node.name
            if isinstance(node, ast.ClassDef):
                add(qualname, node, [])
                inner = visit(node.body, reach, qualname + ".", qualname)
                found[qualname][2].extend((a, b, -1) for a, b in _minus((first, reach), inner))
                holes.append((first, reach))
            elif _dunder(node.name) and owner is not None:
                found[owner][1].append(ast.get_docstring(node) or "")
            else:
                add(qualname, node, [span(first, reach, node)])
                holes.append((first, reach))
        return holes

    top = visit(tree.body, end, "", None)
    module = [(a, b, -1) for a, b in _minus((1, end), top)]
    units = [Unit(path, "", 1, _join(ast.get_docstring(tree) or "", comments, module))]
    for qualname, (line, docs, spans) in found.items():
        units.append(Unit(path, qualname, line, _join("\n".join(docs), comments, spans)))
    return units


def _dunder(name):
    return name.startswith("__") and name.endswith("__")


def _minus(span, holes):
    """The parts of ``span`` (first, last line) outside the ``holes``."""
    out, start = [], span[0]
    for first, last in sorted(holes):
        if first > start:
            out.append((start, first - 1))
        start = max(start, last + 1)
    if start <= span[1]:
        out.append((start, span[1]))
    return out


def _within(n, col, spans):
    """Is a comment at line ``n``, column ``col`` in one of the spans?"""
    for s in spans:
        if len(s) == 3:  # (first, last, -1): every line
            if s[0] <= n <= s[1]:
                return True
        elif s[0] <= n <= s[1] or (s[1] < n <= s[2] and col > s[3]):
            return True
    return False


def _join(doc, comments, spans):
    """A unit's text: its docstrings, then its comments, one line each."""
    return "\n".join([doc, *(text for n, col, text in comments if _within(n, col, spans))])


def model_units(project):
    """Every unit of every module under ``project``/model, by file.

    A module's own text is a unit only when it cites something.
    """
    project = Path(project)
    units = []
    for path in sorted((project / "model").rglob("*.py")):
        rel = path.relative_to(project).as_posix()
        units.extend(
            u for u in units_in(path.read_text(), rel) if u.qualname or citations(u.text)
        )
    return units


def reference_root(option, environ, project):
    """The reference folder: --reference, else $TRAMPROOF_REFERENCE, else ../shared/reference."""
    if option:
        return Path(option)
    if environ.get(ENV):
        return Path(environ[ENV])
    return Path(project) / DEFAULT
