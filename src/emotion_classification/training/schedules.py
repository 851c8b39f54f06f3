"""The optimizer and its learning-rate schedule for a run: warm-up then cosine decay, or the
study's plateau rule (see :mod:`.early_stopping`)."""

from __future__ import annotations

from emotion_classification.training.config import (
    TrainConfig,
)


def learning_rate(config: TrainConfig, steps_per_epoch: int):
    """Warm-up then cosine decay to zero, or a constant rate for the plateau rule."""
    import keras

    if config.schedule == "plateau":
        return config.learning_rate
    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(config.warmup_epochs * steps_per_epoch, total - 1)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate / 10 if warmup else config.learning_rate,
        decay_steps=total - warmup, warmup_target=config.learning_rate if warmup else None,
        warmup_steps=warmup)


def make_optimizer(config: TrainConfig, steps_per_epoch: int):
    """The configured Keras optimizer (with a weight moving average if asked)."""
    import keras

    rate = learning_rate(config, steps_per_epoch)
    ema = {"use_ema": True, "ema_momentum": config.ema_momentum,
           "ema_overwrite_frequency": steps_per_epoch} if config.ema_momentum else {}
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=config.weight_decay, **ema)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(rate, **ema)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9, nesterov=True,
                                    weight_decay=config.weight_decay, **ema)
    raise ValueError(f"unknown optimizer {config.optimizer!r}: use adamw, adam or sgd")
