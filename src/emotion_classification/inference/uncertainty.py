"""Why a face is uncertain: the detector, the classifier, or both.

A face record's ``uncertain_reason`` is one of :data:`REASONS`:

* ``""``: confident (MTCNN at least ``confident_detection`` sure and the calibrated top
  probability at least the model's ``uncertain_threshold``);
* ``"detector"``: MTCNN is less sure than ``confident_detection`` that this is a face (off
  unless a caller sets it: the original study used 0.99);
* ``"classifier"``: the calibrated top probability is below ``uncertain_threshold``, so the
  emotion label is a guess;
* ``"detector+classifier"``: both.

``uncertain`` is true exactly when the reason is not empty. Drawings give each reason its own
box style (:mod:`.drawing`).
"""

from __future__ import annotations

REASON_NONE = ""
REASON_DETECTOR = "detector"
REASON_CLASSIFIER = "classifier"
REASON_BOTH = "detector+classifier"
REASONS = (REASON_NONE, REASON_DETECTOR, REASON_CLASSIFIER, REASON_BOTH)


def uncertain_reason(detector_confidence: float, top_probability: float,
                     confident_detection: float, uncertain_threshold: float) -> str:
    """The reason a face is uncertain (one of :data:`REASONS`; empty when confident)."""
    detector = detector_confidence < confident_detection
    classifier = top_probability < uncertain_threshold
    if detector and classifier:
        return REASON_BOTH
    if detector:
        return REASON_DETECTOR
    if classifier:
        return REASON_CLASSIFIER
    return REASON_NONE


def record_reason(record: dict) -> str:
    """A face record's reason; records written before reasons existed count as classifier
    doubt when flagged uncertain (the only red they knew)."""
    if "uncertain_reason" in record:
        return record["uncertain_reason"] or REASON_NONE
    return REASON_CLASSIFIER if record.get("uncertain") else REASON_NONE
