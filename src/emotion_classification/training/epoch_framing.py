"""The framing step of a training epoch (``--framing``): how each epoch re-cuts the training
faces as predict cuts a face from a photo, chosen once per run."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from emotion_classification.data.fer2013 import Split
from emotion_classification.data.framing import detected_framed_epoch, framed_epoch
from emotion_classification.evaluation.photo_pipeline import (
    cached_detections,
    pipeline_margin_crops,
)
from emotion_classification.inference.detection import DEFAULT_MARGIN, DEFAULT_MARGINS
from emotion_classification.labels import IMAGE_SIZE_PX
from emotion_classification.training.config import TrainConfig

#: ``(images, epoch) -> images``: the epoch's training images, some of them re-cut.
EpochFraming = Callable[[np.ndarray, int], np.ndarray]


def epoch_framing(config: TrainConfig, train_split: Split) -> EpochFraming:
    """The framing ``config.framing`` asks for: none, drawn boxes (``detection``) or MTCNN's
    real crops of these training faces (``mtcnn``, detected once and cached)."""
    probability, seed = config.framing_probability, config.seed
    if config.framing == "detection":
        return lambda x, epoch: framed_epoch(x, probability, DEFAULT_MARGIN, seed, epoch)
    if config.framing == "mtcnn":
        crops, found = detection_crops(train_split.images)
        return lambda x, epoch: detected_framed_epoch(x, crops, found, probability, seed, epoch)
    return lambda x, epoch: x


def detection_crops(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """predict's crops of each face planted in a photo as the pipeline benchmark plants it, at
    each of predict's default margins (``(margins, N, 48, 48)`` uint8, zeros where MTCNN missed
    the face), and which faces MTCNN found (``(N,)`` bool)."""
    faces = cached_detections("train", images)
    found = np.array([face is not None for face in faces], bool)
    crops = np.zeros((len(DEFAULT_MARGINS), len(images), IMAGE_SIZE_PX, IMAGE_SIZE_PX), np.uint8)
    crops[:, found] = pipeline_margin_crops(images, faces, DEFAULT_MARGINS)[..., 0]
    return crops, found
