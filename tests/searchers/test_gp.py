"""GPSearcher: LogEI numerics, model gradients, optimization quality, parallel asks, rebuild."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
import scipy.special

import hpsearch as hp
from hpsearch.exceptions import InvalidParameterError, SearchSpaceError
from hpsearch.searchers import _gp_math
from hpsearch.searchers.gp import GPSearcher, _Encoding, _warp
from hpsearch.trial import Trial, TrialState

# -- test functions --------------------------------------------------------------------------

BRANIN_SPACE = hp.SearchSpace({"x1": hp.Float(-5.0, 10.0), "x2": hp.Float(0.0, 15.0)})
HARTMANN_SPACE = hp.SearchSpace({f"x{i}": hp.Float(0.0, 1.0) for i in range(6)})
_HA = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_HP = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                       [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_HALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def branin(p: dict) -> float:  # minimum 0.397887
    x1, x2 = p["x1"], p["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def hartmann6(p: dict) -> float:  # minimum -3.32237
    x = np.array([p[f"x{i}"] for i in range(6)])
    return -float(_HALPHA @ np.exp(-(_HA * (x - _HP) ** 2).sum(1)))


def run(searcher: hp.Searcher, space: hp.SearchSpace, f, n: int, mode: str = "min") -> list[Trial]:
    trials: list[Trial] = []
    for i in range(n):
        p = searcher.suggest(space, tuple(trials), mode=mode)
        space.validate(p)
        trials.append(Trial(number=i, state=TrialState.COMPLETED, params=p, value=f(p)))
    return trials


def best(trials: list[Trial]) -> float:
    return min(t.value for t in trials if t.value is not None)


# -- LogEI and the model ---------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _one_blas_thread():
    # as GPSearcher.suggest does: small matrices are slow on a busy machine's BLAS threads
    with _gp_math.one_blas_thread():
        yield


def test_log_h_is_finite_and_matches_the_naive_formula_where_representable() -> None:
    z = np.linspace(-40.0, 40.0, 801)
    got = _gp_math.log_h(z)
    assert np.all(np.isfinite(got))
    assert np.all(np.diff(got) > 0)  # h is increasing
    naive = np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi) + z * scipy.special.ndtr(z)
    ok = naive > 1e-12  # where cancellation leaves the naive formula accurate
    assert ok.sum() > 300
    np.testing.assert_allclose(got[ok], np.log(naive[ok]), rtol=1e-9, atol=1e-12)
    # far tail: h(z) ~ phi(z) / z**2 (Ament et al. 2023, eq. 9, third branch)
    for zz in (-1e3, -1e9):
        want = (-0.5 * zz**2 - 0.5 * math.log(2 * math.pi) - 2 * math.log(-zz)
                + math.log1p(-3 / zz**2 + 15 / zz**4))
        assert _gp_math.log_h(np.array([zz]))[0] == pytest.approx(want, rel=1e-12)


def test_log_ei_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(0)
    X = rng.random((25, 3))
    X[:, 2] = rng.integers(0, 3, 25)  # a categorical column
    is_cat = np.array([False, False, True])
    y = np.sin(4 * X[:, 0]) + X[:, 1] ** 2 + 0.2 * X[:, 2]
    y = (y - y.mean()) / y.std()
    model = _gp_math.fit_gp(X, y, is_cat, rng)
    x = np.column_stack([rng.random((6, 2)), rng.integers(0, 3, 6)])
    free = np.array([0, 1])
    for incumbent in (float(y.min()), float(y.min()) - 3.0):  # moderate and tiny improvement
        v, g = model.log_ei_grad(x, incumbent, free)
        np.testing.assert_allclose(v, model.log_ei(x, incumbent), rtol=1e-10)
        for j, col in enumerate(free):
            e = np.zeros(3)
            e[col] = 1e-6
            num = (model.log_ei(x + e, incumbent) - model.log_ei(x - e, incumbent)) / 2e-6
            np.testing.assert_allclose(g[:, j], num, rtol=1e-4, atol=1e-4)


def test_marginal_likelihood_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(1)
    n, d = 20, 3
    X = rng.random((n, d))
    is_cat = np.zeros(d, dtype=bool)
    y = np.cos(3 * X[:, 0]) + X[:, 2]
    y = (y - y.mean()) / y.std()
    dists = _gp_math._per_dim_d(X, is_cat).reshape(n * n, d)
    theta = np.array([0.5, -1.0, 2.0, 0.2, -4.0])
    _, g = _gp_math._neg_log_posterior(theta, y, dists, is_cat)
    for j in range(len(theta)):
        e = np.zeros_like(theta)
        e[j] = 1e-6
        num = (_gp_math._neg_log_posterior(theta + e, y, dists, is_cat)[0]
               - _gp_math._neg_log_posterior(theta - e, y, dists, is_cat)[0]) / 2e-6
        assert g[j] == pytest.approx(num, rel=1e-5, abs=1e-6)


def test_fitted_model_interpolates_a_smooth_function() -> None:
    rng = np.random.default_rng(2)
    X = rng.random((30, 2))
    y = np.sin(3 * X[:, 0]) * np.cos(2 * X[:, 1])
    model = _gp_math.fit_gp(X, (y - y.mean()) / y.std(), np.zeros(2, dtype=bool), rng)
    Xt = rng.random((200, 2))
    mean, var = model.posterior(Xt)
    yt = (np.sin(3 * Xt[:, 0]) * np.cos(2 * Xt[:, 1]) - y.mean()) / y.std()
    assert np.sqrt(np.mean((mean - yt) ** 2)) < 0.05
    assert np.all(var > 0)


def test_output_warping_stretches_the_good_tail_only() -> None:
    bad_tail = np.array([0.0, 0.1, 0.2, 0.3, 0.5, 0.8, 1.0, 50.0, 400.0, 3000.0])
    w = _warp(bad_tail)
    assert np.all(np.diff(w) > 0)  # monotone: the ranking and the incumbent are kept
    assert abs(w.mean()) < 1e-9 and w.std() == pytest.approx(1.0)
    plain = (bad_tail - bad_tail.mean()) / bad_tail.std()
    # the good trials are spread over more of the scale than after plain standardization
    assert (w[6] - w[0]) > 5 * (plain[6] - plain[0])
    # a long tail of *good* values (Hartmann-like) is left as plain standardization has it
    good_tail = -bad_tail
    np.testing.assert_allclose(_warp(good_tail), (good_tail - good_tail.mean()) / good_tail.std(),
                               atol=1e-9)


# -- optimization quality --------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize(("space", "f", "bound"), [
    (BRANIN_SPACE, branin, 0.45),
    (HARTMANN_SPACE, hartmann6, -2.8),
])
def test_gp_beats_random_search_with_40_trials(space, f, bound) -> None:
    gp = [best(run(GPSearcher(seed=s), space, f, 40)) for s in range(3)]
    rand = [best(run(hp.RandomSearcher(seed=s), space, f, 40)) for s in range(3)]
    assert statistics.median(gp) < bound, gp
    assert statistics.median(gp) < statistics.median(rand) - 0.3, (gp, rand)


def test_integers_steps_and_categoricals_are_valid_and_optimized() -> None:
    space = hp.SearchSpace({
        "x": hp.Float(0.0, 1.0),
        "n": hp.Int(0, 20),
        "w": hp.Int(1, 1024, log=True),
        "q": hp.Float(0.0, 1.0, step=0.25),
        "act": hp.Categorical(["relu", "tanh", None]),
    })

    def f(p: dict) -> float:
        return ((p["x"] - 0.3) ** 2 + (p["n"] - 7) ** 2 / 50 + (math.log2(p["w"]) - 5) ** 2 / 20
                + (p["q"] - 0.75) ** 2 + (0.0 if p["act"] == "tanh" else 0.5))

    trials = run(GPSearcher(seed=0), space, f, 35)
    for t in trials:
        assert type(t.params["n"]) is int and type(t.params["w"]) is int
        assert type(t.params["x"]) is float and t.params["act"] in ("relu", "tanh", None)
    top = min(trials, key=lambda t: t.value)
    assert top.params["act"] == "tanh"
    assert abs(top.params["n"] - 7) <= 2 and top.params["q"] == 0.75
    assert top.value < 0.1


# -- parallel asks, trial states, modes ------------------------------------------------------

def _history(n: int, seed: int = 0) -> list[Trial]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        p = BRANIN_SPACE.sample(rng)
        out.append(Trial(number=i, state=TrialState.COMPLETED, params=p, value=branin(p)))
    return out


def test_kriging_believer_makes_parallel_suggestions_differ() -> None:
    s = GPSearcher(seed=3)
    trials = _history(15)
    enc = _Encoding(BRANIN_SPACE)
    points = []
    for _ in range(4):
        p = s.suggest(BRANIN_SPACE, tuple(trials), mode="min")
        points.append(enc.encode(p))
        trials.append(Trial(number=len(trials), state=TrialState.RUNNING, params=p))
    pts = np.array(points)
    dist = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1))
    assert dist[np.triu_indices(4, 1)].min() > 1e-2


def test_pending_point_gets_the_posterior_mean_as_fantasy() -> None:
    # The GP conditioned on a pending point at its own mean keeps the mean but loses the
    # variance there, so LogEI at the pending point drops.
    s = GPSearcher(seed=0)
    trials = _history(15)
    enc = _Encoding(BRANIN_SPACE)
    X, y, _ = s._data(enc, trials, "min")
    ys = (y - y.mean()) / y.std()
    model = _gp_math.fit_gp(X, ys, enc.is_cat, np.random.default_rng(0))
    xp = np.array([[0.5, 0.5]])
    mean, var = model.posterior(xp)
    fant = model.with_data(np.vstack([X, xp]), np.concatenate([ys, mean]))
    mean2, var2 = fant.posterior(xp)
    assert mean2[0] == pytest.approx(mean[0], abs=1e-6)
    assert var2[0] < 0.01 * var[0]
    assert fant.log_ei(xp, float(ys.min()))[0] < model.log_ei(xp, float(ys.min()))[0]


def test_failed_excluded_stopped_used_and_mode_max_is_a_sign_flip() -> None:
    s = GPSearcher(seed=0)
    enc = _Encoding(BRANIN_SPACE)
    trials = _history(12)
    trials[3] = Trial(number=3, state=TrialState.FAILED, params=trials[3].params, reason="x")
    trials[4] = Trial(number=4, state=TrialState.STOPPED, params=trials[4].params, value=7.0,
                      reports=(hp.Report(1.0, 7.0),))
    trials[5] = Trial(number=5, state=TrialState.STOPPED, params=trials[5].params,
                      reports=(hp.Report(1.0, 12.0), hp.Report(2.0, 9.0)))  # value not copied
    trials.append(Trial(number=12, state=TrialState.RUNNING, params=trials[0].params))
    X, y, X_pending = s._data(enc, trials, "min")
    assert len(X) == 11 and 7.0 in y and 9.0 in y and len(X_pending) == 1
    # the same history with negated values under mode="max" gives the same suggestion
    flipped = [Trial(number=t.number, state=t.state, params=t.params,
                     value=None if t.value is None else -t.value,
                     reports=tuple(hp.Report(r.budget, -r.value) for r in t.reports))
               for t in trials]
    a = GPSearcher(seed=5).suggest(BRANIN_SPACE, trials, mode="min")
    b = GPSearcher(seed=5).suggest(BRANIN_SPACE, flipped, mode="max")
    assert a == b


def test_large_histories_keep_the_best_and_the_most_recent() -> None:
    s = GPSearcher(seed=0, max_history=20)
    trials = _history(60)
    X, y, _ = s._data(_Encoding(BRANIN_SPACE), trials, "min")
    values = np.array([t.value for t in trials])
    assert len(y) == 20
    assert set(np.sort(values)[:10]) <= set(y)  # the 10 best
    assert values[-1] in y and values[-2] in y  # the most recent


def test_startup_points_are_distinct_sobol_points_even_in_parallel() -> None:
    s = GPSearcher(seed=0, n_startup=8)
    trials: list[Trial] = []
    for i in range(8):
        p = s.suggest(BRANIN_SPACE, tuple(trials), mode="min")
        trials.append(Trial(number=i, state=TrialState.RUNNING, params=p))
    assert len({tuple(t.params.values()) for t in trials}) == 8
    u = np.array([BRANIN_SPACE.to_unit(t.params) for t in trials])
    # 8 scrambled Sobol points: each half of each axis holds 4 of them
    assert np.all((u < 0.5).sum(0) == 4)


# -- contract ---------------------------------------------------------------------------------

def test_conditional_space_is_refused() -> None:
    space = hp.SearchSpace({"opt": hp.Categorical(["sgd", "adam"]),
                            "momentum": hp.Float(0, 1, when={"opt": "sgd"})})
    with pytest.raises(SearchSpaceError, match="does not support conditional.*TPESearcher"):
        GPSearcher(seed=0).suggest(space, (), mode="min")


@pytest.mark.parametrize("kwargs", [{"n_startup": 0}, {"max_history": 5}, {"n_restarts": 0},
                                    {"n_startup": 2.5}, {"max_history": True}])
def test_bad_arguments(kwargs) -> None:
    with pytest.raises(InvalidParameterError, match="parameter of GPSearcher"):
        GPSearcher(**kwargs)


def test_rebuilt_from_trials_and_end_to_end_through_a_study(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'gp.db'}"
    study = hp.create_study("gp", space=BRANIN_SPACE, storage=url, searcher="gp", seed=7)
    assert isinstance(study.searcher, GPSearcher)
    study.optimize(branin, n_trials=16, executor=hp.InlineExecutor())
    assert len(study.trials) == 16
    assert study.best_value < 5.0
    loaded = hp.load_study("gp", storage=url)
    assert isinstance(loaded.searcher, GPSearcher)
    assert loaded.searcher.seed == study.searcher.seed
    want = study.searcher.suggest(study.space, study.trials_view, mode="min")
    got = loaded.searcher.suggest(loaded.space, loaded.trials_view, mode="min")
    assert got == want
    fresh = GPSearcher(seed=study.searcher.seed)
    assert fresh.suggest(study.space, study.trials, mode="min") == want
