"""The Parzen estimator of TPE: a weighted mixture of product kernels in the unit cube.

Numeric coordinates use truncated Gaussian kernels on [0, 1] (the cell mass of the kernel for
integer and stepped parameters); categorical coordinates use the Aitchison-Aitken kernel. One
extra component is the prior (a wide Gaussian centred at 0.5, uniform over the categories).
Everything is vectorized over candidates x components x dimensions, so evaluating 24 candidates
against 10,000 observations takes milliseconds.

References:
    Watanabe, S. (2023). Tree-structured Parzen estimator: Understanding its algorithm components
    and their roles for better empirical performance. arXiv:2304.11127, sections 3.3-3.5.
    Aitchison, J. and Aitken, C. G. G. (1976). Multivariate binary discrimination by the kernel
    method. Biometrika 63(3).

"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from hpsearch.space import Categorical, Distribution, Float, Int

__all__ = ["Dim", "ParzenEstimator", "dims_of", "recency_weights"]

#: bandwidth constant of the multivariate Scott-like rule, in unit lengths (Watanabe, eq. 8).
SIGMA0 = 0.2
#: standard deviation of the prior component, in unit lengths.
PRIOR_SIGMA = 1.0
#: observations that keep full weight before older ones decay (Watanabe, section 3.4).
N_RECENT = 25


@dataclass(frozen=True)
class Dim:
    """How one parameter lives in the unit cube.

    Attributes:
        kind: ``"float"`` (continuous), ``"grid"`` (``n`` evenly spaced values k/(n-1), stepped
            Float), ``"cell"`` (``n`` equal cells, Int), ``"logint"`` (Int with log=True), or
            ``"cat"`` (``n`` choices).
        n: the number of values (0 for continuous).
        lo, hi: for ``"logint"``: ``log(low - 0.5)``, ``log(high + 0.5)``, and ``low``/``high``
            are ``a``/``b``.

    """

    kind: str
    n: int = 0
    lo: float = 0.0
    hi: float = 0.0
    a: int = 0
    b: int = 0


def dims_of(dists: list[Distribution]) -> list[Dim]:
    """Return the :class:`Dim` of each distribution, in order."""
    out = []
    for d in dists:
        if isinstance(d, Categorical):
            out.append(Dim("cat", d.n_values()))
        elif isinstance(d, Int) and d.log:
            out.append(Dim("logint", d.n_values(), math.log(d.low - 0.5), math.log(d.high + 0.5),
                           d.low, d.high))
        elif isinstance(d, Int):
            out.append(Dim("cell", d.n_values()))
        elif isinstance(d, Float) and d.n_values() is not None:
            out.append(Dim("grid", int(d.n_values() or 1)))
        else:
            out.append(Dim("float"))
    return out


def _cells(dim: Dim, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quantize unit coordinates ``u`` (any shape) to the value they map to.

    Returns:
        ``(center, low, high)``: the unit coordinate of the value (what ``to_unit`` gives) and the
        bounds of its cell, each of the shape of ``u``.

    """
    u = np.clip(u, 0.0, 1.0)
    if dim.kind == "cell":
        i = np.minimum(np.floor(u * dim.n), dim.n - 1)
        return (i + 0.5) / dim.n, i / dim.n, (i + 1) / dim.n
    if dim.kind == "grid":
        if dim.n <= 1:
            return np.full_like(u, 0.5), np.zeros_like(u), np.ones_like(u)
        k = np.round(u * (dim.n - 1))
        h = 0.5 / (dim.n - 1)
        c = k / (dim.n - 1)
        return c, np.maximum(c - h, 0.0), np.minimum(c + h, 1.0)
    # logint: the value is round(exp(lo + u (hi - lo))), its cell [k - 1/2, k + 1/2] in log scale
    span = dim.hi - dim.lo
    k = np.clip(np.round(np.exp(dim.lo + u * span)), dim.a, dim.b)
    return ((np.log(k) - dim.lo) / span, (np.log(k - 0.5) - dim.lo) / span,
            (np.log(k + 0.5) - dim.lo) / span)


def _log_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``log(Phi(b) - Phi(a))`` for ``a <= b``, without cancellation in the upper tail."""
    flip = a > 0
    a2 = np.where(flip, -b, a)
    b2 = np.where(flip, -a, b)
    # Phi(b) - Phi(a) on the lower side of 0, where it has full relative precision; a kernel
    # mass below 1e-300 only ever meets the prior component, which never underflows.
    return np.log(np.maximum(ndtr(b2) - ndtr(a2), 1e-300))  # type: ignore[no-any-return]


def _neighbor_bandwidths(obs: np.ndarray) -> np.ndarray:
    """Per observation and column: the larger gap to its neighbours (inner gap at the ends).

    Args:
        obs: shape ``(n, d)``, unit coordinates.

    Returns:
        Bandwidths of shape ``(n, d)`` (before clipping).

    References:
        Bergstra et al. (2011), section 4.1 (the adaptive Parzen estimator).

    """
    n, d = obs.shape
    out = np.empty((n, d))
    for col in range(d):
        order = np.argsort(obs[:, col], kind="stable")
        ext = np.concatenate([[0.0], obs[order, col], [1.0]])
        gaps = np.maximum(ext[1:-1] - ext[:-2], ext[2:] - ext[1:-1])
        if n >= 2:  # the extreme points take their inner gap, not the gap to the bound
            gaps[0] = ext[2] - ext[1]
            gaps[-1] = ext[-2] - ext[-3]
        out[order, col] = gaps
    return out


def _distinct(mu: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the distinct ``(mu, sd)`` pairs and, per entry, the index of its pair."""
    if len(sd) and np.all(sd == sd[0]):  # one bandwidth (Scott's rule): unique centres only
        um, idx = np.unique(mu, return_inverse=True)
        return um, np.full(len(um), sd[0]), idx.reshape(-1)
    pairs, idx = np.unique(mu + 1j * sd, return_inverse=True)
    return pairs.real, pairs.imag, idx.reshape(-1)


def recency_weights(n: int) -> np.ndarray:
    """Weights of ``n`` observations in time order: the last 25 get 1, older ones ramp from 1/n.

    Returns:
        An array of shape ``(n,)``.

    References:
        Watanabe (2023), section 3.4 ("weighting", the old-decay scheme).

    """
    if n <= N_RECENT:
        return np.ones(n)
    return np.concatenate([np.linspace(1.0 / n, 1.0, n - N_RECENT), np.ones(N_RECENT)])


class ParzenEstimator:
    """A weighted kernel mixture over observations in the unit cube, plus the prior component.

    Args:
        x: observations, shape ``(n, d)``, unit coordinates (cell centres for discrete
            dimensions, ``(i + 0.5) / k`` for category ``i`` of ``k``).
        weights: observation weights, shape ``(n,)``, positive.
        dims: the :class:`Dim` of each of the ``d`` columns.
        prior_weight: weight of the prior component relative to one observation of weight 1.

    References:
        Watanabe (2023): multivariate kernel (section 3.2), bandwidth and magic clipping
        (section 3.3, eq. 8-9), prior (section 3.5); Aitchison and Aitken (1976) for categories.

    """

    def __init__(self, x: np.ndarray, weights: np.ndarray, dims: list[Dim], *,
                 prior_weight: float, bandwidth: str = "auto") -> None:
        n, d = x.shape
        self.dims = dims
        self.num = np.array([j for j, dm in enumerate(dims) if dm.kind != "cat"], dtype=int)
        self.cat = np.array([j for j, dm in enumerate(dims) if dm.kind == "cat"], dtype=int)
        w = np.append(np.asarray(weights, dtype=float), prior_weight)
        self.log_w = np.log(w / w.sum())  # (n + 1,)
        # numeric bandwidths (n, d_num), magic clipping from below (eq. 9)
        obs = x[:, self.num]
        min_sigma = 1.0 / min(100.0, n + 2.0)
        if bandwidth == "auto":
            bandwidth = "neighbor" if all(dm.kind == "float" for dm in dims) else "scott"
        if bandwidth == "scott":  # Scott-like multivariate rule (eq. 8)
            sig = np.full(obs.shape, SIGMA0 * max(n, 1) ** (-1.0 / (d + 4)))
        else:  # adaptive: the larger gap to the neighbours (Bergstra et al., 2011)
            sig = _neighbor_bandwidths(obs)
        sig = np.clip(sig, min_sigma, 1.0)
        self.mu = np.vstack([obs, np.full((1, len(self.num)), 0.5)])  # (n + 1, d_num)
        self.sigma = np.vstack([sig, np.full((1, len(self.num)), PRIOR_SIGMA)])  # (n + 1, d_num)
        self.log_z = _log_mass(-self.mu / self.sigma, (1.0 - self.mu) / self.sigma)
        # categorical: Aitchison-Aitken, the observed choice keeps 1 - lam, the others lam / (k-1)
        self.k = np.array([dims[j].n for j in self.cat], dtype=int)
        idx = np.floor(x[:, self.cat] * self.k).astype(int) if n else np.zeros((0, len(self.cat)),
                                                                              dtype=int)
        self.c = np.vstack([np.minimum(idx, self.k - 1), np.full((1, len(self.cat)), -1)])
        self.lam = (self.k - 1) / np.maximum(self.k, 1) / min(100.0, n + 1.0)

    def sample(self, rng: np.random.Generator, m: int) -> np.ndarray:
        """Draw ``m`` points, quantized like the observations; shape ``(m, d)``."""
        comp = rng.choice(len(self.log_w), size=m, p=np.exp(self.log_w))
        out = np.empty((m, len(self.dims)))
        if len(self.num):
            mu, sd = self.mu[comp], self.sigma[comp]  # (m, d_num)
            a, b = -mu / sd, (1.0 - mu) / sd  # a <= 0 <= b since mu is in [0, 1]
            u = rng.random(mu.shape)
            z = ndtri(ndtr(a) + u * (ndtr(b) - ndtr(a)))
            out[:, self.num] = np.clip(mu + sd * np.clip(z, a, b), 0.0, 1.0)
            for j in self.num:
                if self.dims[j].kind != "float":
                    out[:, j] = _cells(self.dims[j], out[:, j])[0]
        for col, j in enumerate(self.cat):
            k = int(self.k[col])
            own = self.c[comp, col]
            uniform = rng.integers(k, size=m)
            other = rng.integers(max(k - 1, 1), size=m)
            other = other + (other >= own)  # uniform over the choices other than `own`
            keep = rng.random(m) >= self.lam[col]
            choice = np.where(own < 0, uniform, np.where(keep, own, np.minimum(other, k - 1)))
            out[:, j] = (choice + 0.5) / k
        return out

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """Log density (log mass for discrete dimensions) at points ``x`` of shape ``(m, d)``.

        Returns:
            An array of shape ``(m,)``.

        """
        m, n_comp = x.shape[0], len(self.log_w)
        n = n_comp - 1  # observation components; the last one is the prior
        # per-component constants: mixture weight, truncation, Gaussian normalization
        const = self.log_w - self.log_z.sum(axis=1)
        is_float = np.array([self.dims[j].kind == "float" for j in self.num], dtype=bool)
        if is_float.any():
            const = const - (np.log(self.sigma[:, is_float]).sum(axis=1)
                             + is_float.sum() * 0.5 * math.log(2 * math.pi))
        total = np.empty((m, n_comp))
        total[:] = const
        z = np.empty((m, n_comp))
        float_cols = [col for col, j in enumerate(self.num) if self.dims[j].kind == "float"]
        shared = n > 0 and all(np.all(self.sigma[:n, c] == self.sigma[0, c]) for c in float_cols)
        if shared and float_cols:
            # one bandwidth per dimension (Scott's rule): the squared Mahalanobis distances of
            # all candidates to all observations as one matrix product
            cols = np.array(float_cols)
            s = self.sigma[0, cols]
            xs = x[:, self.num[cols]] / s  # (m, F)
            ms = self.mu[:n, cols] / s  # (n, F)
            q = (xs * xs).sum(axis=1)[:, None] + (ms * ms).sum(axis=1)[None, :] - 2.0 * xs @ ms.T
            total[:, :n] -= 0.5 * np.maximum(q, 0.0)
            zp = (x[:, self.num[cols]] - self.mu[n, cols]) / self.sigma[n, cols]
            total[:, n] -= 0.5 * (zp * zp).sum(axis=1)
        for col, j in enumerate(self.num):
            dim = self.dims[j]
            mu, sd = self.mu[:, col], self.sigma[:, col]
            if dim.kind == "float":
                if shared:
                    continue
                np.subtract(x[:, j][:, None], mu[None, :], out=z)
                z /= sd[None, :]
                np.square(z, out=z)
                z *= 0.5
                total -= z
                continue
            # discrete: the cell mass; observations share few distinct (centre, bandwidth)
            # pairs, so evaluate a (candidates x distinct pairs) table and gather it
            _, lo, hi = _cells(dim, x[:, j])
            um, us, idx = _distinct(mu[:n], sd[:n])
            table = _log_mass((lo[:, None] - um) / us, (hi[:, None] - um) / us)
            total[:, :n] += table[:, idx]
            total[:, n] += _log_mass((lo - mu[n]) / sd[n], (hi - mu[n]) / sd[n])
        for col, j in enumerate(self.cat):
            k = int(self.k[col])
            xi = np.minimum(np.floor(x[:, j] * k).astype(int), k - 1)
            lam = self.lam[col]
            table = np.where(np.arange(k)[None, :] == xi[:, None], math.log1p(-lam),
                             math.log(lam / (k - 1)) if k > 1 and lam > 0 else -np.inf)
            total[:, :n] += table[:, self.c[:n, col]]
            total[:, n] += -math.log(k)
        top = total.max(axis=1, keepdims=True)
        total -= top
        np.exp(total, out=total)
        return top[:, 0] + np.log(total.sum(axis=1))  # type: ignore[no-any-return]
