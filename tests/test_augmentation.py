"""Augmentation layers: the study's settings and the project's single-resampling RandomAffine."""

from __future__ import annotations

import keras
import numpy as np

from emotion_classification.augmentation import RandomAffine, augment_examples, build_augmentation


def smooth_face() -> np.ndarray:
    """A 48x48 image with detail at every scale (a ramp plus a checkerboard)."""
    ramp = np.linspace(30, 220, 48, dtype=np.float32)[None, :].repeat(48, 0)
    checker = (np.indices((48, 48)).sum(0) % 2) * 30.0
    return (ramp + checker).astype(np.float32)[..., None]


def sharpness(images: np.ndarray) -> float:
    """Mean absolute difference between horizontal neighbours (high = sharp)."""
    return float(np.abs(np.diff(images.astype(np.float32), axis=2)).mean())


def test_random_affine_is_identity_at_inference_and_random_in_training():
    layer = RandomAffine(seed=1)
    batch = np.repeat(smooth_face()[None], 8, axis=0)
    assert np.array_equal(keras.ops.convert_to_numpy(layer(batch, training=False)), batch)
    out = keras.ops.convert_to_numpy(layer(batch, training=True))
    assert out.shape == batch.shape and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 255  # nearest fill, bilinear: no overshoot
    assert len({o.tobytes() for o in out}) == 8  # every image gets its own transform


def test_random_affine_with_no_range_returns_the_image_or_its_mirror():
    face = smooth_face()
    layer = RandomAffine(rotation_degrees=0, zoom_fraction=0, shift_fraction=0, seed=0)
    out = keras.ops.convert_to_numpy(layer(np.repeat(face[None], 16, axis=0), training=True))
    for image in out:
        assert np.allclose(image, face, atol=1e-3) or np.allclose(image, face[:, ::-1], atol=1e-3)
    assert any(np.allclose(image, face[:, ::-1], atol=1e-3) for image in out)


def test_one_resampling_keeps_faces_sharper_than_the_study_chain():
    face = smooth_face()
    default = augment_examples(face, 64, "default", seed=3)
    chained = augment_examples(face, 64, "seed", seed=3)
    assert sharpness(default) > 1.2 * sharpness(chained)


def test_random_affine_survives_a_model_save_and_load(tmp_path):
    inputs = keras.Input((48, 48, 1))
    model = keras.Model(inputs, build_augmentation("default", seed=5)(inputs))
    model.save(tmp_path / "aug.keras")
    loaded = keras.models.load_model(tmp_path / "aug.keras")
    assert isinstance(loaded.layers[-1].layers[0], RandomAffine)
    assert loaded.layers[-1].layers[0].get_config()["seed"] == 5
