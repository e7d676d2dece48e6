"""Shared machinery of the rank-based schedulers (median stopping, ASHA, Hyperband).

* argument checks with the house message template;
* :func:`rung_budgets`: the rung arithmetic ``min_budget * eta**k < max_budget``, robust to
  float budgets and to ratios that are not powers of ``eta``;
* :func:`normalized`: values mapped so that lower is better and every non-finite value is the
  worst possible (``+inf``);
* :class:`ReportFeed`: hands every report of every trial exactly once to a scheduler's memo,
  so the memo is an incremental version of a recomputation from the stored trials;
* :class:`RungTable`: the sorted values recorded at each rung of one ASHA bracket.

Budgets are compared with a relative tolerance ``REL_TOL`` because derived rung budgets such
as ``0.1 * 3**2 = 0.9000000000000001`` must be reached by a report at budget ``0.9``.
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hpsearch.exceptions import InvalidParameterError
from hpsearch.schedulers._base import Decision, sign_for
from hpsearch.trial import Mode, Report, Trial

__all__ = [
    "MAX_RUNGS",
    "REL_TOL",
    "ReportFeed",
    "RungTable",
    "check_budget_range",
    "check_float",
    "check_int",
    "effective_budget",
    "normalized",
    "rung_budgets",
]

#: relative tolerance of budget comparisons (a budget within it of a rung has reached the rung).
REL_TOL = 1e-9
#: the largest number of rungs accepted (``reduction_factor`` very close to 1 over a huge ratio).
MAX_RUNGS = 1000


def _is_real(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def check_float(owner: str, name: str, x: object, low: float, *, low_open: bool = True) -> float:
    """``float(x)`` if it is a finite real number above ``low`` (or equal, when not open).

    Raises:
        InvalidParameterError: otherwise, with the house message template.

    """
    ok = _is_real(x) and math.isfinite(x) and (x > low if low_open else x >= low)  # type: ignore[operator, arg-type]
    if not ok:
        bracket = "(" if low_open else "["
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must be a float in the range "
            f"{bracket}{low:g}, inf). Got {x!r} instead.")
    return float(x)  # type: ignore[arg-type]


def check_int(owner: str, name: str, x: object, low: int) -> int:
    """``x`` if it is an int ``>= low``.

    Raises:
        InvalidParameterError: otherwise, with the house message template.

    """
    if not isinstance(x, int) or isinstance(x, bool) or x < low:
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must be an int in the range [{low}, inf). "
            f"Got {x!r} instead.")
    return x


def check_budget_range(owner: str, min_budget: object, max_budget: object,
                       reduction_factor: object) -> tuple[float, float, float]:
    """Validate ``(min_budget, max_budget, reduction_factor)`` of ASHA and Hyperband.

    Returns:
        The three values as floats.

    Raises:
        InvalidParameterError: ``min_budget <= 0``, ``max_budget <= min_budget``,
            ``reduction_factor <= 1``, a non-finite or non-number value, or more than
            ``MAX_RUNGS`` rungs.

    """
    lo = check_float(owner, "min_budget", min_budget, 0.0)
    if not (_is_real(max_budget) and math.isfinite(max_budget) and max_budget > lo):  # type: ignore[arg-type, operator]
        raise InvalidParameterError(
            f"The 'max_budget' parameter of {owner} must be a float in the range "
            f"(min_budget={lo:g}, inf). Got {max_budget!r} instead.")
    eta = check_float(owner, "reduction_factor", reduction_factor, 1.0)
    hi = float(max_budget)  # type: ignore[arg-type]
    n = math.log(hi / lo) / math.log(eta)
    if n > MAX_RUNGS:
        raise InvalidParameterError(
            f"{owner} would have about {n:.0f} rungs (max_budget / min_budget = {hi / lo:g} with "
            f"reduction_factor {eta:g}); at most {MAX_RUNGS} are supported. Raise the "
            f"'reduction_factor' or the 'min_budget'.")
    return lo, hi, eta


def rung_budgets(min_budget: float, max_budget: float,
                 reduction_factor: float) -> tuple[float, ...]:
    """Return the rung budgets ``r_k = min_budget * reduction_factor**k`` below ``max_budget``.

    ``max_budget`` itself is not a rung: a trial that reaches it is complete. When
    ``max_budget / min_budget`` is not a power of the factor, the last rung is the largest
    ``r_k`` below ``max_budget`` (e.g. 1, 3, 9 for ``(1, 26, 3)`` and ``(1, 27, 3)``, and
    1, 3, 9, 27 for ``(1, 28, 3)``). A rung within ``REL_TOL`` (relative) of ``max_budget``
    counts as ``max_budget``.

    Args:
        min_budget: the first rung, in budget units (> 0).
        max_budget: the full budget of a trial (> min_budget).
        reduction_factor: ``eta`` (> 1).

    Returns:
        The increasing rung budgets, at least ``(min_budget,)``.

    References:
        Li et al., "A System for Massively Parallel Hyperparameter Tuning", MLSys 2020,
        Algorithm 2 (rung k holds the configurations trained for ``r * eta**(s + k)``).

    """
    out: list[float] = []
    limit = max_budget * (1.0 - REL_TOL)
    k = 0
    while k <= MAX_RUNGS:
        r = min_budget * reduction_factor**k  # power, not repeated products: no drift
        if r >= limit:
            break
        out.append(r)
        k += 1
    return tuple(out)


def reached(budget: float, rung: float) -> bool:
    """Whether ``budget`` has reached ``rung`` (within ``REL_TOL``, relative)."""
    return budget >= rung * (1.0 - REL_TOL)


def normalized(value: float, sign: float) -> float:
    """``sign * value`` (lower is better) when finite; ``+inf`` (the worst) otherwise.

    NaN, and infinities of either sign, are the worst values: a loss of ``-inf`` or an accuracy
    of ``+inf`` is a broken run, not a good one.
    """
    if isinstance(value, (int, float)) and math.isfinite(value):
        return sign * float(value)
    return math.inf


def effective_budget(previous: float, report: Report) -> float:
    """Return the running maximum of reported budgets (a non-finite budget does not move it)."""
    b = report.budget
    if isinstance(b, (int, float)) and math.isfinite(b) and b > previous:
        return float(b)
    return previous


def _same_report(a: Report, b: Report) -> bool:
    if a is b:
        return True
    va, vb = a.value, b.value
    same_value = va == vb or (isinstance(va, float) and isinstance(vb, float)
                              and math.isnan(va) and math.isnan(vb))
    return bool(same_value and (a.budget == b.budget or (a.budget != a.budget
                                                         and b.budget != b.budget)))


class ReportFeed:
    """Feed each report of each trial exactly once, in report order, to ``consume``.

    The study's trials are append-only by number, and a trial is replaced by a new snapshot
    with more reports (or a new state) as it runs. The feed remembers the snapshot object it
    last saw for every number; on each call it finds the replaced snapshots by identity (a
    C-speed scan, about 0.1 ms for 10,000 trials) and consumes only their new reports, plus
    the trials appended since. A fresh feed (e.g. after a resume) consumes every stored report.
    If the history does not extend the consumed one (fewer trials, a trial with fewer or
    different reports, another mode), ``reset`` is called and everything is consumed again.
    So the owner's memo always equals a recomputation from ``trials``, whether or not
    ``decide`` was asked after every report.

    Args:
        reset: clears the owner's memo.
        consume: ``consume(trial, index)`` takes ``trial.reports[index]`` into the memo.

    """

    def __init__(self, reset: Callable[[], None], consume: Callable[[Trial, int], None]) -> None:
        self._reset = reset
        self._consume = consume
        self.mode: Mode | None = None
        self.sign = 1.0
        self.seen: list[int] = []  # number -> reports consumed
        self._objs: list[Trial | None] = []  # number -> the snapshot last seen
        self._last: list[Report | None] = []  # number -> the last report consumed

    def clear(self) -> None:
        """Forget everything consumed (and clear the owner's memo)."""
        self.seen, self._objs, self._last = [], [], []
        self.mode = None
        self._reset()

    def _extends(self, t: Trial) -> bool:
        """Whether ``t``'s reports extend the ones consumed for its number."""
        k = self.seen[t.number]
        if len(t.reports) < k:
            return False
        last = self._last[t.number]
        return not k or (last is not None and _same_report(t.reports[k - 1], last))

    def sync(self, trial: Trial, trials: Sequence[Trial], mode: Mode) -> None:
        """Consume the reports of ``trials`` (``trial`` standing for its number) not seen yet."""
        if mode != self.mode or len(trials) < len(self._objs):
            self.clear()
            self.mode = mode
            self.sign = sign_for(mode)
        n_old = len(self._objs)
        changed = list(itertools.compress(range(n_old), map(operator.is_not, trials,
                                                            self._objs)))
        if (trial.number < n_old and self._objs[trial.number] is not trial
                and trial.number not in changed):
            changed.append(trial.number)
        for n in changed:
            t = trial if n == trial.number else trials[n]
            if not self._extends(t):
                self.clear()
                self.sync(trial, trials, mode)
                return
        end = max(len(trials), trial.number + 1)
        for _ in range(n_old, end):
            self.seen.append(0)
            self._objs.append(None)
            self._last.append(None)
        for n in (*changed, *range(n_old, end)):
            self._feed(trial if n == trial.number else trials[n])

    def _feed(self, t: Trial) -> None:
        n = t.number
        self._objs[n] = t
        for i in range(self.seen[n], len(t.reports)):
            self._consume(t, i)
        if t.reports:
            self.seen[n] = len(t.reports)
            self._last[n] = t.reports[-1]


@dataclass(frozen=True, slots=True)
class Recording:
    """Where a trial's report was recorded: report ``index`` at rung ``k`` with value ``value``."""

    index: int
    k: int
    value: float


class RungTable:
    """The values recorded at each rung of one ASHA bracket, each rung kept sorted.

    A report is recorded at the highest rung its budget crossed since the trial's previous
    report (a jump from budget 2 to 10 over rungs 3 and 9 records at rung 9 only), with the
    report's value normalized by :func:`normalized`.

    Args:
        rungs: the increasing rung budgets of the bracket (may be empty: no stopping).
        reduction_factor: ``eta`` (> 1).

    """

    def __init__(self, rungs: Sequence[float], reduction_factor: float) -> None:
        self.rungs = tuple(rungs)
        self.eta = reduction_factor
        self._thresholds = [r * (1.0 - REL_TOL) for r in self.rungs]
        self.values: list[list[float]] = [[] for _ in self.rungs]

    def n_reached(self, budget: float) -> int:
        """How many rungs ``budget`` has reached."""
        return bisect.bisect_right(self._thresholds, budget)

    def record(self, previous_budget: float, budget: float, index: int,
               value: float) -> Recording | None:
        """Record a report if it crossed a rung; return where, or None."""
        lo, hi = self.n_reached(previous_budget), self.n_reached(budget)
        if hi <= lo:
            return None
        k = hi - 1
        bisect.insort(self.values[k], value)
        return Recording(index, k, value)

    def n_promotable(self, n: int) -> int:
        """How many of ``n`` values at a rung continue: ``max(1, floor(n / eta))``."""
        return max(1, math.floor(n / self.eta + REL_TOL))

    def verdict(self, rec: Recording, sign: float, who: str) -> Decision:
        """CONTINUE when ``rec`` ranks in the top ``max(1, floor(n / eta))`` at its rung.

        The rank is one plus the number of strictly better values, so ties continue together.
        """
        vals = self.values[rec.k]
        rank = bisect.bisect_left(vals, rec.value) + 1
        keep = self.n_promotable(len(vals))
        if rank <= keep:
            return Decision.CONTINUE
        cutoff = vals[keep - 1]
        shown = sign * rec.value if math.isfinite(rec.value) else rec.value
        return Decision.stop(
            f"{who}: rank {rank} of {len(vals)} at rung {rec.k} (budget {self.rungs[rec.k]:g}); "
            f"value {shown:.4g}, the top {keep} need {sign * cutoff:.4g}")


def rung_decision(name: str, who: str, budget: float, max_budget: float,
                  rec: Recording | None, n_reports: int, table: RungTable,
                  sign: float) -> Decision:
    """The ASHA decision after a trial's newest report (shared by ASHA and Hyperband).

    Args:
        name: the scheduler's name, prefix of the past-``max_budget`` reason.
        who: the prefix of a rung verdict's reason (``"asha"``, ``"hyperband bracket 2"``).
        budget: the trial's effective budget so far, in user units.
        max_budget: the largest budget; a trial past it stops.
        rec: where the trial's latest rung recording is, or None.
        n_reports: the trial's number of reports (the newest has index ``n_reports - 1``).
        table: the rung table of the trial's bracket.
        sign: +1 for "min", -1 for "max" (values in the table are minimized).

    Returns:
        STOP past ``max_budget``; the rung verdict when the newest report was recorded at a rung;
        else CONTINUE.
    """
    if budget > max_budget * (1.0 + REL_TOL):
        return Decision.stop(
            f"{name}: budget {budget:g} past max_budget {max_budget:g}")
    if rec is None or rec.index != n_reports - 1:
        return Decision.CONTINUE
    return table.verdict(rec, sign, who)
