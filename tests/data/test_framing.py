"""Detection framing: training faces re-cut as predict cuts a face from a photo."""

from __future__ import annotations

import numpy as np

from emotion_classification.data.framing import (
    detected_framed_epoch,
    detection_framed,
    framed_epoch,
)


def faces(count: int = 16) -> np.ndarray:
    """Faces with structure (a bright square off-centre), float 0..255 as training sees them."""
    images = np.full((count, 48, 48, 1), 90.0, np.float32)
    images[:, 8:20, 28:40] = 230.0
    return images


def test_framing_is_a_function_of_seed_and_epoch():
    x = faces()
    first = framed_epoch(x, 0.5, 0.05, seed=3, epoch=2)
    np.testing.assert_array_equal(first, framed_epoch(x, 0.5, 0.05, seed=3, epoch=2))
    assert not np.array_equal(first, framed_epoch(x, 0.5, 0.05, seed=3, epoch=3))


def test_probability_sets_the_share_of_faces_re_cut():
    x = faces(400)
    changed = np.any(framed_epoch(x, 0.5, 0.05, seed=0, epoch=1) != x, axis=(1, 2, 3))
    assert 0.4 < changed.mean() < 0.6
    np.testing.assert_array_equal(framed_epoch(x, 0.0, 0.05, seed=0, epoch=1), x)


def test_a_framed_face_keeps_its_shape_type_and_range():
    face = faces(1)[0, ..., 0].astype(np.uint8)
    framed = detection_framed(face, np.random.default_rng(0), margin=0.05)
    assert framed.shape == (48, 48) and framed.dtype == np.uint8
    assert framed.max() > 200 and framed.min() >= 0  # the bright square survives


def test_frames_zoom_out_on_average_as_mtcnn_boxes_do():
    """MTCNN's squared box is taller than FER2013's frame: the face's square ends up smaller."""
    face = np.zeros((48, 48), np.uint8)
    face[12:36, 12:36] = 255
    rng = np.random.default_rng(1)
    bright = [np.mean(detection_framed(face, rng, 0.05) > 128) for _ in range(200)]
    assert np.mean(bright) < np.mean(face > 128)


def real_crops(count: int, margins: int = 2) -> np.ndarray:
    """Stand-ins for MTCNN's crops: each face's crop at margin m is filled with 10 * (m + 1)."""
    crops = np.zeros((margins, count, 48, 48), np.uint8)
    for margin in range(margins):
        crops[margin] = 10 * (margin + 1)
    return crops


def test_real_crops_replace_only_faces_mtcnn_found():
    x = faces(400)
    found = np.arange(400) % 2 == 0
    framed = detected_framed_epoch(x, real_crops(400), found, 1.0, seed=0, epoch=1)
    changed = np.any(framed != x, axis=(1, 2, 3))
    np.testing.assert_array_equal(changed, found)


def test_real_crops_come_from_both_margins_blurred_and_compressed():
    x = faces(400)
    framed = detected_framed_epoch(x, real_crops(400), np.ones(400, bool), 1.0, seed=0, epoch=1)
    means = framed.mean(axis=(1, 2, 3))
    assert np.all(np.minimum(np.abs(means - 10), np.abs(means - 20)) < 1.5)  # a crop, degraded
    assert 0.4 < np.mean(means < 15) < 0.6  # the margin is drawn evenly


def test_real_crop_framing_is_a_function_of_seed_and_epoch():
    x, crops, found = faces(64), real_crops(64), np.ones(64, bool)
    first = detected_framed_epoch(x, crops, found, 0.5, seed=3, epoch=2)
    np.testing.assert_array_equal(first, detected_framed_epoch(x, crops, found, 0.5, 3, 2))
    assert not np.array_equal(first, detected_framed_epoch(x, crops, found, 0.5, 3, 3))
    changed = np.any(first != x, axis=(1, 2, 3))
    assert 0.3 < changed.mean() < 0.7
