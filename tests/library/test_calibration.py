"""bnnfer.evaluation.calibration: temperature scaling finds the NLL-optimal temperature, and T = 1
leaves the probabilities as they are."""

from __future__ import annotations

import numpy as np
import pytest

from bnnfer.evaluation.calibration import fit_temperature, scale_probabilities
from bnnfer.evaluation.metrics import nll


def test_temperature_scaling_finds_the_nll_minimum():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(500, 8)) * 3
    labels = np.array([rng.choice(8, p=np.exp(z / 3) / np.exp(z / 3).sum()) for z in logits])
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    temperature = fit_temperature(probs, labels)
    assert temperature == pytest.approx(3.0, rel=0.2)  # the data were drawn at T = 3
    best = nll(scale_probabilities(probs, temperature), labels)
    for other in (temperature * 0.9, temperature * 1.1, 1.0):
        assert best <= nll(scale_probabilities(probs, other), labels) + 1e-12
    np.testing.assert_allclose(scale_probabilities(probs, 1.0), probs, atol=1e-12)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        scale_probabilities(probs, 0.0)
