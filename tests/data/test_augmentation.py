"""Augmentation layers: the study's settings and the project's single-resampling RandomAffine."""

from __future__ import annotations

import keras
import numpy as np

from emotion_classification.data.augmentation import (
    RandomAffine,
    augment_examples,
    build_augmentation,
)


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


def test_erase_blanks_a_box_on_some_faces_and_trains_the_resnet():
    """``--augmentation erase``: the default geometry, then on some faces one rectangle of
    2-15% of the face replaced; the same seed draws the same geometry with or without it."""
    from emotion_classification.training.config import TrainConfig
    from emotion_classification.training.networks import build_training_model

    batch = np.repeat(smooth_face()[None], 64, axis=0)
    plain = keras.ops.convert_to_numpy(build_augmentation("default", seed=3)(batch, training=True))
    erased = keras.ops.convert_to_numpy(build_augmentation("erase", seed=3)(batch, training=True))
    changed = 0
    for before, after in zip(plain, erased, strict=True):
        differs = ~np.isclose(before, after)[..., 0]
        if differs.any():
            changed += 1
            rows, cols = np.nonzero(differs)
            box_px = (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
            assert differs.sum() >= 0.9 * box_px  # one filled rectangle
            assert 0.02 * 48 * 48 <= box_px <= 0.16 * 48 * 48
    assert 4 <= changed <= 40
    config = TrainConfig(arch="resnet18", widths=(16, 32), augmentation="erase",
                         precision="float32", warmup_epochs=0)
    train_model, model = build_training_model(config, steps_per_epoch=1)
    faces = np.random.default_rng(0).uniform(0, 255, (16, 48, 48, 1)).astype("float32")
    targets = np.eye(7, dtype="float32")[np.arange(16) % 7]
    before = model.get_layer("stem_conv").get_weights()[0].copy()
    loss = train_model.train_on_batch(faces, targets)
    assert np.all(np.isfinite(loss))  # loss and accuracy
    assert not np.allclose(model.get_layer("stem_conv").get_weights()[0], before)
