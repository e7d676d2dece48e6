from __future__ import annotations

import pytest

import hpsearch as hp
from hpsearch.exceptions import InvalidParameterError
from hpsearch.searchers.auto import AutoSearcher, _gp_available
from hpsearch.trial import Report, Trial, TrialState

CONTINUOUS = hp.SearchSpace({"x": hp.Float(-5, 5), "lr": hp.Float(1e-4, 1, log=True)})
GP = "gp" if _gp_available() else "tpe"


def test_default_searcher_is_auto_and_random_stays_explicit() -> None:
    space = {"x": hp.Float(0, 1)}
    assert isinstance(hp.create_study(space=space, storage="sqlite://").searcher, AutoSearcher)
    assert isinstance(hp.create_study(space=space, storage="sqlite://", searcher="random").searcher,
                      hp.RandomSearcher)


@pytest.mark.parametrize(("space", "kwargs", "want"), [
    (CONTINUOUS, {}, GP),
    (CONTINUOUS, {"noisy": True}, "tpe"),
    (CONTINUOUS, {"max_gp_dims": 1}, "tpe"),
    (hp.SearchSpace({"x": hp.Float(0, 1), "n": hp.Int(1, 9)}), {}, GP),
    (hp.SearchSpace({"x": hp.Float(0, 1), "c": hp.Categorical(["a", "b"])}), {}, GP),
    (hp.SearchSpace({"x": hp.Float(0, 1, step=0.1)}), {}, GP),
    (hp.SearchSpace({f"x{i}": hp.Float(0, 1) for i in range(17)}), {}, "tpe"),
    (hp.SearchSpace({"o": hp.Categorical(["a", "b"]),
                     "m": hp.Float(0, 1, when={"o": "a"})}), {}, "tpe"),
])
def test_rule_from_the_space(space: hp.SearchSpace, kwargs: dict, want: str) -> None:
    assert AutoSearcher(seed=0, **kwargs).choose(space, []) == want


def test_rule_from_the_history() -> None:
    s = AutoSearcher(seed=0, max_gp_trials=10)
    done = [Trial(number=i, state=TrialState.COMPLETED, params={"x": 0.0, "lr": 0.1}, value=1.0)
            for i in range(9)]
    assert s.choose(CONTINUOUS, done) == GP
    assert s.choose(CONTINUOUS, [*done, done[0]]) == "tpe"  # 10 trials: a long study
    stopped = [Trial(number=i, state=TrialState.STOPPED, params={"x": 0.0, "lr": 0.1},
                     value=1.0, reports=(Report(1, 1.0),)) for i in range(4)]
    assert AutoSearcher(seed=0).choose(CONTINUOUS, done[:6] + stopped) == "tpe"


def test_delegation_is_reproducible_and_resumes_identically(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"

    def f(p):  # type: ignore[no-untyped-def]
        return (p["x"] - 1) ** 2 + p["lr"]

    a = hp.create_study("a", space=CONTINUOUS, storage=url, seed=3)
    a.optimize(f, n_trials=14, executor=hp.InlineExecutor())
    b = hp.create_study("b", space=CONTINUOUS, storage=url, seed=3)
    b.optimize(f, n_trials=12, executor=hp.InlineExecutor())
    b = hp.load_study("b", storage=url)
    assert isinstance(b.searcher, AutoSearcher)
    b.optimize(f, n_trials=14, executor=hp.InlineExecutor())
    assert [t.params for t in b.trials] == [t.params for t in a.trials]


@pytest.mark.parametrize("kwargs", [{"max_gp_dims": 0}, {"max_gp_trials": 1.5}])
def test_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(InvalidParameterError, match="parameter of AutoSearcher"):
        AutoSearcher(**kwargs)
