"""Fuzzed input: every invalid search space or study file raises an HpsearchError with a message.

Hypothesis generates specs in the dict forms users write (YAML shorthand and canonical), with
hostile values (huge, NaN, inf, numeric strings, wrong types, nested junk). A valid space must
then behave: samples validate, unit coordinates round-trip, the stored JSON form round-trips.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hpsearch.exceptions import ConfigError, HpsearchError
from hpsearch.space import SearchSpace

KINDS = ["uniform", "loguniform", "quniform", "randint", "choice", "float", "int", "categorical",
         "unifrom", "normal"]

numbers = st.one_of(
    st.integers(-5, 5), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
    st.floats(-10, 10), st.floats(1e-320, 1e-300), st.sampled_from([0, 1, 1e308, -1e308, 2**63]),
)
scalars = st.one_of(numbers, st.booleans(), st.none(), st.text(max_size=4),
                    st.sampled_from(["1e-3", "10", "nan", "inf", "-1", "1" * 400, "0x10"]))
junk = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=8)
arg_lists = st.lists(st.one_of(numbers, scalars), max_size=4)
arg_maps = st.dictionaries(st.sampled_from(["low", "high", "q", "log", "step", "choices", "x"]),
                           st.one_of(numbers, scalars, st.lists(scalars, max_size=3)), max_size=4)
when_values = st.one_of(scalars, st.lists(scalars, max_size=2))
whens = st.one_of(st.none(), junk, st.dictionaries(st.sampled_from(["a", "b", "c", "zz"]),
                                                   when_values, max_size=2))


@st.composite
def shorthand(draw: Any) -> Any:
    spec: dict[str, Any] = {draw(st.sampled_from(KINDS)): draw(st.one_of(arg_lists, arg_maps,
                                                                         scalars))}
    when = draw(whens)
    if when is not None:
        spec["when"] = when
    return spec


@st.composite
def canonical(draw: Any) -> Any:
    kind = draw(st.sampled_from(["float", "int", "categorical", "bogus", None]))
    spec: dict[str, Any] = {"type": kind} if kind is not None else {}
    spec.update(draw(arg_maps))
    if kind == "categorical":
        spec["choices"] = draw(st.one_of(st.lists(junk, max_size=4), junk))
    return spec


specs = st.one_of(shorthand(), canonical(), junk)
spaces = st.one_of(
    st.dictionaries(st.sampled_from(["a", "b", "c"]), specs, min_size=0, max_size=3),
    st.dictionaries(st.one_of(st.text(max_size=2), st.integers()), specs, max_size=2),
    junk,
)


def _check_valid_space(space: SearchSpace) -> None:
    rng = np.random.default_rng(0)
    again = SearchSpace.from_dict(json.loads(json.dumps(space.to_dict())))
    assert again == space
    for _ in range(5):
        params = space.sample(rng)
        space.validate(params)
        stored = json.loads(json.dumps(space.to_json_params(params), allow_nan=False))
        assert space.from_json_params(stored) == params
        u = space.to_unit(params)
        assert u.shape == (len(space),)
        active = u[~np.isnan(u)]
        assert np.all((active >= 0) & (active <= 1))
        space.validate(space.from_unit(u))
        space.validate(space.from_unit(rng.random(len(space))))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spaces)
def test_any_space_spec_is_valid_or_raises_a_search_space_error(data: Any) -> None:
    try:
        space = SearchSpace(data)
    except HpsearchError as e:
        assert str(e) and "\n" not in str(e)
        return
    _check_valid_space(space)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b"]), shorthand(), min_size=1, max_size=2))
def test_shorthand_specs_are_valid_or_raise(data: Any) -> None:
    try:
        space = SearchSpace(data)
    except HpsearchError as e:
        assert str(e) and "\n" not in str(e)
        return
    _check_valid_space(space)


@settings(max_examples=300, deadline=None)
@given(low=st.floats(allow_nan=False, allow_infinity=False),
       high=st.floats(allow_nan=False, allow_infinity=False),
       log=st.booleans(), step=st.one_of(st.none(), st.floats(min_value=1e-300, max_value=1e300)))
def test_float_of_any_finite_bounds_is_valid_or_raises(low: float, high: float, log: bool,
                                                       step: float | None) -> None:
    assume(not (log and step is not None))
    try:
        space = SearchSpace({"a": {"type": "float", "low": low, "high": high, "log": log,
                                   "step": step}})
    except HpsearchError:
        return
    _check_valid_space(space)


@settings(max_examples=300, deadline=None)
@given(low=st.integers(-(2**80), 2**80), high=st.integers(-(2**80), 2**80), log=st.booleans(),
       step=st.integers(1, 2**70))
def test_int_of_any_bounds_is_valid_or_raises(low: int, high: int, log: bool, step: int) -> None:
    try:
        space = SearchSpace({"a": {"type": "int", "low": low, "high": high, "log": log,
                                   "step": step}})
    except HpsearchError:
        return
    _check_valid_space(space)


# -- study files --------------------------------------------------------------------------------
VALID_FILE = {"name": "demo", "objective": "obj.py:objective", "space": {"x": {"uniform": [0, 1]}},
              "n_trials": 2, "executor": "inline", "storage": "sqlite:///db.sqlite"}
FILE_KEYS = ["name", "objective", "metric", "mode", "space", "searcher", "scheduler", "n_trials",
             "n_workers", "executor", "storage", "seed", "timeout", "trial_timeout",
             "max_retries", "bogus"]

study_files = st.one_of(
    junk,
    st.dictionaries(st.sampled_from(FILE_KEYS), st.one_of(junk, spaces), max_size=6),
    st.builds(lambda k, v: {**VALID_FILE, k: v}, st.sampled_from(FILE_KEYS),
              st.one_of(junk, spaces, shorthand())),
)


@settings(max_examples=300, deadline=None)
@given(study_files)
def test_any_study_file_dict_is_valid_or_raises_a_config_error(data: Any) -> None:
    from hpsearch.config import parse_study_config

    if not isinstance(data, dict):
        data = {"name": data}
    try:
        parse_study_config(data)
    except ConfigError as e:
        assert str(e) and "\n" not in str(e)


@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory: pytest.TempPathFactory) -> Any:
    d = tmp_path_factory.mktemp("cli")
    (d / "obj.py").write_text("def objective(params):\n    return params['x']\n")
    return d


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=study_files, raw=st.one_of(st.none(), st.text(max_size=40)))
def test_hpsearch_run_on_a_fuzzed_file_fails_with_one_line_and_exit_2(
        cli_dir: Any, monkeypatch: pytest.MonkeyPatch, data: Any, raw: str | None) -> None:
    from hpsearch.cli import cli

    monkeypatch.chdir(cli_dir)
    text = raw if raw is not None else yaml.safe_dump(_yaml_safe(data))
    path = cli_dir / "study.yaml"
    path.write_text(text)
    try:
        cfg = yaml.safe_load(text)
    except yaml.YAMLError:
        cfg = None
    if isinstance(cfg, dict) and _is_runnable(cfg):
        return  # a valid file would run a study: not what this test is about
    r = CliRunner().invoke(cli, ["run", str(path)], catch_exceptions=False)
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr


def _is_runnable(cfg: dict[str, Any]) -> bool:
    from hpsearch.config import parse_study_config

    try:
        parse_study_config(cfg)
    except ConfigError:
        return False
    return True


def _yaml_safe(x: Any) -> Any:
    """Map values YAML cannot dump safely (huge ints are fine; NaN becomes .nan)."""
    if isinstance(x, dict):
        return {str(k): _yaml_safe(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_yaml_safe(v) for v in x]
    if isinstance(x, float) and math.isnan(x):
        return float("nan")
    return x
