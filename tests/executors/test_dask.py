"""DaskExecutor against a real Dask cluster on 127.0.0.1 (one per module, closed by the fixture)."""

import importlib.util
import os
import signal
import sys
import time
from pathlib import Path

import pytest

import hpsearch as hp
from hpsearch.exceptions import InvalidParameterError, MissingDependencyError
from hpsearch.executors import Failed, Finished, Reported, Started, Stopped
from hpsearch.schedulers._base import Decision, Scheduler

distributed = pytest.importorskip("distributed")

from hpsearch.executors.dask import DaskExecutor  # noqa: E402

CNN_FILE = Path(__file__).resolve().parents[2] / "examples" / "cnn_digits" / "train.py"
GOOD = {"learning_rate": 0.05, "batch_size": 32, "dropout": 0.2, "stddev": 0.05}
DIVERGENT = {"learning_rate": 10.0, "batch_size": 32, "dropout": 0.2, "stddev": 0.05}


def load_from_path(path, attr, module_name):
    """Load ``attr`` of a file under a name no worker can import (like the CLI's path:attr)."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return getattr(module, attr)


# -- objectives: defined in this test module, which workers cannot import (shipped by value) --
def reports_pid(params, reporter):
    for epoch in range(1, 4):
        reporter.report(epoch, params["x"] * epoch, pid=os.getpid())
        time.sleep(0.05)
    return params["x"]


def sleeps(params):
    time.sleep(params["x"])
    return {"value": params["x"], "pid": os.getpid()}


def misbehaves(params):
    if params["kind"] == "raise":
        raise RuntimeError("boom on dask")
    if params["kind"] == "unpicklable":
        return {"value": 1.0, "lock": __import__("threading").Lock()}
    return 1.0


class KillFirstAttemptOfTrialZero(Scheduler):
    """A test-only scheduler: SIGKILLs the worker of trial 0 (first attempt) at its first report."""

    name = "kill-first"

    def decide(self, trial, trials, *, mode):
        if trial.number == 0 and trial.attempt == 0 and len(trial.reports) == 1:
            os.kill(int(trial.reports[0].metrics["pid"]), signal.SIGKILL)
        return Decision.CONTINUE


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dask_address():
    """A scheduler and two single-thread worker processes, with Dask's default allowed-failures."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    yield cluster.scheduler_address
    cluster.close()


@pytest.fixture
def executor(dask_address):
    ex = DaskExecutor(dask_address)
    yield ex
    ex.shutdown()


def make_study(tmp_path, space, **kw):
    return hp.create_study("s", space=space, storage=f"sqlite:///{tmp_path / 's.db'}", **kw)


def wait_ends(executor, n, timeout=60):
    ends = {}
    deadline = time.monotonic() + timeout
    while len(ends) < n and time.monotonic() < deadline:
        ends.update({e.number: e for e in executor.events(1.0)
                     if isinstance(e, (Finished, Failed, Stopped))})
    return ends


# -- without a cluster ----------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [
    {"resources_per_trial": {"GPU": 0}}, {"resources_per_trial": {}},
    {"resources_per_trial": {"GPU": float("nan")}}, {"n_slots": 0}, {"address": ""},
])
def test_bad_arguments(kwargs):
    with pytest.raises(InvalidParameterError, match="DaskExecutor"):
        DaskExecutor(**kwargs)


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'hpsearch\[dask\]'"):
        DaskExecutor()


# -- on the cluster -------------------------------------------------------------------------
@pytest.mark.integration
def test_protocol_reports_decisions_and_stop(executor):
    executor.start(reports_pid)
    assert executor.n_slots == 2  # two single-thread workers
    allowed = executor.client.run_on_scheduler(lambda dask_scheduler: (
        dask_scheduler.allowed_failures))
    assert allowed == 0  # the executor set it: Dask must not rerun a trial whose worker died
    executor.submit(0, {"x": 1.0})
    executor.submit(1, {"x": 2.0})
    seen = {0: [], 1: []}
    deadline = time.monotonic() + 60
    while executor.n_running and time.monotonic() < deadline:
        for ev in executor.events(1.0):
            seen[ev.number].append(ev)
            if isinstance(ev, Reported):
                executor.send_decision(ev.number, stop=(ev.number == 1 and ev.budget == 2))
    assert [type(e) for e in seen[0]] == [Started, Reported, Reported, Reported, Finished]
    assert seen[0][-1].result == 1.0
    pid = int(seen[0][0].worker.split()[1])
    assert seen[0][1].metrics["pid"] == pid  # Started names the process that runs the trial
    assert [type(e) for e in seen[1]] == [Started, Reported, Reported, Stopped]


@pytest.mark.integration
def test_failures_and_kill(executor):
    executor.start(misbehaves)
    executor.submit(0, {"kind": "raise"})
    executor.submit(1, {"kind": "unpicklable"})
    ends = wait_ends(executor, 2)
    assert isinstance(ends[0], Failed) and ends[0].reason == "exception"
    assert "boom on dask" in ends[0].traceback
    assert isinstance(ends[1], Failed) and "could not be sent" in ends[1].traceback
    # kill() stops a running trial: its worker process is restarted
    executor.start(sleeps)
    executor.submit(2, {"x": 60.0})
    started = []
    deadline = time.monotonic() + 30
    while not started and time.monotonic() < deadline:
        started = [e for e in executor.events(1.0) if isinstance(e, Started)]
    pid = int(started[0].worker.split()[1])
    executor.kill(2, "timeout")
    assert executor.n_running == 0
    assert Failed(2, "timeout", None) in executor.events(0.0)
    executor.kill(2, "timeout")  # a no-op once ended
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the killed trial's worker process is still alive")
    executor.submit(3, {"x": 0.01})
    executor.submit(4, {"x": 0.01})
    ends = wait_ends(executor, 2)
    assert [type(ends[n]) for n in (3, 4)] == [Finished, Finished]


@pytest.mark.integration
def test_cnn_from_a_file_with_divergence_stopping(tmp_path, executor):
    make_objective = load_from_path(CNN_FILE, "make_objective", "hpsearch_test_dask_cnn")
    study = make_study(
        tmp_path, {"learning_rate": hp.Float(1e-3, 10, log=True), "batch_size": hp.Int(30, 99),
                   "dropout": hp.Float(0, 1), "stddev": hp.Float(1e-3, 10, log=True)},
        metric="accuracy", mode="max",
        scheduler={"divergence": {"metric": "loss", "upper_bound": 100.0}})
    for p in (DIVERGENT, GOOD, DIVERGENT, GOOD):
        study.enqueue(p)
    study.optimize(make_objective(max_epochs=2), n_trials=4, executor=executor)
    states = [(t.state, len(t.reports)) for t in study.trials]
    assert states == [(hp.TrialState.STOPPED, 1), (hp.TrialState.COMPLETED, 2)] * 2
    assert all(t.reason.startswith("divergence") for t in study.trials if t.params == DIVERGENT)
    assert study.best_value > 0.5


@pytest.mark.integration
def test_a_killed_worker_fails_the_trial_and_the_study_retries_it(tmp_path, executor):
    study = make_study(tmp_path, {"x": hp.Float(0, 1)}, scheduler=KillFirstAttemptOfTrialZero())
    study.optimize(reports_pid, n_trials=3, executor=executor, max_retries=1)
    trials = study.trials
    lost = [t for t in trials if t.state is hp.TrialState.FAILED]
    assert len(lost) == 1 and lost[0].number == 0
    assert lost[0].reason.startswith("worker lost: ")
    retry = [t for t in trials if t.retry_of == 0]
    assert len(retry) == 1 and retry[0].state is hp.TrialState.COMPLETED
    assert retry[0].params == lost[0].params
    assert study.counts()["COMPLETED"] == 3 and study.n_finished == 3


def test_built_by_name_from_a_study_file_spec():
    from hpsearch._registry import resolve_executor

    ex = resolve_executor({"dask": {"address": "tcp://10.0.0.1:8786", "n_slots": 4,
                                    "resources_per_trial": {"GPU": 1}}})
    assert isinstance(ex, DaskExecutor) and ex.address == "tcp://10.0.0.1:8786"
    assert ex.n_slots == 4 and ex.resources_per_trial == {"GPU": 1.0}
    assert ex.client is None  # nothing connects before start()
