"""The hpsearch command: every command's happy path, its errors and exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from hpsearch import cli as cli_module
from hpsearch import load_study
from hpsearch.cli import cli

OBJECTIVE = """
def objective(params, reporter=None):
    v = (params["x"] - 1) ** 2
    if reporter is not None:
        for epoch in (1, 2, 3):
            reporter.report(epoch, v + 1.0 / epoch, loss=v)
    return {"value": v, "loss": v}


def always_fails(params):
    raise RuntimeError("no luck")
"""


@pytest.fixture(autouse=True)
def isolated_imports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Undo what loading objective files does to sys.path and sys.modules; work in tmp_path."""
    before = set(sys.modules)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HPSEARCH_STORAGE", raising=False)
    yield
    for name in set(sys.modules) - before:
        f = getattr(sys.modules[name], "__file__", None) or ""
        if f.startswith(str(tmp_path)) or name.startswith("_hpsearch_objective_"):
            del sys.modules[name]


@pytest.fixture
def study_file(tmp_path: Path) -> Path:
    (tmp_path / "obj.py").write_text(OBJECTIVE)
    p = tmp_path / "study.yaml"
    p.write_text(textwrap.dedent("""\
        name: demo
        objective: obj.py:objective
        metric: value
        mode: min
        space:
          x: {uniform: [-3, 3]}
          k: {choice: [a, b]}
        scheduler: divergence
        n_trials: 4
        executor: inline
        storage: sqlite:///db.sqlite
        seed: 7
        """))
    return p


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_error_line(r: Result) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("Error: "), r.stderr
    assert "Traceback" not in r.output
    return lines[0]


URL = "sqlite:///db.sqlite"


def test_run_then_readers(study_file: Path) -> None:
    r = invoke("run", str(study_file))
    assert r.exit_code == 0, r.output + r.stderr
    assert "4/4 finished" in r.stdout  # the plain progress line (stdout is not a terminal)
    assert "Best trial" in r.stdout and "Budget used: 12 of 12" in r.stdout
    study = load_study("demo", storage=URL)
    assert study.n_finished == 4

    r = invoke("ls", "--storage", URL)
    assert r.exit_code == 0 and "demo" in r.stdout
    listed = json.loads(invoke("ls", "--storage", URL, "--json").stdout)
    assert listed[0]["name"] == "demo" and listed[0]["counts"]["COMPLETED"] == 4
    assert listed[0]["best_value"] == pytest.approx(study.best_value)

    r = invoke("show", "demo", "--storage", URL)
    assert r.exit_code == 0 and "COMPLETED" in r.stdout and "1:" in r.stdout
    shown = json.loads(invoke("show", "demo", "--storage", URL, "--json").stdout)
    assert set(shown) == {"study", "trials", "budget"}
    assert shown["study"]["name"] == "demo" and shown["study"]["metric"] == "value"
    assert [t["number"] for t in shown["trials"]] == [0, 1, 2, 3]
    assert [rep["budget"] for rep in shown["trials"][0]["reports"]] == [1.0, 2.0, 3.0]
    assert "loss" in shown["trials"][0]["reports"][0]
    assert shown["budget"] == {"used": 12.0, "full": 12.0, "fraction": 1.0}

    r = invoke("best", "demo", "--storage", URL)
    assert r.exit_code == 0 and f"Best trial {study.best_trial.number}" in r.stdout
    best = json.loads(invoke("best", "demo", "--storage", URL, "--json").stdout)
    assert best["number"] == study.best_trial.number
    assert best["value"] == pytest.approx(study.best_value)
    assert best["params"] == study.best_params


def test_export_csv_and_json(study_file: Path, tmp_path: Path) -> None:
    assert invoke("run", str(study_file)).exit_code == 0
    study = load_study("demo", storage=URL)
    r = invoke("export", "demo", "--storage", URL, "--format", "csv")
    assert r.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 4
    assert {"number", "state", "value", "params.x", "params.k", "metrics.loss", "budget_used",
            "reason"} <= set(rows[0])
    for row, t in zip(rows, study.trials, strict=True):
        assert int(row["number"]) == t.number and row["state"] == "COMPLETED"
        assert float(row["params.x"]) == t.params["x"] and row["params.k"] == t.params["k"]
        assert float(row["value"]) == t.value and float(row["budget_used"]) == 3.0

    out = tmp_path / "trials.json"
    r = invoke("export", "demo", "--storage", URL, "--format", "json", "--output", str(out))
    assert r.exit_code == 0 and "Wrote 4 trials" in r.stderr
    data = json.loads(out.read_text())
    assert [t["params"] for t in data["trials"]] == [dict(t.params) for t in study.trials]


def test_run_refuses_an_existing_study_then_overwrite(study_file: Path) -> None:
    assert invoke("run", str(study_file)).exit_code == 0
    r = invoke("run", str(study_file))
    assert r.exit_code == 1
    line = one_error_line(r)
    assert "Study 'demo' exists in db.sqlite (4 finished trials)" in line
    assert "`hpsearch resume demo` continues it, --overwrite starts afresh" in line
    r = invoke("run", str(study_file), "--overwrite", "--n-trials", "2")
    assert r.exit_code == 0
    assert load_study("demo", storage=URL).n_finished == 2


def test_resume_continues_to_n_trials(study_file: Path) -> None:
    assert invoke("run", str(study_file), "--n-trials", "2").exit_code == 0
    assert load_study("demo", storage=URL).n_finished == 2
    r = invoke("resume", "demo", "--storage", URL)  # the stored n_trials (2) is reached
    assert r.exit_code == 0 and "already has 2 finished trials" in r.stdout
    r = invoke("resume", "demo", "--storage", URL, "--n-trials", "5")
    assert r.exit_code == 0, r.stderr
    study = load_study("demo", storage=URL)
    assert study.n_finished == 5
    # the first two trials are unchanged; the searcher's sequence continues
    assert [t.number for t in study.trials] == [0, 1, 2, 3, 4]
    assert invoke("resume", "demo", "--storage", URL).exit_code == 0
    assert load_study("demo", storage=URL).n_finished == 5  # 5 is now the stored total


def test_unknown_study_and_missing_storage(study_file: Path, tmp_path: Path) -> None:
    assert invoke("run", str(study_file)).exit_code == 0
    for cmd in ("show", "best", "export", "resume"):
        r = invoke(cmd, "nope", "--storage", URL)
        assert r.exit_code == 1
        assert "No study named 'nope' in db.sqlite" in one_error_line(r)
    r = invoke("show", "demo", "--storage", "sqlite:///missing.db")
    assert r.exit_code == 1
    assert "missing.db: no such file" in one_error_line(r)
    assert not (tmp_path / "missing.db").exists()
    r = invoke("ls")  # the default storage hpsearch.db does not exist here
    assert r.exit_code == 1 and "no such file" in one_error_line(r)
    assert not (tmp_path / "hpsearch.db").exists()


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("n_trials: 4", "n_trails: 4", "Error: n_trails: unknown key. Did you mean 'n_trials'?"),
    ("n_trials: 4", "n_trials: four", "Error: n_trials: must be an integer. Got 'four'."),
    ("x: {uniform: [-3, 3]}", "x: {uniform: [3, -3]}", "Error: space.x: Float needs low <= high"),
    ("scheduler: divergence", "scheduler: ashaa",
     "Error: scheduler: Unknown scheduler 'ashaa'. Did you mean 'asha'?"),
    ("mode: min", "mode: [min", "study.yaml: invalid YAML at line"),
    ("obj.py:objective", "obj.py:objectiv", "Error: objective: obj.py has no attribute"),
    ("obj.py:objective", "missing.py:objective", "Error: objective: no such file 'missing.py'"),
])
def test_study_file_mistakes_exit_2_with_one_line(study_file: Path, tmp_path: Path, old: str,
                                                  new: str, expected: str) -> None:
    study_file.write_text(study_file.read_text().replace(old, new))
    r = invoke("run", str(study_file))
    assert r.exit_code == 2
    assert expected in one_error_line(r)
    assert not (tmp_path / "db.sqlite").exists()  # nothing written


def test_non_mapping_study_file_and_usage_errors(tmp_path: Path) -> None:
    p = tmp_path / "list.yaml"
    p.write_text("- a\n- b\n")
    r = invoke("run", str(p))
    assert r.exit_code == 2 and "the top level must be a mapping" in one_error_line(r)
    assert invoke("run", str(tmp_path / "absent.yaml")).exit_code == 2
    assert invoke("run").exit_code == 2
    assert invoke("frobnicate").exit_code == 2
    assert invoke("export", "demo", "--format", "xml").exit_code == 2


def test_best_without_a_completed_trial(study_file: Path) -> None:
    study_file.write_text(study_file.read_text().replace("obj.py:objective", "obj.py:always_fails"))
    r = invoke("run", str(study_file), "--n-trials", "2")
    assert r.exit_code == 1  # every trial failed: scripts can tell
    assert ("No trial completed. First failure (trial 0): exception: RuntimeError: no luck"
            in r.stdout)
    r = invoke("best", "demo", "--storage", URL)
    assert r.exit_code == 1 and "has no completed trial yet" in one_error_line(r)
    shown = json.loads(invoke("show", "demo", "--storage", URL, "--json").stdout)
    assert [t["state"] for t in shown["trials"]] == ["FAILED", "FAILED"]
    assert shown["trials"][0]["reason"] == "exception"
    assert "RuntimeError: no luck" in shown["trials"][0]["traceback"]
    assert "exception: RuntimeError: no luck" in invoke("show", "demo", "--storage", URL).stdout


def test_ctrl_c_exits_130_with_resume_hint(study_file: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(self, callbacks=()):  # what Study.optimize raises after a clean stop
        raise KeyboardInterrupt

    monkeypatch.setattr("hpsearch.config.RunPlan.optimize", interrupted)
    r = invoke("run", str(study_file))
    assert r.exit_code == 130
    assert r.stderr.strip() == "Interrupted; `hpsearch resume demo` continues the study."

    def interrupted_early(*args, **kwargs):  # e.g. Ctrl-C while the objective imports torch
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_module, "prepare_run", interrupted_early)
    r = invoke("run", str(study_file))
    assert r.exit_code == 130 and r.stderr.strip() == "Interrupted before any trial started."


def test_live_display_on_a_terminal(study_file: Path) -> None:
    from hpsearch.config import load_study_file, prepare_run

    plan = prepare_run(load_study_file(study_file))
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=200)
    progress = cli_module._Progress(plan.study, 4, console)
    with progress:
        plan.optimize(callbacks=[progress])
    assert progress.snap["finished"] == 4 and progress.snap["counts"]["COMPLETED"] == 4
    assert "4/4 finished (completed 4, stopped 0, failed 0)" in buf.getvalue()
    assert "ETA" in progress.line()


def test_plain_progress_lines_are_periodic(study_file: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (study_file.parent / "slow.py").write_text(
        "import time\n\ndef objective(params):\n    time.sleep(0.1)\n    return params['x']\n")
    study_file.write_text(study_file.read_text().replace("obj.py:objective", "slow.py:objective"))
    monkeypatch.setattr(cli_module, "PLAIN_PROGRESS_INTERVAL", 0.05)
    r = invoke("run", str(study_file))
    assert r.exit_code == 0
    lines = [ln for ln in r.stdout.splitlines() if " finished (completed " in ln]
    assert len(lines) >= 4  # first, periodic ones, last
    assert lines[0].startswith("0/4 finished") and lines[-1].startswith("4/4 finished")


@pytest.mark.slow
def test_hpsearch_run_in_a_subprocess_with_two_local_workers(study_file: Path,
                                                             tmp_path: Path) -> None:
    text = study_file.read_text().replace("executor: inline", "executor: {local: {n_workers: 2}}")
    study_file.write_text(text.replace("n_trials: 4", "n_trials: 6"))
    exe = Path(sys.executable).with_name("hpsearch")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "hpsearch.cli"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([*cmd, "run", str(study_file)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=240, env=env)
    assert out.returncode == 0, out.stderr
    assert "6/6 finished (completed 6, stopped 0, failed 0)" in out.stdout
    study = load_study("demo", storage=f"sqlite:///{tmp_path}/db.sqlite")
    assert study.n_finished == 6
    assert all(len(t.reports) == 3 for t in study.trials)  # reports travelled from the workers


PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.mark.integration
def test_run_and_show_on_postgresql(study_file: Path) -> None:
    from hpsearch import StorageError, open_storage

    try:
        st = open_storage(PG_URL)
    except (StorageError, ImportError) as e:
        pytest.skip(f"PostgreSQL is not reachable: {e}")
    name = f"cli-test-{os.getpid()}"
    study_file.write_text(study_file.read_text().replace("name: demo", f"name: {name}"))
    try:
        r = invoke("run", str(study_file), "--storage", PG_URL, "--n-trials", "3")
        assert r.exit_code == 0, r.stderr
        shown = json.loads(invoke("show", name, "--storage", PG_URL, "--json").stdout)
        assert [t["state"] for t in shown["trials"]] == ["COMPLETED"] * 3
        r = invoke("resume", name, "--storage", PG_URL, "--n-trials", "4")
        assert r.exit_code == 0 and load_study(name, storage=PG_URL).n_finished == 4
    finally:
        st.delete_study(name)
        st.close()
