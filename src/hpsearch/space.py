"""Search spaces: the domain of each hyperparameter, in the user's units.

A :class:`SearchSpace` maps names to distributions: :class:`Float`, :class:`Int` and
:class:`Categorical`. Bounds are always given in user units (``Float(1e-6, 10, log=True)``, never
log-space bounds). Every distribution maps its values to and from the unit interval
(``to_unit`` / ``from_unit``), which is the common coordinate system of the model-based searchers.

A parameter may be *conditional*: ``Float(0, 1, when={"optimizer": "sgd"})`` exists only in
configurations whose ``optimizer`` is ``"sgd"``. Inactive parameters are absent from ``params``.

The spellings users of other tools know map onto the three classes: :func:`uniform`,
:func:`loguniform`, :func:`quniform`, :func:`randint` (``high`` excluded, as numpy's) and
:func:`choice`.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from hpsearch.exceptions import SearchSpaceError

__all__ = [
    "Categorical",
    "Distribution",
    "Float",
    "Int",
    "ParamValue",
    "SearchSpace",
    "choice",
    "loguniform",
    "quniform",
    "randint",
    "uniform",
]

ParamValue = Any  # float | int | a JSON-serializable categorical choice
_INT_LIMIT = 2**53  # Int bounds: exactly representable as floats (unit coordinates, JSON readers)
_Condition = dict[str, tuple[Any, ...]]


def _is_real(x: object) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _is_integer(x: object) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _normalize_when(when: Mapping[str, Any] | None) -> _Condition:
    if when is None:
        return {}
    if not isinstance(when, Mapping):
        raise SearchSpaceError(
            f"The 'when' condition must be a mapping of parameter name to value(s). Got {when!r}."
        )
    out: _Condition = {}
    for parent, values in when.items():
        if isinstance(values, (list, tuple)):
            values = tuple(values)
        else:
            values = (values,)
        if not values:
            raise SearchSpaceError(f"The 'when' condition on {parent!r} lists no value.")
        out[str(parent)] = values
    return out


class Distribution(ABC):
    """Base class of the distributions of a search space.

    Subclasses are immutable value objects, compared by value.
    """

    when: _Condition

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> ParamValue:
        """Draw one value from the prior (uniform, or log-uniform when ``log``)."""

    @abstractmethod
    def contains(self, value: ParamValue) -> bool:
        """Whether ``value`` is a valid value of this distribution (type, range, step)."""

    @abstractmethod
    def to_unit(self, value: ParamValue) -> float:
        """Map a valid value to [0, 1] (log scale and integer cells taken into account)."""

    @abstractmethod
    def from_unit(self, u: float) -> ParamValue:
        """Map ``u`` in [0, 1] (clipped) back to a valid value; the inverse of ``to_unit``."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable description; ``distribution_from_dict`` inverts it."""

    @property
    def is_finite(self) -> bool:
        """Whether the distribution has finitely many values."""
        return self.n_values() is not None

    def n_values(self) -> int | None:
        """The number of distinct values, or None when infinite (a continuous Float)."""
        return None

    def to_json_value(self, value: ParamValue) -> Any:
        """The JSON form of a value, as stored."""
        return value

    def from_json_value(self, raw: Any) -> ParamValue:
        """Inverse of :meth:`to_json_value`; raises SearchSpaceError for an unknown value."""
        return raw

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Distribution) and type(self) is type(other) \
            and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True, default=str))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "type")
        return f"{type(self).__name__}({args})"

    def _when_dict(self) -> dict[str, Any]:
        return {"when": {k: list(v) for k, v in self.when.items()}} if self.when else {}


class Float(Distribution):
    """A real parameter in ``[low, high]``, uniform or log-uniform, optionally on a grid.

    Args:
        low: lower bound, inclusive, in user units.
        high: upper bound, inclusive; ``low == high`` makes a constant.
        log: sample uniformly in ``log(x)``; needs ``low > 0``.
        step: grid spacing (values ``low + k * step``); must divide ``high - low``; not with
            ``log``.
        when: condition under which the parameter exists, ``{parent: value or [values]}``.

    Raises:
        SearchSpaceError: bounds not finite numbers, ``low > high``, ``log`` with ``low <= 0``,
            ``step <= 0``, ``step`` with ``log``, or ``step`` not dividing the range.
    """

    def __init__(
        self,
        low: float,
        high: float,
        *,
        log: bool = False,
        step: float | None = None,
        when: Mapping[str, Any] | None = None,
    ) -> None:
        if not _is_real(low) or not _is_real(high):
            raise SearchSpaceError(
                f"The bounds of Float must be real numbers. Got low={low!r}, high={high!r}."
            )
        low, high = float(low), float(high)
        if not (math.isfinite(low) and math.isfinite(high)):
            raise SearchSpaceError(f"The bounds of Float must be finite. Got [{low}, {high}].")
        if low > high:
            raise SearchSpaceError(
                f"Float needs low <= high. Got low={low}, high={high}: swap them."
            )
        if log and low <= 0:
            raise SearchSpaceError(f"Float with log=True needs low > 0. Got low={low}.")
        if not math.isfinite(high - low):
            raise SearchSpaceError(
                f"The range [{low}, {high}] of Float is wider than the largest float; narrow it.")
        if step is not None:
            if not _is_real(step) or not math.isfinite(step) or step <= 0:
                raise SearchSpaceError(f"The 'step' of Float must be > 0. Got {step!r}.")
            if log:
                raise SearchSpaceError("Float cannot have both log=True and a step.")
            n = (high - low) / step
            if not n < 2**53:  # also catches inf: more grid points than floats can count
                raise SearchSpaceError(
                    f"The 'step' {step} of Float is too small for the range [{low}, {high}] "
                    f"({n:.3g} grid points; at most 2**53).")
            if abs(n - round(n)) > 1e-8 * max(1.0, abs(n)):
                raise SearchSpaceError(
                    f"The 'step' {step} of Float does not divide the range [{low}, {high}]."
                )
            step = float(step)
        self.low, self.high, self.log, self.step = low, high, bool(log), step
        self.when = _normalize_when(when)

    def n_values(self) -> int | None:  # noqa: D102
        if self.low == self.high:
            return 1
        if self.step is not None:
            return int(round((self.high - self.low) / self.step)) + 1
        return None

    def _quantize(self, x: float) -> float:
        if self.step is not None:
            k = round((x - self.low) / self.step)
            x = self.low + k * self.step
        return min(max(x, self.low), self.high)

    def sample(self, rng: np.random.Generator) -> float:  # noqa: D102
        return self.from_unit(float(rng.random()))

    def contains(self, value: ParamValue) -> bool:  # noqa: D102
        if not _is_real(value) or not math.isfinite(value):
            return False
        if not self.low <= value <= self.high:
            return False
        if self.step is not None:
            k = (value - self.low) / self.step
            if abs(k - round(k)) < 1e-6:
                return True
            # Far from low, k itself is imprecise: compare the grid point with the value.
            on_grid = self.low + round(k) * self.step
            return bool(abs(on_grid - value) <= 1e-9 * max(abs(value), self.step))
        return True

    def to_unit(self, value: ParamValue) -> float:  # noqa: D102
        if self.low == self.high:
            return 0.5
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            return (math.log(value) - lo) / (hi - lo)
        return (float(value) - self.low) / (self.high - self.low)

    def from_unit(self, u: float) -> float:  # noqa: D102
        u = min(max(float(u), 0.0), 1.0)
        if self.low == self.high:
            return self.low
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            x = math.exp(lo + u * (hi - lo))
        else:
            x = self.low + u * (self.high - self.low)
        return self._quantize(x)

    def to_dict(self) -> dict[str, Any]:  # noqa: D102
        return {"type": "float", "low": self.low, "high": self.high, "log": self.log,
                "step": self.step, **self._when_dict()}


class Int(Distribution):
    """An integer parameter in ``[low, high]`` (both inclusive), optionally log-scaled or stepped.

    Values come back as Python ``int``. With ``log=True`` each integer ``k`` gets the mass of the
    cell ``[k - 0.5, k + 0.5]`` in log space.

    Args:
        low: lower bound, inclusive.
        high: upper bound, inclusive; ``low == high`` makes a constant.
        log: log-uniform; needs ``low >= 1`` and ``step == 1``.
        step: spacing of the values ``low, low + step, ...``; must divide ``high - low``.
        when: condition under which the parameter exists, ``{parent: value or [values]}``.

    Raises:
        SearchSpaceError: bounds not integers, ``low > high``, ``log`` with ``low <= 0``,
            ``step < 1``, ``log`` with ``step != 1``, or ``step`` not dividing the range.
    """

    def __init__(
        self,
        low: int,
        high: int,
        *,
        log: bool = False,
        step: int = 1,
        when: Mapping[str, Any] | None = None,
    ) -> None:
        for name, v in (("low", low), ("high", high), ("step", step)):
            if isinstance(v, float) and float(v).is_integer():
                continue
            if not _is_integer(v):
                raise SearchSpaceError(f"The '{name}' of Int must be an integer. Got {v!r}.")
        low, high, step = int(low), int(high), int(step)
        if max(abs(low), abs(high)) > _INT_LIMIT:
            raise SearchSpaceError(
                f"The bounds of Int must lie in [-2**53, 2**53] (exact as floats and in JSON). "
                f"Got low={low}, high={high}.")
        if low > high:
            raise SearchSpaceError(f"Int needs low <= high. Got low={low}, high={high}: swap them.")
        if log and low <= 0:
            raise SearchSpaceError(f"Int with log=True needs low >= 1. Got low={low}.")
        if step < 1:
            raise SearchSpaceError(f"The 'step' of Int must be >= 1. Got {step}.")
        if log and step != 1:
            raise SearchSpaceError("Int cannot have both log=True and step != 1.")
        if (high - low) % step:
            raise SearchSpaceError(
                f"The 'step' {step} of Int does not divide the range [{low}, {high}]."
            )
        self.low, self.high, self.log, self.step = low, high, bool(log), step
        self.when = _normalize_when(when)

    def n_values(self) -> int:  # noqa: D102
        return (self.high - self.low) // self.step + 1

    def sample(self, rng: np.random.Generator) -> int:  # noqa: D102
        if self.log:
            return self.from_unit(float(rng.random()))
        return self.low + self.step * int(rng.integers(self.n_values()))

    def contains(self, value: ParamValue) -> bool:  # noqa: D102
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not _is_integer(value):
            return False
        return bool(self.low <= value <= self.high and (value - self.low) % self.step == 0)

    def to_unit(self, value: ParamValue) -> float:  # noqa: D102
        if self.low == self.high:
            return 0.5
        if self.log:
            lo, hi = math.log(self.low - 0.5), math.log(self.high + 0.5)
            return (math.log(value) - lo) / (hi - lo)
        n = self.n_values()
        return ((int(value) - self.low) // self.step + 0.5) / n

    def from_unit(self, u: float) -> int:  # noqa: D102
        u = min(max(float(u), 0.0), 1.0)
        if self.log:
            lo, hi = math.log(self.low - 0.5), math.log(self.high + 0.5)
            x = int(round(math.exp(lo + u * (hi - lo))))
            return min(max(x, self.low), self.high)
        n = self.n_values()
        i = min(int(u * n), n - 1)
        return self.low + i * self.step

    def to_dict(self) -> dict[str, Any]:  # noqa: D102
        return {"type": "int", "low": self.low, "high": self.high, "log": self.log,
                "step": self.step, **self._when_dict()}


class Categorical(Distribution):
    """A parameter taking one of a finite list of choices, returned as the original objects.

    Args:
        choices: non-empty sequence of distinct JSON-serializable values (str, numbers, bool,
            None, lists/tuples/dicts of those).
        when: condition under which the parameter exists, ``{parent: value or [values]}``.

    Raises:
        SearchSpaceError: no choices, a choice that cannot be stored as JSON, or duplicates.
    """

    def __init__(self, choices: Sequence[Any], *, when: Mapping[str, Any] | None = None) -> None:
        if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence):
            raise SearchSpaceError(
                f"The choices of Categorical must be a list. Got {type(choices).__name__}."
            )
        if len(choices) == 0:
            raise SearchSpaceError("Categorical needs at least one choice. Got an empty list.")
        keys = []
        for c in choices:
            try:
                keys.append(json.dumps(c, sort_keys=True, allow_nan=False))
            except (TypeError, ValueError) as e:
                raise SearchSpaceError(
                    f"The choice {c!r} of Categorical cannot be stored as JSON: use str, numbers, "
                    "bool, None or lists of those."
                ) from e
        if len(set(keys)) != len(keys):
            raise SearchSpaceError(f"The choices of Categorical must be distinct. Got {choices!r}.")
        self.choices = tuple(choices)
        self._keys = {k: i for i, k in enumerate(keys)}
        self.when = _normalize_when(when)

    def n_values(self) -> int:  # noqa: D102
        return len(self.choices)

    def index(self, value: ParamValue) -> int:
        """The position of ``value`` in ``choices``; raises SearchSpaceError when absent."""
        try:
            key = json.dumps(value, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError):
            key = None
        if key is None or key not in self._keys:
            raise SearchSpaceError(f"{value!r} is not one of the choices {list(self.choices)!r}.")
        return self._keys[key]

    def sample(self, rng: np.random.Generator) -> Any:  # noqa: D102
        return self.choices[int(rng.integers(len(self.choices)))]

    def contains(self, value: ParamValue) -> bool:  # noqa: D102
        try:
            self.index(value)
        except SearchSpaceError:
            return False
        return True

    def to_unit(self, value: ParamValue) -> float:  # noqa: D102
        return (self.index(value) + 0.5) / len(self.choices)

    def from_unit(self, u: float) -> Any:  # noqa: D102
        n = len(self.choices)
        return self.choices[min(max(int(float(u) * n), 0), n - 1)]

    def from_json_value(self, raw: Any) -> Any:  # noqa: D102
        return self.choices[self.index(raw)]

    def to_dict(self) -> dict[str, Any]:  # noqa: D102
        return {"type": "categorical", "choices": [_encode_choice(c) for c in self.choices],
                **self._when_dict()}


_TUPLE_TAG = "__tuple__"


def _encode_choice(c: Any) -> Any:
    """JSON has no tuples: tag them so a reloaded space gives back the original objects."""
    if isinstance(c, tuple):
        return {_TUPLE_TAG: [_encode_choice(x) for x in c]}
    if isinstance(c, list):
        return [_encode_choice(x) for x in c]
    if isinstance(c, dict):
        return {k: _encode_choice(v) for k, v in c.items()}
    return c


def _decode_choice(c: Any) -> Any:
    if isinstance(c, dict):
        if set(c) == {_TUPLE_TAG}:
            return tuple(_decode_choice(x) for x in c[_TUPLE_TAG])
        return {k: _decode_choice(v) for k, v in c.items()}
    if isinstance(c, list):
        return [_decode_choice(x) for x in c]
    return c


# -- the spellings of other tools ------------------------------------------------------------

def uniform(low: float, high: float, **kw: Any) -> Float:
    """``U(low, high)``: a :class:`Float`."""
    return Float(low, high, **kw)


def loguniform(low: float, high: float, **kw: Any) -> Float:
    """``exp(U(log low, log high))``: a :class:`Float` with ``log=True``; needs ``low > 0``."""
    return Float(low, high, log=True, **kw)


def quniform(low: float, high: float, q: float, **kw: Any) -> Float:
    """``U(low, high)`` rounded to multiples of ``q`` from ``low``: ``Float(step=q)``."""
    return Float(low, high, step=q, **kw)


def randint(low: int, high: int, **kw: Any) -> Int:
    """An integer in ``low .. high - 1`` (``high`` excluded, as ``numpy.random.randint``).

    Raises:
        SearchSpaceError: ``high <= low`` (the range would be empty).
    """
    if _is_integer(low) and _is_integer(high) and high <= low:
        raise SearchSpaceError(
            f"randint(low, high) excludes high, so it needs high > low. Got ({low}, {high})."
        )
    if not (_is_integer(high)):
        raise SearchSpaceError(f"The 'high' of randint must be an integer. Got {high!r}.")
    return Int(low, high - 1, **kw)


def choice(choices: Sequence[Any], **kw: Any) -> Categorical:
    """One of ``choices``: a :class:`Categorical`."""
    return Categorical(choices, **kw)


_SHORTHANDS = {
    "uniform": uniform, "loguniform": loguniform, "quniform": quniform, "randint": randint,
    "choice": choice, "float": Float, "int": Int, "categorical": Categorical,
}


def _to_number(x: Any) -> Any:
    # YAML 1.1 reads "1e-6" (no dot) as a string: accept numeric strings for bounds.
    if isinstance(x, str):
        try:
            f = float(x)
        except ValueError:
            return x
        return int(f) if f.is_integer() and "." not in x and "e" not in x.lower() else f
    return x


def distribution_from_dict(name: str, spec: Any) -> Distribution:
    """Build a distribution from its dict form.

    Accepts the canonical form of :meth:`Distribution.to_dict` (``{"type": "float", "low": ...}``)
    and the shorthand of YAML study files: ``{loguniform: [1e-6, 10]}``, ``{randint: [30, 100]}``,
    ``{choice: [a, b]}``, ``{float: {low: 0, high: 1, log: false}}``, each optionally with
    ``when: {parent: value}``.

    Raises:
        SearchSpaceError: the spec is not of one of these forms, or its values are invalid; the
            message names the parameter.
    """
    try:
        return _distribution_from_dict(spec)
    except SearchSpaceError as e:
        raise SearchSpaceError(f"Parameter {name!r}: {e}") from None
    except TypeError as e:
        raise SearchSpaceError(f"Parameter {name!r}: invalid arguments ({e}).") from None


def _distribution_from_dict(spec: Any) -> Distribution:
    if isinstance(spec, Distribution):
        return spec
    if not isinstance(spec, Mapping):
        raise SearchSpaceError(
            f"expected a mapping such as {{uniform: [0, 1]}}, got {type(spec).__name__} {spec!r}."
        )
    spec = dict(spec)
    when = spec.pop("when", None)
    if "type" in spec:
        kind = spec.pop("type")
        if kind not in ("float", "int", "categorical"):
            raise SearchSpaceError(f"unknown type {kind!r}; use float, int or categorical.")
        if kind == "categorical":
            choices = spec.pop("choices", [])
            if isinstance(choices, list):
                choices = [_decode_choice(c) for c in choices]
            return Categorical(choices, when=when, **spec)
        args = {k: _to_number(v) for k, v in spec.items() if v is not None}
        return (Float if kind == "float" else Int)(when=when, **args)
    if len(spec) != 1:
        raise SearchSpaceError(
            f"expected exactly one of {sorted(_SHORTHANDS)} (plus optional 'when'), "
            f"got keys {sorted(spec)}."
        )
    ((kind, args),) = spec.items()
    if kind not in _SHORTHANDS:
        from difflib import get_close_matches

        hint = get_close_matches(str(kind), _SHORTHANDS, n=1)
        tip = f" Did you mean {hint[0]!r}?" if hint else f" Use one of {sorted(_SHORTHANDS)}."
        raise SearchSpaceError(f"unknown distribution {kind!r}.{tip}")
    factory: Any = _SHORTHANDS[kind]
    if kind in ("choice", "categorical"):
        if isinstance(args, Mapping):
            return factory(when=when, **args)  # type: ignore[no-any-return]
        return factory(args, when=when)  # type: ignore[no-any-return]
    if isinstance(args, Mapping):
        return factory(when=when, **{k: _to_number(v) for k, v in args.items()})  # type: ignore[no-any-return]
    if isinstance(args, (list, tuple)):
        return factory(*[_to_number(a) for a in args], when=when)  # type: ignore[no-any-return]
    raise SearchSpaceError(f"the arguments of {kind!r} must be a list or a mapping, got {args!r}.")


class SearchSpace(Mapping[str, Distribution]):
    """An ordered, immutable mapping of parameter names to distributions.

    Conditional parameters (``when=``) must name parents declared in the space; the iteration
    order puts every parent before its children.

    Args:
        params: ``{name: Distribution}``; the dict forms accepted by
            :func:`distribution_from_dict` are accepted too.

    Raises:
        SearchSpaceError: an empty space, a non-string name, a bad distribution, a condition on an
            unknown parameter, a condition value that the parent cannot take, or a cycle.
    """

    def __init__(self, params: Mapping[str, Distribution | Mapping[str, Any]]) -> None:
        if not isinstance(params, Mapping):
            raise SearchSpaceError(
                f"A search space must be a mapping of names to distributions. Got {params!r}."
            )
        if len(params) == 0:
            raise SearchSpaceError("The search space is empty: declare at least one parameter.")
        dists: dict[str, Distribution] = {}
        for name, spec in params.items():
            if not isinstance(name, str) or not name:
                raise SearchSpaceError(f"Parameter names must be non-empty strings. Got {name!r}.")
            dists[name] = distribution_from_dict(name, spec)
        self._dists = self._sorted_by_condition(dists)

    @staticmethod
    def _sorted_by_condition(dists: dict[str, Distribution]) -> dict[str, Distribution]:
        for name, d in dists.items():
            for parent, values in d.when.items():
                if parent not in dists:
                    raise SearchSpaceError(
                        f"Parameter {name!r} is conditional on {parent!r}, which is not in "
                        "the space."
                    )
                for v in values:
                    if not dists[parent].contains(v):
                        raise SearchSpaceError(
                            f"Parameter {name!r} is conditional on {parent}={v!r}, a value that "
                            f"{parent!r} cannot take."
                        )
        ordered: dict[str, Distribution] = {}
        visiting: set[str] = set()

        def visit(n: str) -> None:
            if n in ordered:
                return
            if n in visiting:
                raise SearchSpaceError(f"The conditions of the search space form a cycle at {n!r}.")
            visiting.add(n)
            for parent in dists[n].when:
                visit(parent)
            visiting.discard(n)
            ordered[n] = dists[n]

        for n in dists:
            visit(n)
        return ordered

    def __getitem__(self, name: str) -> Distribution:
        return self._dists[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dists)

    def __len__(self) -> int:
        return len(self._dists)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True, default=str))

    def __repr__(self) -> str:
        return f"SearchSpace({self._dists!r})"

    @property
    def is_conditional(self) -> bool:
        """Whether any parameter has a ``when`` condition."""
        return any(d.when for d in self._dists.values())

    def is_active(self, name: str, params: Mapping[str, ParamValue]) -> bool:
        """Whether ``name`` exists given the values of its parents in ``params``."""
        for parent, values in self._dists[name].when.items():
            if parent not in params or not self._dists[parent].contains(params[parent]):
                return False
            if params[parent] not in values:
                return False
        return True

    def sample(self, rng: np.random.Generator) -> dict[str, ParamValue]:
        """Draw one configuration from the prior; inactive conditional parameters are absent."""
        out: dict[str, ParamValue] = {}
        for name, d in self._dists.items():
            if self.is_active(name, out):
                out[name] = d.sample(rng)
        return out

    def validate(self, params: Mapping[str, ParamValue]) -> None:
        """Check a configuration: every active parameter present and valid, nothing else.

        Raises:
            SearchSpaceError: a missing, unknown, inactive or out-of-domain parameter.
        """
        unknown = set(params) - set(self._dists)
        if unknown:
            raise SearchSpaceError(f"Unknown parameter(s) {sorted(unknown)}.")
        for name, d in self._dists.items():
            active = self.is_active(name, params)
            if active and name not in params:
                raise SearchSpaceError(f"Parameter {name!r} is missing.")
            if not active and name in params:
                raise SearchSpaceError(f"Parameter {name!r} is inactive given its condition.")
            if active and not d.contains(params[name]):
                raise SearchSpaceError(f"{params[name]!r} is not a valid value of {name!r}: {d!r}.")

    def to_unit(self, params: Mapping[str, ParamValue]) -> np.ndarray:
        """The configuration as an array of shape ``(n_params,)`` in [0, 1]; NaN where inactive."""
        return np.array(
            [d.to_unit(params[n]) if n in params else np.nan for n, d in self._dists.items()],
            dtype=float,
        )

    def from_unit(self, u: Sequence[float] | np.ndarray) -> dict[str, ParamValue]:
        """Inverse of :meth:`to_unit` for an array of shape ``(n_params,)``; inactive ones dropped.

        Raises:
            SearchSpaceError: ``u`` does not have one entry per parameter.
        """
        arr = np.asarray(u, dtype=float).reshape(-1)
        if arr.shape[0] != len(self._dists):
            raise SearchSpaceError(
                f"Expected {len(self._dists)} unit coordinates, got {arr.shape}.")
        out: dict[str, ParamValue] = {}
        for x, (n, d) in zip(arr, self._dists.items(), strict=True):
            if self.is_active(n, out):
                out[n] = d.from_unit(0.5 if np.isnan(x) else float(x))
        return out

    def to_json_params(self, params: Mapping[str, ParamValue]) -> dict[str, Any]:
        """Params in their stored JSON form (ints as int, numpy scalars as Python numbers)."""
        out: dict[str, Any] = {}
        for k, v in params.items():
            if isinstance(v, np.generic):
                v = v.item()
            out[k] = self._dists[k].to_json_value(v) if k in self._dists else v
        return out

    def from_json_params(self, raw: Mapping[str, Any]) -> dict[str, ParamValue]:
        """Params decoded from storage: categorical values become the original choice objects."""
        return {
            k: (self._dists[k].from_json_value(v) if k in self._dists else v)
            for k, v in raw.items()
        }

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """A JSON-serializable form (canonical dicts); :meth:`from_dict` inverts it."""
        return {n: d.to_dict() for n, d in self._dists.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        """Build a space from canonical or YAML-shorthand dicts.

        Raises:
            SearchSpaceError: as :class:`SearchSpace` and :func:`distribution_from_dict`.
        """
        return cls(data)
