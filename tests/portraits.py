"""A check that two runs on the same portraits agree (the photos come from
:mod:`emotion_classification.evaluation.portraits`)."""

from __future__ import annotations

import pytest

from emotion_classification.evaluation.portraits import write_portraits

__all__ = ["FLOAT_TOLERANCE", "assert_same_images", "write_portraits"]

#: Probabilities may differ by float noise when the classifier's batches are grouped apart.
FLOAT_TOLERANCE = 1e-5


def assert_same_images(got: list[dict], want: list[dict]) -> None:
    """The same images, files and faces; scores equal within float noise (the classifier's
    batches may be grouped differently after a resume)."""
    assert len(got) == len(want)
    for image, other in zip(got, want, strict=True):
        assert {k: v for k, v in image.items() if k != "faces"} == {
            k: v for k, v in other.items() if k != "faces"}
        assert len(image["faces"]) == len(other["faces"])
        for face, same in zip(image["faces"], other["faces"], strict=True):
            for key in ("face", "box", "crop", "top_emotion", "uncertain", "landmarks"):
                assert face[key] == same[key], key
            for key in ("confidence", "top_score"):
                assert face[key] == pytest.approx(same[key], abs=FLOAT_TOLERANCE)
            assert face["emotions"] == pytest.approx(same["emotions"], abs=FLOAT_TOLERANCE)
