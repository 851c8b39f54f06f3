"""Random state derived from ``(seed, epoch)``, never stored: a resumed epoch shuffles and
augments exactly as the same epoch of an uninterrupted run."""

from __future__ import annotations

import numpy as np


def epoch_order(seed: int, epoch: int, count: int) -> np.ndarray:
    """The order of the training images in ``epoch`` (from 1): a function of seed and epoch."""
    return np.random.default_rng([seed, epoch]).permutation(count)


def reset_seed_generators(model, seed: int, epoch: int) -> int:
    """Set the state of every ``keras.random.SeedGenerator`` in ``model`` (augmentation,
    dropout) from ``(seed, epoch)``; returns how many there are.

    A ``SeedGenerator`` keeps its state in a non-trainable variable named
    ``seed_generator_state``, ``[seed, counter]``, which each random draw advances; the
    layers list it in ``model.variables`` but not in ``model.weights``.
    """
    states = {id(v): v for v in model.variables if v.name == "seed_generator_state"}
    for index, variable in enumerate(states.values()):
        start = np.random.default_rng([seed, epoch, index]).integers(1, 2**31 - 1)
        variable.assign(np.array([start, 0]).astype(variable.dtype))
    return len(states)
