import math
import os
import time

import pytest
from _exec_objectives import misbehaving, pid_objective, reporting, sleepy, value_of_x

import hpsearch as hp
from hpsearch.executors import Failed, Finished, LocalExecutor, Reported, Started, Stopped

KINDS = ["ok", "raise", "nan", "inf", "none", "string", "dict_without_metric", "sigkill",
         "segfault", "exit", "unpicklable"]


def make_study(tmp_path, space, **kw):
    return hp.create_study("s", space=space, storage=f"sqlite:///{tmp_path / 's.db'}", **kw)


@pytest.fixture(scope="module")
def executor():
    ex = LocalExecutor(n_workers=2)
    yield ex
    ex.shutdown()


def test_every_failure_becomes_a_recorded_trial_and_the_study_goes_on(tmp_path, executor):
    study = make_study(tmp_path, {"kind": hp.Categorical(KINDS)})
    for k in KINDS:
        study.enqueue({"kind": k})
    study.optimize(misbehaving, n_trials=len(KINDS), executor=executor)
    by_kind = {t.params["kind"]: t for t in study.trials}
    assert by_kind["ok"].state is hp.TrialState.COMPLETED
    failed = {k: by_kind[k] for k in KINDS if k != "ok"}
    assert all(t.state is hp.TrialState.FAILED for t in failed.values())
    assert "boom in the objective" in failed["raise"].traceback
    assert failed["raise"].reason == "exception"
    assert failed["nan"].reason == "invalid result: nan"
    assert failed["inf"].reason == "invalid result: -inf"
    assert "NoneType" in failed["none"].reason
    assert "not a number" in failed["string"].reason
    assert "no key 'value'" in failed["dict_without_metric"].reason
    assert failed["sigkill"].reason == "worker lost: killed by SIGKILL"
    assert failed["segfault"].reason == "worker lost: killed by SIGSEGV"
    assert failed["exit"].reason == "worker lost: exit code 3"
    assert "could not be sent" in failed["unpicklable"].traceback
    assert study.best_trial.params["kind"] == "ok"
    reloaded = hp.load_study("s", storage=study.storage)
    assert [t.state for t in reloaded.trials] == [t.state for t in study.trials]


def test_a_killed_worker_fails_only_its_own_trial(tmp_path):
    with LocalExecutor(n_workers=2) as ex:
        ex.start(misbehaving_or_sleep)
        ex.submit(0, {"x": 1.0, "kind": "ok"})
        ex.submit(1, {"x": 1.0, "kind": "sigkill"})
        ends = {}
        deadline = time.monotonic() + 60
        while len(ends) < 2 and time.monotonic() < deadline:
            for ev in ex.events(1.0):
                if isinstance(ev, (Finished, Failed)):
                    ends[ev.number] = ev
        assert isinstance(ends[0], Finished) and ends[0].result == 1.0
        assert isinstance(ends[1], Failed) and ends[1].reason.startswith("worker lost")
        # the pool is whole again: two more trials run at once
        ex.submit(2, {"x": 0.2, "kind": "ok"})
        ex.submit(3, {"x": 0.2, "kind": "ok"})
        got = []
        while len(got) < 2 and time.monotonic() < deadline:
            got += [e for e in ex.events(1.0) if isinstance(e, Finished)]
        assert sorted(e.number for e in got) == [2, 3]


def misbehaving_or_sleep(params):
    if params["kind"] == "ok":
        time.sleep(params["x"])
        return 1.0
    return misbehaving(params)


def test_workers_live_across_trials(tmp_path, executor):
    study = make_study(tmp_path, {"x": hp.Float(0, 1)}, seed=0)
    study.optimize(pid_objective, n_trials=12, executor=executor)
    pids = {t.metrics["pid"] for t in study.trials}
    assert len(pids) <= 2
    assert os.getpid() not in pids


def test_a_stop_decision_ends_the_trial_at_that_report(tmp_path, executor):
    log = tmp_path / "epochs.log"
    space = {"x": hp.Categorical([1.0, 100.0]), "log": hp.Categorical([str(log)])}
    study = make_study(tmp_path, space, mode="max",
                       scheduler=hp.DivergenceScheduler(upper_bound=50.0))
    study.enqueue({"x": 1.0, "log": str(log)})
    study.enqueue({"x": 100.0, "log": str(log)})
    study.optimize(reporting, n_trials=2, executor=executor)
    ok, bad = study.trials
    assert ok.state is hp.TrialState.COMPLETED and ok.value == 5.0 and len(ok.reports) == 5
    assert bad.state is hp.TrialState.STOPPED
    assert bad.reason.startswith("divergence: value 100 > upper_bound 50")
    assert len(bad.reports) == 1 and bad.value == 100.0
    epochs_run = [line for line in log.read_text().splitlines() if line.startswith("100.0")]
    assert epochs_run == ["100.0 1"]  # the worker never started epoch 2
    assert ok.reports[2].metrics == {"loss": pytest.approx(1 / 3)}


def test_trial_timeout_kills_the_worker_and_records_it(tmp_path):
    study = make_study(tmp_path, {"x": hp.Categorical([0.1, 30.0])})
    study.enqueue({"x": 30.0})
    study.enqueue({"x": 0.1})
    t0 = time.monotonic()
    with LocalExecutor(n_workers=2) as ex:
        study.optimize(sleepy, n_trials=2, executor=ex, trial_timeout=1.0)
    assert time.monotonic() - t0 < 25
    slow, fast = study.trials
    assert slow.state is hp.TrialState.FAILED and slow.reason == "timeout"
    assert fast.state is hp.TrialState.COMPLETED


def test_events_protocol_order(tmp_path):
    with LocalExecutor(n_workers=1) as ex:
        ex.start(reporting)
        ex.submit(0, {"x": 2.0, "log": str(tmp_path / "l")})
        seen = []
        while not seen or not isinstance(seen[-1], (Finished, Failed, Stopped)):
            for ev in ex.events(5.0):
                seen.append(ev)
                if isinstance(ev, Reported):
                    ex.send_decision(0, stop=ev.budget >= 3)
        assert isinstance(seen[0], Started)
        assert [e.budget for e in seen if isinstance(e, Reported)] == [1, 2, 3]
        assert isinstance(seen[-1], Stopped)
        assert ex.n_running == 0


def test_unpicklable_objective_is_a_clear_error():
    import threading

    lock = threading.Lock()
    with LocalExecutor(n_workers=1) as ex, pytest.raises(hp.ExecutorError, match="InlineExecutor"):
        ex.start(lambda p: lock)


def test_invalid_arguments():
    with pytest.raises(hp.InvalidParameterError, match="n_workers"):
        LocalExecutor(n_workers=0)
    with pytest.raises(hp.InvalidParameterError, match="start_method"):
        LocalExecutor(1, start_method="teleport")
    with pytest.raises(hp.InvalidParameterError, match="cpus_per_trial"):
        LocalExecutor(1, cpus_per_trial=0)


def test_closures_work_through_cloudpickle(tmp_path, executor):
    offset = 10.0
    study = make_study(tmp_path, {"x": hp.Float(0, 1)}, seed=1)
    study.optimize(lambda p: p["x"] + offset, n_trials=4, executor=executor)
    assert all(t.value >= 10 for t in study.trials)
    assert not any(math.isnan(t.value) for t in study.trials)


def test_value_of_plain_function(tmp_path, executor):
    study = make_study(tmp_path, {"x": hp.Float(0, 1)}, seed=2)
    study.optimize(value_of_x, n_trials=6, executor=executor)
    assert study.best_value == min(t.params["x"] for t in study.trials)


def test_a_script_without_main_guard_works(tmp_path):
    # Workers are fresh interpreters that do not re-import the main script (start_method
    # "subprocess"), so the plain script of the README works as written.
    import subprocess
    import sys

    script = tmp_path / "plain.py"
    script.write_text(
        "import hpsearch as hp\n"
        "def objective(params):\n"
        "    return (params['x'] - 1) ** 2\n"
        f"study = hp.create_study('q', space={{'x': hp.uniform(-5, 5)}}, "
        f"storage='sqlite:///{tmp_path / 'q.db'}', load_if_exists=True)\n"
        "study.optimize(objective, n_trials=4, executor=hp.LocalExecutor(n_workers=2))\n"
        "print('finished', study.n_finished)\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "finished 4"


def test_spawn_start_method_still_works(tmp_path):
    study = make_study(tmp_path, {"x": hp.Float(0, 1)}, seed=5)
    with LocalExecutor(n_workers=1, start_method="spawn") as ex:
        study.optimize(value_of_x, n_trials=2, executor=ex)
    assert study.n_finished == 2
