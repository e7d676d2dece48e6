from __future__ import annotations

import json

import pytest

import hpsearch as hp
from hpsearch.exceptions import InvalidParameterError, SearchSpaceError
from hpsearch.searchers.grid import GridSearcher
from hpsearch.trial import Trial, TrialState

SPACE = hp.SearchSpace({
    "lr": hp.Float(1e-4, 1.0, log=True),
    "x": hp.Float(0.0, 1.0),
    "c": hp.Categorical(["a", "b"]),
    "k": hp.Int(1, 3),
})


def _key(p: dict) -> str:
    return json.dumps(p, sort_keys=True)


def test_study_runs_every_combination_once_then_stops() -> None:
    study = hp.create_study(space=SPACE, storage="sqlite://",
                            searcher=GridSearcher(values={"lr": [0.1, 0.01]}, n_points=5, seed=0))
    study.optimize(lambda p: p["x"], n_trials=100, executor=hp.InlineExecutor())
    params = [t.params for t in study.trials]
    assert len(params) == 2 * 5 * 2 * 3  # the grid is exhausted before n_trials
    assert len({_key(dict(p)) for p in params}) == len(params)
    assert {p["lr"] for p in params} == {0.1, 0.01}
    assert sorted({p["x"] for p in params}) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert {p["k"] for p in params} == {1, 2, 3}
    assert all(type(p["k"]) is int for p in params)
    assert study.searcher.is_exhausted(study.space, study.trials_view)


def test_running_and_pending_trials_count_as_taken() -> None:
    space = hp.SearchSpace({"c": hp.Categorical(["a", "b", "c"]), "k": hp.Int(0, 1)})
    study = hp.create_study(space=space, storage="sqlite://", searcher="grid", seed=3)
    study.enqueue({"c": "b", "k": 1})
    asked = [study.ask() for _ in range(6)]  # all RUNNING at once, as with 6 parallel workers
    keys = {_key(dict(t.params)) for t in asked}
    assert len(keys) == 6
    assert asked[0].params == {"c": "b", "k": 1}  # the pending one ran first, and only once
    assert study.searcher.is_exhausted(space, study.trials_view)


def test_seeded_order_and_plain_order() -> None:
    a = [GridSearcher(n_points=3, seed=1).suggest(SPACE, [], mode="min") for _ in range(2)]
    assert a[0] == a[1]
    plain = GridSearcher(n_points=3, shuffle=False)
    assert plain.suggest(SPACE, [], mode="min") == {"lr": 1e-4, "x": 0.0, "c": "a", "k": 1}


def test_conditional_grid_holds_only_valid_combinations() -> None:
    space = hp.SearchSpace({
        "optimizer": hp.Categorical(["sgd", "adam"]),
        "momentum": hp.Float(0.0, 1.0, when={"optimizer": "sgd"}),
        "lr": hp.Float(1e-3, 1e-1, log=True),
    })
    g = GridSearcher(values={"momentum": [0.0, 0.9], "lr": [1e-3, 1e-2]}, seed=0)
    assert g.grid_size(space) == 2 * 2 + 2
    trials: list[Trial] = []
    while not g.is_exhausted(space, trials):
        p = g.suggest(space, trials, mode="min")
        space.validate(p)
        trials.append(Trial(number=len(trials), state=TrialState.RUNNING, params=p))
    assert len(trials) == 6
    assert sum("momentum" in t.params for t in trials) == 4


def test_exhausted_grid_repeats_when_asked_again(caplog: pytest.LogCaptureFixture) -> None:
    space = hp.SearchSpace({"k": hp.Int(0, 1)})
    g = GridSearcher(seed=0)
    trials = [Trial(number=i, state=TrialState.COMPLETED, params={"k": i}, value=1.0)
              for i in range(2)]
    assert g.is_exhausted(space, trials)
    assert g.suggest(space, trials, mode="min")["k"] in (0, 1)
    assert "all 2 grid points are taken" in caplog.text


def test_large_int_uses_n_points_and_small_int_all_values() -> None:
    space = hp.SearchSpace({"big": hp.Int(1, 1000, log=True), "small": hp.Int(0, 4)})
    g = GridSearcher(n_points=5, shuffle=False)
    assert g.grid_size(space) == 5 * 5
    p = g.suggest(space, [], mode="min")
    assert p == {"big": 1, "small": 0}


@pytest.mark.parametrize(("kwargs", "space", "match"), [
    ({}, {"x": hp.Float(0, 1)}, "needs grid values for the continuous parameter 'x'"),
    ({"values": {"x": [2.0]}}, {"x": hp.Float(0, 1)}, "not a valid value"),
    ({"values": {"y": [1]}, "n_points": 3}, {"x": hp.Float(0, 1)}, "unknown parameter"),
])
def test_bad_grids_fail_at_first_suggest(kwargs: dict, space: dict, match: str) -> None:
    g = GridSearcher(**kwargs)
    with pytest.raises(SearchSpaceError, match=match):
        g.suggest(hp.SearchSpace(space), [], mode="min")


@pytest.mark.parametrize("kwargs", [{"n_points": 1}, {"n_points": 2.5}, {"values": {"x": []}},
                                    {"values": {"x": "ab"}}])
def test_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(InvalidParameterError):
        GridSearcher(**kwargs)
