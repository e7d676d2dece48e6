"""Conformance suite that every :class:`~hpsearch.searchers.Searcher` must pass.

Usage, in a pytest module (``tests/searchers/test_conformance.py`` runs it over every registered
searcher)::

    from hpsearch.testing.searchers import check_searcher

    def test_my_searcher_conforms():
        check_searcher(lambda seed: MySearcher(seed=seed))

``check_searcher(make_searcher)`` runs every ``check_*`` function of this module; each can also be
called alone. ``make_searcher(seed)`` must build a fresh searcher from an int seed. The checks
drive the searcher without a ``Study`` (trials are built as frozen :class:`~hpsearch.Trial` records
by :func:`simulate`), so they are fast and need no storage. A failed check raises
``AssertionError`` with a message naming the searcher, the space and the property.

The properties:

* params are valid in the space (:meth:`SearchSpace.validate`), with the right Python types:
  ``float`` for Float, ``int`` for Int (never a numpy scalar), the *original* choice object for
  Categorical; steps and log scales are respected (``validate`` checks the grid);
* pending and running trials are taken into account: asks made while earlier ones still run
  differ;
* a seeded run is reproducible, and a *new* searcher with the same seed given the same trials
  suggests the same params (state rebuilt from stored trials, DESIGN.md rule 2), also after the
  original object has seen a longer history;
* FAILED and STOPPED trials and ``mode="max"`` are handled;
* conditional spaces work, or the searcher raises :class:`~hpsearch.SearchSpaceError` at its
  first suggestion (a clear refusal, never a wrong configuration);
* optionally (``no_duplicates=True``, for searchers that enumerate a finite space such as
  :class:`~hpsearch.GridSearcher`): no configuration is proposed twice while unexplored ones
  remain, even with parallel pending trials, and ``is_exhausted`` turns true exactly when all
  are taken. Other searchers may repeat points of a finite space.

Spaces that a searcher supports only partly (``MIXED_SPACE`` with integers and categoricals,
``CONDITIONAL_SPACE``) may be refused with ``SearchSpaceError`` at the first suggestion;
``CONTINUOUS_SPACE`` must be supported by every searcher.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from hpsearch.exceptions import SearchSpaceError
from hpsearch.searchers._base import Searcher
from hpsearch.space import Categorical, Float, Int, ParamValue, SearchSpace
from hpsearch.trial import Mode, Report, Trial, TrialState

__all__ = [
    "CONDITIONAL_SPACE",
    "CONTINUOUS_SPACE",
    "FINITE_SPACE",
    "MIXED_SPACE",
    "check_conditional",
    "check_failed_and_stopped",
    "check_no_duplicates",
    "check_pending",
    "check_rebuild",
    "check_reproducible",
    "check_searcher",
    "check_valid_params",
    "simulate",
    "toy_objective",
]

MakeSearcher = Callable[[int], Searcher]

#: every searcher must support this one.
CONTINUOUS_SPACE = SearchSpace({
    "x": Float(-5.0, 5.0),
    "lr": Float(1e-4, 1.0, log=True),
})

#: steps, log integers, odd categorical choices (None, bool, a list, a number).
MIXED_SPACE = SearchSpace({
    "x": Float(-2.0, 2.0),
    "lr": Float(1e-5, 1e-1, log=True),
    "q": Float(0.0, 1.0, step=0.25),
    "n": Int(1, 10),
    "width": Int(1, 1024, log=True),
    "even": Int(0, 20, step=2),
    "act": Categorical(["relu", "tanh", None, True, [1, 2], 3.5]),
})

#: a parameter under each branch of a categorical, and one nested two levels deep.
CONDITIONAL_SPACE = SearchSpace({
    "optimizer": Categorical(["sgd", "adam"]),
    "lr": Float(1e-4, 1.0, log=True),
    "momentum": Float(0.0, 1.0, when={"optimizer": "sgd"}),
    "nesterov": Categorical([False, True], when={"optimizer": "sgd"}),
    "beta1": Float(0.5, 0.999, when={"optimizer": "adam"}),
    "amsgrad": Categorical([False, True], when={"optimizer": "adam"}),
    "amsgrad_eps": Float(1e-8, 1e-4, log=True, when={"amsgrad": True}),
})

#: 3 x 2 x 3 = 18 configurations.
FINITE_SPACE = SearchSpace({
    "n": Int(0, 2),
    "c": Categorical(["a", "b"]),
    "q": Float(0.0, 1.0, step=0.5),
})


def _fail(name: str, msg: str) -> AssertionError:
    return AssertionError(f"[{name}] {msg}")


def _label(searcher: Searcher) -> str:
    return type(searcher).__name__


def toy_objective(space: SearchSpace, params: Mapping[str, ParamValue]) -> float:
    """Return a smooth deterministic function of the unit coordinates (inactive ones ignored).

    Returns:
        ``sum((u - 0.3) ** 2)`` over the active coordinates ``u`` of ``space.to_unit(params)``.

    """
    u = space.to_unit(params)
    u = u[~np.isnan(u)]
    return float(np.sum((u - 0.3) ** 2))


def simulate(
    searcher: Searcher,
    space: SearchSpace,
    n_trials: int,
    *,
    mode: Mode = "min",
    n_parallel: int = 1,
    fail_every: int = 0,
    stop_every: int = 0,
    trials: Sequence[Trial] = (),
) -> list[Trial]:
    """Drive ``searcher`` through ``n_trials`` asks without a Study.

    Trials are asked in batches of ``n_parallel``: each ask sees the earlier ones of its batch as
    RUNNING; then the batch is finished with :func:`toy_objective` (negated when ``mode="max"``,
    so that the optimum is the same point). Every ``fail_every``-th trial is FAILED and every
    ``stop_every``-th is STOPPED with reports at budgets 1 and 2 (its value the last report's);
    the others COMPLETED with one report at budget 3.

    Args:
        searcher: the searcher under test.
        space: the search space.
        n_trials: the number of trials to add.
        mode: ``"min"`` or ``"max"``.
        n_parallel: asks per batch (>= 1).
        fail_every: 0 for no failures.
        stop_every: 0 for no stopped trials.
        trials: an existing history to continue.

    Returns:
        The whole history (``trials`` followed by the new trials), by number.

    """
    out = list(trials)
    sign = 1.0 if mode == "min" else -1.0
    while len(out) < len(trials) + n_trials:
        batch: list[int] = []
        for _ in range(min(n_parallel, len(trials) + n_trials - len(out))):
            params = searcher.suggest(space, tuple(out), mode=mode)
            out.append(Trial(number=len(out), state=TrialState.RUNNING, params=params))
            batch.append(len(out) - 1)
        for i in batch:
            t = out[i]
            value = sign * toy_objective(space, t.params)
            k = i + 1
            if fail_every and k % fail_every == 0:
                out[i] = Trial(number=i, state=TrialState.FAILED, params=t.params,
                               reason="exception")
            elif stop_every and k % stop_every == 0:
                reports = (Report(1.0, value + sign * 0.5), Report(2.0, value + sign * 0.2))
                out[i] = Trial(number=i, state=TrialState.STOPPED, params=t.params,
                               value=reports[-1].value, reports=reports, reason="asha")
            else:
                out[i] = Trial(number=i, state=TrialState.COMPLETED, params=t.params,
                               value=value, reports=(Report(3.0, value),))
    return out


def _key(space: SearchSpace, params: Mapping[str, ParamValue]) -> str:
    return json.dumps(space.to_json_params(params), sort_keys=True)


def _check_types(name: str, space: SearchSpace, params: Mapping[str, ParamValue]) -> None:
    try:
        space.validate(params)
    except SearchSpaceError as e:
        raise _fail(name, f"invalid params {dict(params)!r}: {e}") from None
    for k, v in params.items():
        d = space[k]
        if isinstance(d, Int) and type(v) is not int:
            raise _fail(name, f"Int {k!r} must be a Python int, got {type(v).__name__} {v!r}.")
        if isinstance(d, Float):
            if type(v) is not float:
                raise _fail(name, f"Float {k!r} must be a Python float, got {type(v).__name__}.")
            if not math.isfinite(v):
                raise _fail(name, f"Float {k!r} is not finite: {v!r}.")
        if isinstance(d, Categorical) and not any(v is c for c in d.choices):
            raise _fail(name, f"Categorical {k!r} must return the original choice object; got "
                              f"{v!r}, an equal copy or another object.")


def _refuses(make_searcher: MakeSearcher, space: SearchSpace) -> bool:
    """Tell whether the searcher refuses ``space`` with SearchSpaceError at the first suggestion."""
    try:
        make_searcher(0).suggest(space, (), mode="min")
    except SearchSpaceError:
        return True
    return False


def check_valid_params(make_searcher: MakeSearcher, *, n_trials: int = 25) -> None:
    """Params are valid and well typed on the continuous and mixed spaces, in both modes."""
    for space in (CONTINUOUS_SPACE, MIXED_SPACE):
        if space is MIXED_SPACE and _refuses(make_searcher, space):
            continue
        for mode in ("min", "max"):
            s = make_searcher(1)
            for t in simulate(s, space, n_trials, mode=mode):
                _check_types(_label(s), space, t.params)


def check_pending(make_searcher: MakeSearcher, *, n_trials: int = 16, n_parallel: int = 4) -> None:
    """Asks made while earlier trials are RUNNING differ from each other."""
    s = make_searcher(2)
    name = _label(s)
    space = CONTINUOUS_SPACE
    trials = simulate(s, space, n_trials)
    for _ in range(2):  # a batch before and after the model has seen the running ones
        keys = []
        for _ in range(n_parallel):
            p = s.suggest(space, tuple(trials), mode="min")
            _check_types(name, space, p)
            keys.append(_key(space, p))
            trials.append(Trial(number=len(trials), state=TrialState.RUNNING, params=p))
        if len(set(keys)) != len(keys):
            raise _fail(name, f"parallel asks (earlier ones RUNNING) repeated params: {keys}")


def check_reproducible(make_searcher: MakeSearcher, *, n_trials: int = 20) -> None:
    """Two searchers with the same seed produce the same sequence, sequentially and in batches."""
    for n_parallel in (1, 3):
        a = simulate(make_searcher(3), CONTINUOUS_SPACE, n_trials, n_parallel=n_parallel,
                     stop_every=5)
        b = simulate(make_searcher(3), CONTINUOUS_SPACE, n_trials, n_parallel=n_parallel,
                     stop_every=5)
        pa, pb = [dict(t.params) for t in a], [dict(t.params) for t in b]
        if pa != pb:
            i = next(i for i, (x, y) in enumerate(zip(pa, pb, strict=True)) if x != y)
            raise _fail(_label(make_searcher(3)),
                        f"same seed, different params at trial {i}: {pa[i]} vs {pb[i]}")


def check_rebuild(make_searcher: MakeSearcher, *, n_trials: int = 24) -> None:
    """Check that a new searcher with the same seed and trials suggests the same params.

    Also checks that the original object, after seeing the full history, suggests for a
    shorter prefix what a fresh object would (memoized state must follow ``trials``).
    """
    s = make_searcher(4)
    name = _label(s)
    space = CONTINUOUS_SPACE
    trials = simulate(s, space, n_trials, n_parallel=2, fail_every=7, stop_every=5)
    # leave two trials RUNNING, as a resumed study would see them
    trials.append(Trial(number=len(trials), state=TrialState.RUNNING, params=trials[3].params))
    for prefix in (len(trials), n_trials // 2, len(trials)):
        history = tuple(trials[:prefix])
        want = make_searcher(4).suggest(space, history, mode="min")
        got = s.suggest(space, history, mode="min")
        if _key(space, want) != _key(space, got):
            raise _fail(name, f"state not rebuilt from the trials: after {prefix} trials a fresh "
                              f"searcher suggests {want}, the used one {got}.")
    # trials reloaded from storage are new objects with equal content
    copies = tuple(Trial(number=t.number, state=t.state, params=dict(t.params), value=t.value,
                         reports=t.reports, reason=t.reason) for t in trials)
    if _key(space, s.suggest(space, copies, mode="min")) != _key(
            space, make_searcher(4).suggest(space, tuple(trials), mode="min")):
        raise _fail(name, "reloaded (equal but new) trial objects change the suggestion.")


def check_failed_and_stopped(make_searcher: MakeSearcher, *, n_trials: int = 30) -> None:
    """Histories with FAILED and STOPPED trials give valid params; all-failed histories too."""
    s = make_searcher(5)
    name = _label(s)
    for t in simulate(s, CONTINUOUS_SPACE, n_trials, fail_every=3, stop_every=4, mode="max"):
        _check_types(name, CONTINUOUS_SPACE, t.params)
    failed = [Trial(number=i, state=TrialState.FAILED, params=CONTINUOUS_SPACE.sample(
        np.random.default_rng(i)), reason="exception") for i in range(12)]
    _check_types(name, CONTINUOUS_SPACE, s.suggest(CONTINUOUS_SPACE, failed, mode="min"))


def check_conditional(make_searcher: MakeSearcher, *, n_trials: int = 30) -> None:
    """Conditional spaces give valid params (inactive ones absent) or a SearchSpaceError at once.

    Both branches of the top-level choice must be proposed within ``n_trials``.
    """
    space = CONDITIONAL_SPACE
    if _refuses(make_searcher, space):
        return
    s = make_searcher(6)
    name = _label(s)
    trials = simulate(s, space, n_trials, n_parallel=2, stop_every=6)
    seen = set()
    for t in trials:
        _check_types(name, space, t.params)
        seen.add(t.params["optimizer"])
    if seen != {"sgd", "adam"}:
        raise _fail(name, f"only {seen} proposed for 'optimizer' in {n_trials} trials.")
    again = simulate(make_searcher(6), space, n_trials, n_parallel=2, stop_every=6)
    if [dict(t.params) for t in again] != [dict(t.params) for t in trials]:
        raise _fail(name, "a seeded run on a conditional space is not reproducible.")


def check_no_duplicates(make_searcher: MakeSearcher, *, n_parallel: int = 3) -> None:
    """On FINITE_SPACE: every configuration once before any repeat; then ``is_exhausted``.

    Only for searchers that claim to enumerate a finite space (a grid).
    """
    space = FINITE_SPACE
    total = 1
    for d in space.values():
        total *= d.n_values() or 1
    s = make_searcher(7)
    name = _label(s)
    trials: list[Trial] = []
    while len(trials) < total:
        if s.is_exhausted(space, tuple(trials)):
            raise _fail(name, f"is_exhausted() is True after {len(trials)} of {total} points.")
        trials = simulate(s, space, min(n_parallel, total - len(trials)), n_parallel=n_parallel,
                          trials=trials)
    keys = [_key(space, t.params) for t in trials]
    if len(set(keys)) != total:
        raise _fail(name, f"{total - len(set(keys))} duplicate(s) among the {total} points of a "
                          "finite space.")
    if not s.is_exhausted(space, tuple(trials)):
        raise _fail(name, f"is_exhausted() is False after all {total} points were taken.")


def check_searcher(make_searcher: MakeSearcher, *, no_duplicates: bool = False) -> None:
    """Run every check of this module.

    Args:
        make_searcher: ``make_searcher(seed: int) -> Searcher``, a fresh object per call.
        no_duplicates: also run :func:`check_no_duplicates` (for enumerating searchers).

    Raises:
        AssertionError: a property does not hold; the message names it.

    """
    check_valid_params(make_searcher)
    check_pending(make_searcher)
    check_reproducible(make_searcher)
    check_rebuild(make_searcher)
    check_failed_and_stopped(make_searcher)
    check_conditional(make_searcher)
    if no_duplicates:
        check_no_duplicates(make_searcher)
