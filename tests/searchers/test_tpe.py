from __future__ import annotations

import math

import numpy as np
import pytest

import hpsearch as hp
from hpsearch.exceptions import InvalidParameterError
from hpsearch.searchers.random import RandomSearcher
from hpsearch.searchers.tpe import TPESearcher
from hpsearch.trial import Report, Trial, TrialState


def _run(searcher, space, f, n, *, fail=lambda p: False, mode="min"):  # type: ignore[no-untyped-def]
    trials: list[Trial] = []
    for i in range(n):
        p = searcher.suggest(space, trials, mode=mode)
        if fail(p):
            trials.append(Trial(number=i, state=TrialState.FAILED, params=p, reason="exception"))
        else:
            trials.append(Trial(number=i, state=TrialState.COMPLETED, params=p, value=f(p)))
    return trials


def _best(trials):  # type: ignore[no-untyped-def]
    return min(t.value for t in trials if t.value is not None)


SPHERE = hp.SearchSpace({f"x{i}": hp.Float(-5, 5) for i in range(3)})


def sphere(p):  # type: ignore[no-untyped-def]
    return sum((v - 1.0) ** 2 for v in p.values())


def test_beats_random_search_on_a_sphere() -> None:
    tpe = [_best(_run(TPESearcher(seed=s), SPHERE, sphere, 60)) for s in range(3)]
    rnd = [_best(_run(RandomSearcher(seed=s), SPHERE, sphere, 60)) for s in range(3)]
    assert np.median(tpe) < 0.5 * np.median(rnd)


def test_maximizes_in_max_mode() -> None:
    trials = _run(TPESearcher(seed=0), SPHERE, lambda p: -sphere(p), 60, mode="max")
    assert max(t.value for t in trials) > -1.0


def test_avoids_the_region_where_trials_fail() -> None:
    space = hp.SearchSpace({"x": hp.Float(0, 1), "y": hp.Float(0, 1)})
    # 70 % of the space fails: random search would succeed 30 % of the time
    trials = _run(TPESearcher(seed=1), space, lambda p: p["y"], 60, fail=lambda p: p["x"] > 0.3)
    late = trials[30:]
    assert sum(t.params["x"] <= 0.3 for t in late) >= 0.5 * len(late)


def test_exploits_the_best_category_and_integer() -> None:
    space = hp.SearchSpace({"c": hp.Categorical(["a", "b", "c", "d"]),
                            "n": hp.Int(1, 64, log=True)})

    def f(p):  # type: ignore[no-untyped-def]
        return (0.0 if p["c"] == "c" else 1.0) + abs(math.log2(p["n"]) - 3)

    late = _run(TPESearcher(seed=2), space, f, 60)[30:]
    assert sum(t.params["c"] == "c" for t in late) >= 0.6 * len(late)
    assert np.median([t.params["n"] for t in late]) in range(5, 13)


def test_steps_are_respected() -> None:
    space = hp.SearchSpace({"q": hp.Float(0, 1, step=0.1), "k": hp.Int(0, 100, step=5)})
    for t in _run(TPESearcher(seed=3, n_startup=3), space, lambda p: p["q"] + p["k"], 25):
        assert round(t.params["q"] * 10, 9).is_integer()
        assert t.params["k"] % 5 == 0


def test_stopped_trials_rank_below_completed_by_budget() -> None:
    space = hp.SearchSpace({"x": hp.Float(0, 1)})
    s = TPESearcher(seed=0)
    trials = [
        Trial(number=0, state=TrialState.STOPPED, params={"x": 0.1}, value=0.0,
              reports=(Report(1, 0.0),)),
        Trial(number=1, state=TrialState.COMPLETED, params={"x": 0.2}, value=5.0),
        Trial(number=2, state=TrialState.STOPPED, params={"x": 0.3}, value=3.0,
              reports=(Report(1, 1.0), Report(3, 3.0))),
        Trial(number=3, state=TrialState.COMPLETED, params={"x": 0.4}, value=4.0),
        Trial(number=4, state=TrialState.FAILED, params={"x": 0.5}),
        Trial(number=5, state=TrialState.RUNNING, params={"x": 0.6}),
        Trial(number=6, state=TrialState.FAILED, params={"x": 0.7}, reason="worker lost"),
        Trial(number=7, state=TrialState.COMPLETED, params={"x": 0.7}, value=9.0, retry_of=6),
    ]
    h = s._history(space, trials, "min")
    assert list(h.ranked) == [3, 1, 7, 2, 0]
    assert list(h.bad) == [4, 5]  # the failed attempt 6 is replaced by its retry
    h = s._history(space, trials, "max")
    assert list(h.ranked) == [7, 1, 3, 2, 0]


def test_seeded_study_is_reproducible_and_resumes_identically(tmp_path) -> None:
    space = {"x": hp.Float(-5, 5), "n": hp.Int(1, 10), "c": hp.Categorical(["a", "b"])}

    def f(p):  # type: ignore[no-untyped-def]
        return (p["x"] - 1) ** 2 + p["n"] + (p["c"] == "a")

    url = f"sqlite:///{tmp_path / 't.db'}"
    a = hp.create_study("a", space=space, storage=url, searcher="tpe", seed=7)
    a.optimize(f, n_trials=25, executor=hp.InlineExecutor())
    b = hp.create_study("b", space=space, storage=url, searcher="tpe", seed=7)
    b.optimize(f, n_trials=14, executor=hp.InlineExecutor())
    b = hp.load_study("b", storage=url)
    b.optimize(f, n_trials=25, executor=hp.InlineExecutor())
    assert [t.params for t in b.trials] == [t.params for t in a.trials]


@pytest.mark.parametrize("kwargs", [{"n_startup": 0}, {"n_ei_candidates": 0}, {"gamma": 0},
                                    {"gamma": 1.5}, {"prior_weight": 0}, {"n_startup": 2.0}])
def test_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(InvalidParameterError, match="parameter of TPESearcher"):
        TPESearcher(**kwargs)


def test_large_history_suggestion_is_valid() -> None:
    space = hp.SearchSpace({"x": hp.Float(0, 1), "n": hp.Int(1, 50), "c": hp.Categorical([1, 2])})
    rng = np.random.default_rng(0)
    trials = []
    for i in range(3000):
        p = space.sample(rng)
        trials.append(Trial(number=i, state=TrialState.COMPLETED, params=p, value=p["x"]))
    p = TPESearcher(seed=0).suggest(space, trials, mode="min")
    space.validate(p)
    assert p["x"] < 0.2
