"""RayExecutor against a real local Ray instance (one per module, stopped by the fixture)."""

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

ray = pytest.importorskip("ray")

from hpsearch.executors.ray import RAY_ENV_DEFAULTS, RayExecutor, slots_from_resources  # noqa: E402

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
    return params["x"]


def misbehaves(params):
    if params["kind"] == "raise":
        raise RuntimeError("boom on ray")
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
def ray_cluster():
    for k, v in RAY_ENV_DEFAULTS.items():
        os.environ.setdefault(k, v)
    if ray.is_initialized():
        pytest.skip("another test left Ray running in this process")
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False,
             log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def executor(ray_cluster):
    """One executor (two actors) for the module: worker processes are reused across tests."""
    ex = RayExecutor()
    yield ex
    ex.shutdown()


def make_study(tmp_path, space, **kw):
    return hp.create_study("s", space=space, storage=f"sqlite:///{tmp_path / 's.db'}", **kw)


# -- without a cluster ----------------------------------------------------------------------
def test_slots_from_resources():
    total = {"CPU": 8.0, "GPU": 2.0, "memory": 1e10}
    assert slots_from_resources(total, {"cpu": 1, "gpu": 0}) == 8
    assert slots_from_resources(total, {"cpu": 2}) == 4
    assert slots_from_resources(total, {"cpu": 1, "gpu": 1}) == 2
    assert slots_from_resources(total, {"cpu": 0.5, "gpu": 0.5}) == 4
    assert slots_from_resources(total, {"cpu": 1, "tpu": 1}) == 0


@pytest.mark.parametrize("kwargs", [
    {"resources_per_trial": {"cpu": -1}}, {"resources_per_trial": {"cpu": 0, "gpu": 0}},
    {"resources_per_trial": {}}, {"n_slots": 0}, {"n_slots": True}, {"address": ""},
])
def test_bad_arguments(kwargs):
    with pytest.raises(InvalidParameterError, match="RayExecutor"):
        RayExecutor(**kwargs)


def test_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'hpsearch\[ray\]'"):
        RayExecutor()


# -- on a local Ray instance ----------------------------------------------------------------
@pytest.mark.integration
def test_protocol_reports_decisions_and_stop(executor):
    executor.start(reports_pid)
    assert executor.n_slots == 2  # from the cluster's 2 CPUs
    executor.submit(0, {"x": 1.0})
    executor.submit(1, {"x": 2.0})
    assert executor.n_running == 2
    seen = {0: [], 1: []}
    deadline = time.monotonic() + 60
    while executor.n_running and time.monotonic() < deadline:
        for ev in executor.events(1.0):
            seen[ev.number].append(ev)
            if isinstance(ev, Reported):
                executor.send_decision(ev.number, stop=(ev.number == 1 and ev.budget == 2))
    kinds0 = [type(e) for e in seen[0]]
    assert kinds0 == [Started, Reported, Reported, Reported, Finished]
    assert seen[0][-1].result == 1.0
    pid = int(seen[0][0].worker.split()[1])
    assert seen[0][1].metrics["pid"] == pid  # Started names the process that runs the trial
    assert [type(e) for e in seen[1]] == [Started, Reported, Reported, Stopped]
    assert [e.budget for e in seen[1] if isinstance(e, Reported)] == [1.0, 2.0]


@pytest.mark.integration
def test_failures_and_kill(executor):
    executor.start(misbehaves)
    executor.submit(0, {"kind": "raise"})
    executor.submit(1, {"kind": "unpicklable"})
    ends = {}
    deadline = time.monotonic() + 60
    while len(ends) < 2 and time.monotonic() < deadline:
        ends.update({e.number: e for e in executor.events(1.0) if not isinstance(e, Started)})
    assert isinstance(ends[0], Failed) and ends[0].reason == "exception"
    assert "boom on ray" in ends[0].traceback
    assert isinstance(ends[1], Failed) and "could not be sent" in ends[1].traceback
    # kill() ends a running trial at once and the slot is usable again
    executor.start(sleeps)
    executor.submit(2, {"x": 60.0})
    executor.kill(2, "timeout")
    assert executor.n_running == 0
    evs = executor.events(0.0)
    assert Failed(2, "timeout", None) in evs
    executor.kill(2, "timeout")  # a no-op once ended
    executor.submit(3, {"x": 0.01})
    executor.submit(4, {"x": 0.01})
    ends = {}
    deadline = time.monotonic() + 60
    while len(ends) < 2 and time.monotonic() < deadline:
        ends.update({e.number: e for e in executor.events(1.0) if not isinstance(e, Started)})
    assert ends == {3: Finished(3, 0.01), 4: Finished(4, 0.01)}


@pytest.mark.integration
def test_cnn_from_a_file_with_divergence_stopping(tmp_path, executor):
    make_objective = load_from_path(CNN_FILE, "make_objective", "hpsearch_test_ray_cnn")
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
    assert ray.is_initialized()  # the executor does not stop a Ray it did not start


def test_built_by_name_from_a_study_file_spec():
    from hpsearch._registry import resolve_executor

    ex = resolve_executor({"ray": {"address": "10.0.0.1:6379", "resources_per_trial": {"cpu": 2},
                                   "n_slots": 3}})
    assert isinstance(ex, RayExecutor) and ex.address == "10.0.0.1:6379"
    assert ex.resources_per_trial == {"cpu": 2.0} and ex.n_slots == 3
