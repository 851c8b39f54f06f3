"""Knowledge distillation: the teachers a run learns from, their check and their soft labels.

Training targets are one-hot labels, mixed with the soft labels of one or more trained
teacher models when the config names them (``--teacher a.keras,b.keras``).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from emotion_classification.data.fer2013 import Split
from emotion_classification.labels import CLASS_NAMES
from emotion_classification.training.config import TrainConfig
from emotion_classification.utils.files import project_path


def one_hot(labels: np.ndarray) -> np.ndarray:
    """Class indices to float32 one-hot rows."""
    return np.eye(len(CLASS_NAMES), dtype=np.float32)[labels]


def teacher_paths(teacher: str | Path) -> list[str]:
    """The model paths in a ``teacher`` setting: one path, or several separated by commas."""
    return [part.strip() for part in str(teacher).split(",") if part.strip()]


def teacher_fingerprints(teacher: str) -> list[dict]:
    """Each teacher's path and sha256, so a record says exactly which models it learned from."""
    return [{"path": path, "sha256": hashlib.sha256(project_path(path).read_bytes()).hexdigest()}
            for path in teacher_paths(teacher)]


def check_teacher_split(path: str, record: dict, student: TrainConfig) -> None:
    """Refuse a teacher trained on part of the student's validation split.

    The split is drawn from the train folder by ``seed`` and ``val_fraction``: a teacher
    trained with other values learned from some of the faces the student is validated on,
    and its soft labels would leak them into training and inflate validation accuracy.
    A teacher without a JSON record cannot be checked, which is said on the console.
    """
    from emotion_classification.models.files import ModelFileError

    config = record.get("config")
    if not config:
        print(f"warning: {path} has no JSON record; cannot check that it held out this run's "
              "validation split", flush=True)
        return
    theirs = (config.get("seed"), config.get("val_fraction"), config.get("small_per_class", 0))
    ours = (student.seed, student.val_fraction, student.small_per_class)
    if theirs != ours:
        raise ModelFileError(
            f"{path}: teacher trained with seed {theirs[0]}, validation fraction {theirs[1]}, "
            f"small_per_class {theirs[2]}; this run uses {ours[0]}, {ours[1]}, {ours[2]}, so "
            "the teacher has seen some of its validation faces")


def teacher_targets(teacher: str | Path, images: np.ndarray, temperature: float = 2.0,
                    batch_size: int = 512, student: TrainConfig | None = None) -> np.ndarray:
    """The teachers' soft labels for ``images``: flip-averaged, averaged over teachers, softened.

    Knowledge distillation (Hinton et al. 2015): a student trained towards a stronger
    model's class probabilities learns which wrong classes a face resembles (fear next to
    surprise, sad next to neutral), which one-hot labels do not say. ``teacher`` names one
    model or several separated by commas; several are averaged into one ensemble teacher,
    which is usually more accurate than any of its members (ensemble distillation). Each
    teacher sees each clean 48x48 image and its mirror once, before training (offline
    distillation), so it costs one inference pass over the train split per teacher.
    ``temperature`` T raises the averaged probabilities to the power 1/T and renormalises,
    the same as dividing the logits by T. Given the ``student`` config, each teacher is
    first checked to have held out the same validation split.
    """
    from emotion_classification.models.runtimes import load_model_and_record, predict_probs

    paths = teacher_paths(teacher)
    teachers = [load_model_and_record(path) for path in paths]  # every file checked first
    if student is not None:
        for path, (_, record) in zip(paths, teachers, strict=True):
            check_teacher_split(path, record, student)
    probs = np.zeros((len(images), len(CLASS_NAMES)), np.float64)
    for model, _ in teachers:
        probs += predict_probs(model, images, tta=True, batch_size=batch_size) / len(paths)
    logits = np.log(np.clip(probs, 1e-8, 1.0)) / temperature
    soft = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (soft / soft.sum(axis=1, keepdims=True)).astype(np.float32)


def training_targets(config: TrainConfig, split: Split) -> np.ndarray:
    """One-hot labels, mixed with the teacher's soft labels when the config names a teacher."""
    hard = one_hot(split.labels)
    if not config.teacher:
        return hard
    started_s = time.time()
    soft = teacher_targets(config.teacher, split.images, config.distill_temperature,
                           student=config)
    teacher_accuracy = float(np.mean(soft.argmax(1) == split.labels))
    print(f"distilling from {config.teacher} (weight {config.distill_weight}, temperature "
          f"{config.distill_temperature}); it agrees with {teacher_accuracy:.1%} of the train "
          f"labels; the teachers' pass took {time.time() - started_s:.0f} s", flush=True)
    return ((1 - config.distill_weight) * hard + config.distill_weight * soft).astype(np.float32)
