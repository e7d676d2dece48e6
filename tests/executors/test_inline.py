import threading

import pytest

import hpsearch as hp


def make_study(tmp_path, space, **kw):
    return hp.create_study("s", space=space, storage=f"sqlite:///{tmp_path / 's.db'}", **kw)


def test_inline_runs_unpicklable_objectives_in_process(tmp_path):
    lock = threading.Lock()
    seen = []

    def objective(p):
        with lock:
            seen.append(p["x"])
        return p["x"]

    study = make_study(tmp_path, {"x": hp.Float(0, 1)}, seed=0)
    study.optimize(objective, n_trials=5, executor=hp.InlineExecutor())
    assert seen == [t.params["x"] for t in study.trials]


def test_inline_reports_and_stops(tmp_path):
    ran = []

    def objective(p, reporter):
        for e in range(1, 4):
            ran.append((p["x"], e))
            reporter.report(e, p["x"])
        return p["x"]

    study = make_study(tmp_path, {"x": hp.Categorical([1.0, float(9)])}, mode="max",
                       scheduler=hp.DivergenceScheduler(upper_bound=5))
    study.enqueue({"x": 9.0})
    study.enqueue({"x": 1.0})
    study.optimize(objective, n_trials=2, executor=hp.InlineExecutor())
    assert ran == [(9.0, 1), (1.0, 1), (1.0, 2), (1.0, 3)]
    assert [t.state for t in study.trials] == [hp.TrialState.STOPPED, hp.TrialState.COMPLETED]


def test_inline_exception_is_recorded(tmp_path):
    def objective(p):
        raise ValueError("bad trial")

    study = make_study(tmp_path, {"x": hp.Float(0, 1)})
    study.optimize(objective, n_trials=2, executor=hp.InlineExecutor())
    assert all(t.state is hp.TrialState.FAILED for t in study.trials)
    assert "bad trial" in study.trials[0].traceback
    with pytest.raises(ValueError, match="no completed trial"):
        _ = study.best_trial


def test_report_validates_its_arguments(tmp_path):
    def objective(p, reporter):
        reporter.report("one", 1.0)

    study = make_study(tmp_path, {"x": hp.Float(0, 1)})
    study.optimize(objective, n_trials=1, executor=hp.InlineExecutor())
    (t,) = study.trials
    assert t.state is hp.TrialState.FAILED and "budget" in t.traceback
