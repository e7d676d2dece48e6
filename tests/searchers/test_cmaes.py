"""CMAESSearcher: convergence, integers, generations derived from trial order, restarts, rebuild."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

import hpsearch as hp
from hpsearch.exceptions import InvalidParameterError, SearchSpaceError
from hpsearch.searchers.cmaes import CMAESSearcher, _Layout, _Replay
from hpsearch.trial import Trial, TrialState

SPHERE = hp.SearchSpace({f"x{i}": hp.Float(-5.0, 5.0) for i in range(4)})


def sphere(p: dict) -> float:
    return sum((v - 1.0) ** 2 for v in p.values())


def drive(searcher, space, f, n: int, *, n_parallel: int = 1, mode: str = "min",
          fail_every: int = 0, trials=None) -> list[Trial]:
    """Asks in batches of ``n_parallel`` (earlier ones RUNNING), finished in reverse order,
    with created_at / finished_at stamps from a fake clock, as a Study records them."""
    clock = itertools.count(1.0 + (max((t.finished_at or t.created_at or 0) for t in trials)
                                   if trials else 0.0))
    out = list(trials or [])
    target = len(out) + n
    while len(out) < target:
        batch = []
        for _ in range(min(n_parallel, target - len(out))):
            p = searcher.suggest(space, tuple(out), mode=mode)
            space.validate(p)
            out.append(Trial(number=len(out), state=TrialState.RUNNING, params=p,
                             created_at=next(clock)))
            batch.append(len(out) - 1)
        for i in reversed(batch):
            t = out[i]
            if fail_every and (i + 1) % fail_every == 0:
                out[i] = replace(t, state=TrialState.FAILED, reason="exception",
                                 finished_at=next(clock))
            else:
                out[i] = replace(t, state=TrialState.COMPLETED, value=f(t.params),
                                 finished_at=next(clock))
    return out


def n_mismatches(seed: int, space, trials, mode: str = "min", **kw) -> int:
    """Trials whose params differ from the sample a fresh replay regenerates for them."""
    r = _Replay(CMAESSearcher(seed=seed, **kw), _Layout(space), trials, mode)
    r.run(space)
    lay = r.layout
    return sum(not lay.same(lay.decode(r.asked[k][0], np.random.default_rng([seed, k, 1])),
                            dict(r.fresh[k].params)) for k in range(len(r.fresh)))


def test_converges_on_a_sphere() -> None:
    trials = drive(CMAESSearcher(seed=0), SPHERE, sphere, 300)
    assert min(t.value for t in trials) < 1e-3
    assert n_mismatches(0, SPHERE, trials) == 0


def test_mode_max_converges_too() -> None:
    trials = drive(CMAESSearcher(seed=1), SPHERE, lambda p: -sphere(p), 300, mode="max")
    assert max(t.value for t in trials) > -1e-3


def test_integer_and_step_params_are_valid_and_optimized() -> None:
    space = hp.SearchSpace({"x": hp.Float(-3.0, 3.0), "n": hp.Int(0, 20),
                            "w": hp.Int(1, 512, log=True), "q": hp.Float(0, 1, step=0.1)})

    def f(p: dict) -> float:
        return (p["x"] - 1) ** 2 + (p["n"] - 7) ** 2 + (np.log2(p["w"]) - 4) ** 2 + (
            p["q"] - 0.3) ** 2

    trials = drive(CMAESSearcher(seed=2), space, f, 250, n_parallel=3)
    for t in trials:
        assert type(t.params["n"]) is int and type(t.params["w"]) is int
    top = min(trials, key=lambda t: t.value)
    assert top.params["n"] == 7 and top.params["w"] == 16 and top.params["q"] == pytest.approx(0.3)
    assert top.value < 0.05
    assert n_mismatches(2, space, trials) == 0


def test_parallel_asks_belong_to_generations_by_trial_order() -> None:
    # popsize 4, 3 workers: a trial asked while the previous generation runs is sampled from
    # the current distribution; a fresh replay regenerates every trial's sample exactly.
    s = CMAESSearcher(seed=3, popsize=4)
    trials = drive(s, SPHERE, sphere, 60, n_parallel=3, fail_every=7)
    assert n_mismatches(3, SPHERE, trials, popsize=4) == 0
    r = _Replay(CMAESSearcher(seed=3, popsize=4), _Layout(SPHERE), trials, "min")
    r.run(SPHERE)
    assert r.es.generation == 15  # 60 trials in blocks of 4, all told
    keys = {tuple(t.params.values()) for t in trials}
    assert len(keys) == len(trials)


def test_a_generation_waits_for_its_pending_trials() -> None:
    s = CMAESSearcher(seed=4, popsize=4)
    trials = drive(s, SPHERE, sphere, 8)
    clock = 100.0
    # generation 2 (trials 8..11) asked; 8 is still RUNNING, the others done
    for i in range(4):
        p = s.suggest(SPHERE, tuple(trials), mode="min")
        trials.append(Trial(number=len(trials), state=TrialState.RUNNING, params=p,
                            created_at=clock + i))
    for i in (9, 10, 11):
        trials[i] = replace(trials[i], state=TrialState.COMPLETED, value=sphere(trials[i].params),
                            finished_at=clock + 10 + i)
    r = _Replay(CMAESSearcher(seed=4, popsize=4), _Layout(SPHERE), trials, "min")
    r.run(SPHERE)
    assert r.es.generation == 2  # not told: trial 8 is pending
    trials[8] = replace(trials[8], state=TrialState.COMPLETED, value=sphere(trials[8].params),
                        finished_at=clock + 30)
    r = _Replay(CMAESSearcher(seed=4, popsize=4), _Layout(SPHERE), trials, "min")
    r.run(SPHERE)
    assert r.es.generation == 3


def test_ipop_restarts_with_a_doubled_population() -> None:
    # A flat objective stalls CMA-ES (tolfun), which must restart with popsize 2x.
    space = hp.SearchSpace({"x": hp.Float(0, 1), "y": hp.Float(0, 1)})
    trials = drive(CMAESSearcher(seed=5), space, lambda p: 1.0, 260)
    r = _Replay(CMAESSearcher(seed=5), _Layout(space), trials, "min")
    r.run(space)
    assert r.restart >= 1
    assert r.es.population_size == 6 * 2**r.restart  # 4 + floor(3 ln 2) = 6 at first
    off = _Replay(CMAESSearcher(seed=5, ipop=False), _Layout(space), trials, "min")
    off.run(space)
    assert off.restart == 0


def test_rebuild_equals_live_state_and_enqueued_trials_are_told_with_their_params() -> None:
    s = CMAESSearcher(seed=6)
    trials = drive(s, SPHERE, sphere, 40, n_parallel=2)
    # a hand-enqueued trial with arbitrary params, then more asks
    trials.append(Trial(number=40, state=TrialState.COMPLETED, params={f"x{i}": 1.0 for i in
                                                                        range(4)}, value=0.0,
                        created_at=1e6, finished_at=1e6 + 1))
    trials = drive(s, SPHERE, sphere, 20, n_parallel=2, trials=trials)
    assert n_mismatches(6, SPHERE, trials) == 1
    want = CMAESSearcher(seed=6).suggest(SPHERE, trials, mode="min")
    assert s.suggest(SPHERE, trials, mode="min") == want
    # a shorter history after a longer one: the memo must not leak
    assert s.suggest(SPHERE, trials[:30], mode="min") == CMAESSearcher(seed=6).suggest(
        SPHERE, trials[:30], mode="min")


def test_categoricals_are_drawn_at_random_and_constants_kept() -> None:
    space = hp.SearchSpace({"x": hp.Float(0, 1), "c": hp.Categorical(["a", "b", "c"]),
                            "k": hp.Int(3, 3)})
    trials = drive(CMAESSearcher(seed=7), space, lambda p: p["x"], 30)
    assert {t.params["c"] for t in trials} == {"a", "b", "c"}
    assert all(t.params["k"] == 3 for t in trials)
    only_cat = hp.SearchSpace({"c": hp.Categorical(["a", "b"])})
    assert drive(CMAESSearcher(seed=7), only_cat, lambda p: 0.0, 5)[0].params["c"] in "ab"


def test_conditional_space_is_refused() -> None:
    space = hp.SearchSpace({"opt": hp.Categorical(["sgd", "adam"]),
                            "momentum": hp.Float(0, 1, when={"opt": "sgd"})})
    with pytest.raises(SearchSpaceError, match="does not support conditional.*TPESearcher"):
        CMAESSearcher(seed=0).suggest(space, (), mode="min")


@pytest.mark.parametrize("kwargs", [{"sigma0": 0.0}, {"sigma0": 2.0}, {"popsize": 1},
                                    {"popsize": 4.5}, {"sigma0": True}])
def test_bad_arguments(kwargs) -> None:
    with pytest.raises(InvalidParameterError, match="parameter of CMAESSearcher"):
        CMAESSearcher(**kwargs)


def test_end_to_end_through_a_study_and_resume(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'cma.db'}"
    study = hp.create_study("cma", space=SPHERE, storage=url, searcher="cmaes", seed=11)
    assert isinstance(study.searcher, CMAESSearcher)
    study.optimize(sphere, n_trials=40, executor=hp.InlineExecutor())
    assert study.best_value < 10.0
    loaded = hp.load_study("cma", storage=url)
    want = study.searcher.suggest(study.space, study.trials_view, mode="min")
    assert loaded.searcher.suggest(loaded.space, loaded.trials_view, mode="min") == want
    assert n_mismatches(study.searcher.seed, SPHERE, study.trials) == 0
