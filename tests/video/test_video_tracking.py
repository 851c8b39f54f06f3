"""Optical-flow box tracking and per-face smoothing, on real pixels and exact arithmetic."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from PIL import Image

from emotion_classification.inference.detection import Face
from emotion_classification.inference.images import sample_photo
from emotion_classification.video.optical_flow import follow_face
from emotion_classification.video.smoothing import EmaSmoother, ema_weight

#: Grace Hopper's face in matplotlib's sample portrait (512 x 600), found by MTCNN.
PORTRAIT_FACE = Face((178, 110, 173, 220), 0.989, {"left_eye": (220.0, 190.0)})


@pytest.fixture(scope="module")
def portrait_gray() -> np.ndarray:
    return np.asarray(Image.open(sample_photo()).convert("L"))


def test_flow_moves_the_box_with_the_picture(portrait_gray):
    shifted = np.roll(portrait_gray, shift=(4, 7), axis=(0, 1))  # 7 px right, 4 px down
    moved = follow_face(portrait_gray, shifted, PORTRAIT_FACE)
    x, y, w, h = PORTRAIT_FACE.box
    assert moved.box == pytest.approx((x + 7, y + 4, w, h), abs=1)
    assert moved.landmarks["left_eye"] == pytest.approx((227.0, 194.0), abs=1)
    assert moved.confidence == PORTRAIT_FACE.confidence  # kept from the detection


def test_flow_scales_the_box_when_the_face_grows(portrait_gray):
    height, width = portrait_gray.shape
    matrix = cv2.getRotationMatrix2D((264.5, 220.0), 0.0, 1.1)  # zoom 10% about the centre
    zoomed = cv2.warpAffine(portrait_gray, matrix, (width, height))
    moved = follow_face(portrait_gray, zoomed, PORTRAIT_FACE)
    assert moved.box[2] == pytest.approx(1.1 * 173, abs=4)
    assert moved.box[3] == pytest.approx(1.1 * 220, abs=4)


def test_flow_loses_a_face_that_is_gone(portrait_gray):
    assert follow_face(portrait_gray, np.zeros_like(portrait_gray), PORTRAIT_FACE) is None
    flat = np.full_like(portrait_gray, 128)
    assert follow_face(flat, flat, PORTRAIT_FACE) is None  # nothing to follow


def test_smoothing_does_not_depend_on_the_frame_rate():
    """A step from sad to happy: after one time constant, 1 - 1/e of the way at any fps."""
    sad, happy = np.array([0.0, 1.0]), np.array([1.0, 0.0])
    for fps in (10, 30, 60):
        smoother = EmaSmoother(time_constant_s=0.5)
        smoother.update(1, 0.0, sad)
        for frame in range(1, round(0.5 * fps) + 1):
            value = smoother.update(1, frame / fps, happy)
        assert value[0] == pytest.approx(1 - math.exp(-1))
        assert value.sum() == pytest.approx(1.0)


def test_smoothing_is_per_face_and_off_at_zero():
    smoother = EmaSmoother(time_constant_s=1.0)
    smoother.update(1, 0.0, np.array([1.0, 0.0]))
    assert smoother.update(2, 0.1, np.array([0.0, 1.0])) == pytest.approx([0.0, 1.0])
    off = EmaSmoother(time_constant_s=0.0)
    off.update(1, 0.0, np.array([1.0, 0.0]))
    assert off.update(1, 0.1, np.array([0.0, 1.0])) == pytest.approx([0.0, 1.0])
    assert ema_weight(0.0, 1.0) == 0.0 and ema_weight(1.0, 0.0) == 1.0
