"""Which file a model name means, and the JSON record that travels with it.

A model is named by a path (``.keras``, ``.onnx`` or ``.tflite``) or by an alias from
:data:`MODEL_ALIASES`: ``accurate`` (the shipped model, the default) or ``fast``. Beside every
model file sits its JSON record (class names, input, calibration), found by
:func:`record_path_for`: ``emotion_cnn.keras`` and ``emotion_cnn.onnx`` share
``emotion_cnn.json``; ``emotion_cnn_int8.tflite`` uses it too.

Nothing here imports TensorFlow or Keras, so an ONNX model can be found and described on a
machine that has only onnxruntime.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

from emotion_classification.labels import CLASS_NAMES, DEFAULT_MODEL_ALIAS, MODEL_ALIASES
from emotion_classification.utils.files import project_path

#: Model names accepted wherever a model file is: alias -> file, relative to the project root.
#: How the fast model is made (``reports/fast_model_rule.txt``): a narrower, cropped network
#: distilled from the shipped one.
FAST_RUN_NAME = "fast_w24"
FAST_MODEL_TRAIN_COMMAND = (f"python -m emotion_classification train --name {FAST_RUN_NAME} "
                            "--widths 24,48,96,192 --crop-px 4 --teacher models/emotion_cnn.keras")
#: Suffixes the TensorFlow Lite export adds to a model's stem (see :mod:`.export`).
TFLITE_VARIANT_SUFFIXES = ("_float32", "_int8")


class ModelFileError(ValueError):
    """A model file or its JSON record is missing or unusable."""


class UncalibratedModelWarning(UserWarning):
    """A model has no JSON record beside it: FER2013 class order, no calibration."""


def is_model_alias(name: str | os.PathLike | None) -> bool:
    """True for a model alias such as ``fast`` (a bare name from :data:`MODEL_ALIASES`)."""
    return isinstance(name, str) and name in MODEL_ALIASES


def resolve_model_path(name: str | os.PathLike | None = None) -> Path:
    """The model file a name means: an alias, or a path (relative to the project root).

    ``None`` (or an empty name) means the default alias. Raises :class:`ModelFileError` with
    one line when the file is missing or is a folder; a missing aliased model says how to
    make it.
    """
    name = name or DEFAULT_MODEL_ALIAS
    path = project_path(MODEL_ALIASES[name] if is_model_alias(name) else name)
    if path.is_dir():
        raise ModelFileError(f"{path}: is a folder, not a model file")
    if not path.is_file():
        raise ModelFileError(missing_model_text(name, path))
    return path


def missing_model_text(name: str | os.PathLike, path: Path) -> str:
    """The one-line error for a model file that is not there (an alias says how to make it)."""
    if name == "fast":
        return (f"{path}: the fast model is not shipped yet; make it with `"
                f"{FAST_MODEL_TRAIN_COMMAND}` then `python -m emotion_classification promote "
                f"runs/{FAST_RUN_NAME} --as fast`, or use the accurate model")
    return f"{path}: model file not found"


def record_path_for(model_path: str | os.PathLike) -> Path:
    """The JSON record of a model file: same folder and stem, ``.json``.

    A TensorFlow Lite file's variant suffix is dropped first, so ``emotion_cnn_int8.tflite``
    shares ``emotion_cnn.json`` with the ``.keras`` file it was exported from.
    """
    path = Path(model_path)
    stem = path.stem
    if path.suffix == ".tflite":
        for suffix in TFLITE_VARIANT_SUFFIXES:
            if stem.endswith(suffix):
                stem = stem[: -len(suffix)]
                break
    return path.with_name(f"{stem}.json")


def load_record(json_path: str | os.PathLike) -> dict:
    """The model's JSON record with defaults filled in; a missing one warns, a bad one raises."""
    json_path = Path(json_path)
    if not json_path.is_file():
        warnings.warn(f"{json_path}: not found, so the model runs uncalibrated (temperature 1, "
                      "no uncertain threshold, FER2013 class order)", UncalibratedModelWarning,
                      stacklevel=3)
        record = {}
    else:
        try:
            record = json.loads(json_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ModelFileError(f"{json_path}: not valid JSON ({error})") from None
        if not isinstance(record, dict):
            raise ModelFileError(f"{json_path}: not a JSON object (the model's record)")
    record.setdefault("class_names", list(CLASS_NAMES))
    record.setdefault("calibration", {"temperature": 1.0, "uncertain_threshold": 0.0})
    if not isinstance(record["calibration"], dict) or not isinstance(record["class_names"], list):
        raise ModelFileError(f"{json_path}: 'calibration' must be an object and 'class_names' "
                             "a list")
    for key in ("temperature", "uncertain_threshold"):
        value = record["calibration"].get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not math.isfinite(value)):
            raise ModelFileError(f"{json_path}: calibration {key} must be a number, got "
                                 f"{value!r}")
    return record


def check_class_count(record: dict, outputs: int, json_path: Path) -> None:
    """Raise :class:`ModelFileError` when the record's classes do not match the outputs."""
    names = record["class_names"]
    if len(names) != outputs:
        raise ModelFileError(f"{json_path}: lists {len(names)} classes but the model has "
                             f"{outputs} outputs")
