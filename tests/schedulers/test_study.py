"""The schedulers inside a study: YAML-style specs, composition with divergence stopping,
budget accounting, ask/report/tell, optimize with the inline executor, and resume."""

from __future__ import annotations

import math

import pytest

import hpsearch as hp
from hpsearch._registry import SCHEDULERS, resolve_scheduler
from hpsearch.testing.schedulers import synthetic_curves
from hpsearch.trial import TrialState

CURVES = synthetic_curves(40, seed=11, max_budget=27)
SPEC = {"divergence": {"metric": "loss", "upper_bound": 1e3},
        "asha": {"min_budget": 1, "max_budget": 27, "reduction_factor": 3}}


def objective(params, reporter):
    c = CURVES[params["curve"]]
    for b, v, m in zip(c.budgets, c.values, c.metrics, strict=True):
        reporter.report(b, v, **m)
    return {"accuracy": c.values[-1], "loss": c.metrics[-1]["loss"]}


def make_study(tmp_path, scheduler, name="s"):
    return hp.create_study(name, space={"curve": hp.Int(0, len(CURVES) - 1)}, metric="accuracy",
                           mode="max", storage=f"sqlite:///{tmp_path / 's.db'}",
                           scheduler=scheduler, seed=0)


def test_names_are_registered_and_exported():
    for name, cls in [("median", hp.MedianStoppingScheduler), ("asha", hp.ASHAScheduler),
                      ("hyperband", hp.HyperbandScheduler)]:
        assert name in SCHEDULERS and cls.name == name
    with pytest.raises(hp.InvalidParameterError, match="Did you mean 'asha'"):
        resolve_scheduler({"ashaa": {"max_budget": 9}})
    with pytest.raises(hp.InvalidParameterError, match="Bad arguments for scheduler 'median'"):
        resolve_scheduler({"median": {"max_budget": 9}})


def test_yaml_spec_composes_and_round_trips():
    s = resolve_scheduler(SPEC)
    assert isinstance(s, hp.CompositeScheduler)
    assert [type(m) for m in s.schedulers] == [hp.DivergenceScheduler, hp.ASHAScheduler]
    assert s.max_budget == 27
    assert resolve_scheduler(s.to_config()).to_config() == s.to_config()
    hb = resolve_scheduler({"hyperband": {"max_budget": 27}}, seed=5)
    assert hb.seed == 5  # the study's seed reaches the scheduler through the registry


def test_optimize_with_divergence_and_asha(tmp_path):
    study = make_study(tmp_path, SPEC)
    for i in range(len(CURVES)):
        study.enqueue({"curve": i})
    study.optimize(objective, n_trials=len(CURVES), executor=hp.InlineExecutor())
    trials = study.trials
    assert all(t.state.is_finished for t in trials)
    reasons = [t.reason or "" for t in trials if t.state == TrialState.STOPPED]
    assert any(r.startswith("divergence") for r in reasons)
    assert any(r.startswith("asha") for r in reasons)
    summary = study.budget_summary()
    assert summary["full"] == 27 * len(CURVES)
    assert summary["used"] == sum(t.budget_used for t in trials) < 0.5 * summary["full"]
    assert summary["fraction"] == pytest.approx(summary["used"] / summary["full"])
    # the best curve (by final value) is found or nearly
    best = max(c.values[-1] for c in CURVES if math.isfinite(c.values[-1]))
    assert study.best_value >= best - 0.05


def test_resume_decides_as_an_uninterrupted_run(tmp_path):
    straight = make_study(tmp_path, {"hyperband": {"max_budget": 27}}, name="straight")
    for i in range(len(CURVES)):
        straight.enqueue({"curve": i})
    straight.optimize(objective, n_trials=len(CURVES), executor=hp.InlineExecutor())

    first = make_study(tmp_path, {"hyperband": {"max_budget": 27}}, name="resumed")
    for i in range(len(CURVES)):
        first.enqueue({"curve": i})
    first.optimize(objective, n_trials=17, executor=hp.InlineExecutor())
    resumed = hp.load_study("resumed", storage=f"sqlite:///{tmp_path / 's.db'}")
    assert resumed.scheduler is not first.scheduler
    assert resumed.scheduler.to_config() == straight.scheduler.to_config()
    resumed.optimize(objective, n_trials=len(CURVES), executor=hp.InlineExecutor())

    def outcome(study):
        return [(t.params["curve"], t.state, t.reason, t.budget_used) for t in study.trials]

    assert outcome(resumed) == outcome(straight)
    assert any(t.state == TrialState.STOPPED for t in straight.trials)


def test_ask_report_tell(tmp_path):
    study = make_study(tmp_path, {"median": {"min_budget": 1, "min_trials": 2}})
    for value in (0.8, 0.7):
        t = study.ask({"curve": 0})
        for b in (1, 2, 3):
            assert study.report(t.number, b, value) == hp.Decision.CONTINUE
        study.tell(t.number, {"accuracy": value})
    t = study.ask({"curve": 1})
    d = study.report(t.number, 1, 0.1)
    assert d.is_stop and d.reason.startswith("median")
    assert study.trials[t.number].state == TrialState.STOPPED
    assert study.budget_summary() == {"used": 7.0, "full": 9.0, "fraction": 7 / 9}


OBJECTIVE_FILE = '''
def objective(params, reporter):
    x = params["x"]
    value = 0.0
    for epoch in range(1, 28):
        value = x * (1 - 0.5 ** epoch)  # higher x learns to a higher level
        reporter.report(epoch, value, loss=1e4 if x < 0.1 else 1 - value)
    return {"accuracy": value}
'''

STUDY_FILE = """
name: yaml-asha
objective: obj.py:objective
metric: accuracy
mode: max
space:
  x: {uniform: [0, 1]}
scheduler:
  divergence: {metric: loss, upper_bound: 100}
  asha: {min_budget: 1, max_budget: 27, reduction_factor: 3}
n_trials: 30
executor: {inline: {}}
storage: sqlite:///STORAGE
seed: 0
"""


def test_yaml_study_file_runs_divergence_with_asha(tmp_path):
    from hpsearch.config import load_study_file, prepare_run

    (tmp_path / "obj.py").write_text(OBJECTIVE_FILE)
    path = tmp_path / "study.yaml"
    path.write_text(STUDY_FILE.replace("STORAGE", str(tmp_path / "y.db")))
    plan = prepare_run(load_study_file(path))
    try:
        s = plan.study.scheduler
        assert isinstance(s, hp.CompositeScheduler)
        assert [m.name for m in s.schedulers] == ["divergence", "asha"]
        plan.optimize()
    finally:
        plan.executor.shutdown()
    trials = plan.study.trials
    assert len(trials) == 30 and all(t.state.is_finished for t in trials)
    for t in trials:  # divergent ones (x < 0.1) stop at their first report
        if t.params["x"] < 0.1:
            assert t.state == TrialState.STOPPED and t.budget_used == 1
    assert {t.budget_used for t in trials if t.state == TrialState.STOPPED} <= {1, 3, 9}
    summary = plan.study.budget_summary()
    assert summary["full"] == 27 * 30 and summary["used"] < 0.5 * summary["full"]
    best_x = max(t.params["x"] for t in trials)
    assert plan.study.best_trial.params["x"] == best_x  # monotone curves: ASHA keeps the best
