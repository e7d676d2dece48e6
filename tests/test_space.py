import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hpsearch as hp
from hpsearch.exceptions import SearchSpaceError
from hpsearch.space import SearchSpace, distribution_from_dict


# -- validation -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "factory, match",
    [
        (lambda: hp.Float(2, 1), "low <= high"),
        (lambda: hp.Float(0, 1, log=True), "low > 0"),
        (lambda: hp.Float(-1, 1, log=True), "low > 0"),
        (lambda: hp.Float(0, 1, step=0.3), "does not divide"),
        (lambda: hp.Float(0, 1, step=0), "step"),
        (lambda: hp.Float(0, 1, step=0.1, log=True), "log"),
        (lambda: hp.Float(0, float("inf")), "finite"),
        (lambda: hp.Float("a", 1), "real numbers"),
        (lambda: hp.Int(5, 1), "low <= high"),
        (lambda: hp.Int(0, 10, log=True), "low >= 1"),
        (lambda: hp.Int(0, 10, step=3), "does not divide"),
        (lambda: hp.Int(0.5, 10), "integer"),
        (lambda: hp.Int(0, 10, step=0), "step"),
        (lambda: hp.Categorical([]), "at least one"),
        (lambda: hp.Categorical([object()]), "JSON"),
        (lambda: hp.Categorical([1, 1]), "distinct"),
        (lambda: hp.Categorical("abc"), "list"),
        (lambda: hp.randint(5, 5), "high > low"),
        (lambda: SearchSpace({}), "empty"),
        (lambda: SearchSpace({"a": {"uniformm": [0, 1]}}), "Did you mean 'uniform'"),
        (lambda: SearchSpace({"a": {"uniform": [0, 1]}, "b": hp.Float(0, 1, when={"c": 1})}),
         "not in the space"),
        (lambda: SearchSpace({"a": hp.Categorical(["x"]), "b": hp.Float(0, 1, when={"a": "y"})}),
         "cannot take"),
        (lambda: SearchSpace({"a": hp.Float(0, 1, when={"b": 0.5}),
                              "b": hp.Float(0, 1, when={"a": 0.5})}), "cycle"),
    ],
)
def test_invalid_distributions_raise_search_space_error(factory, match):
    with pytest.raises(SearchSpaceError, match=match):
        factory()


def test_search_space_error_is_a_value_error_and_hpsearch_error():
    with pytest.raises(ValueError):
        hp.Float(1, 0)
    with pytest.raises(hp.HpsearchError):
        hp.Float(1, 0)


def test_constant_ranges_are_allowed():
    rng = np.random.default_rng(0)
    assert hp.Float(3.0, 3.0).sample(rng) == 3.0
    assert hp.Int(7, 7).sample(rng) == 7
    assert hp.Float(2.0, 2.0, log=True).from_unit(0.9) == 2.0


def test_randint_excludes_high_like_numpy():
    d = hp.randint(30, 100)
    rng = np.random.default_rng(1)
    values = {d.sample(rng) for _ in range(5000)}
    assert min(values) == 30 and max(values) == 99
    assert all(type(v) is int for v in values)


def test_spellings_map_onto_classes():
    assert hp.uniform(0, 1) == hp.Float(0, 1)
    assert hp.loguniform(1e-6, 10) == hp.Float(1e-6, 10, log=True)
    assert hp.quniform(0, 1, 0.25) == hp.Float(0, 1, step=0.25)
    assert hp.choice(["a", "b"]) == hp.Categorical(["a", "b"])


def test_loguniform_is_uniform_in_log_space():
    d = hp.loguniform(1e-6, 10)
    rng = np.random.default_rng(2)
    x = np.log10([d.sample(rng) for _ in range(20000)])
    assert x.min() >= -6 and x.max() <= 1
    # each decade gets about 1/7 of the mass
    hist, _ = np.histogram(x, bins=7, range=(-6, 1))
    assert np.all(np.abs(hist / len(x) - 1 / 7) < 0.02)


def test_int_log_and_step_values_valid():
    rng = np.random.default_rng(3)
    d = hp.Int(1, 1000, log=True)
    vals = [d.sample(rng) for _ in range(2000)]
    assert all(1 <= v <= 1000 and type(v) is int for v in vals)
    assert np.median(vals) < 100  # log scale puts half the mass below sqrt(1000)
    s = hp.Int(0, 20, step=5)
    assert {s.sample(rng) for _ in range(500)} == {0, 5, 10, 15, 20}


def test_categorical_returns_original_objects():
    choices = ["adam", 3, None, (64, 64), {"a": 1}]
    d = hp.Categorical(choices)
    rng = np.random.default_rng(0)
    seen = [d.sample(rng) for _ in range(200)]
    assert any(v is choices[3] for v in seen)
    # JSON round trip gives back the original tuple, not a list
    raw = json.loads(json.dumps((64, 64)))
    assert d.from_json_value(raw) is choices[3]


def test_yaml_shorthand_and_numeric_strings():
    space = SearchSpace({
        "learning_rate": {"loguniform": ["1e-6", 10]},  # YAML 1.1 reads 1e-6 as a string
        "batch_size": {"randint": [30, 100]},
        "dropout": {"uniform": [0, 1]},
        "stddev": {"float": {"low": 1e-3, "high": 10, "log": True}},
        "opt": {"choice": ["sgd", "adam"]},
        "momentum": {"uniform": [0, 1], "when": {"opt": "sgd"}},
    })
    assert space["learning_rate"] == hp.Float(1e-6, 10, log=True)
    assert space["batch_size"] == hp.Int(30, 99)
    assert space.is_conditional
    assert SearchSpace.from_dict(space.to_dict()) == space


def test_error_message_names_the_parameter():
    with pytest.raises(SearchSpaceError, match="'lr'"):
        SearchSpace({"lr": {"uniform": [1, 0]}})


def test_conditional_sampling_and_validation():
    space = SearchSpace({
        "momentum": hp.Float(0, 1, when={"opt": "sgd"}),  # declared before its parent
        "opt": hp.Categorical(["sgd", "adam"]),
    })
    assert list(space) == ["opt", "momentum"]
    rng = np.random.default_rng(0)
    for _ in range(100):
        p = space.sample(rng)
        assert ("momentum" in p) == (p["opt"] == "sgd")
        space.validate(p)
    with pytest.raises(SearchSpaceError, match="inactive"):
        space.validate({"opt": "adam", "momentum": 0.5})
    with pytest.raises(SearchSpaceError, match="missing"):
        space.validate({"opt": "sgd"})
    u = space.to_unit({"opt": "adam"})
    assert math.isnan(u[1])


def test_validate_rejects_unknown_and_out_of_range():
    space = SearchSpace({"x": hp.Float(0, 1), "n": hp.Int(1, 3)})
    with pytest.raises(SearchSpaceError, match="Unknown"):
        space.validate({"x": 0.5, "n": 1, "z": 1})
    with pytest.raises(SearchSpaceError, match="not a valid value"):
        space.validate({"x": 1.5, "n": 1})
    with pytest.raises(SearchSpaceError, match="not a valid value"):
        space.validate({"x": 0.5, "n": True})


# -- round trips (hypothesis) -----------------------------------------------------------------
@st.composite
def distributions(draw):
    kind = draw(st.sampled_from(["float", "flog", "fstep", "int", "ilog", "istep", "cat"]))
    if kind in ("float", "flog", "fstep"):
        low = draw(st.floats(1e-3 if kind == "flog" else -1e3, 1e3))
        width = draw(st.floats(0, 1e3))
        if kind == "fstep":
            step = draw(st.sampled_from([0.5, 0.25, 1.0, 2.0]))
            k = draw(st.integers(0, 50))
            return hp.Float(low, low + k * step, step=step)
        return hp.Float(low, low + width, log=kind == "flog")
    if kind in ("int", "ilog", "istep"):
        low = draw(st.integers(1 if kind == "ilog" else -1000, 1000))
        if kind == "istep":
            step = draw(st.integers(1, 7))
            return hp.Int(low, low + step * draw(st.integers(0, 30)), step=step)
        return hp.Int(low, low + draw(st.integers(0, 10000)), log=kind == "ilog")
    n = draw(st.integers(1, 6))
    return hp.Categorical([f"c{i}" for i in range(n)] + draw(st.lists(st.integers(), max_size=0)))


@settings(max_examples=300, deadline=None)
@given(distributions(), st.integers(0, 2**32 - 1))
def test_sample_is_contained_and_unit_round_trips(d, seed):
    rng = np.random.default_rng(seed)
    v = d.sample(rng)
    assert d.contains(v)
    u = d.to_unit(v)
    assert -1e-9 <= u <= 1 + 1e-9
    back = d.from_unit(u)
    if isinstance(d, hp.Float) and d.step is None:
        assert math.isclose(back, v, rel_tol=1e-9, abs_tol=1e-9)
    else:
        assert back == v
    assert distribution_from_dict("p", json.loads(json.dumps(d.to_dict()))) == d


@settings(max_examples=200, deadline=None)
@given(distributions(), st.floats(0, 1))
def test_from_unit_always_valid(d, u):
    assert d.contains(d.from_unit(u))


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text("abcdefgh", min_size=1, max_size=4), distributions(),
                       min_size=1, max_size=6), st.integers(0, 1000))
def test_space_json_round_trip(dists, seed):
    space = SearchSpace(dists)
    again = SearchSpace.from_dict(json.loads(json.dumps(space.to_dict())))
    assert again == space
    p = space.sample(np.random.default_rng(seed))
    space.validate(p)
    stored = json.loads(json.dumps(space.to_json_params(p)))
    assert again.from_json_params(stored) == p
    u = space.to_unit(p)
    assert u.shape == (len(space),)
    again.validate(again.from_unit(u))
