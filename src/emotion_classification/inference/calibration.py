"""Calibration: temperature scaling fitted on validation, ECE, and the 'uncertain' rule.

The model's softmax is sharpened or softened by one temperature ``T`` fitted on the
validation split (never on test) by minimising the negative log-likelihood. A face is
*uncertain* when its calibrated top-class probability is below a threshold chosen on
validation. Both numbers live in the model's JSON under ``calibration``.

Applying calibration (:func:`apply_temperature`, :func:`is_uncertain`) needs only NumPy, so
inference stays light; fitting it imports SciPy and pandas when first called.
"""

from __future__ import annotations

import numpy as np

EPSILON = 1e-7
ECE_BINS = 15
#: The uncertain threshold is the lowest calibrated top probability at which the faces at
#: or above it are right at least this often on validation.
TARGET_CONFIDENT_ACCURACY = 0.80
#: At least this many faces must stay confident for a threshold to count as reached.
MIN_CONFIDENT_FACES = 20
TEMPERATURE_RANGE = (0.05, 20.0)
THRESHOLD_STEP = 0.01


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


def negative_log_likelihood(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean ``-log p(true class)``: the loss temperature scaling minimises."""
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], EPSILON, 1))))


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising validation NLL (searched on a log scale)."""
    from scipy.optimize import minimize_scalar

    result = minimize_scalar(
        lambda log_t: negative_log_likelihood(apply_temperature(probs, float(np.exp(log_t))),
                                              labels),
        bounds=tuple(np.log(TEMPERATURE_RANGE)), method="bounded")
    return float(np.exp(result.x))


def confidence_bins(probs: np.ndarray, labels: np.ndarray,
                    bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Top probability, correctness, bin index of every face, and the bin edges."""
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    return confidence, correct, which, edges


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray,
                               bins: int = ECE_BINS) -> float:
    """ECE: bin faces by top probability; weighted mean |accuracy - confidence| per bin."""
    confidence, correct, which, _ = confidence_bins(probs, labels, bins)
    error = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            error += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(error)


def reliability_bins(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS):
    """Per-bin confidence, accuracy and count as a DataFrame, for the reliability diagram."""
    import pandas as pd

    confidence, correct, which, edges = confidence_bins(probs, labels, bins)
    rows = [{"bin_low": edges[b], "bin_high": edges[b + 1], "count": int((which == b).sum()),
             "confidence": float(confidence[which == b].mean()) if (which == b).any() else np.nan,
             "accuracy": float(correct[which == b].mean()) if (which == b).any() else np.nan}
            for b in range(bins)]
    return pd.DataFrame(rows)


def choose_uncertain_threshold(probs: np.ndarray, labels: np.ndarray,
                               target: float = TARGET_CONFIDENT_ACCURACY) -> float:
    """Lowest top-probability threshold whose confident faces reach ``target`` accuracy."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    for threshold in np.round(np.arange(0.0, 1.0, THRESHOLD_STEP), 2):
        kept = confidence >= threshold
        if kept.sum() >= MIN_CONFIDENT_FACES and correct[kept].mean() >= target:
            return float(threshold)
    return 1.0


def uncertain_split_accuracy(probs: np.ndarray, labels: np.ndarray, threshold: float) -> dict:
    """Accuracy and share of the confident and the uncertain faces under the rule."""
    uncertain = is_uncertain(probs, threshold)
    correct = probs.argmax(axis=1) == labels

    def part(mask):
        return {"n": int(mask.sum()), "share": round(float(mask.mean()), 4) if mask.size else 0.0,
                "accuracy": round(float(correct[mask].mean()), 4) if mask.any() else None}

    return {"threshold": threshold, "confident": part(~uncertain), "uncertain": part(uncertain)}
