"""Conformance suite that every :class:`~hpsearch.storage.Storage` back end must pass.

Usage, in a pytest module (``tests/storage/test_conformance.py`` runs it over SQLite and, when
reachable, PostgreSQL)::

    import pytest
    from hpsearch.testing.storage import CHECKS

    @pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
    def test_sqlite(check, tmp_path):
        check(f"sqlite:///{tmp_path / 'a.db'}")

``check_storage(url)`` runs every check in turn. Each ``check_*(url)`` receives the URL of an
*empty* database (a fresh file, schema or database), opens it with
:func:`~hpsearch.open_storage`, and raises ``AssertionError`` naming the property on failure.

The properties:

* studies, trials and reports round-trip exactly: unicode names and params, nested JSON config,
  NaN / +-inf report values and metrics (a NaN final value is stored as missing), timestamps,
  ``retry_of`` / ``attempt``, reasons and tracebacks; data survives closing and reopening;
* a study name and a trial number within a study are unique (StorageError), numbers repeat
  across studies;
* the driver lock: acquire, re-acquire by the holder, refusal to another owner, heartbeat only by
  the holder, stale takeover after ``stale_after`` seconds, release only by the holder;
* ``delete_study`` removes the study's trials and reports too (nothing resurfaces in a study
  created afterwards, even if the back end reuses its id);
* ``list_studies``: oldest first, counts per state, number of trials and the best COMPLETED value
  under each study's mode;
* ``get_trials(states=...)`` filters;
* a reader in another process sees a consistent, growing study while the driver writes;
* errors are :class:`~hpsearch.StorageError` (or :class:`~hpsearch.StudyNotFoundError`) with a
  one-line message.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import time
from collections.abc import Callable
from typing import Any

from hpsearch.exceptions import StorageError, StudyNotFoundError
from hpsearch.storage import Storage, open_storage
from hpsearch.trial import TrialState

__all__ = [
    "CHECKS",
    "check_concurrent_reader",
    "check_delete_cascades",
    "check_errors_are_one_line",
    "check_get_trials_filters_states",
    "check_list_studies",
    "check_lock",
    "check_numbering_is_unique",
    "check_storage",
    "check_study_round_trip",
    "check_trial_round_trip",
]

_NAME = "étude ✓ 研究"  # a unicode study name
_SPACE = {"lr": {"type": "float", "low": 1e-5, "high": 1.0, "log": True},
          "act": {"type": "categorical", "choices": ["relu", "tanh", "σ"]}}


def _new(st: Storage, name: str = _NAME, *, mode: str = "min",
         created_at: float = 1_700_000_000.25) -> int:
    rec = st.create_study(name, metric="loss", mode=mode, space=_SPACE,
                          config={"searcher": {"tpe": {"seed": 1}}, "note": "ünïcode", "n": None},
                          created_at=created_at)
    return rec.study_id


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return (math.isnan(a) and math.isnan(b)) or a == b


def _one_line(e: BaseException, what: str) -> None:
    text = str(e)
    assert text and "\n" not in text, f"{what}: the error message must be one line, got {text!r}"


def check_study_round_trip(url: str) -> None:
    """Create, get, update and reopen a study with unicode and nested JSON."""
    st = open_storage(url)
    try:
        sid = _new(st)
        rec = st.get_study(_NAME)
        assert rec.study_id == sid and rec.name == _NAME, "get_study must return the study"
        assert (rec.metric, rec.mode, rec.created_at) == ("loss", "min", 1_700_000_000.25)
        assert rec.space == _SPACE, f"space must round-trip; got {rec.space}"
        assert rec.config == {"searcher": {"tpe": {"seed": 1}}, "note": "ünïcode", "n": None}
        st.update_study_config(sid, {"searcher": "random", "list": [1, 2.5, "x"]})
        assert st.get_study(_NAME).config == {"searcher": "random", "list": [1, 2.5, "x"]}
    finally:
        st.close()
    st = open_storage(url, create=False)
    try:
        assert st.get_study(_NAME).config["list"] == [1, 2.5, "x"], "data must survive reopening"
    finally:
        st.close()


def check_trial_round_trip(url: str) -> None:
    """Trials and reports keep params, NaN / inf values, metrics, reasons and timestamps."""
    st = open_storage(url)
    try:
        sid = _new(st)
        params = {"lr": 0.001234567890123, "act": "σ", "n": 7, "flag": True}
        st.create_trial(sid, 0, state=TrialState.PENDING, params=params, created_at=10.5)
        st.create_trial(sid, 1, state=TrialState.RUNNING, params={"lr": 1e-300, "act": "relu"},
                        created_at=11.0, started_at=11.25, retry_of=0, attempt=1)
        st.start_trial(sid, 0, started_at=12.0)
        values = [0.5, float("nan"), float("inf"), float("-inf"), -0.0, 1e308]
        for i, v in enumerate(values):
            st.add_report(sid, 0, budget=i + 1, value=v,
                          metrics={"loss": v, "name": "ü", "nested": {"a": [1, None]}})
        st.finish_trial(sid, 0, state=TrialState.COMPLETED, value=0.25,
                        metrics={"loss": 0.25, "acc": float("nan"), "big": float("inf")},
                        finished_at=20.75)
        st.finish_trial(sid, 1, state=TrialState.FAILED, value=float("nan"), metrics={},
                        finished_at=21.0, reason="worker lost: ✗", traceback="Trace\n  line ✗\n")
        t0, t1 = st.get_trials(sid)
        assert (t0.number, t0.state, dict(t0.params)) == (0, TrialState.COMPLETED, params)
        assert isinstance(t0.params["n"], int) and t0.params["flag"] is True
        assert (t0.value, t0.created_at, t0.started_at, t0.finished_at) == (0.25, 10.5, 12.0, 20.75)
        assert t0.metrics["loss"] == 0.25 and math.isnan(t0.metrics["acc"])
        assert t0.metrics["big"] == float("inf"), "inf metrics must round-trip"
        got = [r.value for r in t0.reports]
        assert all(_same(a, b) for a, b in zip(got, values, strict=True)), (
            f"report values must round-trip (NaN and +-inf included); got {got}")
        assert [r.budget for r in t0.reports] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        assert t0.reports[2].metrics["loss"] == float("inf")
        assert t0.reports[0].metrics == {"loss": 0.5, "name": "ü", "nested": {"a": [1, None]}}
        assert t1.value is None, "a NaN final value is stored as missing"
        assert (t1.reason, t1.traceback) == ("worker lost: ✗", "Trace\n  line ✗\n")
        assert (t1.retry_of, t1.attempt, t1.started_at) == (0, 1, 11.25)
        assert t1.params["lr"] == 1e-300
        decoded = st.get_trials(sid, decode=lambda p: {**p, "decoded": True})
        assert decoded[0].params["decoded"] is True, "decode must be applied to params"
    finally:
        st.close()


def check_numbering_is_unique(url: str) -> None:
    """Check that study names and trial numbers within a study are unique (not across studies)."""
    st = open_storage(url)
    try:
        a = _new(st, "a")
        b = _new(st, "b")
        try:
            _new(st, "a")
        except StorageError as e:
            _one_line(e, "duplicate study name")
        else:
            raise AssertionError("a duplicate study name must raise StorageError")
        st.create_trial(a, 0, state=TrialState.RUNNING, params={}, created_at=1.0)
        st.create_trial(b, 0, state=TrialState.RUNNING, params={}, created_at=1.0)
        try:
            st.create_trial(a, 0, state=TrialState.RUNNING, params={"x": 1}, created_at=2.0)
        except StorageError as e:
            _one_line(e, "duplicate trial number")
        else:
            raise AssertionError("a duplicate trial number must raise StorageError")
        assert [t.params for t in st.get_trials(a)] == [{}], "the failed insert must leave no row"
        st.create_trial(a, 1, state=TrialState.RUNNING, params={}, created_at=3.0)
        assert [t.number for t in st.get_trials(a)] == [0, 1]
    finally:
        st.close()


def check_lock(url: str) -> None:
    """Acquire, refuse, heartbeat, stale takeover, release."""
    st = open_storage(url)
    try:
        sid = _new(st)
        assert st.lock_info(sid) == (None, None), "a new study's lock is free"
        assert st.acquire_lock(sid, "A", now=100.0, stale_after=30.0)
        assert st.acquire_lock(sid, "A", now=101.0, stale_after=30.0), "the holder re-acquires"
        assert not st.acquire_lock(sid, "B", now=102.0, stale_after=30.0), "a live lock refuses B"
        assert st.lock_info(sid) == ("A", 101.0)
        assert st.heartbeat(sid, "A", now=110.0)
        assert not st.heartbeat(sid, "B", now=110.0), "only the holder may heartbeat"
        assert not st.acquire_lock(sid, "B", now=139.0, stale_after=30.0), "29 s old: not stale"
        assert st.acquire_lock(sid, "B", now=141.0, stale_after=30.0), "31 s old: stale, taken"
        assert st.lock_info(sid) == ("B", 141.0)
        assert not st.heartbeat(sid, "A", now=142.0), "the old holder lost the lock"
        st.release_lock(sid, "A")
        assert st.lock_info(sid)[0] == "B", "only the holder may release"
        st.release_lock(sid, "B")
        assert st.lock_info(sid) == (None, None)
        assert st.acquire_lock(sid, "C", now=143.0, stale_after=30.0), "a released lock is free"
    finally:
        st.close()


def _fill(st: Storage, sid: int, states: list[TrialState], values: list[float | None]) -> None:
    for n, (state, v) in enumerate(zip(states, values, strict=True)):
        st.create_trial(sid, n, state=TrialState.RUNNING, params={"n": n}, created_at=float(n))
        st.add_report(sid, n, budget=1, value=v if v is not None else float("nan"), metrics={})
        if state.is_finished:
            st.finish_trial(sid, n, state=state, value=v, metrics={}, finished_at=float(n))


def check_delete_cascades(url: str) -> None:
    """Check that deleting a study removes its trials and reports; other studies stay."""
    st = open_storage(url)
    try:
        keep = _new(st, "keep")
        _fill(st, keep, [TrialState.COMPLETED], [1.0])
        gone = _new(st, "gone")
        _fill(st, gone, [TrialState.COMPLETED, TrialState.RUNNING], [2.0, None])
        st.delete_study("gone")
        try:
            st.get_study("gone")
        except StudyNotFoundError as e:
            _one_line(e, "unknown study")
        else:
            raise AssertionError("a deleted study must raise StudyNotFoundError")
        assert st.get_trials(gone) == [], "a deleted study's trials must be gone"
        again = _new(st, "again")  # may reuse the deleted id on some back ends
        assert st.get_trials(again) == [], "nothing of a deleted study may resurface"
        st.create_trial(again, 0, state=TrialState.RUNNING, params={}, created_at=1.0)
        assert st.get_trials(again)[0].reports == (), "a deleted study's reports must be gone"
        assert [t.value for t in st.get_trials(keep)] == [1.0]
        assert len(st.get_trials(keep)[0].reports) == 1
        try:
            st.delete_study("gone")
        except StudyNotFoundError:
            pass
        else:
            raise AssertionError("deleting an unknown study must raise StudyNotFoundError")
    finally:
        st.close()


def check_list_studies(url: str) -> None:
    """Oldest first, counts per state, number of trials, best COMPLETED value under the mode."""
    st = open_storage(url)
    try:
        assert st.list_studies() == [], "an empty storage lists no study"
        s_min = _new(st, "min", mode="min", created_at=1.0)
        s_max = _new(st, "max", mode="max", created_at=2.0)
        _new(st, "empty", mode="max", created_at=3.0)
        states = [TrialState.COMPLETED, TrialState.COMPLETED, TrialState.STOPPED,
                  TrialState.FAILED, TrialState.RUNNING, TrialState.COMPLETED]
        values: list[float | None] = [3.0, -1.5, -9.0, None, None, float("nan")]
        _fill(st, s_min, states, values)
        _fill(st, s_max, states, values)
        by_name = {s.name: s for s in st.list_studies()}
        assert [s.name for s in st.list_studies()] == ["min", "max", "empty"], "oldest first"
        smin, smax, empty = by_name["min"], by_name["max"], by_name["empty"]
        expected = {"COMPLETED": 3, "STOPPED": 1, "FAILED": 1, "RUNNING": 1}
        assert {k: v for k, v in smin.counts.items() if v} == expected, f"counts: {smin.counts}"
        assert smin.n_trials == 6 and smax.n_trials == 6
        assert smin.best_value == -1.5, "best of a min study: the lowest COMPLETED value"
        assert smax.best_value == 3.0, "best of a max study: the highest COMPLETED value"
        assert empty.n_trials == 0 and empty.best_value is None
        assert (smax.metric, smax.mode, smax.created_at) == ("loss", "max", 2.0)
    finally:
        st.close()


def check_get_trials_filters_states(url: str) -> None:
    """``get_trials(states=...)`` returns only trials in those states, by number."""
    st = open_storage(url)
    try:
        sid = _new(st)
        _fill(st, sid, [TrialState.COMPLETED, TrialState.FAILED, TrialState.RUNNING,
                        TrialState.COMPLETED], [1.0, None, None, 2.0])
        st.create_trial(sid, 4, state=TrialState.PENDING, params={}, created_at=5.0)
        done = st.get_trials(sid, states=[TrialState.COMPLETED])
        assert [t.number for t in done] == [0, 3]
        assert len(done[1].reports) == 1, "filtered trials keep their reports"
        live = st.get_trials(sid, states=[TrialState.RUNNING, TrialState.PENDING])
        assert [t.number for t in live] == [2, 4]
        assert st.get_trials(sid, states=[TrialState.STOPPED]) == []
        assert len(st.get_trials(sid)) == 5
    finally:
        st.close()


def _reader(url: str, name: str, ready: Any, stop: Any, out: Any) -> None:
    """Read a study over and over in another process; report what was seen (or the error)."""
    try:
        st = open_storage(url, create=False)
        sid = st.get_study(name).study_id
        seen: list[int] = []
        ready.set()
        while not stop.is_set():
            trials = st.get_trials(sid)
            n_reports = sum(len(t.reports) for t in trials)
            for t in trials:  # a finished trial is never seen half-written
                if t.state == TrialState.COMPLETED:
                    assert t.value is not None and t.finished_at is not None
            seen.append(n_reports)
            time.sleep(0.002)
        st.close()
        out.put(("ok", seen))
    except BaseException as e:  # noqa: BLE001 - sent to the parent
        out.put(("error", f"{type(e).__name__}: {e}"))


def check_concurrent_reader(url: str, *, n_trials: int = 20, n_reports: int = 10) -> None:
    """Check that a reader in another process sees a consistent, growing study during writes."""
    st = open_storage(url)
    ctx = mp.get_context("spawn")
    try:
        sid = _new(st, "busy")
        ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
        proc = ctx.Process(target=_reader, args=(url, "busy", ready, stop, out), daemon=True)
        proc.start()
        try:
            if not ready.wait(timeout=60):
                raise AssertionError(f"the reader process could not open {url}: "
                                     f"{out.get(timeout=5) if not out.empty() else 'no answer'}")
            for n in range(n_trials):
                st.create_trial(sid, n, state=TrialState.RUNNING, params={"n": n},
                                created_at=time.time())
                for b in range(n_reports):
                    st.add_report(sid, n, budget=b + 1, value=float(b), metrics={"b": b})
                st.finish_trial(sid, n, state=TrialState.COMPLETED, value=1.0, metrics={},
                                finished_at=time.time())
                time.sleep(0.005)
            time.sleep(0.1)
            stop.set()
            kind, payload = out.get(timeout=60)
        finally:
            stop.set()
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join()
        assert kind == "ok", f"the reader failed while the driver wrote: {payload}"
        assert payload, "the reader read nothing"
        assert payload == sorted(payload), "the reader must never see reports disappear"
        assert payload[-1] == n_trials * n_reports, "the reader must see every committed report"
    finally:
        st.close()


def check_errors_are_one_line(url: str) -> None:
    """Errors are StorageError subclasses with one-line messages."""
    st = open_storage(url)
    try:
        try:
            st.get_study("no such study")
        except StudyNotFoundError as e:
            assert isinstance(e, StorageError) and isinstance(e, KeyError)
            _one_line(e, "unknown study")
            assert "no such study" in str(e), "the message must name the study"
        else:
            raise AssertionError("an unknown study must raise StudyNotFoundError")
        sid = _new(st)
        st.create_trial(sid, 0, state=TrialState.RUNNING, params={}, created_at=1.0)
        try:
            st.create_trial(sid, 0, state=TrialState.RUNNING, params={}, created_at=1.0)
        except StorageError as e:
            _one_line(e, "duplicate trial")
        else:
            raise AssertionError("a duplicate trial must raise StorageError")
        st.create_trial(sid, 1, state=TrialState.RUNNING, params={}, created_at=2.0)
        assert len(st.get_trials(sid)) == 2, "the storage must stay usable after an error"
    finally:
        st.close()
    try:
        open_storage("nosuchdialect://user@127.0.0.1/x")
    except StorageError as e:
        _one_line(e, "unknown dialect")
    except ImportError as e:  # MissingDependencyError is an ImportError and an HpsearchError
        _one_line(e, "unknown dialect")
    else:
        raise AssertionError("an unknown URL scheme must raise StorageError")


CHECKS: tuple[Callable[[str], None], ...] = (
    check_study_round_trip,
    check_trial_round_trip,
    check_numbering_is_unique,
    check_lock,
    check_delete_cascades,
    check_list_studies,
    check_get_trials_filters_states,
    check_concurrent_reader,
    check_errors_are_one_line,
)


def check_storage(make_url: Callable[[], str]) -> None:
    """Run every check, each on a fresh empty storage from ``make_url()``.

    Args:
        make_url: returns the URL of a new, empty database each time it is called.

    Raises:
        AssertionError: the first property that does not hold.

    """
    for check in CHECKS:
        check(make_url())
