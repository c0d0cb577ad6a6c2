"""tramproof bench: the figures are measured, the report has its shape, bad usage exits 2."""

import argparse
import io
import json
import sys

import pytest

from tramproof import bench

TINY = [
    "--sizes",
    "4,8",
    "--budget",
    "1",
    "--examples",
    "3",
    "--bugs",
    "tramp-loop",
    "--seeds",
    "1",
    "--cap",
    "300",
    "--calls",
    "20",
]


def run(argv):
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    out = io.StringIO()
    code = bench.bench(parser.parse_args(argv), out)
    return code, out.getvalue()


def test_json_report_holds_measured_figures():
    code, text = run([*TINY, "--json"])
    assert code == 0
    report = json.loads(text)
    assert report["machine"]["cpus"] >= 1 and report["machine"]["python"]
    assert [r["records"] for r in report["scaling"]] == [4, 8]
    for row in report["scaling"]:
        full, noop = row["full"], row["noop"]
        assert full["steps"] > 0 and full["examples"] > 0
        # the no-op twin ran the same examples (and further, to time enough steps)
        assert noop["steps"] >= full["steps"] and noop["examples"] >= full["examples"]
        assert full["cpu_ms_per_step"] > 0 and noop["cpu_ms_per_step"] > 0
        # the model alone ran exactly the full machine's steps
        model = row["model"]
        assert model["steps"] == full["steps"] and model["cpu_ms_per_step"] > 0
        # a ratio is the median of its rounds' ratios, one per round
        for name in ("full", "model"):
            rounds = row[f"{name}_over_noop_rounds"]
            assert len(rounds) == bench.ROUNDS == full["rounds"]
            assert row[f"{name}_over_noop"] == sorted(rounds)[len(rounds) // 2]
    # one wide and one narrow step per size: the wide one checks every function,
    # the narrow one a few, whatever the size
    assert [r["records"] for r in report["steps"]] == [4, 8]
    for row in report["steps"]:
        wide, narrow = row["wide"], row["narrow"]
        assert wide["functions_checked"] == row["records"]
        assert 0 < narrow["functions_checked"] < row["records"]
        for c in (wide, narrow):
            # step_s is the median of each repeat's model + checks, not a sum of medians
            assert min(c["model_s"], c["checks_s"], c["step_s"], c["full_check_s"]) > 0
    (bug,) = report["bugs"]
    assert bug["fix"] == "tramp-loop" and bug["found"] == 1
    assert isinstance(bug["median_examples"], int) and bug["median_seconds"] > 0
    assert bug["max_seconds"] == bug["median_seconds"]  # one seed
    assert bug["shrunk_steps"] == 3  # properties/golden/tramp-loop.txt
    emu = report["emulation"]
    assert emu["recorded_us"] > 0 and emu["bare_us"] > 0
    assert emu["ratio"] == pytest.approx(emu["recorded_us"] / emu["bare_us"], rel=0.01)
    assert emu["ratio_direct"] == pytest.approx(
        emu["recorded_us"] / emu["bare_direct_us"], rel=0.01
    )
    assert emu["ratio_as_emu"] == pytest.approx(
        emu["recorded_us"] / emu["bare_as_emu_us"], rel=0.01
    )
    assert report["peak_rss_mib"] > 10
    assert set(report["targets"]) == set(bench.TARGETS)
    assert all(t["met"] in (True, False) for t in report["targets"].values())


def test_a_spent_budget_still_times_one_step():
    """A round's budget on a loaded machine can pass before its first step ends."""
    assert bench.explore(bench.FtraceMachine, 4, 1e-9, 2)["steps"] == 1


def test_a_machine_s_rounds_add_up_to_one_exploration():
    runs = [
        {
            "examples": 2,
            "steps": 10,
            "seconds": 1.0,
            "cpu_seconds": 0.5,
            "functions_checked_per_step": 4.0,
            "first_boot_seconds": 0.2,
        },
        {
            "examples": 3,
            "steps": 30,
            "seconds": 2.0,
            "cpu_seconds": 1.5,
            "functions_checked_per_step": 8.0,
            "first_boot_seconds": 0.1,
        },
    ]
    total = bench.combined(runs)
    assert total["examples"] == 5 and total["steps"] == 40
    assert total["cpu_ms_per_step"] == 50.0  # 2 s of CPU over 40 steps
    assert total["steps_per_s"] == round(40 / 3.0, 2)
    assert total["functions_checked_per_step"] == 7.0  # weighted by steps
    assert total["first_boot_seconds"] == 0.2 and total["rounds"] == 2


def test_plain_text_names_every_section():
    code, text = run(
        ["--sizes", "4", "--budget", "0.5", "--examples", "2", "--bugs", "none", "--calls", "10"]
    )
    assert code == 0
    for words in (
        "steps of the state machine",
        "one step, every check on",
        "emulated traced call",
        "peak memory",
        "targets",
    ):
        assert words in text


def test_plot_to_a_bad_path_exits_2(tmp_path, capsys):
    code, text = run([*TINY, "--plot", str(tmp_path / "no" / "such" / "dir.png")])
    assert code == 2 and text == ""
    assert "cannot write the plot" in capsys.readouterr().err


def test_plot_without_matplotlib_exits_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    code, text = run([*TINY, "--plot", str(tmp_path / "steps.png")])
    assert code == 2 and text == ""
    assert "needs matplotlib" in capsys.readouterr().err


def test_bad_options_exit_2(capsys):
    assert run(["--sizes", "many"])[0] == 2
    assert run(["--bugs", "no-such-fix"])[0] == 2
    assert run(["--seconds", "0"])[0] == 2 and run(["--cap", "0"])[0] == 2
    assert "no-such-fix" in capsys.readouterr().err


def test_plot_is_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "steps.png"
    code, _ = run(
        [
            "--sizes",
            "4,8",
            "--budget",
            "0.3",
            "--examples",
            "2",
            "--bugs",
            "none",
            "--calls",
            "10",
            "--plot",
            str(path),
        ]
    )
    assert code == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_hunt_ends_at_its_bound_in_seconds_or_examples():
    examples, seconds = bench.find("tramp-loop", 0, limit=60)
    assert examples >= 1 and 0 < seconds < 60
    # the same hunt, out of time before its first example, or capped at one
    assert bench.find("tramp-loop", 0, limit=1e-9)[0] is None
    assert bench.find("tramp-loop", 0, limit=60, cap=1)[0] is None


def test_a_seed_that_did_not_find_the_bug_counts_as_slower_than_any_that_did():
    assert bench.median_or_none([3, 1, 2]) == 2
    assert bench.median_or_none([1, None, 2]) == 2
    assert bench.median_or_none([1, 2, 3, None]) == 2.5
    assert bench.median_or_none([1, None, None]) is None
    assert bench.median_or_none([None]) is None


def row(seconds, limit=60.0):
    """A per-bug row as bugs() makes it, from each seed's seconds (None: not found)."""
    runs = [(None if t is None else 1, limit if t is None else t) for t in seconds]
    median = bench.median_or_none([None if n is None else t for n, t in runs])
    return {
        "fix": "x",
        "seeds": len(runs),
        "found": sum(n is not None for n, _ in runs),
        "limit_seconds": limit,
        "examples": [n for n, _ in runs],
        "seconds": [t for _, t in runs],
        "median_seconds": median,
    }


def test_the_per_bug_targets_need_every_bug_fast_and_every_seed_within_60_s():
    def verdicts(*rows):
        t = bench.bug_targets(list(rows))
        return t["bug_median_seconds"]["met"], t["bug_every_seed_within_seconds"]["met"]

    assert verdicts(row([1, 2, 3, 4, 59])) == (True, True)
    assert verdicts(row([1, 2, 3, 4, 59]), row([5, 5, 5, 1, 1])) == (False, True)
    assert verdicts(row([1, 2, 3, 4, None])) == (True, False)
    assert verdicts(row([1, 2, 3, 4, 61], limit=120)) == (True, False)
    assert verdicts(row([1, None, None, 4, 1])) == (True, False)  # 3 of 5 found, median 4 s
    assert verdicts(row([1, None, None, 4, None])) == (False, False)
    # a seed that ran out of a 10 s bound may have found it within 60 s: not measured
    assert verdicts(row([1, 2, 3, 4, None], limit=10)) == (True, None)
