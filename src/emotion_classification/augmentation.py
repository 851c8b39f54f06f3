"""Data augmentation as Keras preprocessing layers (backend-neutral, runs inside the graph).

Keras 3 no longer ships ``ImageDataGenerator``. The original study's settings map to layers:

========================  ==========================================================
ImageDataGenerator        Keras 3 layer
========================  ==========================================================
rotation_range=10         ``RandomRotation(10 / 360)`` (factor is a fraction of 2*pi)
zoom_range=0.2            ``RandomZoom(0.2)`` (aspect ratio kept; IDG zoomed axes apart)
width/height_shift 0.1    ``RandomTranslation(0.1, 0.1)``
horizontal_flip=True      ``RandomFlip("horizontal")``
fill_mode="nearest"       ``fill_mode="nearest"`` on every geometric layer
rescale=1/255             ``Rescaling(1 / 255)`` inside the model, not in augmentation
========================  ==========================================================

The layers are only active in training (``training=True``), so a model can keep them and
still predict deterministically; this project keeps them in a separate training wrapper.
"""

from __future__ import annotations

import keras
from keras import layers

ROTATION_DEGREES = 10.0
ZOOM_FRACTION = 0.2
SHIFT_FRACTION = 0.1


def seed_augmentation(seed: int = 42) -> keras.Sequential:
    """The original study's augmentation, as Keras layers."""
    return keras.Sequential([
        layers.RandomRotation(ROTATION_DEGREES / 360.0, fill_mode="nearest", seed=seed),
        layers.RandomZoom(ZOOM_FRACTION, fill_mode="nearest", seed=seed + 1),
        layers.RandomTranslation(SHIFT_FRACTION, SHIFT_FRACTION, fill_mode="nearest",
                                 seed=seed + 2),
        layers.RandomFlip("horizontal", seed=seed + 3),
    ], name="seed_augmentation")


def default_augmentation(seed: int = 42, erasing: bool = False) -> keras.Sequential:
    """The project's augmentation: the study's geometry, optionally plus random erasing.

    Random erasing (a small patch blanked) makes the net use the whole face rather than one
    cue such as the mouth, but Keras' ``RandomErasing`` cut training throughput here from
    about 256 to 150 images/s, so the default run leaves it off (``erase`` turns it on).
    """
    steps = list(seed_augmentation(seed).layers)
    if erasing:
        steps.append(layers.RandomErasing(factor=0.5, scale=(0.02, 0.15),
                                          value_range=(0, 255), seed=seed + 4))
    return keras.Sequential(steps, name="default_augmentation")


def build_augmentation(name: str, seed: int = 42) -> keras.Sequential:
    """Augmentation by name: ``seed``/``default`` (the same geometry), ``erase`` or ``none``."""
    if name in ("seed", "default"):
        return seed_augmentation(seed)
    if name == "erase":
        return default_augmentation(seed, erasing=True)
    if name == "none":
        return keras.Sequential([layers.Identity()], name="no_augmentation")
    raise ValueError(f"unknown augmentation {name!r}: use seed, default, erase or none")


def augment_examples(image, count: int, name: str = "seed", seed: int = 0):
    """``count`` augmented variants of one ``(48, 48, 1)`` image, as uint8 for display."""
    import numpy as np

    batch = np.repeat(np.asarray(image, np.float32)[None], count, axis=0)
    variants = build_augmentation(name, seed)(batch, training=True)
    return np.clip(keras.ops.convert_to_numpy(variants), 0, 255).astype(np.uint8)
