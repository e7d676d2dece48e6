"""Objectives for the executor tests (module-level so spawned workers can import them)."""

import ctypes
import os
import signal
import time


def value_of_x(params):
    return params["x"]


def pid_objective(params):
    return {"value": params["x"], "pid": os.getpid()}


def misbehaving(params):
    kind = params["kind"]
    if kind == "ok":
        return 1.0
    if kind == "raise":
        raise RuntimeError("boom in the objective")
    if kind == "nan":
        return float("nan")
    if kind == "inf":
        return float("-inf")
    if kind == "none":
        return None
    if kind == "string":
        return "hello"
    if kind == "dict_without_metric":
        return {"other": 1.0}
    if kind == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "segfault":
        ctypes.string_at(0)
    if kind == "exit":
        os._exit(3)
    if kind == "unpicklable":
        return {"value": 1.0, "f": lambda: 1}
    if kind == "sleep":
        time.sleep(60)
    raise AssertionError(kind)


def reporting(params, reporter):
    """Reports 1..5; records in a file each epoch it really ran."""
    for epoch in range(1, 6):
        with open(params["log"], "a") as f:
            f.write(f"{params['x']} {epoch}\n")
        reporter.report(epoch, params["x"] * epoch, loss=1.0 / epoch)
    return params["x"] * 5


def sleepy(params):
    time.sleep(params["x"])
    return params["x"]
