"""The HTML report: contents of a real study, escaping, edge cases, the CLI command, a browser."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from plotly.offline import get_plotlyjs

import hpsearch as hp
from hpsearch import report as report_module
from hpsearch.cli import cli
from hpsearch.exceptions import MissingDependencyError
from hpsearch.report import render_report, write_report
from hpsearch.trial import Report, Trial, TrialState

EVIL = "<script>alert('x')</script>"
PLOTLY_JS_HEAD = get_plotlyjs()[:300]
CHROMIUM = "/usr/bin/chromium"


def objective(params, reporter):
    if params["opt"] == EVIL and params["layers"] == 3:
        raise ValueError(f"bad layers {EVIL}")
    loss = 5.0
    for epoch in range(1, 6):
        loss = loss * 3 if params["lr"] > 1 else loss * 0.8 + params["lr"]
        reporter.report(epoch, loss)
    return loss


def make_study(url: str, name: str = "demo") -> hp.Study:
    """A real small study: 4 COMPLETED, 2 STOPPED (divergence), 1 FAILED, a conditional param."""
    space = {"lr": hp.Float(1e-3, 10, log=True), "opt": hp.Categorical(["sgd", EVIL]),
             "momentum": hp.Float(0, 0.9, when={"opt": "sgd"}), "layers": hp.Int(1, 3)}
    study = hp.create_study(name, space=space, metric="loss", mode="min", storage=url,
                            searcher="random", seed=0,
                            scheduler=hp.DivergenceScheduler(upper_bound=20))
    for p in ({"lr": 0.01, "opt": "sgd", "momentum": 0.5, "layers": 1},
              {"lr": 5.0, "opt": "sgd", "momentum": 0.1, "layers": 2},   # diverges: STOPPED
              {"lr": 0.1, "opt": EVIL, "layers": 1},
              {"lr": 0.003, "opt": EVIL, "layers": 3},                   # raises: FAILED
              {"lr": 8.0, "opt": EVIL, "layers": 2},                     # diverges: STOPPED
              {"lr": 0.05, "opt": "sgd", "momentum": 0.9, "layers": 3},
              {"lr": 0.002, "opt": EVIL, "layers": 2}):
        study.enqueue(p)
    study.optimize(objective, n_trials=7, executor=hp.InlineExecutor())
    return study


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'db.sqlite'}"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[hp.Study, str]:
    path = tmp_path_factory.mktemp("report") / "db.sqlite"
    study = make_study(f"sqlite:///{path}")
    return study, render_report(study)


def test_real_study_report_contents(demo: tuple[hp.Study, str]) -> None:
    study, page = demo
    states = {t.number: t.state for t in study.trials}
    assert states == {0: TrialState.COMPLETED, 1: TrialState.STOPPED, 2: TrialState.COMPLETED,
                      3: TrialState.FAILED, 4: TrialState.STOPPED, 5: TrialState.COMPLETED,
                      6: TrialState.COMPLETED}
    # every plot, each with its data, and plotly.js embedded exactly once, nothing from a network
    for div in ("hp-history", "hp-curves", "hp-parallel", "hp-slices"):
        assert f'id="{div}"' in page
    assert page.count(PLOTLY_JS_HEAD) == 1
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I)
    assert "<link" not in page.lower()
    # the top table lists the COMPLETED trials best first, with their rank
    ranked = sorted((t for t in study.trials if t.state == TrialState.COMPLETED),
                    key=lambda t: t.value)
    top = page[page.index("<h2>Top 20 trials</h2>"):page.index("<h2>Failures</h2>")]
    rows = re.findall(r"<tr><td>(\d+)</td><td>(\d+)</td>", top)
    assert rows == [(str(i + 1), str(t.number)) for i, t in enumerate(ranked)]
    assert f"trial {ranked[0].number}: loss = {ranked[0].value:.6g}" in page  # header's best
    # the failures table: trial 3 with its reason and exception, escaped
    failures = page[page.index("<h2>Failures</h2>"):]
    assert re.findall(r"<tr><td>(\d+)</td><td>0</td><td>exception", failures) == ["3"]
    assert "ValueError: bad layers &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in failures
    # the learning curves name the stopped trials and mark where they stopped
    assert "trial 1" in page and "trial 4" in page and "stopped here" in page
    assert "COMPLETED 4 &middot; STOPPED 2 &middot; FAILED 1" in page
    assert '"(absent)"' in page and "lr (log scale)" in page  # momentum is conditional


def test_malicious_strings_are_escaped(demo: tuple[hp.Study, str], url: str) -> None:
    _, page = demo
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page  # params in the tables
    # a failure reason and a study name can carry markup too
    study = hp.create_study("<b>evil</b>", space={"x": hp.Float(0, 1)}, storage=url)
    t = study.ask()
    study.tell(t.number, failed=True, reason=f"reason {EVIL}")
    page = render_report(study)
    assert "<script>alert" not in page and "<b>evil" not in page
    assert "reason &lt;script&gt;" in page and "Study &lt;b&gt;evil&lt;/b&gt;" in page


def test_empty_study(url: str, tmp_path: Path) -> None:
    study = hp.create_study("empty", space={"x": hp.Float(0, 1)}, storage=url)
    out = write_report(study, tmp_path / "r.html")
    page = out.read_text()
    assert "No trial has finished yet." in page
    assert "No trial has reported an intermediate value." in page
    assert page.count("No COMPLETED trial with a finite value yet.") == 3  # 2 plots, 1 table
    assert "no COMPLETED trial yet" in page and "No trial failed." in page
    assert PLOTLY_JS_HEAD not in page  # no plot, no 4.8 MB of JavaScript


def test_no_completed_trial(url: str) -> None:
    study = hp.create_study("nocomp", space={"x": hp.Float(0, 1)}, storage=url,
                            scheduler=hp.DivergenceScheduler())
    t = study.ask()
    study.report(t.number, 1, 0.5)
    assert study.report(t.number, 2, math.inf).is_stop  # STOPPED with a non-finite value
    t2 = study.ask()
    study.tell(t2.number, failed=True, reason="exception")
    page = render_report(study)
    assert 'id="hp-history"' in page and 'id="hp-curves"' in page
    assert "no value (FAILED, NaN, inf)" in page  # both are marked on the history's axis
    assert "1 NaN or infinite reports are left out" in page
    assert 'id="hp-parallel"' not in page and 'id="hp-slices"' not in page
    assert page.count("No COMPLETED trial with a finite value yet.") == 3
    assert page.count(PLOTLY_JS_HEAD) == 1


def test_single_trial_with_nan_report_and_running_trial(url: str) -> None:
    study = hp.create_study("one", space={"x": hp.Float(2, 2), "c": hp.Categorical(["a"])},
                            storage=url)
    t = study.ask()
    study.report(t.number, 1, math.nan)
    study.report(t.number, 2, 0.25)
    study.tell(t.number, 0.25)
    running = study.ask()
    study.report(running.number, 1, 0.5)
    page = render_report(study)
    for div in ("hp-history", "hp-curves", "hp-parallel", "hp-slices"):
        assert f'id="{div}"' in page
    assert "1 NaN or infinite reports are left out" in page
    assert "Reports of 2 of the 2 trials" in page  # the RUNNING trial's curve too


def test_conditional_params_get_an_absent_tick() -> None:
    ABSENT = report_module._ABSENT  # noqa: N806
    dim = report_module._dimension("m", hp.Float(0, 1, when={"o": "a"}), [0.5, ABSENT])
    assert dim["ticktext"][0] == "(absent)" and dim["values"][1] == dim["tickvals"][0] < 0
    dim = report_module._dimension("lr", hp.Float(1e-4, 1, log=True), [1e-2])
    assert dim["label"] == "lr (log scale)" and dim["tickvals"] == [-4, -3, -2, -1, 0]
    assert math.isclose(dim["values"][0], -2, abs_tol=1e-6) and dim["ticktext"][0] == "0.0001"
    dim = report_module._dimension("c", hp.Categorical(["x", "y"]), ["y", ABSENT, "x"])
    assert list(dim["values"]) == [1, 2, 0] and dim["ticktext"] == ["x", "y", "(absent)"]


def test_learning_curves_of_large_studies_are_capped() -> None:
    trials = [Trial(number=i, state=TrialState.COMPLETED if i % 3 else TrialState.STOPPED,
                    params={"x": 0.0}, value=float(i % 500),
                    reports=(Report(1.0, float(i % 500)),)) for i in range(1000)]
    shown, n = report_module._curve_trials(trials, "min")
    best = {t.number for t in sorted(trials, key=lambda t: (t.value, t.number))[:200]}
    assert n == 1000
    assert len(shown) == report_module.MAX_CURVES_BEST + report_module.MAX_CURVES_SAMPLE
    assert best <= {t.number for t in shown}
    assert shown == report_module._curve_trials(trials, "min")[0]  # seeded sample


def test_missing_plotly_names_the_extra(demo: tuple[hp.Study, str],
                                        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    study, _ = demo
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'hpsearch\[dashboard\]'"):
        write_report(study, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()
    r = invoke("report", "demo", "--storage", study.storage.url, "-o", str(tmp_path / "r.html"))
    assert r.exit_code == 1 and "hpsearch[dashboard]" in one_error_line(r)
    assert not (tmp_path / "r.html").exists()


# -- the command ---------------------------------------------------------------------------------
def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_error_line(r: Result) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    return lines[0]


def test_cli_report(demo: tuple[hp.Study, str], tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    study, _ = demo
    monkeypatch.chdir(tmp_path)
    r = invoke("report", "demo", "--storage", study.storage.url)
    assert r.exit_code == 0, r.stderr
    out = tmp_path / "hpsearch-report-demo.html"
    assert "Wrote the report of 7 trials to hpsearch-report-demo.html" in r.stderr
    assert 'id="hp-curves"' in out.read_text()
    r = invoke("report", "demo", "--storage", study.storage.url, "--output", "sub.html")
    assert r.exit_code == 0 and (tmp_path / "sub.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hpsearch-report-demo.html", "sub.html"]


def test_cli_report_errors(demo: tuple[hp.Study, str], tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    study, _ = demo
    monkeypatch.chdir(tmp_path)
    r = invoke("report", "nope", "--storage", study.storage.url)
    assert r.exit_code == 1 and "No study named 'nope'" in one_error_line(r)
    r = invoke("report", "demo", "--storage", f"sqlite:///{tmp_path / 'missing.db'}")
    assert r.exit_code == 1 and "no such file" in one_error_line(r)
    r = invoke("report", "demo", "--storage", study.storage.url, "-o", "no/such/dir/r.html")
    assert r.exit_code == 1 and "Cannot write no/such/dir/r.html" in one_error_line(r)
    assert list(tmp_path.iterdir()) == []  # no storage, no report, no temporary file


def test_cli_report_while_a_driver_writes(url: str, tmp_path: Path) -> None:
    study = hp.create_study("live", space={"x": hp.Float(0, 1)}, storage=url, searcher="random")

    def slow(params, reporter):
        for epoch in (1, 2, 3):
            time.sleep(0.01)
            reporter.report(epoch, params["x"] / epoch)
        return params["x"]

    driver = threading.Thread(target=study.optimize, args=(slow,),
                              kwargs={"n_trials": 40, "executor": hp.InlineExecutor()})
    driver.start()
    try:
        outputs = []
        while driver.is_alive() and len(outputs) < 3:
            out = tmp_path / f"r{len(outputs)}.html"
            r = invoke("report", "live", "--storage", url, "-o", str(out))
            assert r.exit_code == 0, r.stderr
            outputs.append(out)
    finally:
        driver.join()
    assert outputs and all("Study live" in o.read_text() for o in outputs)
    r = invoke("report", "live", "--storage", url, "-o", str(tmp_path / "final.html"))
    assert r.exit_code == 0 and "40 recorded" in (tmp_path / "final.html").read_text()


# -- a real browser ------------------------------------------------------------------------------
@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(),
                    reason=f"no browser at {CHROMIUM} (apt-get install chromium to run it)")
def test_plots_render_in_headless_chromium(demo: tuple[hp.Study, str], tmp_path: Path) -> None:
    """The embedded plotly.js draws every plot offline (SVG roots and the parcoords)."""
    _, page = demo
    path = tmp_path / "r.html"
    path.write_text(page)
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
            path.as_uri()]
    dom = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True).stdout
    for div in ("hp-history", "hp-curves", "hp-parallel", "hp-slices"):
        assert re.search(rf'id="{div}"[^>]*class="[^"]*js-plotly-plot', dom), div
    assert dom.count('class="main-svg"') >= 8  # two SVG layers per plot
    assert 'class="parcoords"' in dom
