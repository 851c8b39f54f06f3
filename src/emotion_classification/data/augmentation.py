"""Data augmentation as Keras preprocessing layers (backend-neutral, runs inside the graph).

Keras 3 keeps ``ImageDataGenerator`` only as a deprecated ``tf.keras`` legacy API (the
training benchmark uses it to time the study's pipeline). The study's settings map to layers:

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

The chain of three Keras layers resamples every image three times (bilinear each time), so
the net trains on blurred faces but predicts on sharp ones. The project's default,
:class:`RandomAffine`, draws the same rotation, zoom, shift and flip but composes them into
one affine matrix and resamples once with ``keras.ops.image.affine_transform``: sharper
training faces, and one transform instead of three per batch.
"""

from __future__ import annotations

import keras
from keras import layers

ROTATION_DEGREES = 10.0
ZOOM_FRACTION = 0.2
SHIFT_FRACTION = 0.1


@keras.saving.register_keras_serializable(package="emotion_classification")
class RandomAffine(layers.Layer):
    """Random rotation, zoom, shift and horizontal flip in a single resampling.

    Parameters match the study's ``ImageDataGenerator`` settings: ``rotation_degrees``
    (uniform in +-), ``zoom_fraction`` (scale uniform in 1 +- that, both axes together),
    ``shift_fraction`` of the image size (each axis), a mirror with probability 0.5, and
    nearest fill at the borders. Works on every Keras backend; identity at inference.
    """

    def __init__(self, rotation_degrees: float = ROTATION_DEGREES,
                 zoom_fraction: float = ZOOM_FRACTION, shift_fraction: float = SHIFT_FRACTION,
                 flip: bool = True, seed: int | None = None, **kwargs):
        kwargs.setdefault("dtype", "float32")  # pixels stay float32 under mixed precision
        super().__init__(**kwargs)
        self.rotation_degrees = rotation_degrees
        self.zoom_fraction = zoom_fraction
        self.shift_fraction = shift_fraction
        self.flip = flip
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=None):
        if not training:
            return images
        ops = keras.ops
        batch = ops.shape(images)[0]
        height, width = images.shape[1], images.shape[2]

        def uniform(low, high):
            return keras.random.uniform((batch,), low, high, seed=self.seed_generator)

        angle = uniform(-1.0, 1.0) * (self.rotation_degrees * 3.141592653589793 / 180.0)
        scale = uniform(1.0 - self.zoom_fraction, 1.0 + self.zoom_fraction)
        shift_x = uniform(-1.0, 1.0) * (self.shift_fraction * width)
        shift_y = uniform(-1.0, 1.0) * (self.shift_fraction * height)
        mirror = ops.where(uniform(0.0, 1.0) < 0.5, -1.0, 1.0) if self.flip else ops.ones((batch,))
        cos, sin = ops.cos(angle) / scale, ops.sin(angle) / scale
        # output pixel (x, y) samples input (a0 x + a1 y + a2, b0 x + b1 y + b2): rotate and
        # scale about the centre, mirror x, then shift.
        a0, a1, b0, b1 = cos * mirror, -sin, sin * mirror, cos
        centre_x, centre_y = (width - 1) / 2.0, (height - 1) / 2.0
        a2 = centre_x - a0 * centre_x - a1 * centre_y + shift_x
        b2 = centre_y - b0 * centre_x - b1 * centre_y + shift_y
        zeros = ops.zeros((batch,))
        transform = ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
        return ops.image.affine_transform(images, transform, interpolation="bilinear",
                                          fill_mode="nearest")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rotation_degrees": self.rotation_degrees,
                "zoom_fraction": self.zoom_fraction, "shift_fraction": self.shift_fraction,
                "flip": self.flip, "seed": self.seed}


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
    """The project's augmentation: the study's geometry in one resampling, optionally erasing.

    Random erasing (a small patch blanked) makes the net use the whole face rather than one
    cue such as the mouth, but Keras' ``RandomErasing`` slows training on a CPU markedly
    (docs/speed.md), so the default run leaves it off (``erase`` turns it on).
    """
    steps = [RandomAffine(seed=seed, name="random_affine")]
    if erasing:
        steps.append(layers.RandomErasing(factor=0.5, scale=(0.02, 0.15),
                                          value_range=(0, 255), seed=seed + 4))
    return keras.Sequential(steps, name="default_augmentation")


def build_augmentation(name: str, seed: int = 42) -> keras.Sequential:
    """Augmentation by name: ``seed`` (the study's three layers), ``default`` (the same
    geometry in one resampling), ``erase`` (default plus random erasing) or ``none``."""
    if name == "seed":
        return seed_augmentation(seed)
    if name == "default":
        return default_augmentation(seed)
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
