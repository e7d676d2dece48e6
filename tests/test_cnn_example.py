"""End to end: the main job's CNN example, with few trials and epochs."""

from pathlib import Path

import pytest

import hpsearch as hp
from hpsearch._objective import load_objective
from hpsearch.config import load_study_file

pytest.importorskip("torch")
pytest.importorskip("sklearn")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "cnn_digits"


def test_study_file_is_the_reference_workload():
    cfg = load_study_file(EXAMPLE / "study.yaml")
    assert (cfg.name, cfg.metric, cfg.mode, cfg.n_trials) == ("cnn-digits", "accuracy", "max", 100)
    space = hp.SearchSpace.from_dict(cfg.space)
    assert dict(space) == {
        "learning_rate": hp.Float(1e-6, 10, log=True),
        "batch_size": hp.Int(30, 99),
        "dropout": hp.Float(0, 1),
        "stddev": hp.Float(1e-3, 10, log=True),
    }
    sched = hp.DivergenceScheduler(**cfg.scheduler["divergence"])
    assert sched.metric == "loss"


@pytest.mark.slow
def test_cnn_search_learns_and_stops_diverging_runs(tmp_path):
    objective = load_objective("train.py:objective", EXAMPLE)
    train = __import__(type(objective).__module__)
    short = train.make_objective(max_epochs=3)
    cfg = load_study_file(EXAMPLE / "study.yaml")
    div = dict(cfg.scheduler["divergence"], grace_budget=2)
    study = hp.create_study("cnn", space=cfg.space, metric="accuracy", mode="max",
                            storage=f"sqlite:///{tmp_path / 'cnn.db'}", seed=0,
                            scheduler={"divergence": div})
    good = {"learning_rate": 0.05, "batch_size": 32, "dropout": 0.2, "stddev": 0.05}
    exploding = {"learning_rate": 10.0, "batch_size": 32, "dropout": 0.2, "stddev": 5.0}
    study.enqueue(good)
    study.enqueue(exploding)
    with hp.LocalExecutor(n_workers=2) as ex:
        study.optimize(short, n_trials=6, executor=ex)
    trials = study.trials
    assert len(trials) == 6 and study.n_finished == 6
    assert trials[0].state is hp.TrialState.COMPLETED
    assert trials[0].value > 0.9  # 3 epochs of a sane configuration learn the digits
    assert [r.budget for r in trials[0].reports] == [1, 2, 3]
    assert trials[1].state is hp.TrialState.STOPPED
    assert trials[1].reason.startswith("divergence")
    assert trials[1].budget_used < 3
    assert study.best_trial.value >= trials[0].value
    assert all(t.state in (hp.TrialState.COMPLETED, hp.TrialState.STOPPED) for t in trials)
