"""Box styles: one colour and one line style per uncertainty reason, and their legend."""

from __future__ import annotations

import numpy as np
import pytest

from emotion_classification.inference.drawing import (
    BOX_STYLES,
    CONFIDENT_RGB,
    DETECTOR_UNSURE_RGB,
    UNCERTAIN_RGB,
    annotate,
    legend_text,
)
from emotion_classification.inference.uncertainty import REASONS, record_reason, uncertain_reason

FACE = {"top_emotion": "happy", "top_score": 0.9}
#: One box per reason, side by side on a black 220 x 400 image.
BOXES = {"": [20, 40, 60, 60], "classifier": [110, 40, 60, 60], "detector": [200, 40, 60, 60],
         "detector+classifier": [290, 40, 60, 60]}


def drawn_faces(legend: bool = True) -> np.ndarray:
    records = [{**FACE, "box": box, "uncertain": bool(reason), "uncertain_reason": reason}
               for reason, box in BOXES.items()]
    return annotate(np.zeros((220, 400, 3), np.uint8), records, legend=legend)


def left_edge(image: np.ndarray, box: list[int]) -> np.ndarray:
    """The pixels of a box's left edge below its label, as RGB tuples."""
    x, y, w, h = box
    return image[y + 1:y + h - 1, x]


def test_the_reason_rule_and_old_records():
    assert [uncertain_reason(c, p, 0.99, 0.5) for c, p in
            ((0.995, 0.9), (0.98, 0.9), (0.995, 0.3), (0.98, 0.3))] == [
        "", "detector", "classifier", "detector+classifier"]
    assert record_reason({"uncertain": True}) == "classifier"  # written before reasons
    assert record_reason({"uncertain": False}) == ""
    assert set(BOX_STYLES) == set(REASONS)


def test_each_reason_has_its_own_colour_and_line():
    image = drawn_faces(legend=False)
    confident = left_edge(image, BOXES[""])
    assert (confident == CONFIDENT_RGB).all()  # solid green
    assert (left_edge(image, BOXES["classifier"]) == UNCERTAIN_RGB).all()  # solid red
    dashed = left_edge(image, BOXES["detector"])
    orange = (dashed == DETECTOR_UNSURE_RGB).all(axis=1)
    assert 0.3 < orange.mean() < 0.7 and not (dashed == UNCERTAIN_RGB).all(axis=1).any()
    both = (left_edge(image, BOXES["detector+classifier"]) == UNCERTAIN_RGB).all(axis=1)
    assert 0.3 < both.mean() < 0.7  # dashed red


def test_legend_names_the_styles_present_in_the_lower_left_corner():
    with_legend, without = drawn_faces(), drawn_faces(legend=False)
    corner = (slice(130, 220), slice(0, 150))
    assert without[corner].max() == 0 and with_legend[corner].max() > 0
    assert (with_legend[corner] == CONFIDENT_RGB).all(axis=-1).any()
    assert (with_legend[corner] == DETECTOR_UNSURE_RGB).all(axis=-1).any()
    one = annotate(np.zeros((220, 400, 3), np.uint8),
                   [{**FACE, "box": BOXES[""], "uncertain": False, "uncertain_reason": ""}])
    assert (one[corner] > 0).any(axis=-1).sum() < (with_legend[corner] > 0).any(axis=-1).sum()
    assert np.array_equal(annotate(np.zeros((50, 50, 3), np.uint8), []),
                          np.zeros((50, 50, 3), np.uint8))  # no faces, nothing drawn


@pytest.mark.parametrize("threshold", [None, 0.56])
def test_legend_text_says_what_each_style_means(threshold):
    lines = legend_text(threshold, confident_detection=0.99)
    assert [line.split(":")[0] for line in lines] == [BOX_STYLES[r].name for r in REASONS]
    assert "0.99" in lines[1] and "detector" in lines[1]
    assert ("0.56" if threshold else "uncertain_threshold") in lines[2]
