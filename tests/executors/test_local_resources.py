"""Per-trial resources of the LocalExecutor: the environment each worker process sees."""

import os
import time

import pytest

from hpsearch.exceptions import InvalidParameterError
from hpsearch.executors import Failed, Finished, LocalExecutor, Stopped


def worker_env(params):
    time.sleep(params["sleep"])  # long enough that every trial gets its own worker
    return {key: os.environ.get(key) for key in
            ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "MKL_NUM_THREADS")} | {"pid": os.getpid()}


def run_all(ex, n, sleep):
    ex.start(worker_env)
    for i in range(n):
        ex.submit(i, {"sleep": sleep})
    ends = {}
    deadline = time.monotonic() + 120
    while len(ends) < n and time.monotonic() < deadline:
        ends.update({e.number: e for e in ex.events(1.0)
                     if isinstance(e, (Finished, Failed, Stopped))})
    assert all(isinstance(e, Finished) for e in ends.values()), ends
    return [ends[i].result for i in range(n)]


@pytest.mark.slow
def test_one_gpu_per_worker_round_robin_over_the_drivers_gpus(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    with LocalExecutor(n_workers=3, gpus_per_trial=1, cpus_per_trial=2) as ex:
        envs = run_all(ex, 3, 0.5)
    assert len({e["pid"] for e in envs}) == 3, "three trials at once run in three workers"
    assert sorted(e["CUDA_VISIBLE_DEVICES"] for e in envs) == ["3", "3", "5"]
    assert {e["OMP_NUM_THREADS"] for e in envs} == {"2"} == {e["MKL_NUM_THREADS"] for e in envs}


def test_gpu_count_defaults_and_errors(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,-1,2")
    assert LocalExecutor(gpus_per_trial=1).n_slots == 2  # ids after an invalid one are hidden
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(InvalidParameterError, match="no GPU"):
        LocalExecutor(gpus_per_trial=1)
    with pytest.raises(InvalidParameterError, match="gpus_per_trial"):
        LocalExecutor(gpus_per_trial=2)
