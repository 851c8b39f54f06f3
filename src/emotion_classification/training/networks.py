"""The network a config describes, and the training model around it: augmentation layers in
front, the loss, the optimizer and the per-class loss weights."""

from __future__ import annotations

import numpy as np

from emotion_classification.labels import CLASS_NAMES
from emotion_classification.training.config import (
    TrainConfig,
)
from emotion_classification.training.distribution import (
    seed_per_replica,
    synchronize_batch_norm,
)
from emotion_classification.training.schedules import make_optimizer


def class_weights(labels: np.ndarray, mode: str) -> np.ndarray:
    """Per-class loss weights, normalised so the average training sample weighs 1.

    ``sqrt`` (1/sqrt(count)) lifts rare classes such as disgust without the accuracy cost
    of full ``balanced`` (1/count) weighting.
    """
    counts = np.bincount(labels, minlength=len(CLASS_NAMES)).astype(np.float64)
    if mode == "none":
        weights = np.ones_like(counts)
    elif mode == "sqrt":
        weights = 1.0 / np.sqrt(np.maximum(counts, 1))
    elif mode == "balanced":
        weights = 1.0 / np.maximum(counts, 1)
    else:
        raise ValueError(f"unknown class_weighting {mode!r}: use none, sqrt or balanced")
    return weights / (weights[labels].mean() if len(labels) else 1.0)


def build_model_from_config(config: TrainConfig):
    """The (float32 or mixed) model the config describes, without augmentation."""
    from emotion_classification.models.architectures import emotion_cnn, resnet18, seed_cnn

    if config.arch == "seed_cnn":
        return seed_cnn(channels=config.channels)
    if config.arch == "resnet18":
        return resnet18(widths=tuple(config.widths), dropout=config.dropout,
                        crop_px=config.crop_px, channels=config.channels)
    if config.arch == "emotion_cnn":
        return emotion_cnn(widths=tuple(config.widths), convs_per_block=config.convs_per_block,
                           dropout=config.dropout, head_units=config.head_units,
                           block_dropout=config.block_dropout, crop_px=config.crop_px)
    raise ValueError(f"unknown --arch {config.arch!r}: use emotion_cnn, resnet18 or seed_cnn")


def use_jit(config: TrainConfig) -> bool:
    """XLA compilation: always on JAX (un-jitted JAX runs op by op, hundreds of times
    slower); on TensorFlow only when asked (TensorFlow's XLA could not compile the augmented
    training step on the CPU: 'Graph execution error')."""
    import keras

    return config.jit_compile or keras.backend.backend() == "jax"


def build_training_model(config: TrainConfig, steps_per_epoch: int):
    """Augmentation layers + model, compiled, optimizer built; returns ``(train_model, model)``."""
    import keras

    from emotion_classification.data.augmentation import build_augmentation
    from emotion_classification.training.fused_batch_norm import fuse_batch_norm

    model = build_model_from_config(config)
    synchronize_batch_norm(model)  # several replicas: statistics of the whole batch
    if config.fused_batch_norm and keras.backend.backend() == "tensorflow":
        fuse_batch_norm(model)
    inputs = keras.Input(model.input_shape[1:], name="pixels")
    train_model = keras.Model(inputs, model(build_augmentation(config.augmentation,
                                                               config.seed)(inputs)),
                              name=f"{model.name}_training")
    seed_per_replica(train_model)  # several replicas: each draws its own augmentation
    train_model.compile(
        optimizer=make_optimizer(config, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"], jit_compile=use_jit(config))
    train_model.optimizer.build(train_model.trainable_variables)
    return train_model, model


def float32_copy(model, config: TrainConfig):
    """Rebuild the model in float32 and copy the weights, so inference needs no bf16."""
    import keras

    keras.mixed_precision.set_global_policy("float32")
    clean = build_model_from_config(config)
    clean.set_weights(model.get_weights())
    return clean
