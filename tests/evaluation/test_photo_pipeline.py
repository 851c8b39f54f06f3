"""The photo pipeline benchmark's pieces: FER2013 faces set into photos and cut back out."""

from __future__ import annotations

import cv2
import numpy as np

from emotion_classification.evaluation.photo_pipeline import (
    Frame,
    embed_in_photo,
    faces_from_array,
    faces_to_array,
    landmark_template,
    planted_face,
)
from emotion_classification.inference.detection import LANDMARK_NAMES, Face, template_crop

TEMPLATE = np.array([[0.32, 0.39], [0.68, 0.39], [0.5, 0.6], [0.35, 0.78], [0.66, 0.77]])


def textured_face(seed: int = 0) -> np.ndarray:
    """A 48x48 grayscale image with structure at every scale (so resampling errors show)."""
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (48, 48), dtype=np.uint8), (3, 3), 0)


def test_the_embedded_face_is_the_original_enlarged_at_its_frame():
    gray = textured_face()
    rgb, frame = embed_in_photo(gray, upscale=4, border_fraction=0.5)
    assert rgb.shape == (384, 384, 3) and frame == Frame(96, 96, 192)
    region = rgb[frame.y:frame.y + frame.side, frame.x:frame.x + frame.side, 0]
    back = cv2.resize(region, (48, 48), interpolation=cv2.INTER_AREA)
    assert np.abs(back.astype(int) - gray.astype(int)).mean() < 4


def test_the_planted_face_is_the_confident_one_near_the_frame_centre():
    frame = Frame(96, 96, 192)
    phantom = Face((0, 0, 90, 90), 0.999)  # in the border
    planted = Face((130, 120, 130, 160), 0.95)
    weaker = Face((140, 125, 120, 150), 0.91)
    assert planted_face([phantom, weaker, planted], frame) is planted
    assert planted_face([phantom], frame) is None


def test_detections_survive_the_cache_round_trip():
    faces = [Face((1, 2, 30, 40), 0.97, {name: (float(i), float(i + 1))
                                         for i, name in enumerate(LANDMARK_NAMES)}), None]
    back = faces_from_array(faces_to_array(faces))
    assert back[1] is None
    assert back[0].box == faces[0].box and back[0].landmarks == faces[0].landmarks
    assert abs(back[0].confidence - 0.97) < 1e-12


def test_template_crop_undoes_a_rotated_scaled_shifted_placement():
    gray = textured_face(1)
    side_px = 48 * 3
    big = cv2.resize(gray, (side_px, side_px), interpolation=cv2.INTER_CUBIC)
    # Place the face rotated by 12 degrees about its centre into a larger canvas.
    placement = cv2.getRotationMatrix2D((side_px / 2, side_px / 2), 12, 1.0)
    placement[:, 2] += (60, 40)
    canvas = cv2.warpAffine(big, placement, (300, 260), borderMode=cv2.BORDER_REPLICATE)
    points = np.c_[TEMPLATE * side_px, np.ones(5)] @ placement.T
    face = Face((60, 40, side_px, side_px), 0.99, dict(zip(LANDMARK_NAMES,
                                                           map(tuple, points), strict=True)))
    crop = template_crop(canvas, face, TEMPLATE)
    assert crop.shape == (48, 48)
    inner = slice(6, 42)  # the rotation's replicated corners are not the face
    assert np.abs(crop[inner, inner].astype(int) - gray[inner, inner].astype(int)).mean() < 8
    assert template_crop(canvas, Face((0, 0, 10, 10), 0.99), TEMPLATE) is None


def test_the_landmark_template_is_the_median_layout_in_frame_units():
    frame = Frame(10, 20, 100)
    faces = [Face((0, 0, 1, 1), 0.99, {name: (10 + 100 * x + shift, 20 + 100 * y)
                                       for name, (x, y) in zip(LANDMARK_NAMES, TEMPLATE,
                                                               strict=True)})
             for shift in (-2.0, 0.0, 2.0)] + [None]
    assert np.allclose(landmark_template(faces, frame), TEMPLATE)
