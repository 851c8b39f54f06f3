"""Batch mixing: mixup and CutMix of each training batch, in NumPy (any Keras backend).

mixup (Zhang et al. 2018) blends each face of a batch with another face of the same batch,
``share * a + (1 - share) * b``; CutMix (Yun et al. 2019) pastes a box of ``b`` into ``a``.
Either way the target is mixed in the same proportion (for CutMix, the share of the pixels
that stay ``a``'s), with ``share`` drawn from Beta(alpha, alpha) once per batch, as both
papers do. Targets may already be soft (distillation): they are mixed as they are.

Class weighting (``--class-weighting``) weighs each face's loss by its class. The loss of a
mixed face is ``share * CE(y_a) + (1 - share) * CE(y_b)`` (cross-entropy is linear in the
target, label smoothing included), and weighting each part by its own face's weight gives
``s * CE(t)`` with ``s = share * w_a + (1 - share) * w_b`` and the target
``t = (share * w_a * y_a + (1 - share) * w_b * y_b) / s``: so a mixed face gets sample
weight ``s`` and target ``t`` (which sums to 1), and every class keeps the loss weight it has
without mixing.

Keras has ``keras.layers.MixUp`` and ``keras.layers.CutMix``; they are not used because
their CutMix weighs the target by the box's real-valued area while it pastes whole pixels,
neither knows sample weights, a mixing probability or the model's crop (a box pasted in the
cropped border would be invisible yet weigh in the target), and their draws come from a
seed generator whose state a resumed run would have to replay. Here every draw of batch
``i`` of epoch ``e`` comes from ``(seed, e, i)``, so a resumed epoch mixes exactly as the
same epoch of an uninterrupted run, with nothing to store in the checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from emotion_classification.labels import IMAGE_SIZE_PX
from emotion_classification.training.config import MIXINGS

#: Tells the mixing draws' random stream apart from the other ``(seed, epoch, ...)`` ones.
MIXING_STREAM = 0x6D6978


@dataclass
class Mix:
    """How one batch is mixed: ``kind`` (none, mixup or cutmix), the share of each face that
    stays its own, each face's partner (an index in the batch), and CutMix's pasted box
    ``(top, left, bottom, right)`` in pixels."""

    kind: str
    share: float
    partner: np.ndarray
    box: tuple[int, int, int, int] | None = None


def draw_box(rng: np.random.Generator, share: float, crop_px: int) -> tuple[int, int, int, int]:
    """CutMix's box covering about ``1 - share`` of the part of the face the model sees
    (inside ``crop_px`` from each edge), its centre uniform and the box clipped there."""
    side_px = IMAGE_SIZE_PX - 2 * crop_px
    cut_px = int(round(side_px * math.sqrt(1.0 - share)))
    centre_y, centre_x = rng.integers(0, side_px, size=2)
    top, bottom = np.clip([centre_y - cut_px // 2, centre_y + cut_px - cut_px // 2], 0, side_px)
    left, right = np.clip([centre_x - cut_px // 2, centre_x + cut_px - cut_px // 2], 0, side_px)
    return (int(top) + crop_px, int(left) + crop_px, int(bottom) + crop_px,
            int(right) + crop_px)


def draw_mix(rng: np.random.Generator, batch: int, mixing: str, alpha: float,
             probability: float, crop_px: int) -> Mix:
    """The mixing of one batch of ``batch`` faces: ``mixing`` is none, mixup, cutmix or
    both (mixup or CutMix with even odds); a batch is mixed with ``probability``."""
    if mixing not in MIXINGS:
        raise ValueError(f"unknown mixing {mixing!r}: use {', '.join(MIXINGS)}")
    if mixing == "none" or rng.random() >= probability:
        return Mix("none", 1.0, np.arange(batch))
    kind = mixing if mixing != "both" else ("mixup" if rng.random() < 0.5 else "cutmix")
    share = float(rng.beta(alpha, alpha))
    partner = rng.permutation(batch)
    if kind == "mixup":
        return Mix(kind, share, partner)
    top, left, bottom, right = draw_box(rng, share, crop_px)
    pasted = (bottom - top) * (right - left) / (IMAGE_SIZE_PX - 2 * crop_px) ** 2
    return Mix(kind, 1.0 - pasted, partner, (top, left, bottom, right))


def apply_mix(images: np.ndarray, targets: np.ndarray, weights: np.ndarray,
              mix: Mix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mixed images, targets and sample weights of one batch (see the module's text),
    as float32 whether or not the batch is mixed."""
    if mix.kind == "none":
        return (images.astype(np.float32), targets.astype(np.float32),
                weights.astype(np.float32))
    partner = mix.partner
    if mix.kind == "mixup":
        mixed = mix.share * images + (1.0 - mix.share) * images[partner]
    else:
        top, left, bottom, right = mix.box
        mixed = images.copy()
        mixed[:, top:bottom, left:right] = images[partner, top:bottom, left:right]
    own, other = mix.share * weights, (1.0 - mix.share) * weights[partner]
    weight = own + other
    target = (own[:, None] * targets + other[:, None] * targets[partner]) / weight[:, None]
    return mixed.astype(np.float32), target.astype(np.float32), weight.astype(np.float32)


def batch_mix(seed: int, epoch: int, index: int, size: int, mixing: str, alpha: float,
              probability: float, crop_px: int) -> Mix:
    """The mixing of batch ``index`` (from 0) of ``epoch``: a function of these alone."""
    rng = np.random.default_rng([seed, epoch, MIXING_STREAM, index])
    return draw_mix(rng, size, mixing, alpha, probability, crop_px)


def mixed_epoch(images: np.ndarray, targets: np.ndarray, sample_weight: np.ndarray,
                order: np.ndarray, batch_size: int, *, mixing: str, alpha: float,
                probability: float, crop_px: int, seed: int,
                epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One epoch's training arrays (images, targets, sample weights) in ``order``, each run
    of ``batch_size`` rows a batch mixed by :func:`batch_mix`.

    ``fit`` reads them in order (``shuffle=False``), so its batches are these. Arrays rather
    than a ``keras.utils.PyDataset``: on TensorFlow a PyDataset runs through tf.data's
    ``from_generator``, and the tiny training runs of the tests crashed in it now and then
    (a segmentation fault in one run of three); mixing a whole epoch in NumPy takes well
    under a second and as much memory as the shuffled copy an unmixed epoch makes.
    """
    x = np.empty((len(order), *images.shape[1:]), np.float32)
    y = np.empty((len(order), *targets.shape[1:]), np.float32)
    w = np.empty(len(order), np.float32)
    for index, start in enumerate(range(0, len(order), batch_size)):
        rows = order[start:start + batch_size]
        mix = batch_mix(seed, epoch, index, len(rows), mixing, alpha, probability, crop_px)
        end = start + len(rows)
        x[start:end], y[start:end], w[start:end] = apply_mix(
            images[rows], targets[rows], sample_weight[rows], mix)
    return x, y, w
