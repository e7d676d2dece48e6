"""Study: the trial budget, the bad-value policy, the O(1) bookkeeping, ask-and-tell, arguments."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hpsearch as hp
from hpsearch.schedulers._base import Decision, Scheduler
from hpsearch.trial import TrialState, is_better


def make_study(tmp_path: Path, name: str = "s", **kw: Any) -> hp.Study:
    kw.setdefault("searcher", "random")
    return hp.create_study(name, space={"x": hp.Float(0, 1)},
                           storage=f"sqlite:///{tmp_path}/s.db", **kw)


def brute_force(study: hp.Study) -> dict[str, Any]:
    """The derived state recomputed from scratch from the stored trials."""
    trials = hp.load_study(study.name, storage=study.storage).trials
    latest: dict[int, hp.Trial] = {}
    for t in trials:
        latest[t.number if t.retry_of is None else t.retry_of] = t
    counts = Counter(t.state.value for t in latest.values())
    interrupted = sum(1 for t in latest.values() if t.state == TrialState.FAILED
                      and (t.reason or "").startswith("interrupted"))
    best = None
    for t in trials:
        if t.state == TrialState.COMPLETED and t.value is not None and is_better(
                t.value, None if best is None else best.value, study.mode):
            best = t
    return {"counts": {s.value: counts[s.value] for s in TrialState},
            "n_finished": counts["COMPLETED"] + counts["STOPPED"] + counts["FAILED"]
            - interrupted, "best": None if best is None else best.number}


def derived(study: hp.Study) -> dict[str, Any]:
    try:
        best = study.best_trial.number
    except ValueError:
        best = None
    return {"counts": study.counts(), "n_finished": study.n_finished, "best": best}


# -- the trial budget ---------------------------------------------------------------------------
def test_n_trials_is_exact_with_parallel_workers_and_study_wide(tmp_path: Path) -> None:
    study = make_study(tmp_path)
    with hp.LocalExecutor(2, start_method="fork") as ex:
        study.optimize(lambda p: p["x"], n_trials=5, executor=ex)
        assert len(study.trials) == 5  # never n_trials + n_workers
        study.optimize(lambda p: p["x"], n_trials=8, executor=ex)
    assert len(study.trials) == 8 and study.n_finished == 8
    study.optimize(lambda p: p["x"], n_trials=8, executor=hp.InlineExecutor())
    assert len(study.trials) == 8  # already complete: nothing runs


def test_enqueued_trials_count_against_the_budget(tmp_path: Path) -> None:
    study = make_study(tmp_path)
    for x in (0.1, 0.2, 0.3):
        study.enqueue({"x": x})
    study.optimize(lambda p: p["x"], n_trials=2, executor=hp.InlineExecutor())
    assert [t.params["x"] for t in study.trials[:2]] == [0.1, 0.2]
    assert [t.state for t in study.trials] == [TrialState.COMPLETED] * 2 + [TrialState.PENDING]
    study.optimize(lambda p: p["x"], n_trials=4, executor=hp.InlineExecutor())
    assert study.trials[2].state == TrialState.COMPLETED and len(study.trials) == 4


def test_optimize_sees_trials_written_since_the_study_was_loaded(tmp_path: Path) -> None:
    a = make_study(tmp_path)
    b = hp.load_study("s", storage=a.storage)
    a.optimize(lambda p: p["x"], n_trials=3, executor=hp.InlineExecutor())
    b.optimize(lambda p: p["x"], n_trials=5, executor=hp.InlineExecutor())
    assert len(b.trials) == 5 and b.n_finished == 5


def test_a_seeded_random_study_resumed_draws_the_same_params(tmp_path: Path) -> None:
    straight = make_study(tmp_path, "straight", seed=3)
    straight.optimize(lambda p: p["x"], n_trials=6, executor=hp.InlineExecutor())
    cut = make_study(tmp_path, "cut", seed=3)
    cut.optimize(lambda p: p["x"], n_trials=2, executor=hp.InlineExecutor())
    t = hp.load_study("cut", storage=cut.storage).ask()  # left RUNNING by a "dead" driver
    resumed = hp.load_study("cut", storage=f"sqlite:///{tmp_path}/s.db")
    resumed.optimize(lambda p: p["x"], n_trials=6, executor=hp.InlineExecutor())
    assert resumed.trials[t.number].reason == "interrupted"
    latest = {tr.number if tr.retry_of is None else tr.retry_of: tr for tr in resumed.trials}
    assert [tr.params for tr in latest.values()] == [tr.params for tr in straight.trials]


# -- the bad-value policy -----------------------------------------------------------------------
class Weird:
    def __float__(self) -> float:
        raise TypeError("no")


@pytest.mark.parametrize("result, fragment", [
    (float("nan"), "invalid result: nan"),
    (float("inf"), "invalid result: inf"),
    (-math.inf, "invalid result: -inf"),
    (None, "invalid result: NoneType None is not a number"),
    ("0.5", "invalid result: str '0.5' is not a number"),
    (True, "invalid result: bool True is not a number"),
    (Weird(), "is not a number"),
    ([1.0], "is not a number"),
    ({"loss": 1.0}, "has no key 'value'"),
    ({"value": float("nan")}, "invalid result: nan"),
    ({"value": "x"}, "is not a number"),
])
def test_bad_results_fail_the_trial_and_never_win(tmp_path: Path, result: Any,
                                                  fragment: str) -> None:
    study = make_study(tmp_path, mode="max")
    study.enqueue({"x": 0.5})
    study.optimize(lambda p: result, n_trials=1, executor=hp.InlineExecutor())
    (t,) = study.trials
    assert t.state == TrialState.FAILED and t.value is None
    assert t.reason is not None and t.reason.startswith("invalid result") and fragment in t.reason
    with pytest.raises(ValueError, match="no completed trial"):
        study.best_trial  # noqa: B018


def test_numpy_scalars_are_numbers(tmp_path: Path) -> None:
    study = make_study(tmp_path)
    study.optimize(lambda p: {"value": np.float32(p["x"]), "n": np.int64(3)}, n_trials=2,
                   executor=hp.InlineExecutor())
    assert all(t.state == TrialState.COMPLETED and isinstance(t.value, float)
               for t in study.trials)


class StopAtOnce(Scheduler):
    name = "stop_at_once"

    def decide(self, trial: hp.Trial, trials: Any, *, mode: str) -> Decision:
        return Decision.stop("enough")


def test_stopped_trials_with_non_finite_reports_have_no_value(tmp_path: Path) -> None:
    study = make_study(tmp_path, mode="max", scheduler=StopAtOnce())
    values = iter([math.inf, math.nan, 0.3])

    def objective(p: dict[str, float], reporter: Any) -> float:
        reporter.report(1, next(values))
        return 1e9  # never reached

    study.optimize(objective, n_trials=3, executor=hp.InlineExecutor())
    assert [t.state for t in study.trials] == [TrialState.STOPPED] * 3
    assert [t.value for t in study.trials] == [None, None, 0.3]
    with pytest.raises(ValueError):  # STOPPED trials never count as best
        study.best_trial  # noqa: B018
    reloaded = hp.load_study("s", storage=study.storage, scheduler="fifo")
    assert [t.value for t in reloaded.trials] == [None, None, 0.3]


def test_ask_tell_report_rejects_non_numbers(tmp_path: Path) -> None:
    study = make_study(tmp_path)
    t = study.ask()
    for budget, value in [("1", 0.5), (1, "0.5"), (math.nan, 0.5), (None, 0.5), (1, None)]:
        with pytest.raises(hp.InvalidParameterError, match="must be a"):
            study.report(t.number, budget, value)
    assert study.report(t.number, 1, math.nan) == Decision.CONTINUE  # NaN is a valid report
    assert study.tell(t.number, 0.25).value == 0.25
    with pytest.raises(hp.InvalidParameterError, match="not RUNNING"):
        study.tell(t.number, 0.1)
    with pytest.raises(hp.InvalidParameterError, match="no trial"):
        study.report(99, 1, 0.1)


@pytest.mark.parametrize("kw", [
    {"n_trials": 0}, {"n_trials": 1.5}, {"n_trials": True}, {"timeout": -1},
    {"timeout": math.nan}, {"trial_timeout": 0}, {"max_retries": -1}, {"max_retries": 1.0},
])
def test_optimize_rejects_bad_arguments(tmp_path: Path, kw: dict[str, Any]) -> None:
    study = make_study(tmp_path)
    with pytest.raises(hp.InvalidParameterError, match="Got"):
        study.optimize(lambda p: 0.0, executor=hp.InlineExecutor(), **kw)
    with pytest.raises(hp.InvalidParameterError, match="callable"):
        study.optimize(42, n_trials=1, executor=hp.InlineExecutor())  # type: ignore[arg-type]


# -- the O(1) bookkeeping equals a recomputation ------------------------------------------------
OPS = st.lists(st.sampled_from(["ask", "enqueue", "complete", "nan", "fail", "lost", "report",
                                "interrupt_all"]), min_size=1, max_size=25)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, values=st.lists(st.floats(-10, 10), min_size=25, max_size=25))
def test_incremental_counts_and_best_equal_a_recomputation(
        tmp_path_factory: pytest.TempPathFactory, ops: list[str], values: list[float]) -> None:
    tmp = tmp_path_factory.mktemp("ops")
    study = make_study(tmp)
    running: list[int] = []
    for op, v in zip(ops, values, strict=False):
        if op == "ask":
            running.append(study.ask().number)
        elif op == "enqueue":
            study.enqueue({"x": 0.5})
        elif op == "report" and running:
            study.report(running[-1], 1, v)
        elif op in ("complete", "nan", "fail", "lost") and running:
            n = running.pop(0)
            if op == "complete":
                study.tell(n, v)
            elif op == "nan":
                study.tell(n, math.nan)
            else:
                reason = "exception" if op == "fail" else "worker lost: exit code 1"
                study.tell(n, failed=True, reason=reason)
                if op == "lost":
                    study._retry(study.trials[n])
        elif op == "interrupt_all":  # what a resume does to trials a dead driver left running
            study._live.clear()
            running.clear()
            study._recover(max_retries=0, retry_timeouts=False)
        assert derived(study) == brute_force(study)
    reloaded = hp.load_study("s", storage=study.storage)
    assert derived(reloaded) == derived(study)


def test_resume_with_a_smaller_budget_keeps_interrupted_trials_for_later(tmp_path: Path) -> None:
    study = make_study(tmp_path)
    study.optimize(lambda p: p["x"], n_trials=3, executor=hp.InlineExecutor())
    cut = hp.load_study("s", storage=study.storage).ask()  # left RUNNING by a "dead" driver
    study = hp.load_study("s", storage=f"sqlite:///{tmp_path}/s.db")
    study.optimize(lambda p: p["x"], n_trials=3, executor=hp.InlineExecutor())
    assert study.n_finished == 3  # the budget is full: the cut trial waits, queued
    assert [t.state for t in study.trials[3:]] == [TrialState.FAILED, TrialState.PENDING]
    study.optimize(lambda p: p["x"], n_trials=4, executor=hp.InlineExecutor())
    assert study.n_finished == 4 and len(study.trials) == 5
    rerun = study.trials[4]
    assert (rerun.retry_of, rerun.attempt, rerun.params) == (cut.number, 1, cut.params)


def test_readers_of_a_study_with_an_unregistered_scheduler_still_work(tmp_path, caplog):
    class Custom(hp.Scheduler):
        name = "my-custom"

        def decide(self, trial, trials, *, mode):
            return hp.Decision.CONTINUE

    url = f"sqlite:///{tmp_path / 'c.db'}"
    study = hp.create_study("c", space={"x": hp.Float(0, 1)}, storage=url, scheduler=Custom(),
                            searcher="random")
    study.optimize(lambda p: p["x"], n_trials=3, executor=hp.InlineExecutor())
    reader = hp.load_study("c", storage=url)  # "my-custom" is not registered here
    assert len(reader.trials) == 3 and reader.best_trial.number == study.best_trial.number
    assert reader.budget_summary()["used"] == 0
    with pytest.raises(hp.InvalidParameterError, match="scheduler=..."):
        reader.optimize(lambda p, r: r.report(1, p["x"]) or p["x"], n_trials=4,
                        executor=hp.InlineExecutor())
    # passing one runs it, and stores it only once the run holds the lock
    runner = hp.load_study("c", storage=url, scheduler="fifo")
    assert hp.load_study("c", storage=url).config["scheduler"] == {"my-custom": {}}
    runner.optimize(lambda p: p["x"], n_trials=4, executor=hp.InlineExecutor())
    assert hp.load_study("c", storage=url).config["scheduler"] == {"fifo": {}}
