from __future__ import annotations

import numpy as np
from scipy.stats import qmc

import hpsearch as hp
from hpsearch.searchers.sobol import SobolSearcher, sobol_points
from hpsearch.trial import Trial, TrialState

SPACE = hp.SearchSpace({"x": hp.Float(0, 1), "y": hp.Float(1e-3, 1, log=True),
                        "n": hp.Int(1, 8), "c": hp.Categorical(["a", "b"])})


def test_kth_fresh_trial_gets_kth_point() -> None:
    pts = qmc.Sobol(4, scramble=True, seed=np.random.default_rng(5)).random_base2(4)
    s = SobolSearcher(seed=5)
    trials: list[Trial] = []
    for k in range(16):
        p = s.suggest(SPACE, trials, mode="min")
        assert p == SPACE.from_unit(pts[k])
        trials.append(Trial(number=k, state=TrialState.RUNNING, params=p))
    # a retry does not advance the sequence
    retry = Trial(number=16, state=TrialState.PENDING, params=trials[0].params, retry_of=0)
    assert s.suggest(SPACE, [*trials, retry], mode="min") == s.suggest(SPACE, trials, mode="min")


def test_points_are_a_prefix_of_one_sequence() -> None:
    assert np.array_equal(sobol_points(3, 5, 1), sobol_points(3, 300, 1)[:5])


def test_resumed_study_gets_the_same_points(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    a = hp.create_study("a", space=SPACE, storage=url, searcher="sobol", seed=2)
    a.optimize(lambda p: p["x"], n_trials=10, executor=hp.InlineExecutor())
    b = hp.create_study("b", space=SPACE, storage=url, searcher="sobol", seed=2)
    b.optimize(lambda p: p["x"], n_trials=4, executor=hp.InlineExecutor())
    b = hp.load_study("b", storage=url)
    b.optimize(lambda p: p["x"], n_trials=10, executor=hp.InlineExecutor())
    assert [t.params for t in b.trials] == [t.params for t in a.trials]
