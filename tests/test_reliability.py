"""Fault injection: a driver SIGKILLed at chosen points, Ctrl-C, worker deaths, timeouts, locks.

Drivers run as subprocesses of a small script (``DRIVER`` below, written to ``tmp_path``) so that
they can be killed for real; the test process reads the study between runs, as a user would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

import hpsearch as hp
from hpsearch import _runner as runner_mod
from hpsearch import study as study_mod
from hpsearch.trial import TrialState

pytestmark = pytest.mark.slow  # real subprocesses, signals and kills

DRIVER = textwrap.dedent(r'''
    import json, logging, os, signal, sys, time
    import hpsearch as hp
    from hpsearch.schedulers._base import Decision, Scheduler
    from hpsearch.study import Study

    cfg = {}

    def log(line):
        fd = os.open(cfg["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, (json.dumps(line) + "\n").encode())
        os.close(fd)

    class StopHigh(Scheduler):
        # Stops trials with x > 0.6 at budget 2 (deterministic, pure).
        name = "stophigh"
        def decide(self, trial, trials, *, mode):
            if trial.reports[-1].budget >= 2 and trial.params["x"] > 0.6:
                return Decision.stop("x too high")
            return Decision.CONTINUE

    def objective(params, reporter):
        x = params["x"]
        log({"phase": cfg["phase"], "event": "start", "x": x, "pid": os.getpid()})
        if cfg.get("crash_first"):
            try:
                os.close(os.open(cfg["log"] + f".crash{cfg['phase']}",
                                 os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                os._exit(3)  # the first trial of this phase loses its worker
            except FileExistsError:
                pass
        for epoch in (1, 2, 3):
            time.sleep(cfg["sleep"])
            reporter.report(epoch, x + 1.0 / epoch)
        return x

    def arm_after(obj, method, k):
        # SIGKILL this process right after the k-th call of obj.method returned.
        orig, n = getattr(obj, method), [0]
        def wrapped(*a, **kw):
            out = orig(*a, **kw)
            n[0] += 1
            if n[0] == k:
                os.kill(os.getpid(), signal.SIGKILL)
            return out
        setattr(obj, method, wrapped)

    def arm(study, scheduler, kill):
        where, k = kill.split(":")
        if where == "decide_stop":  # during a stop decision: report committed, STOP not yet
            orig_decide, n = scheduler.decide, [0]
            def decide(trial, trials, *, mode):
                d = orig_decide(trial, trials, mode=mode)
                if d.is_stop:
                    n[0] += 1
                    if n[0] == int(k):
                        os.kill(os.getpid(), signal.SIGKILL)
                return d
            scheduler.decide = decide
        elif where == "retry_lost":  # FAILED "worker lost" committed, its retry not yet created
            orig_retry = Study._retry
            def _retry(self, t):
                if (t.reason or "").startswith("worker lost"):
                    os.kill(os.getpid(), signal.SIGKILL)
                return orig_retry(self, t)
            Study._retry = _retry
        else:
            arm_after(study.storage, where, int(k))

    def main(c):
        cfg.update(c)
        storage = cfg["storage"]
        scheduler = StopHigh()
        try:  # the stored (seeded) searcher is rebuilt; the custom scheduler is passed each time
            study = hp.load_study("s", storage=storage, scheduler=scheduler)
        except hp.StorageError:
            study = hp.create_study("s", space={"x": hp.Float(0.0, 1.0)}, storage=storage,
                                    seed=cfg["seed"], searcher="random", scheduler=scheduler)
        if cfg.get("kill"):
            arm(study, scheduler, cfg["kill"])
        executor = (hp.InlineExecutor() if cfg.get("inline")
                    else hp.LocalExecutor(cfg.get("workers", 2), start_method="fork"))
        try:
            study.optimize(objective, n_trials=cfg["n_trials"], executor=executor,
                           max_retries=cfg.get("max_retries", 0), timeout=cfg.get("timeout"))
        except KeyboardInterrupt:
            return 130
        finally:
            executor.shutdown()
        return 0

    def zygote():
        # Fork one driver per config line read (hpsearch imported once); print exit codes.
        for line in sys.stdin:
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    code = main(json.loads(line))
                except BaseException:
                    import traceback
                    traceback.print_exc()
                finally:
                    sys.stderr.flush()
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            print(os.waitstatus_to_exitcode(status), flush=True)

    if __name__ == "__main__":
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
        if sys.argv[1:] == ["--zygote"]:
            zygote()
        else:
            sys.exit(main(json.loads(os.environ["HPS_CFG"])))
''')

INLINE_SLEEPER = textwrap.dedent(r'''
    import json, logging, os, sys, time
    import hpsearch as hp
    cfg = json.loads(os.environ["HPS_CFG"])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    study = hp.create_study("s", space={"x": hp.Float(0.0, 1.0)}, storage=cfg["storage"],
                            searcher="random", load_if_exists=True)
    def objective(params):  # runs on the driver's own thread: no reporter
        time.sleep(cfg["sleep"])
        return params["x"]
    try:
        study.optimize(objective, n_trials=cfg["n_trials"], executor=hp.InlineExecutor())
    except KeyboardInterrupt:
        sys.exit(130)
''')


# -- helpers -----------------------------------------------------------------------------------
def _script(tmp_path: Path, text: str, name: str) -> Path:
    p = tmp_path / name
    if not p.exists():
        p.write_text(text)
    return p


def _start(tmp_path: Path, cfg: dict[str, Any], script: str = DRIVER,
           name: str = "driver.py") -> subprocess.Popen[str]:
    env = {**os.environ, "HPS_CFG": json.dumps(cfg), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, str(_script(tmp_path, script, name))], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path)


def _finish(p: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str]:
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        raise AssertionError(f"driver did not finish in {timeout} s; stderr:\n{err}") from None
    return p.returncode, err


def _run(tmp_path: Path, cfg: dict[str, Any], **kw: Any) -> tuple[int, str]:
    return _finish(_start(tmp_path, cfg, **kw))


def _cfg(tmp_path: Path, **kw: Any) -> dict[str, Any]:
    base = {"storage": f"sqlite:///{tmp_path / 's.db'}", "log": str(tmp_path / "log.jsonl"),
            "seed": 7, "n_trials": 20, "sleep": 0.01, "phase": 0}
    return {**base, **kw}


def _log(tmp_path: Path) -> list[dict[str, Any]]:
    p = tmp_path / "log.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []


def _trials(tmp_path: Path) -> list[hp.Trial]:
    """The stored trials, read as a separate reader would (the custom scheduler not needed)."""
    st = hp.open_storage(f"sqlite:///{tmp_path / 's.db'}", create=False)
    try:
        return st.get_trials(st.get_study("s").study_id)
    finally:
        st.close()


def _new(storage: str) -> hp.Study:
    """A study of one Float with random search (cheap and reproducible per fresh trial)."""
    return hp.create_study("s", space={"x": hp.Float(0, 1)}, storage=storage, searcher="random")


def _load(tmp_path: Path) -> hp.Study:
    return hp.load_study("s", storage=f"sqlite:///{tmp_path / 's.db'}", scheduler="fifo")


def _wait_gone(pids: set[int], timeout: float = 10.0) -> set[int]:
    """Wait for processes to exit (zombies count as gone); returns those still alive."""
    deadline = time.monotonic() + timeout
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        for pid in list(alive):
            try:
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    alive.discard(pid)
            except psutil.NoSuchProcess:
                alive.discard(pid)
        time.sleep(0.1)
    return alive


def _wait_for(pred: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def _latest_attempts(trials: list[hp.Trial]) -> dict[int, hp.Trial]:
    out: dict[int, hp.Trial] = {}
    for t in trials:
        out[t.number if t.retry_of is None else t.retry_of] = t
    return out


def _is_interrupted(t: hp.Trial) -> bool:
    return t.state == TrialState.FAILED and (t.reason or "").startswith("interrupted")


# -- SIGKILL of the driver at six points, resumed each time -------------------------------------
KILL_POINTS = [
    ("create_trial:3", {}),          # a trial committed RUNNING, maybe not yet submitted
    ("add_report:4", {}),            # a report committed, the scheduler not yet asked
    ("decide_stop:1", {}),           # during a stop decision: STOP decided, not committed
    ("finish_trial:3", {}),          # a finish committed, callbacks and retries not yet run
    ("retry_lost:1", {"crash_first": True}),  # worker-lost FAILED committed, retry not created
    ("start_trial:1", {}),           # a re-run of an interrupted / retried trial just started
]


def test_driver_killed_at_six_points_resumes_to_exactly_n_trials(tmp_path: Path) -> None:
    n_trials = 20
    finished_before: dict[int, hp.Trial] = {}
    # One process imports hpsearch once and forks a fresh driver per phase (a real process,
    # really SIGKILLed), which keeps the seven runs fast.
    zygote = subprocess.Popen([sys.executable, str(_script(tmp_path, DRIVER, "driver.py")),
                               "--zygote"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=tmp_path)

    def run(cfg: dict[str, Any]) -> int:
        assert zygote.stdin and zygote.stdout
        zygote.stdin.write(json.dumps(cfg) + "\n")
        zygote.stdin.flush()
        return int(zygote.stdout.readline())

    try:
        codes = _six_kills(tmp_path, run, n_trials, finished_before)
        code = run(_cfg(tmp_path, phase=len(KILL_POINTS), max_retries=1, n_trials=n_trials))
    finally:
        _, err = zygote.communicate(timeout=60)
    assert codes == [-signal.SIGKILL] * len(KILL_POINTS), err
    assert code == 0, err
    trials = _trials(tmp_path)
    assert all(t.state != TrialState.RUNNING for t in trials)
    assert all(t.state != TrialState.PENDING for t in trials)
    for number, t in finished_before.items():
        assert trials[number] == t
    latest = _latest_attempts(trials)
    assert len(latest) == n_trials
    assert all(t.state.is_finished and not _is_interrupted(t) for t in latest.values())
    assert _load(tmp_path).n_finished == n_trials
    # Each re-run is linked to the first attempt; attempts count up from 1.
    for t in trials:
        if t.retry_of is not None:
            first = trials[t.retry_of]
            assert first.retry_of is None and first.params == t.params and t.attempt >= 1
    # A finished trial never ran again in a later phase (never run twice).
    log = _log(tmp_path)
    for t in finished_before.values():
        later = [e for e in log if e["event"] == "start" and e["x"] == t.params["x"]
                 and e["phase"] > _phase_finished(log, t)]
        assert not later, f"trial {t.number} ran again after it finished"
    # Killed at six points, the seeded study ends with the same params as a straight run.
    straight = hp.create_study("s", space={"x": hp.Float(0.0, 1.0)}, seed=7, searcher="random",
                               storage=f"sqlite:///{tmp_path / 'straight.db'}")
    straight.optimize(lambda p: p["x"], n_trials=n_trials, executor=hp.InlineExecutor())
    assert sorted(t.params["x"] for t in latest.values()) == sorted(
        t.params["x"] for t in straight.trials)
    assert any(t.reason and t.reason.startswith("worker lost") for t in trials)
    assert any(t.state == TrialState.STOPPED for t in trials)


def _six_kills(tmp_path: Path, run: Any, n_trials: int,
               finished_before: dict[int, hp.Trial]) -> list[int]:
    codes = []
    for phase, (kill, extra) in enumerate(KILL_POINTS):
        codes.append(run(_cfg(tmp_path, phase=phase, kill=kill, max_retries=1,
                              n_trials=n_trials, **extra)))
        if codes[-1] != -signal.SIGKILL:
            break
        trials = _trials(tmp_path)
        # Every trial finished before an earlier kill is still there, unchanged, exactly once.
        for number, t in finished_before.items():
            assert trials[number] == t, f"trial {number} changed after the kill at {kill}"
        finished_before.update({t.number: t for t in trials
                                if t.state.is_finished and not _is_interrupted(t)})
    # The workers of the killed drivers exited on their own (they watch their parent).
    assert not _wait_gone({e["pid"] for e in _log(tmp_path)})
    return codes


def _phase_finished(log: list[dict[str, Any]], t: hp.Trial) -> int:
    """The last phase in which a trial with these params started (it finished in that phase)."""
    return max(e["phase"] for e in log if e["event"] == "start" and e["x"] == t.params["x"])


# -- the driver lock, across processes ----------------------------------------------------------
def test_second_driver_is_refused_and_a_killed_drivers_lock_is_taken_over(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, n_trials=1000, sleep=0.2, workers=1)
    p = _start(tmp_path, cfg)
    try:
        _wait_for(lambda: (tmp_path / "log.jsonl").exists())
        study = _load(tmp_path)
        with pytest.raises(hp.StudyLockedError, match="being run by another driver"):
            study.optimize(lambda x: 0.0, n_trials=3, executor=hp.InlineExecutor())
        p.kill()
        # Not reaped yet (a zombie, as when a launcher does not wait): dead all the same.
        _wait_for(lambda: psutil.Process(p.pid).status() == psutil.STATUS_ZOMBIE)
        # Same host, dead pid: taken over at once (long before LOCK_STALE_AFTER).
        t0 = time.monotonic()
        study.optimize(lambda x: x["x"], n_trials=3, executor=hp.InlineExecutor())
        assert time.monotonic() - t0 < study_mod.LOCK_STALE_AFTER
        _finish(p)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    trials = study.trials
    assert all(t.state != TrialState.RUNNING for t in trials)
    assert any(_is_interrupted(t) for t in trials)  # the killed driver's running trial
    assert study.n_finished == 3
    assert study.storage.lock_info(study._study_id) == (None, None)


def test_lock_of_another_host_is_taken_over_only_once_stale(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    study = _new(f"sqlite:///{tmp_path}/s.db")
    st, sid = study.storage, study._study_id
    other = "some-other-host:1234:abcd"
    assert st.acquire_lock(sid, other, now=time.time(), stale_after=30.0)
    with pytest.raises(hp.StudyLockedError, match="some-other-host"):
        study.optimize(lambda p: p["x"], n_trials=1, executor=hp.InlineExecutor())
    monkeypatch.setattr(runner_mod, "LOCK_STALE_AFTER", 0.2)
    time.sleep(0.3)  # its heartbeat is now older than LOCK_STALE_AFTER
    study.optimize(lambda p: p["x"], n_trials=1, executor=hp.InlineExecutor())
    assert study.n_finished == 1
    assert st.lock_info(sid) == (None, None)


def test_lock_left_by_this_process_is_taken_over(tmp_path: Path) -> None:
    study = _new(f"sqlite:///{tmp_path}/s.db")
    owner = f"{socket.gethostname()}:{os.getpid()}:deadbeef"  # no optimize of ours holds it
    assert study.storage.acquire_lock(study._study_id, owner, now=time.time(), stale_after=30)
    study.optimize(lambda p: p["x"], n_trials=1, executor=hp.InlineExecutor())
    assert study.n_finished == 1


def test_heartbeat_keeps_the_lock_during_a_long_inline_trial(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_mod, "HEARTBEAT_INTERVAL", 0.05)
    study = _new(f"sqlite:///{tmp_path}/s.db")
    beats: list[float | None] = []

    def objective(p: dict[str, float]) -> float:  # blocks the driver's thread
        for _ in range(3):
            time.sleep(0.15)
            beats.append(study.storage.lock_info(study._study_id)[1])
        return p["x"]

    study.optimize(objective, n_trials=1, executor=hp.InlineExecutor())
    assert all(b is not None for b in beats) and beats[0] < beats[-1]  # type: ignore[operator]


def test_a_driver_whose_lock_was_taken_over_stops_without_writing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_mod, "HEARTBEAT_INTERVAL", 0.05)
    study = _new(f"sqlite:///{tmp_path}/s.db")
    st, sid = study.storage, study._study_id

    def objective(p: dict[str, float], reporter: Any) -> float:
        if study.n_finished == 2:  # another driver steals the lock (its heartbeat was stale)
            assert st.acquire_lock(sid, "thief:1:x", now=time.time() + 1e6, stale_after=-1e9)
        for i in range(20):
            time.sleep(0.02)
            reporter.report(i, p["x"])
        return p["x"]

    with pytest.raises(hp.StudyLockedError, match="took over"):
        study.optimize(objective, n_trials=10, executor=hp.InlineExecutor())
    assert st.lock_info(sid)[0] == "thief:1:x"
    trials = hp.load_study("s", storage=st).trials
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 2 + [TrialState.RUNNING]


# -- Ctrl-C / SIGTERM ---------------------------------------------------------------------------
def _wait_running(tmp_path: Path, n: int) -> None:
    def ready() -> bool:
        starts = [e for e in _log(tmp_path) if e["event"] == "start"]
        return len(starts) >= n

    _wait_for(ready)


CLI_OBJECTIVE = textwrap.dedent(r'''
    import json, os, time
    def objective(params, reporter):
        with open(os.environ["HPS_LOG"], "a") as f:
            f.write(json.dumps({"event": "start", "x": params["x"]}) + "\n")
        for epoch in (1, 2, 3):
            time.sleep(0.15)
            reporter.report(epoch, params["x"])
        return params["x"]
''')


def test_sigint_to_hpsearch_run_waits_for_running_trials_then_resume_completes(
        tmp_path: Path) -> None:
    (tmp_path / "obj.py").write_text(CLI_OBJECTIVE)
    (tmp_path / "study.yaml").write_text(textwrap.dedent("""\
        name: demo
        objective: obj.py:objective
        space:
          x: {uniform: [0, 1]}
        searcher: random
        n_trials: 4
        executor: inline
        storage: sqlite:///db.sqlite
        seed: 3
        """))
    exe = Path(sys.executable).with_name("hpsearch")
    env = {**os.environ, "HPS_LOG": str(tmp_path / "log.jsonl")}
    p = subprocess.Popen([str(exe), "run", "study.yaml"], cwd=tmp_path, env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_running(tmp_path, 1)
        p.send_signal(signal.SIGINT)
        code, err = _finish(p)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert code == 130, err
    assert "stopping. No new trials; waiting for" in err
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    trials = hp.load_study("demo", storage=url).trials
    assert trials and all(t.state.is_finished for t in trials) and len(trials) < 4
    assert not any(_is_interrupted(t) for t in trials)  # the running ones were waited for
    out = subprocess.run([str(exe), "resume", "demo", "--storage", url], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    study = hp.load_study("demo", storage=url)
    assert study.n_finished == 4 and len(study.trials) == 4
    assert study.trials[: len(trials)] == trials


def test_sigterm_then_sigint_stops_running_trials_and_resume_reruns_them(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, n_trials=6, sleep=2.0)
    p = _start(tmp_path, cfg)
    try:
        _wait_running(tmp_path, 2)
        p.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        code, err = _finish(p, timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert code == 130, err
    assert "SIGTERM: stopping. No new trials; waiting for 2 running trial(s)" in err
    assert "SIGINT again: stopping the running trials now" in err
    trials = _trials(tmp_path)
    cut = [t for t in trials if _is_interrupted(t)]
    assert len(trials) == 2 and len(cut) == 2
    study = _load(tmp_path)
    study.optimize(lambda p: p["x"], n_trials=6, executor=hp.InlineExecutor())
    trials = study.trials
    latest = _latest_attempts(trials)
    assert len(latest) == 6 and all(t.state == TrialState.COMPLETED for t in latest.values())
    for t in cut:
        reruns = [r for r in trials if r.retry_of == t.number]
        assert len(reruns) == 1 and reruns[0].params == t.params and reruns[0].attempt == 1


def test_second_sigint_interrupts_an_inline_objective_on_the_driver_thread(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, n_trials=3, sleep=60.0)
    p = _start(tmp_path, cfg, script=INLINE_SLEEPER, name="inline.py")
    try:
        def running() -> bool:
            try:
                return any(t.state == TrialState.RUNNING for t in _trials(tmp_path))
            except hp.StorageError:  # not created yet
                return False

        _wait_for(running)
        p.send_signal(signal.SIGINT)
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        code, err = _finish(p, timeout=20)  # far less than the 60 s trial
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert code == 130, err
    (t,) = _trials(tmp_path)
    assert _is_interrupted(t)


# -- worker deaths and timeouts -----------------------------------------------------------------
def _sigkill_self(p: dict[str, float]) -> float:
    os.kill(os.getpid(), signal.SIGKILL)
    return 0.0


def _sleep_long(p: dict[str, float]) -> float:
    time.sleep(60)
    return p["x"]


@pytest.fixture
def local() -> Any:
    ex = hp.LocalExecutor(2, start_method="fork")
    yield ex
    ex.shutdown()


def test_worker_killed_mid_trial_is_failed_then_retried_per_policy(tmp_path: Path,
                                                                   local: Any) -> None:
    study = _new(f"sqlite:///{tmp_path}/s.db")
    study.optimize(_sigkill_self, n_trials=1, executor=local, max_retries=2)
    trials = study.trials
    assert [(t.retry_of, t.attempt) for t in trials] == [(None, 0), (0, 1), (0, 2)]
    assert all(t.state == TrialState.FAILED and t.reason == "worker lost: killed by SIGKILL"
               for t in trials)
    assert len({tuple(t.params.items()) for t in trials}) == 1
    assert study.n_finished == 1
    # No retries by default: a resumed study with max_retries=0 runs nothing more.
    study.optimize(_sigkill_self, n_trials=1, executor=local)
    assert len(study.trials) == 3


def test_retries_lost_by_a_crash_are_created_on_resume(tmp_path: Path, local: Any) -> None:
    study = _new(f"sqlite:///{tmp_path}/s.db")
    study.optimize(_sigkill_self, n_trials=1, executor=local)  # max_retries=0: no retry
    study.optimize(lambda p: p["x"], n_trials=1, executor=local, max_retries=1)
    first, retry = study.trials
    assert first.reason == "worker lost: killed by SIGKILL"
    assert retry.retry_of == 0 and retry.attempt == 1 and retry.state == TrialState.COMPLETED
    assert study.best_trial.number == 1


def test_trial_timeout_kills_the_worker_and_retries_only_with_retry_timeouts(
        tmp_path: Path, local: Any) -> None:
    study = _new(f"sqlite:///{tmp_path}/s.db")
    study.optimize(_sleep_long, n_trials=2, executor=local, trial_timeout=0.5, max_retries=1)
    assert [(t.state, t.reason) for t in study.trials] == [(TrialState.FAILED, "timeout")] * 2
    study.optimize(_sleep_long, n_trials=3, executor=local, trial_timeout=0.5, max_retries=1,
                   retry_timeouts=True)
    third = [t for t in study.trials if 4 in (t.number, t.retry_of)]
    assert [(t.attempt, t.reason) for t in third] == [(0, "timeout"), (1, "timeout")]
    # The two earlier timeouts were retried on resume as well (retry_timeouts applies to them).
    assert len(study.trials) == 6 and study.n_finished == 3


def test_study_timeout_stops_long_trials_and_resume_reruns_them(tmp_path: Path,
                                                                local: Any) -> None:
    study = _new(f"sqlite:///{tmp_path}/s.db")
    t0 = time.monotonic()
    study.optimize(_sleep_long, n_trials=4, executor=local, timeout=1.0)
    assert time.monotonic() - t0 < 15  # not the 60 s of the trials
    cut = study.trials
    assert len(cut) == 2
    assert all(t.reason == "interrupted: study timeout" for t in cut)
    assert study.n_finished == 0
    study.optimize(lambda p: p["x"], n_trials=4, executor=local)
    assert study.n_finished == 4
    assert sorted(t.retry_of for t in study.trials if t.retry_of is not None) == [0, 1]


def test_inline_trial_timeout_abandons_a_reporting_trial(tmp_path: Path) -> None:
    study = _new(f"sqlite:///{tmp_path}/s.db")

    def objective(p: dict[str, float], reporter: Any) -> float:
        for i in range(100):
            time.sleep(0.02)
            reporter.report(i, p["x"])
        return p["x"]

    study.optimize(objective, n_trials=1, executor=hp.InlineExecutor(), trial_timeout=0.3)
    (t,) = study.trials
    assert t.state == TrialState.FAILED and t.reason == "timeout"


# -- storage faults -----------------------------------------------------------------------------
@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite connections wait 0.3 s (not 5 s) for a lock held by another process."""
    from hpsearch.storage import _sql

    orig = _sql._sqlite_on_connect

    def on_connect(dbapi_conn: Any, record: Any) -> None:
        orig(dbapi_conn, record)
        dbapi_conn.execute("PRAGMA busy_timeout = 300")

    monkeypatch.setattr(_sql, "_sqlite_on_connect", on_connect)


def _one_line_naming(e: BaseException, path: Path, cause: str) -> None:
    msg = str(e)
    assert "\n" not in msg and str(path) in msg and cause in msg, msg


def test_database_locked_by_another_process_stops_the_run_cleanly(
        tmp_path: Path, short_busy_timeout: None, local: Any) -> None:
    path = tmp_path / "s.db"
    study = _new(f"sqlite:///{path}")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time\n"
         f"c = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
         "sys.stdin.readline(); c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True)\n"
         "sys.stdin.readline()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        def lock_after_three(s: hp.Study, t: hp.Trial) -> None:
            if t.state.is_finished and s.n_finished == 3 and holder.stdin:
                holder.stdin.write("lock\n")
                holder.stdin.flush()
                assert holder.stdout and holder.stdout.readline() == "locked\n"

        with pytest.raises(hp.StorageError) as ei:
            study.optimize(lambda p: p["x"], n_trials=10, executor=local,
                           callbacks=[lock_after_three])
        _one_line_naming(ei.value, path, "database is locked")
        assert local.n_running == 0  # running trials were killed
    finally:
        holder.communicate("release\n", timeout=10)
    resumed = hp.load_study("s", storage=f"sqlite:///{path}")
    done = [t for t in resumed.trials if t.state == TrialState.COMPLETED]
    assert len(done) >= 3
    resumed.optimize(lambda p: p["x"], n_trials=10, executor=hp.InlineExecutor())
    assert resumed.n_finished == 10
    assert resumed.trials[: len(done)] == done


def test_full_database_stops_the_run_and_resume_completes(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    study = _new(f"sqlite:///{path}")

    def fill_after_three(s: hp.Study, t: hp.Trial) -> None:
        if t.state.is_finished and s.n_finished == 3:  # no page may be added from now on
            with s.storage._tx() as conn:  # type: ignore[attr-defined]
                n = conn.exec_driver_sql("PRAGMA page_count").scalar()
                conn.exec_driver_sql(f"PRAGMA max_page_count = {n}")

    with pytest.raises(hp.StorageError) as ei:
        study.optimize(lambda p: {"value": p["x"], "note": "y" * 4000}, n_trials=40,
                       executor=hp.InlineExecutor(), callbacks=[fill_after_three])
    _one_line_naming(ei.value, path, "database or disk is full")
    committed = _trials(tmp_path)
    assert len([t for t in committed if t.state == TrialState.COMPLETED]) >= 3
    resumed = hp.load_study("s", storage=f"sqlite:///{path}")  # a new connection: no limit
    resumed.optimize(lambda p: p["x"], n_trials=40, executor=hp.InlineExecutor())
    assert resumed.n_finished == 40
    assert all(resumed.trials[t.number] == t for t in committed if t.state.is_finished)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Any:
    """A 1 MiB tmpfs mounted in tmp_path (root only), unmounted afterwards."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_and_read_only_filesystem(tmpfs: Path) -> None:
    path = tmpfs / "s.db"
    url = f"sqlite:///{path}"
    study = _new(url)
    study.optimize(lambda p: p["x"], n_trials=3, executor=hp.InlineExecutor())
    filler = tmpfs / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:  # take all the space that is left
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    with pytest.raises(hp.StorageError) as ei:
        study.optimize(lambda p: {"value": p["x"], "note": "y" * 20000}, n_trials=50,
                       executor=hp.InlineExecutor())
    assert "\n" not in str(ei.value) and str(path) in str(ei.value)
    study.storage.close()
    filler.unlink()
    study = hp.load_study("s", storage=url)
    assert [t.state for t in study.trials[:3]] == [TrialState.COMPLETED] * 3
    study.storage.close()
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    with pytest.raises(hp.StorageError) as ei:
        ro = hp.load_study("s", storage=url)
        ro.optimize(lambda p: p["x"], n_trials=5, executor=hp.InlineExecutor())
    assert "\n" not in str(ei.value) and str(path) in str(ei.value)
    subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)], check=True)
    study = hp.load_study("s", storage=url)
    study.optimize(lambda p: p["x"], n_trials=5, executor=hp.InlineExecutor())
    assert study.n_finished == 5


def test_corrupt_file_gives_one_line_storage_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(hp.StorageError) as ei:
        hp.load_study("s", storage=f"sqlite:///{garbage}")
    _one_line_naming(ei.value, garbage, "not a database")
    # A database whose pages were overwritten in the middle.
    path = tmp_path / "s.db"
    study = _new(f"sqlite:///{path}")
    study.optimize(lambda p: {"value": p["x"], "note": "y" * 3000}, n_trials=30,
                   executor=hp.InlineExecutor())
    study.storage.close()
    data = bytearray(path.read_bytes())
    assert len(data) > 16384
    data[8192:16384] = os.urandom(8192)
    path.write_bytes(bytes(data))
    with pytest.raises(hp.StorageError) as ei:
        hp.load_study("s", storage=f"sqlite:///{path}").trials  # noqa: B018
    assert "\n" not in str(ei.value) and str(path) in str(ei.value)


READER = textwrap.dedent(r'''
    import sys, time
    import hpsearch as hp
    url, n = sys.argv[1], int(sys.argv[2])
    reads = errors = 0
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            trials = hp.load_study("s", storage=url).trials
            reads += 1
            if sum(t.state.is_finished for t in trials) >= n:
                break
        except Exception as e:
            errors += 1
            print(repr(e), file=sys.stderr)
    print(reads, errors, flush=True)
''')


def test_a_reader_in_another_process_never_blocks_or_breaks_the_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = _new(url)
    reader = subprocess.Popen([sys.executable, str(_script(tmp_path, READER, "reader.py")), url,
                               "300"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert reader.stdout and reader.stdout.readline() == "ready\n"

        def objective(p: dict[str, float]) -> float:
            time.sleep(0.005)
            return p["x"]

        study.optimize(objective, n_trials=300, executor=hp.InlineExecutor())
        out, err = reader.communicate(timeout=90)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.communicate()
    reads, errors = map(int, out.split())
    assert errors == 0, err
    assert reads >= 2
    assert study.n_finished == 300
