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
        assert row["full_over_noop"] == round(full["cpu_ms_per_step"] / noop["cpu_ms_per_step"], 2)
        # the model alone ran exactly the full machine's steps
        model = row["model"]
        assert model["steps"] == full["steps"] and model["cpu_ms_per_step"] > 0
        assert row["model_over_noop"] == round(
            model["cpu_ms_per_step"] / noop["cpu_ms_per_step"], 2
        )
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
    assert bug["shrunk_steps"] == 3  # properties/golden/tramp-loop.txt
    emu = report["emulation"]
    assert emu["recorded_us"] > 0 and emu["bare_us"] > 0
    assert emu["ratio"] == pytest.approx(emu["recorded_us"] / emu["bare_us"], rel=0.01)
    assert report["peak_rss_mib"] > 10
    assert set(report["targets"]) == set(bench.TARGETS)
    assert all(t["met"] in (True, False) for t in report["targets"].values())


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
