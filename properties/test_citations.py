"""Every function of the model cites the kernel C it follows, and every citation holds.

The rules and the grammar are in properties/citations.py.  The kernel trees
come from ``--reference DIR``, else ``$TRAMPROOF_REFERENCE``, else
``../shared/reference`` beside the project; without them the model's
citations are skipped, except in CI (``CI`` set), where that is a failure.
One test per unit of the model, so that a failure names the function:

    pytest properties/test_citations.py -k "model/kernel/trace/ftrace.py"

The checker's own tests use a small tree written here, so they run anywhere.
"""

import dataclasses
import os
from pathlib import Path

import pytest

from model import fixes
from properties import citations

PROJECT = Path(__file__).resolve().parent.parent
UNITS = citations.model_units(PROJECT)


def open_reference(option, environ):
    """The reference trees, or a skip (a failure in CI) saying where they were looked for."""
    root = citations.reference_root(option, environ, PROJECT)
    if root.is_dir():
        return citations.Reference(root)
    why = f"no kernel reference trees at {root} (--reference DIR or ${citations.ENV})"
    if environ.get("CI"):
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="session")
def reference(pytestconfig):
    return open_reference(pytestconfig.getoption("reference"), os.environ)


@pytest.mark.parametrize("unit", UNITS, ids=str)
def test_unit_cites_its_c(unit, reference):
    problems = citations.check(unit, reference)
    assert not problems, f"{unit} (line {unit.line}):\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("fix", fixes.CATALOGUE, ids=lambda f: f.id)
def test_catalogue_reason_opens_with_a_definition(fix, reference):
    """Each entry's line of C reasoning starts at a line that opens a C definition."""
    first = citations.citations(fix.why)[0]
    assert fix.why.startswith(first.text + ":"), fix.why
    opened = {n for lines in reference.definitions(first.file).values() for n in lines}
    assert first.line in opened, f"{fix.id}: {first.text} opens no definition"


def test_the_model_has_units():
    """The walk over model/ finds the modules and their functions (not an empty pass)."""
    files = {u.path for u in UNITS}
    assert "model/arch/x86/kernel/ftrace.py" in files and "model/kernel/trace/ftrace.py" in files
    names = {u.qualname for u in UNITS}
    assert {"ftrace_replace_code", "ftrace_ops", "Emu.probe_read"} <= names
    assert "ftrace_ops.__init__" not in names  # a dunder belongs to its class


# ---- the checker, on a tree of its own -------------------------------------------

DEMO_C = """\
/* a file of the demo tree */
static int demo_proto(int a);

static int
demo_func(int a,
\t  int b)
{
\treturn demo_proto(a);
}

#define DEMO_MACRO(x) (x)
struct demo_struct {
\tint a;
};
static int demo_var __read_mostly;
extern int demo_extern;
int demo_proto(int a)
{
\treturn a;
}
EXPORT_SYMBOL_GPL(demo_proto);
"""
DEMO_S = """\
ENTRY(demo_entry)
\tcall demo_func
GLOBAL(demo_global)
demo_label:
\tretq
END(demo_entry)
"""
C = "linux-9.9/kernel/demo.c"
S = "linux-9.9/arch/demo.S"


@pytest.fixture
def demo(tmp_path):
    (tmp_path / "linux-9.9/kernel").mkdir(parents=True)
    (tmp_path / "linux-9.9/arch").mkdir()
    (tmp_path / C).write_text(DEMO_C)
    (tmp_path / S).write_text(DEMO_S)
    return citations.Reference(tmp_path)


def problems_of(source, ref, qualname=None):
    """The checker's verdict on the one unit (or the named one) of a Python source."""
    units = [u for u in citations.units_in(source, "demo.py") if u.qualname]
    unit = units[0] if qualname is None else next(u for u in units if u.qualname == qualname)
    return citations.check(unit, ref)


HOLDS = {
    "own name": f'def demo_func(k):\n    """demo_func(): {C}:5"""\n',
    "the definition, not the prototype": f'def demo_proto(k):\n    """{C}:17"""\n',
    "in a comment": f'def demo_func(k):\n    """demo_func()."""\n    # as {C}:5 does\n',
    "named function": f'def helper(k):\n    """Not a C function: DEMO_MACRO() at {C}:11."""\n',
    "named struct": f'class demo:\n    """Not a C function: struct demo_struct at {C}:12"""\n',
    "named variable": f'def helper(k):\n    """Not a C function: `demo_var` at {C}:15."""\n',
    "asm labels": f'def helper(k):\n    """Not a C function: ``demo_entry`` ({S}:1), '
    f'`demo_global` at {S}:3, `demo_label` at {S}:4."""\n',
    "exempt": 'def helper(k):\n    """No C counterpart: the emulator\'s memory."""\n',
    "outside": f'def helper(k):\n    """C outside the reference: mm/helper.c; used by '
    f'demo_func() at {C}:5."""\n',
    "property pair": f'class demo_struct:\n    """{C}:12"""\n    @property\n    def a(self):\n'
    f'        """Not a C function: struct demo_struct at {C}:12."""\n'
    "    @a.setter\n    def a(self, v):\n        pass\n",
}

FAILS = {
    "line off by one": (f'def demo_func(k):\n    """{C}:6"""\n', "does not open demo_func"),
    "the type line": (f'def demo_func(k):\n    """{C}:4"""\n', "does not open demo_func"),
    "wrong file": (f'def demo_func(k):\n    """{S}:1"""\n', "defines no demo_func"),
    "prototype": (f'def demo_proto(k):\n    """{C}:2"""\n', "does not open demo_proto"),
    "export line": (f'def demo_proto(k):\n    """{C}:21"""\n', "does not open demo_proto"),
    "a call": (f'def demo_proto(k):\n    """{C}:8"""\n', "does not open demo_proto"),
    "extern": (f'def helper(k):\n    """Not a C function: `demo_extern` at {C}:16"""\n', "open"),
    "missing file": (
        'def demo_func(k):\n    """linux-9.9/kernel/gone.c:5"""\n',
        "no such file",
    ),
    "missing tree": (f'def demo_func(k):\n    """{C.replace("9.9", "0.1")}:5"""\n', "no such"),
    "range": (f'def demo_func(k):\n    """{C}:5-9"""\n', "not a range"),
    "no citation": ('def demo_func(k):\n    """demo_func()."""\n', "no citation opens"),
    "exempt but C": ('def demo_func(k):\n    """No C counterpart."""\n', "no citation opens"),
    "nothing said": ('def helper(k):\n    """Helps."""\n', "cites nothing"),
    "not C, cites nothing": ('def helper(k):\n    """Not a C function."""\n', "no citation"),
    "not C, cites wrongly": (
        f'def helper(k):\n    """Not a C function: demo_func() at {C}:6."""\n',
        "does not open demo_func",
    ),
    "not C, bare citation": (
        f'def helper(k):\n    """Not a C function, see {C}:5."""\n',
        "defines no helper",
    ),
    "outside, but there": (
        f'def helper(k):\n    """C outside the reference: kernel/demo.c; demo_func() at {C}:5"""\n',
        "is in linux-9.9",
    ),
    "outside, no user": ('def helper(k):\n    """C outside the reference: mm/x.c."""\n', "user"),
}


@pytest.mark.parametrize("case", HOLDS)
def test_checker_accepts(case, demo):
    assert problems_of(HOLDS[case], demo) == []


@pytest.mark.parametrize("case", FAILS)
def test_checker_catches(case, demo):
    source, expected = FAILS[case]
    problems = problems_of(source, demo)
    assert any(expected in p for p in problems), problems


def test_module_text_names_its_subject(demo):
    source = f'"""A module: {C}:5, and demo_func() at {C}:5."""\n\nX = 1  # demo_func() at {C}:6\n'
    (module,) = citations.units_in(source, "demo.py")
    problems = citations.check(module, demo)
    assert len(problems) == 2, problems
    assert "must name its subject" in problems[0] and "does not open demo_func" in problems[1]


def test_dunder_text_is_its_class(demo):
    source = (
        'class demo_struct:\n    """The struct."""\n\n    def __init__(self):\n'
        f"        # {C}:12\n        self.a = 0\n"
    )
    assert problems_of(source, demo, "demo_struct") == []


def test_missing_reference_skips_but_fails_in_ci(tmp_path):
    gone = str(tmp_path / "nowhere")
    with pytest.raises(pytest.skip.Exception):
        open_reference(gone, {})
    with pytest.raises(pytest.fail.Exception):
        open_reference(gone, {"CI": "true"})
    with pytest.raises(pytest.fail.Exception):
        open_reference(None, {"CI": "true", citations.ENV: gone})
    assert open_reference(str(tmp_path), {"CI": "true"}).root == tmp_path


def test_where_the_reference_comes_from(tmp_path):
    env = {citations.ENV: "from-env"}
    assert citations.reference_root("opt", env, tmp_path) == Path("opt")
    assert citations.reference_root(None, env, tmp_path) == Path("from-env")
    assert citations.reference_root(None, {}, tmp_path) == tmp_path / ".." / "shared" / "reference"


def test_definitions_of_the_real_c(reference):
    """Spot checks of the definition finder on the seed's own files."""
    arch = reference.definitions("linux-3.17.0+seed/arch/x86/kernel/ftrace.c")
    assert arch["ftrace_modify_code"] == {600}  # 207 is its prototype
    assert arch["ftrace_replace_code"] == {539}
    assert arch["create_trampoline"] == {710}
    header = reference.definitions("linux-3.17.0+seed/include/linux/ftrace.h")
    assert header["ftrace_ops"] == {133} and header["ftrace_rec_count"] == {321}
    asm = reference.definitions("linux-3.17.0+seed/arch/x86/kernel/mcount_64.S")
    assert asm["ftrace_caller"] == {51} and asm["ftrace_stub"] == {74, 165}
    assert asm["function_hook"] == {19, 21, 26, 153}


CORE = "kernel/trace/ftrace.c"


def test_real_citations_moved_or_misfiled_are_caught(reference):
    """Every citation of the x86 model, one line off or in another file, fails the check."""
    arch = [u for u in UNITS if u.path == "model/arch/x86/kernel/ftrace.py"]
    moved = 0
    for unit in arch:
        for c in citations.citations(unit.text):
            tree, _, path = c.file.partition("/")
            other = "arch/x86/kernel/ftrace.c" if path == CORE else CORE
            for wrong in (
                f"{c.file}:{c.line + 1}",
                f"{c.file}:{c.line - 1}",
                f"{tree}/{other}:{c.line}",
            ):
                bad = dataclasses.replace(unit, text=unit.text.replace(c.text, wrong))
                assert citations.check(bad, reference), f"{unit}: {wrong} passed"
                moved += 1
    assert moved >= 3 * len(arch)

