"""Divergence stopping: end runs whose loss explodes or that never leave chance level."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from hpsearch.exceptions import InvalidParameterError
from hpsearch.schedulers._base import Decision, Scheduler, finite
from hpsearch.trial import Mode, Trial

__all__ = ["DivergenceScheduler"]


def _check_positive(name: str, x: float | None, *, allow_none: bool = True) -> None:
    if x is None and allow_none:
        return
    if not isinstance(x, (int, float)) or isinstance(x, bool) or not math.isfinite(x) or x <= 0:
        raise InvalidParameterError(
            f"The {name!r} parameter of DivergenceScheduler must be a float in the range "
            f"(0, inf). Got {x!r} instead."
        )


class DivergenceScheduler(Scheduler):
    """Stop a trial as soon as it diverges.

    A trial is stopped at a report when any rule holds:

    1. the reported value, or the watched ``metric``, is NaN or infinite;
    2. the watched metric exceeds ``upper_bound`` (a loss that exploded, e.g. 1e4 after one epoch
       of SGD with learning rate 10: finite, but hopeless);
    3. the watched metric exceeds ``max_ratio`` times its first reported value;
    4. at a budget of at least ``grace_budget``, the value is not better than ``threshold``
       under the study's mode (e.g. accuracy still at chance level).

    Rules 2 and 3 treat the watched metric as loss-like (lower is better). A NaN check alone
    misses most divergent runs of SGD, whose loss stays finite; rules 2-4 catch them.

    Args:
        metric: name of a reported metric to watch (``"loss"``); None watches the value itself.
        upper_bound: absolute ceiling of the watched metric, in its units.
        max_ratio: allowed growth of the watched metric relative to its first report (> 1).
        threshold: the value a trial must beat (in the study's mode) once ``grace_budget`` is spent.
        grace_budget: budget (user units, e.g. epochs) before the ``threshold`` rule applies.

    Raises:
        InvalidParameterError: a non-positive bound or grace budget, or ``max_ratio <= 1``.
    """

    name = "divergence"

    def __init__(
        self,
        *,
        metric: str | None = None,
        upper_bound: float | None = None,
        max_ratio: float | None = None,
        threshold: float | None = None,
        grace_budget: float = 1.0,
    ) -> None:
        if metric is not None and (not isinstance(metric, str) or not metric):
            raise InvalidParameterError(
                "The 'metric' parameter of DivergenceScheduler must be a metric name. "
                f"Got {metric!r}."
            )
        _check_positive("upper_bound", upper_bound)
        _check_positive("grace_budget", grace_budget, allow_none=False)
        if max_ratio is not None:
            _check_positive("max_ratio", max_ratio)
            if max_ratio <= 1:
                raise InvalidParameterError(
                    "The 'max_ratio' parameter of DivergenceScheduler must be a float in the range "
                    f"(1, inf). Got {max_ratio!r} instead."
                )
        if threshold is not None and (not isinstance(threshold, (int, float))
                                      or not math.isfinite(threshold)):
            raise InvalidParameterError(
                "The 'threshold' parameter of DivergenceScheduler must be a finite float. "
                f"Got {threshold!r} instead."
            )
        self.metric = metric
        self.upper_bound = upper_bound
        self.max_ratio = max_ratio
        self.threshold = threshold
        self.grace_budget = float(grace_budget)

    def _watched(self, trial: Trial, index: int) -> float | None:
        r = trial.reports[index]
        if self.metric is None:
            return r.value
        x = r.metrics.get(self.metric)
        return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None

    def decide(self, trial: Trial, trials: Sequence[Trial], *, mode: Mode) -> Decision:
        """See the class docstring for the rules; O(1) per report."""
        last = trial.last_report
        if last is None:
            return Decision.CONTINUE
        if not finite(last.value):
            return Decision.stop(f"divergence: value is {last.value}")
        w = self._watched(trial, -1)
        name = self.metric or "value"
        if self.metric is not None and self.metric in last.metrics and w is not None:
            if not math.isfinite(w):
                return Decision.stop(f"divergence: {name} is {w}")
        if w is not None and math.isfinite(w):
            if self.upper_bound is not None and w > self.upper_bound:
                return Decision.stop(
                    f"divergence: {name} {w:.4g} > upper_bound {self.upper_bound:g}")
            if self.max_ratio is not None and len(trial.reports) > 1:
                first = self._watched(trial, 0)
                if first is not None and math.isfinite(first) and first > 0 \
                        and w > self.max_ratio * first:
                    return Decision.stop(
                        f"divergence: {name} {w:.4g} > {self.max_ratio:g} x first {first:.4g}")
        if self.threshold is not None and last.budget >= self.grace_budget:
            bad = last.value <= self.threshold if mode == "max" else last.value >= self.threshold
            if bad:
                return Decision.stop(
                    f"divergence: value {last.value:.4g} not better than threshold "
                    f"{self.threshold:g} at budget {last.budget:g}")
        return Decision.CONTINUE

    def to_config(self) -> dict[str, Any]:  # noqa: D102
        return {self.name: {"metric": self.metric, "upper_bound": self.upper_bound,
                            "max_ratio": self.max_ratio, "threshold": self.threshold,
                            "grace_budget": self.grace_budget}}
