"""What ends an epoch's bookkeeping: early stopping on validation accuracy (keeping the best
weights) and the study's learning-rate plateau rule on validation loss."""

from __future__ import annotations

from emotion_classification.training.checkpoint import Progress
from emotion_classification.training.config import TrainConfig

#: The learning-rate plateau rule (the study's ReduceLROnPlateau): factor, patience, min delta.
PLATEAU_FACTOR, PLATEAU_PATIENCE, PLATEAU_MIN_DELTA = 0.2, 2, 1e-4


def after_epoch(progress: Progress, logs: dict, model, best: list | None,
                config: TrainConfig, optimizer) -> list | None:
    """Advance ``progress`` by one epoch: early stopping on validation accuracy (keeping the
    best weights, as Keras' ``EarlyStopping(restore_best_weights=True)``), and the plateau
    rule on validation loss when that schedule is chosen; returns the best weights."""
    progress.epochs_done += 1
    progress.history.append(logs)
    if logs["val_accuracy"] > progress.best_accuracy:
        progress.best_accuracy, progress.best_epoch, progress.wait = (
            logs["val_accuracy"], progress.epochs_done, 0)
        best = model.get_weights()
    else:
        progress.wait += 1
        progress.stopped = progress.wait >= config.early_stopping_patience
    if config.schedule == "plateau":
        apply_plateau_rule(progress, logs["val_loss"], optimizer)
    return best if best is not None else model.get_weights()


def apply_plateau_rule(progress: Progress, val_loss: float, optimizer) -> None:
    """Divide the learning rate by 5 after two epochs without a lower validation loss."""
    if val_loss < progress.plateau_best - PLATEAU_MIN_DELTA:
        progress.plateau_best, progress.plateau_wait = val_loss, 0
    else:
        progress.plateau_wait += 1
        if progress.plateau_wait >= PLATEAU_PATIENCE:
            optimizer.learning_rate = float(optimizer.learning_rate) * PLATEAU_FACTOR
            progress.plateau_wait = 0
    progress.learning_rate = float(optimizer.learning_rate)
