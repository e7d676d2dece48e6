"""What runs inside a worker: the reporter handed to the objective and the trial wrapper.

Shared by every executor, so that a trial behaves the same inline, in a local process, on Ray
and on Dask.
"""

from __future__ import annotations

import inspect
import math
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from hpsearch.exceptions import TrialStopped

__all__ = ["Reporter", "call_objective", "run_trial", "wants_reporter"]

# Outcome tuples sent back to the driver.
OK, STOPPED, ERROR = "ok", "stopped", "error"


class Reporter:
    """Handed to ``objective(params, reporter)``; ``report`` once per epoch (or step).

    Args:
        send: ``send(budget, value, metrics) -> bool``: delivers the report to the driver and
            returns whether the trial must stop.
    """

    def __init__(self, send: Callable[[float, float, dict[str, Any]], bool]) -> None:
        self._send = send
        self._stopped = False

    def report(self, budget: float, value: float, **metrics: Any) -> None:
        """Report the metric ``value`` at ``budget`` (user units: epochs, steps, seconds).

        Args:
            budget: the resource consumed so far; non-decreasing across reports.
            value: the study's metric at this budget (NaN / inf are allowed and stop the trial
                under divergence stopping).
            **metrics: other numbers to record, e.g. ``loss=0.3``.

        Raises:
            TrialStopped: the scheduler stopped the trial; let it propagate.
            TypeError: ``budget`` or ``value`` is not a real number.
        """
        if self._stopped:
            raise TrialStopped()
        budget_f = _as_float(budget, "budget")
        value_f = _as_float(value, "value")
        if not math.isfinite(budget_f):
            raise TypeError(f"report(budget=...) must be finite. Got {budget!r}.")
        clean = {k: _plain(v) for k, v in metrics.items()}
        if self._send(budget_f, value_f, clean):
            self._stopped = True
            raise TrialStopped()

    @property
    def should_stop(self) -> bool:
        """Whether the scheduler has stopped this trial (``report`` would raise)."""
        return self._stopped


def _as_float(x: Any, name: str) -> float:
    if isinstance(x, bool):
        raise TypeError(f"report({name}=...) must be a real number. Got {x!r}.")
    try:
        return float(x)
    except (TypeError, ValueError):
        raise TypeError(f"report({name}=...) must be a real number. Got {x!r}.") from None


def _plain(v: Any) -> Any:
    """Numbers (numpy / torch scalars too) to float; other JSON-able values kept; else repr."""
    if isinstance(v, (bool, str)) or v is None:
        return v
    if isinstance(v, (int, float)):
        return v
    try:
        return float(v)
    except (TypeError, ValueError):
        return repr(v)


def wants_reporter(objective: Callable[..., Any]) -> bool:
    """Whether ``objective`` takes a second positional argument (the reporter)."""
    try:
        sig = inspect.signature(objective)
    except (TypeError, ValueError):
        return False
    n = 0
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            return True
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
    return n >= 2


def call_objective(
    objective: Callable[..., Any], params: Mapping[str, Any], reporter: Reporter,
    takes_reporter: bool | None = None,
) -> Any:
    """Call the objective with or without the reporter, as its signature asks."""
    if takes_reporter is None:
        takes_reporter = wants_reporter(objective)
    if takes_reporter:
        return objective(dict(params), reporter)
    return objective(dict(params))


def run_trial(
    objective: Callable[..., Any], params: Mapping[str, Any], reporter: Reporter,
    takes_reporter: bool | None = None, *, in_worker_process: bool = False,
) -> tuple[str, Any]:
    """Run one trial and classify the outcome.

    A KeyboardInterrupt propagates when the trial runs in the driver's process (Ctrl-C is the
    driver's); in a worker process, which ignores SIGINT, only the objective can raise it, so it
    is the trial's exception like any other.

    Returns:
        ``("ok", result)``, ``("stopped", None)`` when ``TrialStopped`` escaped the objective, or
        ``("error", formatted_traceback)`` for any other exception.
    """
    try:
        result = call_objective(objective, params, reporter, takes_reporter)
    except TrialStopped:
        return STOPPED, None
    except BaseException as e:  # noqa: BLE001 - a trial must never take the worker down
        if isinstance(e, KeyboardInterrupt) and not in_worker_process:
            raise
        return ERROR, "".join(traceback.format_exception(e))
    if reporter.should_stop:  # the objective swallowed TrialStopped
        return STOPPED, None
    return OK, result
