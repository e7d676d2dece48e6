import math

import pytest

import hpsearch as hp
from hpsearch.trial import Report, Trial, TrialState


def trial_with(*reports):
    return Trial(0, TrialState.RUNNING, {}, reports=tuple(
        Report(b, v, m) for b, v, m in reports))


def decide(s, *reports, mode="max"):
    t = trial_with(*reports)
    return s.decide(t, [t], mode=mode)


def test_non_finite_value_or_metric_stops():
    s = hp.DivergenceScheduler(metric="loss")
    assert decide(s, (1, math.nan, {"loss": 1.0})).is_stop
    assert decide(s, (1, 0.5, {"loss": math.inf})).is_stop
    assert decide(s, (1, 0.5, {"loss": math.nan})).is_stop
    assert not decide(s, (1, 0.5, {"loss": 2.3})).is_stop


def test_exploding_but_finite_loss_is_caught():
    # SGD with lr=10 on digits: loss 3.6e4 after one epoch, still finite.
    s = hp.DivergenceScheduler(metric="loss", upper_bound=100.0)
    d = decide(s, (1, 0.1, {"loss": 3.6e4}))
    assert d.is_stop and "upper_bound" in d.reason
    r = hp.DivergenceScheduler(metric="loss", max_ratio=10)
    assert not decide(r, (1, 0.1, {"loss": 2.0})).is_stop
    assert not decide(r, (1, 0.1, {"loss": 2.0}), (2, 0.1, {"loss": 19.0})).is_stop
    assert decide(r, (1, 0.1, {"loss": 2.0}), (2, 0.1, {"loss": 21.0})).is_stop


def test_chance_level_after_grace_budget():
    s = hp.DivergenceScheduler(threshold=0.2, grace_budget=2)
    assert not decide(s, (1, 0.1, {})).is_stop
    assert decide(s, (1, 0.1, {}), (2, 0.15, {})).is_stop
    assert not decide(s, (1, 0.1, {}), (2, 0.5, {})).is_stop
    # in min mode, "not better than the threshold" means >= threshold
    assert decide(s, (2, 0.3, {}), mode="min").is_stop
    assert not decide(s, (2, 0.1, {}), mode="min").is_stop


def test_missing_metric_is_not_a_divergence():
    s = hp.DivergenceScheduler(metric="loss", upper_bound=1.0)
    assert not decide(s, (1, 0.5, {})).is_stop


@pytest.mark.parametrize("kwargs, match", [
    ({"upper_bound": 0}, "upper_bound"),
    ({"max_ratio": 1.0}, r"\(1, inf\)"),
    ({"grace_budget": -1}, "grace_budget"),
    ({"threshold": math.nan}, "threshold"),
    ({"metric": ""}, "metric"),
])
def test_invalid_arguments(kwargs, match):
    with pytest.raises(hp.InvalidParameterError, match=match):
        hp.DivergenceScheduler(**kwargs)
