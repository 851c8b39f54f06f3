"""What a run leaves behind: its folder, the JSON record beside the model, the per-epoch
history and the command that trains the same config again.

A run folder (``runs/<name>/``) holds ``model.keras``, ``model.json`` (the record),
``history.csv``, ``config.json``, ``figures/learning_curves.png``, ``tensorboard/`` and
``checkpoint/``.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import shlex
import shutil
import time
from pathlib import Path

import pandas as pd

from emotion_classification.labels import CLASS_NAMES, IMAGE_SIZE_PX
from emotion_classification.training.config import (
    DEFAULT_RUNS_DIR,
    LOCATION_FIELDS,
    TrainConfig,
    flag_name,
    flag_value,
    modern_config,
    name_problem,
)
from emotion_classification.training.tensorboard import TENSORBOARD_DIR
from emotion_classification.utils.files import (
    atomic_output,
    project_path,
    shown_path,
    write_json,
    write_text,
)

MODEL_FILE = "model.keras"
RECORD_FILE = "model.json"
HISTORY_FILE = "history.csv"
CONFIG_FILE = "config.json"
#: Which data the run started on (:func:`~emotion_classification.data.fer2013.dataset_identity`).
DATA_FILE = "data.json"
CURVES_FILE = "figures/learning_curves.png"
#: Fields of a record that differ between two identical runs (how long they took).
TIMING_FIELDS = ("wall_time_s", "run_time_s")


class RunError(ValueError):
    """A run folder that cannot be used as asked (another config, another process...)."""


def default_run_name() -> str:
    """A run's name when none is given: its start time, ``YYYYMMDD-HHMMSS``."""
    return time.strftime("%Y%m%d-%H%M%S")


def run_dir_for(config: TrainConfig) -> Path:
    """``runs_dir/name`` (relative paths from the project root); a name that would lead
    outside ``runs_dir`` (``..``, a separator, an absolute path) is a :class:`RunError`."""
    problem = name_problem(config.name)
    if problem:
        raise RunError(f"--name {problem}: a run is written to --runs-dir/NAME/")
    return project_path(config.runs_dir) / config.name


def history_path(model_path: Path) -> Path:
    """The per-epoch history CSV shipped beside a model (``emotion_cnn.history.csv``)."""
    return Path(model_path).with_suffix(".history.csv")


def history_csv_text(rows: list[dict]) -> str:
    """Rows as CSV: ``epoch`` (from 0) first, then the metrics in name order, as Keras'
    ``CSVLogger`` writes them; floats in their shortest exact form."""
    if not rows:
        return ""
    columns = ["epoch", *sorted(k for k in rows[0] if k != "epoch")]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write_history(path: Path, rows: list[dict]) -> None:
    """The history CSV, written atomically."""
    write_text(path, history_csv_text(rows))


def epoch_times(history_csv: str | Path) -> list[float]:
    """The ``epoch_time_s`` column of a run's history CSV (empty when no epoch was timed)."""
    history = pd.read_csv(history_csv)
    if "epoch_time_s" not in history:
        return []
    return [float(t) for t in history["epoch_time_s"]]


def save_model_with_record(model, record: dict, model_path: Path) -> None:
    """Write ``model.keras`` and ``model.json`` atomically (temp file, then rename)."""
    with atomic_output(Path(model_path)) as tmp:
        model.save(tmp)
    write_json(Path(model_path).with_suffix(".json"), record)


def reproduce_command(config: TrainConfig) -> str:
    """The CLI command that trains this config again (in a new run folder)."""
    default = TrainConfig()
    args = ["python", "-m", "emotion_classification", "train"]
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        if item.name in LOCATION_FIELDS or value == getattr(default, item.name):
            continue
        if isinstance(value, bool):
            args.append(flag_name(item.name) if value else f"--no-{item.name.replace('_', '-')}")
        else:
            args += [flag_name(item.name), flag_value(value)]
    return " ".join(shlex.quote(a) for a in args)


def resume_command(config: TrainConfig) -> str:
    """The command that continues this very run: its config, its name and its folders."""
    extra = ["--name", config.name]
    if config.runs_dir != DEFAULT_RUNS_DIR:
        extra += ["--runs-dir", config.runs_dir]
    if config.data_dir:
        extra += ["--data-dir", config.data_dir]
    return " ".join([reproduce_command(config), *(shlex.quote(a) for a in extra)])


def training_record(model, config: TrainConfig, *, precision: str, backend: str,
                    history: list[dict], data: dict, validation: dict, hardware: str,
                    run_time_s: float) -> dict:
    """The JSON record saved beside a trained model: its input contract, its config and how
    the run went (epochs, best epoch, time, validation accuracy)."""
    run_dir = run_dir_for(config)
    val_accuracy = [row["val_accuracy"] for row in history if "val_accuracy" in row]
    return {
        "class_names": list(CLASS_NAMES),
        "input": {"shape": [IMAGE_SIZE_PX, IMAGE_SIZE_PX, config.channels], "dtype": "float32",
                  "range": [0, 255], "color": "grayscale" if config.channels == 1
                  else "grayscale repeated to RGB"},
        "model": model.name, "parameters": int(model.count_params()),
        "config": config.to_dict(), "precision": precision, "backend": backend,
        "epochs_run": len(history),
        "best_epoch": val_accuracy.index(max(val_accuracy)) + 1 if val_accuracy else None,
        "wall_time_s": (round(sum(row["epoch_time_s"] for row in history), 1)
                        if history and "epoch_time_s" in history[0] else None),
        "run_time_s": round(run_time_s, 1),
        "hardware": hardware,
        "data": data,
        "validation": validation,
        "batch_norm_recalibrated_on": "train split without augmentation",
        "command": reproduce_command(config),
        "run_dir": shown_path(run_dir),
        "model_path": shown_path(run_dir / MODEL_FILE),
    }


@contextlib.contextmanager
def run_lock(run_dir: Path):
    """Hold the run folder for this process: a second ``train`` on it is refused."""
    try:
        import fcntl
    except ImportError:  # not on POSIX: no lock
        yield
        return
    with open(run_dir / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RunError(f"{run_dir}: another train process is using this run") from None
        yield


def comparable(config: dict) -> dict:
    """A config without the fields that may change between the processes of one run."""
    return {k: v for k, v in config.items() if k not in LOCATION_FIELDS}


def check_same_config(run_dir: Path, config: TrainConfig) -> None:
    """Refuse to continue a run folder started with another config."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        return
    defaults = json.loads(json.dumps(TrainConfig().to_dict()))  # fields newer than the run
    theirs = comparable(defaults | modern_config(json.loads(path.read_text(encoding="utf-8"))))
    ours = comparable(json.loads(json.dumps(config.to_dict())))
    changed = [f"{k} {ours.get(k)!r} (was {theirs.get(k)!r})"
               for k in sorted(set(theirs) | set(ours)) if theirs.get(k) != ours.get(k)]
    if changed:
        raise RunError(f"{run_dir}: this run was started with another config: "
                       f"{', '.join(changed)}; give another --name, or --restart to discard it")


def check_same_data(run_dir: Path, identity: dict) -> None:
    """Refuse to continue a run folder on other data than it started on (its validation
    split would change mid-run); a run's first start records its data."""
    path = run_dir / DATA_FILE
    if not path.is_file():
        write_json(path, identity)
        return
    theirs = json.loads(path.read_text(encoding="utf-8"))
    if theirs.get("key") != identity["key"]:
        raise RunError(f"{shown_path(run_dir)}: this run was started on other data, "
                       f"{theirs.get('path')} ({sum(theirs.get('images', {}).values())} "
                       f"images), not {identity['path']} ({sum(identity['images'].values())} "
                       "images); give another --name, or --restart to discard it")


def clear_run(run_dir: Path) -> None:
    """Remove what ``train`` wrote in a run folder (for ``--restart``)."""
    shutil.rmtree(run_dir / "checkpoint", ignore_errors=True)
    shutil.rmtree(run_dir / "figures", ignore_errors=True)
    shutil.rmtree(run_dir / TENSORBOARD_DIR, ignore_errors=True)
    for name in (MODEL_FILE, RECORD_FILE, HISTORY_FILE, CONFIG_FILE, DATA_FILE):
        (run_dir / name).unlink(missing_ok=True)
