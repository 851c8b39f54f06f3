"""Weight-space interpolation between a model and its fine-tuned copy (WiSE-FT).

Fine-tuning a trained model on a shifted input distribution (here: faces framed the way
detection frames them) gains on the new inputs and loses some on the old. Averaging the two
models' weights, ``(1 - fraction) * base + fraction * tuned``, often keeps most of both
(Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR 2022). This only makes sense
for two models of one architecture where one was fine-tuned from the other (``train
--init-weights``). The result is written as a finished run folder, so ``evaluate`` and
``promote`` treat it like any trained run.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import shutil
import time
from pathlib import Path

import numpy as np

from emotion_classification.models.runtimes import load_keras_file, model_input
from emotion_classification.training.config import TrainConfig, saved_config_values
from emotion_classification.training.provenance import sha256
from emotion_classification.training.run_records import (
    CONFIG_FILE,
    HISTORY_FILE,
    MODEL_FILE,
    RECORD_FILE,
    save_model_with_record,
)
from emotion_classification.training.swa import recalibrate_batch_norm
from emotion_classification.utils.files import shown_path, write_json

INTERPOLATE_SCRIPT = "scripts/interpolate_weights.py"


class InterpolationError(ValueError):
    """Two models that cannot be interpolated, or a run folder that is not finished."""


def interpolated_weights(base: list[np.ndarray], tuned: list[np.ndarray],
                         fraction: float) -> list[np.ndarray]:
    """``(1 - fraction) * base + fraction * tuned``, tensor by tensor, in float32."""
    if len(base) != len(tuned) or any(b.shape != t.shape for b, t in zip(base, tuned,
                                                                          strict=True)):
        raise InterpolationError("the two models do not have the same weight shapes")
    return [((1.0 - fraction) * b.astype(np.float32) + fraction * t.astype(np.float32))
            .astype(b.dtype) for b, t in zip(base, tuned, strict=True)]


def tuned_run_config(tuned_run: Path, name: str, runs_dir: str,
                     data_dir: str | None) -> TrainConfig:
    """The fine-tuned run's config, renamed for the interpolated run folder."""
    path = tuned_run / CONFIG_FILE
    if not path.is_file() or not (tuned_run / RECORD_FILE).is_file():
        raise InterpolationError(f"{shown_path(tuned_run)}: not a finished training run "
                                 f"(no {CONFIG_FILE} and {RECORD_FILE})")
    values = saved_config_values(json.loads(path.read_text(encoding="utf-8")))
    return dataclasses.replace(TrainConfig(**values), name=name, runs_dir=runs_dir,
                               data_dir=data_dir or values.get("data_dir"))


def base_summary(base: Path) -> dict:
    """The base model's path, sha256 and, from the record beside it, how it was trained:
    kept in the interpolated record because the base's own record may be replaced later."""
    record_path = base.with_suffix(".json")
    record = (json.loads(record_path.read_text(encoding="utf-8"))
              if record_path.is_file() else {})
    trained = {key: record[key] for key in ("command", "hardware", "backend", "precision",
                                            "epochs_run", "best_epoch", "wall_time_s")
               if key in record}
    return {"path": shown_path(base), "sha256": sha256(base), **trained,
            "validation_accuracy": record.get("validation", {}).get("accuracy")}


def interpolation_command(base: Path, tuned_run: Path, fraction: float, name: str) -> str:
    """The command that makes this interpolated run again."""
    args = ["python", INTERPOLATE_SCRIPT, "--base", shown_path(base), "--tuned",
            shown_path(tuned_run), "--fraction", f"{fraction:g}", "--name", name]
    return " ".join(shlex.quote(a) for a in args)


def interpolate_run(base: Path, tuned_run: Path, fraction: float, name: str,
                    runs_dir: str = "runs", data_dir: str | None = None) -> dict:
    """Write ``runs_dir/name`` holding the interpolated model, batch-norm statistics
    recalibrated on the clean train split as ``train`` does; return its record."""
    from emotion_classification.training.loop import accuracy, load_training_data

    started_s = time.time()
    config = tuned_run_config(tuned_run, name, runs_dir, data_dir)
    base_model = load_keras_file(base)
    tuned_model = load_keras_file(tuned_run / MODEL_FILE)
    model = tuned_model
    model.set_weights(interpolated_weights(base_model.get_weights(), tuned_model.get_weights(),
                                           fraction))
    train_split, val_split = load_training_data(config)
    x_train = model_input(train_split.images, config.channels)
    recalibrate_batch_norm(model, x_train, seed=config.seed)
    val_accuracy = accuracy(model, model_input(val_split.images, config.channels),
                            val_split.labels)
    run_dir = Path(runs_dir) / name
    run_dir.mkdir(parents=True, exist_ok=True)
    tuned_record = json.loads((tuned_run / RECORD_FILE).read_text(encoding="utf-8"))
    record = {
        **tuned_record,
        "config": config.to_dict(),
        "validation": {"accuracy": round(val_accuracy, 4)},
        "interpolation": {
            "fraction_of_tuned": fraction,
            "base": base_summary(base),
            "tuned": {"path": shown_path(tuned_run / MODEL_FILE),
                      "sha256": sha256(tuned_run / MODEL_FILE),
                      "command": tuned_record.get("command")},
        },
        "run_time_s": round(time.time() - started_s, 1),
        "command": interpolation_command(base, tuned_run, fraction, name),
        "run_dir": shown_path(run_dir),
        "model_path": shown_path(run_dir / MODEL_FILE),
    }
    record.pop("model_sha256", None)
    if (tuned_run / HISTORY_FILE).is_file():  # the learning curves shown are the fine-tune's
        shutil.copyfile(tuned_run / HISTORY_FILE, run_dir / HISTORY_FILE)
        record["history"] = "the fine-tune's (history.csv copied from the tuned run)"
    write_json(run_dir / CONFIG_FILE, config.to_dict())
    save_model_with_record(model, record, run_dir / MODEL_FILE)
    return record
