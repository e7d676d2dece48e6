"""Conditional search spaces end to end: declared in Python or YAML, searched, stored, reloaded."""

from __future__ import annotations

import pytest
import yaml

import hpsearch as hp

YAML_SPACE = """
optimizer: {choice: [sgd, adam]}
lr: {loguniform: [1e-4, 1]}
momentum: {uniform: [0, 1], when: {optimizer: sgd}}
"""

PY_SPACE = hp.SearchSpace({
    "optimizer": hp.Categorical(["sgd", "adam"]),
    "lr": hp.Float(1e-4, 1, log=True),
    "momentum": hp.Float(0, 1, when={"optimizer": "sgd"}),
})


def objective(p: dict) -> float:
    # sgd with high momentum is best; momentum exists only under sgd
    if p["optimizer"] == "sgd":
        return (p["momentum"] - 0.9) ** 2 + abs(p["lr"] - 0.01)
    assert "momentum" not in p
    return 0.5 + abs(p["lr"] - 0.001)


def test_yaml_declaration_equals_python() -> None:
    space = hp.SearchSpace.from_dict(yaml.safe_load(YAML_SPACE))
    assert space == PY_SPACE
    assert space["momentum"].when == {"optimizer": ("sgd",)}


@pytest.mark.parametrize("searcher", [
    "random", "sobol", "tpe", "auto",
    {"grid": {"values": {"lr": [1e-3, 1e-2], "momentum": [0.0, 0.5, 0.9]}}},
])
def test_study_stores_and_reloads_conditional_params(tmp_path, searcher) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'c.db'}"
    space = hp.SearchSpace.from_dict(yaml.safe_load(YAML_SPACE))
    study = hp.create_study("c", space=space, storage=url, searcher=searcher, seed=0)
    study.optimize(objective, n_trials=24, executor=hp.InlineExecutor())
    before = [dict(t.params) for t in study.trials]
    reloaded = hp.load_study("c", storage=url)
    after = [dict(t.params) for t in reloaded.trials]
    assert after == before
    assert {p["optimizer"] for p in after} == {"sgd", "adam"}
    for p in after:
        assert ("momentum" in p) == (p["optimizer"] == "sgd")
        reloaded.space.validate(p)
    if isinstance(searcher, dict):  # the grid: 2 lr x (3 momentum + 1 for adam), then it stops
        assert len(after) == 8
        assert len({tuple(sorted(p.items())) for p in after}) == 8


def test_tpe_learns_inside_a_branch() -> None:
    study = hp.create_study(space=PY_SPACE, storage="sqlite://", searcher="tpe", seed=1)
    study.optimize(objective, n_trials=60, executor=hp.InlineExecutor())
    late = [t.params for t in study.trials[30:]]
    assert sum(p["optimizer"] == "sgd" for p in late) >= 20
    assert study.best_params["optimizer"] == "sgd"
    assert abs(study.best_params["momentum"] - 0.9) < 0.1
