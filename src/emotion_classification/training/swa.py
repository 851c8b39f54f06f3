"""Weight averaging and batch-norm statistics: stochastic weight averaging (SWA) and the
recalibration every finished run goes through.

SWA (Izmailov et al. 2018) keeps the mean of the weights at the end of each epoch from
``--swa-start-epoch`` on; late in a long schedule the epochs' weights wander around a wide
minimum, and their mean sits nearer its centre, which tends to generalise better than any
one of them. The mean of batch-norm statistics is not the statistics of the mean weights,
so they are recomputed afterwards (:func:`recalibrate_batch_norm`). The running sum is kept
in float64 and saved in each epoch's checkpoint with its count, so a resumed run averages
exactly the epochs an uninterrupted one does.
"""

from __future__ import annotations

import numpy as np

from emotion_classification.models.runtimes import PREDICT_BATCH_SIZE

#: Name of the average's arrays in the checkpoint state: the count, then one sum per weight.
SWA_STATE = "swa"


class WeightAverage:
    """The running mean of a model's weights over the epochs from ``start_epoch`` (from 1;
    0 turns averaging off)."""

    def __init__(self, start_epoch: int, sums: list[np.ndarray] | None = None, count: int = 0):
        self.start_epoch, self.sums, self.count = start_epoch, sums, count

    @classmethod
    def from_state(cls, start_epoch: int, state: dict[str, list[np.ndarray]]) -> WeightAverage:
        """The average saved in a checkpoint's state (none there: an empty one)."""
        saved = state.get(SWA_STATE)
        if not saved:
            return cls(start_epoch)
        return cls(start_epoch, [np.asarray(s, np.float64) for s in saved[1:]], int(saved[0]))

    def add(self, epoch: int, weights: list[np.ndarray]) -> None:
        """Count the weights at the end of ``epoch`` (from 1) if averaging has started."""
        if not self.start_epoch or epoch < self.start_epoch:
            return
        if self.sums is None:
            self.sums = [np.zeros(np.shape(w), np.float64) for w in weights]
        for total, weight in zip(self.sums, weights, strict=True):
            total += weight
        self.count += 1

    def mean(self, like: list[np.ndarray]) -> list[np.ndarray]:
        """The mean weights, in the dtypes of ``like`` (the model's weights)."""
        return [(total / self.count).astype(np.asarray(w).dtype)
                for total, w in zip(self.sums, like, strict=True)]

    def state(self) -> dict[str, list[np.ndarray]]:
        """What the checkpoint stores: the count and the sums (nothing before the start)."""
        if not self.count:
            return {}
        return {SWA_STATE: [np.array(self.count, np.int64), *self.sums]}


def recalibrate_batch_norm(model, images: np.ndarray, batch_size: int = PREDICT_BATCH_SIZE,
                           seed: int = 0) -> None:
    """Recompute every batch-norm layer's moving mean and variance on un-augmented images.

    During training every image passes through bilinear resamplings (rotation, zoom, shift),
    which blur it, so the moving statistics describe blurred faces while inference sees
    sharp ones; after SWA they are also averages over other weights than the model's. One
    forward pass over the clean training images in training mode, with a cumulative
    average (momentum ``k / (k + 1)`` at batch ``k``) and dropout off, replaces the
    statistics by those of the images the model will really see. Weights are not changed.
    """
    import keras

    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    momenta, rates = [n.momentum for n in norms], [d.rate for d in dropouts]
    for layer in dropouts:
        layer.rate = 0.0
    order = np.random.default_rng(seed).permutation(len(images))
    try:
        for step, start in enumerate(range(0, len(images), batch_size)):
            for layer in norms:
                layer.momentum = step / (step + 1)
            model(images[order[start:start + batch_size]], training=True)
    finally:
        for layer, momentum in zip(norms, momenta, strict=True):
            layer.momentum = momentum
        for layer, rate in zip(dropouts, rates, strict=True):
            layer.rate = rate


def best_epoch_accuracy(model, best: list[np.ndarray], x_train: np.ndarray, x_val: np.ndarray,
                        val_labels: np.ndarray, seed: int) -> float:
    """Validation accuracy of the best single epoch's weights, put into ``model`` (a spare
    float32 copy) and recalibrated like the average: what SWA is compared with."""
    model.set_weights(best)
    recalibrate_batch_norm(model, x_train, seed=seed)
    predicted = model.predict(x_val, batch_size=512, verbose=0).argmax(1)
    return float(np.mean(predicted == val_labels))
