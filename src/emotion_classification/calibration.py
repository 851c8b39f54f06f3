"""Calibration: temperature scaling fitted on validation, ECE, and the 'uncertain' rule.

The model's softmax is sharpened or softened by one temperature ``T`` fitted on the
validation split (never on test) by minimising the negative log-likelihood. A face is
*uncertain* when its calibrated top-class probability is below a threshold chosen on
validation. Both numbers live in the model's JSON under ``calibration``.
"""

from __future__ import annotations

import numpy as np

EPSILON = 1e-7


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Re-scale probabilities as softmax(log(p) / T); T=1 leaves them unchanged."""
    probs = np.asarray(probs, dtype=np.float64)
    if temperature == 1.0 or probs.size == 0:
        return probs.astype(np.float32)
    logits = np.log(np.clip(probs, EPSILON, 1.0)) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    scaled = np.exp(logits)
    return (scaled / scaled.sum(axis=-1, keepdims=True)).astype(np.float32)


def is_uncertain(calibrated_probs: np.ndarray, threshold: float) -> np.ndarray:
    """True where the calibrated top-class probability is below ``threshold``."""
    return np.asarray(calibrated_probs).max(axis=-1) < threshold
