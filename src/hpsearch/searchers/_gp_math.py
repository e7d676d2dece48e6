"""Gaussian-process regression and log expected improvement in plain numpy (for GPSearcher).

Notation follows Rasmussen & Williams (2006), chapters 2 and 5:

- ``X`` (n, d): training inputs; continuous and discrete columns are unit-cube coordinates,
  categorical columns hold the choice index (0, 1, ...).
- ``y`` (n,): standardized training targets, to be *minimized*.
- ``w`` (d,): inverse squared lengthscales ``1 / l_i**2`` (ARD); ``s2``: signal variance;
  ``noise``: noise variance.
- ``r2(x, x') = sum_i w_i * D_i(x, x')`` with ``D_i = (x_i - x'_i)**2`` on numeric columns and
  ``D_i = [x_i != x'_i]`` (Hamming) on categorical ones; the kernel is Matern 5/2 in ``r``:
  ``k = s2 * (1 + sqrt(5) r + 5/3 r**2) * exp(-sqrt(5) r)`` (R&W eq. 4.17).

The hyperparameters ``theta = [log w (d), log s2, log noise]`` are fitted by maximizing the log
marginal likelihood (R&W eq. 5.8) plus log priors, with its analytic gradient (R&W eq. 5.9), by
L-BFGS-B from a few starting points.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
import scipy.linalg.lapack
import scipy.optimize
import scipy.special

__all__ = ["GPModel", "fit_gp", "log_ei", "log_h", "one_blas_thread"]

_SQRT5 = math.sqrt(5.0)
_LOG_2PI_HALF = 0.5 * math.log(2.0 * math.pi)
_LOG_PI_HALF_HALF = 0.5 * math.log(0.5 * math.pi)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_EPS = 1.0 / math.sqrt(np.finfo(float).eps)  # ~ 6.7e7

# Bounds of theta (log scale): lengthscales in [0.01, 1000] (unit-cube inputs), signal variance
# in [0.05, 20] and noise variance in [1e-6, 1] (standardized targets).
_LOG_W_BOUNDS = (math.log(1e-6), math.log(1e4))
_LOG_S2_BOUNDS = (math.log(0.05), math.log(20.0))
_LOG_NOISE_BOUNDS = (math.log(1e-6), 0.0)


_controller: Any = None


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run BLAS on one thread for the duration (restored after).

    The GP's matrices are small (at most ``max_history`` rows): multithreaded OpenBLAS on them
    is dominated by synchronization and was 10-70x slower on a busy 2-core machine.
    """
    global _controller
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        yield
        return
    if _controller is None:
        _controller = ThreadpoolController()
    with _controller.limit(limits=1, user_api="blas"):
        yield


# -- log expected improvement ---------------------------------------------------------------

def _log1mexp(x: np.ndarray) -> np.ndarray:
    """``log(1 - exp(x))`` for ``x < 0``, accurate on both sides of ``-log 2`` (Maechler 2012)."""
    out = np.empty_like(x)
    near = x > -math.log(2.0)
    out[near] = np.log(-np.expm1(x[near]))
    out[~near] = np.log1p(-np.exp(x[~near]))
    return out


def log_h(z: np.ndarray) -> np.ndarray:
    """``log h(z)`` with ``h(z) = phi(z) + z Phi(z)``, the standardized expected improvement.

    Computed as in Ament et al. (2023), eq. (9): directly for ``z > -1``; for
    ``-1/sqrt(eps) < z <= -1`` as ``-z**2/2 - log(2 pi)/2 + log1mexp(log(erfcx(-z/sqrt 2) |z|)
    + log(pi/2)/2)``; below that by the asymptote ``-z**2/2 - log(2 pi)/2 - 2 log|z|``. It is
    finite for every finite ``z``.

    Args:
        z: array of any shape; ``(best - mean) / sd`` for minimization.

    Returns:
        ``log h(z)``, same shape as ``z``.

    References:
        Ament, S., Daulton, S., Eriksson, D., Balandat, M. and Bakshy, E. (2023). Unexpected
        Improvements to Expected Improvement for Bayesian Optimization. NeurIPS 36, eq. (9).

    """
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    hi = z > -1.0
    zh = z[hi]
    out[hi] = np.log(np.exp(-0.5 * zh * zh) / math.sqrt(2.0 * math.pi)
                     + zh * scipy.special.ndtr(zh))
    mid = (~hi) & (z > -_INV_SQRT_EPS)
    zm = z[mid]
    out[mid] = (-0.5 * zm * zm - _LOG_2PI_HALF + _log1mexp(
        np.log(scipy.special.erfcx(-_INV_SQRT2 * zm) * np.abs(zm)) + _LOG_PI_HALF_HALF))
    lo = ~(hi | mid)
    zl = z[lo]
    out[lo] = -0.5 * zl * zl - _LOG_2PI_HALF - 2.0 * np.log(np.abs(zl))
    return out


def log_ei(mean: np.ndarray, sd: np.ndarray, best: float) -> np.ndarray:
    """``log E[max(best - f, 0)]`` for ``f ~ N(mean, sd**2)`` (minimization), stably.

    Args:
        mean: posterior means, shape (m,).
        sd: posterior standard deviations, shape (m,), > 0.
        best: the incumbent (lowest) value.

    Returns:
        Log expected improvement, shape (m,).

    """
    out: np.ndarray = log_h((best - mean) / sd) + np.log(sd)
    return out


def _dlog_h(z: np.ndarray, logh: np.ndarray) -> np.ndarray:
    """``d log h / dz = Phi(z) / h(z)``, computed in log space."""
    out: np.ndarray = np.exp(scipy.special.log_ndtr(z) - logh)
    return out


# -- kernel --------------------------------------------------------------------------------

def _matern(r2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Matern 5/2 ``M(r)`` and ``dM/d(r**2)`` for squared distances ``r2`` (unit signal)."""
    sr = np.sqrt(np.maximum(r2, 0.0))
    sr *= _SQRT5  # sqrt(5) r
    e = np.exp(-sr)
    sr += 1.0  # 1 + sqrt(5) r
    dm = sr * e
    m = dm + (5.0 / 3.0) * r2 * e
    dm *= -5.0 / 6.0
    return m, dm


def _r2(a: np.ndarray, b: np.ndarray, w: np.ndarray, is_cat: np.ndarray) -> np.ndarray:
    """Weighted squared distances, shape (len(a), len(b)), without an (n, m, d) temporary."""
    num = ~is_cat
    out = np.zeros((a.shape[0], b.shape[0]))
    if num.any():
        sw = np.sqrt(w[num])
        an, bn = a[:, num] * sw, b[:, num] * sw
        out += (an * an).sum(1)[:, None] + (bn * bn).sum(1)[None, :] - 2.0 * an @ bn.T
        np.maximum(out, 0.0, out=out)
    for i in np.flatnonzero(is_cat):
        out += w[i] * (a[:, i][:, None] != b[:, i][None, :])
    return out


def _per_dim_d(a: np.ndarray, is_cat: np.ndarray) -> np.ndarray:
    """Per-dimension distances ``D_i`` between the rows of ``a``, shape (n, n, d)."""
    diff = a[:, None, :] - a[None, :, :]
    out: np.ndarray = np.where(is_cat, (diff != 0).astype(float), diff * diff)
    return out


@dataclass(frozen=True)
class GPModel:
    """A fitted GP posterior (minimization targets, standardized).

    Attributes:
        X: training inputs, shape (n, d).
        y: training targets, shape (n,).
        w: inverse squared lengthscales, shape (d,).
        s2: signal variance.
        noise: noise variance.
        is_cat: which columns are categorical, shape (d,).
        L: lower Cholesky factor of ``K + noise I``, shape (n, n).
        alpha: ``(K + noise I)^-1 y``, shape (n,).

    """

    X: np.ndarray
    y: np.ndarray
    w: np.ndarray
    s2: float
    noise: float
    is_cat: np.ndarray
    L: np.ndarray
    alpha: np.ndarray

    @classmethod
    def build(cls, X: np.ndarray, y: np.ndarray, w: np.ndarray, s2: float, noise: float,
              is_cat: np.ndarray) -> GPModel:
        """Factorize the kernel matrix for fixed hyperparameters (R&W Algorithm 2.1)."""
        K = s2 * _matern(_r2(X, X, w, is_cat))[0]
        L = _cholesky(K, noise)
        alpha = scipy.linalg.cho_solve((L, True), y)
        return cls(X, y, w, float(s2), float(noise), is_cat, L, alpha)

    def with_data(self, X: np.ndarray, y: np.ndarray) -> GPModel:
        """Condition the same hyperparameters on other data (kriging believer fantasies)."""
        return GPModel.build(X, y, self.w, self.s2, self.noise, self.is_cat)

    def posterior(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latent mean and variance at ``x`` (m, d): two arrays of shape (m,) (R&W eq. 2.25-26)."""
        ks = self.s2 * _matern(_r2(x, self.X, self.w, self.is_cat))[0]
        mean = ks @ self.alpha
        v = scipy.linalg.solve_triangular(self.L, ks.T, lower=True, check_finite=False)
        var = self.s2 - (v * v).sum(0)
        return mean, np.maximum(var, 1e-12 * self.s2)

    def log_ei(self, x: np.ndarray, best: float) -> np.ndarray:
        """Log expected improvement over ``best`` at ``x`` (m, d), shape (m,)."""
        mean, var = self.posterior(x)
        return log_ei(mean, np.sqrt(var), best)

    def log_ei_grad(self, x: np.ndarray, best: float,
                    free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Log EI at ``x`` (m, d) and its gradient w.r.t. the numeric columns ``free``.

        Returns:
            ``(values (m,), gradients (m, len(free)))``.

        """
        r2 = _r2(x, self.X, self.w, self.is_cat)
        m, dm = _matern(r2)
        ks = self.s2 * m  # (m, n)
        mean = ks @ self.alpha
        kinv_ks = scipy.linalg.cho_solve((self.L, True), ks.T, check_finite=False)  # (n, m)
        var = np.maximum(self.s2 - (ks * kinv_ks.T).sum(1), 1e-12 * self.s2)
        sd = np.sqrt(var)
        # d k(x, X_j) / d x_i = s2 dM/dr2 * 2 w_i (x_i - X_ji)
        diff = x[:, None, free] - self.X[None, :, free]  # (m, n, f)
        dks = (self.s2 * dm)[:, :, None] * 2.0 * self.w[free] * diff
        dmean = np.einsum("n,mnf->mf", self.alpha, dks)
        dvar = -2.0 * np.einsum("nm,mnf->mf", kinv_ks, dks)
        z = (best - mean) / sd
        logh = log_h(z)
        dsd = dvar / (2.0 * sd[:, None])
        dz = (-dmean - z[:, None] * dsd) / sd[:, None]
        grad = _dlog_h(z, logh)[:, None] * dz + dsd / sd[:, None]
        return logh + np.log(sd), grad


def _cholesky(K: np.ndarray, noise: float) -> np.ndarray:
    """Lower Cholesky factor of ``K + noise I``, adding jitter when it is not numerically PD."""
    n = K.shape[0]
    jitter = 0.0
    for _ in range(6):
        A = K.copy()
        A.flat[:: n + 1] += noise + jitter
        try:
            return np.linalg.cholesky(A)
        except np.linalg.LinAlgError:
            jitter = 1e-8 if jitter == 0.0 else jitter * 10.0
    raise np.linalg.LinAlgError("The kernel matrix is not positive definite even with jitter.")


# -- hyperparameter fitting ----------------------------------------------------------------

def _log_prior(theta: np.ndarray, d: int) -> tuple[float, np.ndarray]:
    """Log prior of theta and its gradient.

    - lengthscales: ``log l_i ~ N(sqrt(2) + log(d) / 2, 3)``, the dimension-scaled prior of
      Hvarfner et al. (2024), sec. 4, with ``log l_i = -log(w_i) / 2``;
    - signal variance: ``s2 ~ Gamma(2, 1)`` (mode 1, the standardized scale);
    - noise variance: ``noise ~ Gamma(1.1, 30)``, favouring small noise but allowing it.
    """
    mu0, var0 = math.sqrt(2.0) + 0.5 * math.log(d), 3.0
    log_w, log_s2, log_noise = theta[:d], theta[d], theta[d + 1]
    log_l = -0.5 * log_w
    # log p(l) = -log l - (log l - mu0)**2 / (2 var0), a density on l (mode exp(mu0 - var0)).
    lp = -float(log_l.sum()) - 0.5 * float(((log_l - mu0) ** 2).sum()) / var0
    g = np.empty_like(theta)
    g[:d] = 0.5 + (log_l - mu0) / (2.0 * var0)
    s2, noise = math.exp(log_s2), math.exp(log_noise)
    lp += log_s2 - s2  # (2 - 1) log s2 - 1 * s2
    g[d] = 1.0 - s2
    lp += 0.1 * log_noise - 30.0 * noise
    g[d + 1] = 0.1 - 30.0 * noise
    return lp, g


def _neg_log_posterior(theta: np.ndarray, y: np.ndarray, dists: np.ndarray,
                       is_cat: np.ndarray) -> tuple[float, np.ndarray]:
    """Negative (log marginal likelihood + log prior) and its gradient (R&W eq. 5.8, 5.9).

    ``dists`` holds the per-dimension distances ``D_i`` of the training inputs, shape (n*n, d).
    """
    d = dists.shape[1]
    n = y.shape[0]
    w, s2, noise = np.exp(theta[:d]), math.exp(theta[d]), math.exp(theta[d + 1])
    m, dm = _matern((dists @ w).reshape(n, n))
    try:
        L = _cholesky(s2 * m, noise)
    except np.linalg.LinAlgError:
        return 1e25, np.zeros_like(theta)
    alpha = scipy.linalg.cho_solve((L, True), y, check_finite=False)
    lml = -0.5 * float(y @ alpha) - float(np.log(np.diag(L)).sum()) - n * _LOG_2PI_HALF
    kinv, info = scipy.linalg.lapack.dpotri(L, lower=1)
    if info != 0:
        return 1e25, np.zeros_like(theta)
    # dpotri fills the lower triangle; the upper one holds L's zeros: mirror it.
    kinv = kinv + kinv.T
    kinv.flat[:: n + 1] *= 0.5
    A = np.outer(alpha, alpha) - kinv  # dlml/dtheta_j = tr(A dK/dtheta_j) / 2
    g = np.empty_like(theta)
    g[:d] = 0.5 * w * ((A * (s2 * dm)).reshape(-1) @ dists)
    g[d] = 0.5 * float((A * (s2 * m)).sum())
    g[d + 1] = 0.5 * noise * float(np.trace(A))
    lp, glp = _log_prior(theta, d)
    return -(lml + lp), -(g + glp)


def fit_gp(X: np.ndarray, y: np.ndarray, is_cat: np.ndarray, rng: np.random.Generator,
           *, n_restarts: int = 2) -> GPModel:
    """Fit the kernel hyperparameters by maximum a posteriori and return the posterior.

    Starts L-BFGS-B from the prior's lengthscale mode (``s2 = 1``, ``noise = 1e-3``) and from
    ``n_restarts - 1`` draws of ``rng``; keeps the best optimum.

    Args:
        X: inputs, shape (n, d).
        y: standardized targets (to minimize), shape (n,).
        is_cat: categorical columns, shape (d,) bool.
        rng: generator for the random restarts.
        n_restarts: number of L-BFGS-B runs (>= 1).

    Returns:
        The fitted :class:`GPModel`.

    References:
        Rasmussen, C. E. and Williams, C. K. I. (2006). Gaussian Processes for Machine Learning,
        eq. 5.8-5.9. Hvarfner, C., Hellsten, E. O. and Nardi, L. (2024). Vanilla Bayesian
        Optimization Performs Great in High Dimensions. ICML, sec. 4.

    """
    n, d = X.shape
    dists = _per_dim_d(X, is_cat).reshape(n * n, d)
    bounds = [_LOG_W_BOUNDS] * d + [_LOG_S2_BOUNDS, _LOG_NOISE_BOUNDS]
    lo, hi = np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])
    mu0 = math.sqrt(2.0) + 0.5 * math.log(d)
    # Start at lengthscale exp(mu0 - 3) (the prior's mode), a moderate, smooth model.
    starts = [np.concatenate([np.full(d, -2.0 * (mu0 - 3.0)), [0.0, math.log(1e-3)]])]
    for _ in range(max(0, n_restarts - 1)):
        log_l = rng.normal(mu0 - 3.0, 1.0, size=d)
        starts.append(np.concatenate([-2.0 * log_l, [rng.normal(0.0, 0.5),
                                                     rng.uniform(math.log(1e-6), math.log(0.1))]]))
    best: tuple[float, np.ndarray] | None = None
    for theta0 in starts:
        res = scipy.optimize.minimize(
            _neg_log_posterior, np.clip(theta0, lo, hi), args=(y, dists, is_cat), jac=True,
            method="L-BFGS-B", bounds=bounds, options={"maxiter": 200, "gtol": 1e-3, "ftol": 1e-7})
        if best is None or res.fun < best[0]:
            best = (float(res.fun), res.x)
    assert best is not None  # noqa: S101 - starts is never empty
    theta = best[1]
    return GPModel.build(X, y, np.exp(theta[:d]), math.exp(theta[d]), math.exp(theta[d + 1]),
                         is_cat)
