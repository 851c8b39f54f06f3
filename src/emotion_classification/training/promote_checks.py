"""What ``promote`` checks before it builds anything: the run folder is whole and finished,
its record agrees with its files, and the run is not worse than the shipped model.

The record (``model.json``) is not taken on trust. What can be recomputed is recomputed and
compared: the config against ``config.json``, the number of training and validation images
against what the config's split of the data folder gives, the parameter and class counts
against the model file, its sha256 where recorded, and its validation accuracy against the
model run on the validation split again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotion_classification.training.config import TrainConfig, modern_config, saved_config_values
from emotion_classification.training.provenance import sha256
from emotion_classification.training.run_records import (
    CONFIG_FILE,
    MODEL_FILE,
    RECORD_FILE,
    comparable,
)
from emotion_classification.utils.files import shown_path

#: Fields the record must have, with the type each must be.
RECORD_FIELDS = {"class_names": list, "input": dict, "parameters": int, "config": dict,
                 "data": dict, "validation": dict}
#: Faces of the validation split by which a recomputed accuracy may differ from the
#: record's (another device's float rounding flips a borderline face or two).
VALIDATION_TOLERANCE_FACES = 2
VALIDATION_TOLERANCE_SHARE = 0.002


class PromoteError(ValueError):
    """A run that cannot be promoted; the message is one line naming the user's file."""


class RefusedError(PromoteError):
    """A valid run that promote will not ship now (worse than the shipped model, or another
    promote is running)."""


@dataclass(frozen=True)
class CheckedRun:
    """A run that passed the checks: its record, config, model and validation split."""

    folder: Path
    record: dict
    config: TrainConfig
    model: object
    validation_images: np.ndarray
    validation_labels: np.ndarray
    validation_accuracy: float


def read_json_object(path: Path, what: str) -> dict:
    """A JSON file that must hold an object; :class:`PromoteError` otherwise."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PromoteError(f"{shown_path(path)}: not a readable {what} ({error})") from None
    if not isinstance(value, dict):
        raise PromoteError(f"{shown_path(path)}: not a {what} (a JSON object is expected, "
                           f"found {type(value).__name__})")
    return value


def unfinished_epochs(manifest_path: Path) -> int:
    """Epochs done according to a checkpoint's manifest; :class:`PromoteError` if damaged."""
    manifest = read_json_object(manifest_path, "checkpoint manifest")
    done = manifest.get("progress", {}).get("epochs_done") \
        if isinstance(manifest.get("progress"), dict) else None
    if not isinstance(done, int):
        raise PromoteError(f"{shown_path(manifest_path)}: a damaged checkpoint manifest (no "
                           "progress.epochs_done)")
    return done


def finished_record(run_dir: Path) -> dict:
    """The record of a finished run folder; :class:`PromoteError` for anything else."""
    shown = shown_path(run_dir)
    if not run_dir.is_dir():
        raise PromoteError(f"{shown}: no such run folder")
    record_path, manifest_path = run_dir / RECORD_FILE, run_dir / "checkpoint" / "manifest.json"
    if not record_path.is_file() and manifest_path.is_file():
        raise PromoteError(f"{shown}: the run is unfinished ({unfinished_epochs(manifest_path)} "
                           "epochs done); give its train command again to finish it first")
    if not record_path.is_file():
        raise PromoteError(f"{shown}: no {RECORD_FILE}: not a finished training run")
    if not (run_dir / MODEL_FILE).is_file():
        raise PromoteError(f"{shown}: no {MODEL_FILE} beside its record")
    record = read_json_object(record_path, "run record")
    for key, kind in RECORD_FIELDS.items():
        if not isinstance(record.get(key), kind):
            raise PromoteError(f"{shown_path(record_path)}: '{key}' is missing or not a "
                               f"{kind.__name__}: not a record train wrote")
    for key in ("train", "validation", "small_per_class"):
        if not isinstance(record["data"].get(key), int):
            raise PromoteError(f"{shown_path(record_path)}: data.{key} is missing")
    if not isinstance(record["validation"].get("accuracy"), float | int):
        raise PromoteError(f"{shown_path(record_path)}: validation.accuracy is missing")
    return record


def run_config(run_dir: Path, record: dict, data_dir: str | None) -> TrainConfig:
    """The run's config from ``config.json``, refused when the record says otherwise (an
    older run's field names, such as ``model`` for ``arch``, read as today's)."""
    saved = modern_config(read_json_object(run_dir / CONFIG_FILE, "run config"))
    defaults = json.loads(json.dumps(TrainConfig().to_dict()))  # fields newer than the run
    theirs = comparable(defaults | saved)
    recorded = comparable(defaults | modern_config(record["config"]))
    changed = sorted(k for k in set(theirs) | set(recorded) if theirs.get(k) != recorded.get(k))
    if changed:
        raise PromoteError(f"{shown_path(run_dir / RECORD_FILE)}: its config differs from "
                           f"{CONFIG_FILE} in {', '.join(changed)}")
    values = saved_config_values(saved)
    return TrainConfig(**{**values, "data_dir": data_dir or values.get("data_dir")})


def check_data_counts(run_dir: Path, record: dict, config: TrainConfig, train_count: int,
                      validation_count: int) -> None:
    """Refuse a record whose image counts are not what its config gives on the data."""
    data, shown = record["data"], shown_path(run_dir / RECORD_FILE)
    if data["small_per_class"] != config.small_per_class:
        raise PromoteError(f"{shown}: data.small_per_class is {data['small_per_class']} but "
                           f"the config says {config.small_per_class}")
    if (data["train"], data["validation"]) != (train_count, validation_count):
        raise PromoteError(f"{shown}: records {data['train']} training and {data['validation']} "
                           f"validation images, but its config gives {train_count} and "
                           f"{validation_count} on this data folder")


def check_model_file(run_dir: Path, record: dict):
    """Load the run's model and compare it with its record; return the model."""
    from emotion_classification.models.runtimes import load_keras_file

    path, shown = run_dir / MODEL_FILE, shown_path(run_dir / RECORD_FILE)
    if record.get("model_sha256") not in (None, sha256(path)):
        raise PromoteError(f"{shown}: model_sha256 is not the sha256 of {MODEL_FILE}")
    model = load_keras_file(path)
    if int(model.count_params()) != record["parameters"]:
        raise PromoteError(f"{shown}: records {record['parameters']:,} parameters but "
                           f"{MODEL_FILE} has {int(model.count_params()):,}")
    if int(model.output_shape[-1]) != len(record["class_names"]):
        raise PromoteError(f"{shown}: lists {len(record['class_names'])} classes but "
                           f"{MODEL_FILE} has {int(model.output_shape[-1])} outputs")
    if list(model.input_shape[1:]) != list(record["input"].get("shape", [])):
        raise PromoteError(f"{shown}: input shape {record['input'].get('shape')} but "
                           f"{MODEL_FILE} takes {list(model.input_shape[1:])}")
    return model


def validation_agrees(recorded: float, recomputed: float, faces: int) -> bool:
    """True when two validation accuracies differ by no more than the tolerance."""
    tolerance = max(VALIDATION_TOLERANCE_FACES / max(faces, 1), VALIDATION_TOLERANCE_SHARE)
    return abs(recorded - recomputed) <= tolerance + 1e-9


def checked_run(run_dir: Path, data_dir: str | None, allow_small_data: bool) -> CheckedRun:
    """Every check of a run folder; :class:`PromoteError` (one line) at the first that fails."""
    from emotion_classification.models.runtimes import model_input
    from emotion_classification.training.loop import accuracy, load_training_data

    record = finished_record(run_dir)
    config = run_config(run_dir, record, data_dir)
    model = check_model_file(run_dir, record)
    train_split, val_split = load_training_data(config)
    check_data_counts(run_dir, record, config, len(train_split), len(val_split))
    if config.small_per_class and not allow_small_data:
        raise PromoteError(f"{shown_path(run_dir)}: trained in small-data mode "
                           f"({config.small_per_class} images per class); only a full run can "
                           "be shipped")
    x_val = model_input(val_split.images, int(model.input_shape[-1]))
    recomputed = accuracy(model, x_val, val_split.labels)
    if not validation_agrees(record["validation"]["accuracy"], recomputed, len(val_split)):
        raise PromoteError(f"{shown_path(run_dir / RECORD_FILE)}: records validation accuracy "
                           f"{record['validation']['accuracy']:.4f}, but {MODEL_FILE} scores "
                           f"{recomputed:.4f} on the run's validation split")
    return CheckedRun(run_dir, record, config, model, val_split.images, val_split.labels,
                      recomputed)


def gate(run: CheckedRun, shipped_accuracy: float | None, shipped: Path,
         force: bool) -> str | None:
    """Refuse a run whose validation accuracy is below the shipped model's, unless ``force``;
    return the note saying a refusal was overridden (None when nothing was)."""
    if not shipped.is_file():
        return None
    if not isinstance(shipped_accuracy, float | int):
        problem = f"{shown_path(shipped)}'s record has no validation accuracy to compare with"
    elif run.validation_accuracy >= shipped_accuracy:
        return None
    else:
        problem = (f"its validation accuracy {run.validation_accuracy:.4f} is below the "
                   f"shipped model's {shipped_accuracy:.4f}")
    if not force:
        raise RefusedError(f"{shown_path(run.folder)}: {problem}; --force ships it anyway")
    return f"note: --force: promoted although {problem}"
