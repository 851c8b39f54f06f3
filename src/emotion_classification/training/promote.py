"""Make a finished training run the shipped model: the one deliberate step that replaces
``models/emotion_cnn.*`` and what depends on it in ``reports/``.

``python -m emotion_classification promote runs/<name>`` copies the run's model, record and
history, re-evaluates the model (test metrics, calibration fitted on the validation split,
``reports/evaluation.json`` and its figures), redraws the learning curves, re-exports the
TensorFlow Lite files and re-renders the README tables. Everything is built in a staging
folder first and renamed into place at the end, so a failure leaves the shipped files as
they were. It prints what it replaced: validation and test accuracy, old and new, and the
sha256 of both models.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from emotion_classification.training.run_records import (
    HISTORY_FILE,
    MODEL_FILE,
    RECORD_FILE,
    shown_path,
)
from emotion_classification.utils.files import project_path, project_root, write_json

SHIPPED_STEM = "emotion_cnn"
#: What ``--as`` can replace: the file stem in models/, the evaluation report and the figure
#: folder in reports/. The fast model's files sit beside the accurate model's, never on them.
ROLES = {"accurate": {"stem": SHIPPED_STEM, "report": "evaluation.json", "figures": "figures"},
         "fast": {"stem": f"{SHIPPED_STEM}_fast", "report": "evaluation_fast.json",
                  "figures": "figures/fast"}}


class PromoteError(ValueError):
    """A run that cannot be promoted (missing, unfinished, without a record)."""


def check_run(run_dir: Path) -> dict:
    """The finished run's record; a one-line :class:`PromoteError` otherwise."""
    if not run_dir.is_dir():
        raise PromoteError(f"{run_dir}: no such run folder")
    record_path, model_path = run_dir / RECORD_FILE, run_dir / MODEL_FILE
    manifest_path = run_dir / "checkpoint" / "manifest.json"
    if not record_path.is_file() and manifest_path.is_file():
        done = json.loads(manifest_path.read_text())["progress"]["epochs_done"]
        raise PromoteError(f"{run_dir}: the run is unfinished ({done} epochs done); give its "
                           "train command again to finish it first")
    if not record_path.is_file():
        raise PromoteError(f"{run_dir}: no {RECORD_FILE}: not a finished training run")
    if not model_path.is_file():
        raise PromoteError(f"{run_dir}: no {MODEL_FILE} beside its record")
    try:
        return json.loads(record_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PromoteError(f"{record_path}: not a readable JSON record ({error})") from None


def sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def summary(record: dict | None, model_path: Path) -> dict:
    """Validation accuracy, test accuracy (when evaluated) and sha256 of a model."""
    record = record or {}
    test = record.get("test_metrics", {}).get("test", {})
    return {"validation_accuracy": record.get("validation", {}).get("accuracy"),
            "test_accuracy": test.get("accuracy"), "sha256": sha256(model_path)}


def read_record(path: Path) -> dict | None:
    """A JSON record, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def stage(run_dir: Path, record: dict, staging: Path, *, data_dir: str | None,
          small_per_class: int, role: str = "accurate") -> dict[str, Path]:
    """Build every file promote will put in place inside ``staging``; returns
    ``{relative target: staged file}`` (``models/...`` and ``reports/...``)."""
    from emotion_classification.evaluation.evaluate import evaluate
    from emotion_classification.models.export import export_tflite
    from emotion_classification.utils.plots import plot_learning_curves

    models, reports = staging / "models", staging / "reports"
    models.mkdir(parents=True)
    stem, figures = ROLES[role]["stem"], reports / ROLES[role]["figures"]
    model_path = models / f"{stem}.keras"
    shutil.copyfile(run_dir / MODEL_FILE, model_path)
    record = {**record, "promoted": {"from": shown_path(run_dir), "as": role,
                                     "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}
    write_json(model_path.with_suffix(".json"), record)
    staged = {f"models/{model_path.name}": model_path,
              f"models/{model_path.with_suffix('.json').name}": model_path.with_suffix(".json")}
    if (run_dir / HISTORY_FILE).is_file():
        history = models / f"{stem}.history.csv"
        shutil.copyfile(run_dir / HISTORY_FILE, history)
        plot_learning_curves(history, figures / "learning_curves.png")
        staged[f"models/{history.name}"] = history
    report_path = reports / ROLES[role]["report"]
    evaluate(str(model_path), data_dir, small_per_class=small_per_class,
             figure_dir=figures, report_path=report_path)
    if report_path.is_file():  # name the shipped model, not the staging copy
        report = json.loads(report_path.read_text())
        write_json(report_path, {**report, "model": f"models/{model_path.name}"})
    for path in export_tflite(model_path, models).values():
        staged[f"models/{path.name}"] = path
    for path in sorted(reports.rglob("*")):
        if path.is_file():
            staged[str(path.relative_to(staging))] = path
    return staged


def place(staged: dict[str, Path], models_dir: Path, reports_dir: Path) -> list[Path]:
    """Rename the staged files onto their targets (same file system: atomic each)."""
    placed = []
    for relative, source in staged.items():
        top, rest = relative.split("/", 1)
        target = (models_dir if top == "models" else reports_dir) / rest
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        placed.append(target)
    return placed


def render_tables(script: Path | None) -> str:
    """Re-render the README and docs tables (:mod:`~emotion_classification.evaluation.tables`),
    or run ``script --write`` instead (tests); a note when it cannot run."""
    if script is None:
        from emotion_classification.evaluation.tables import main as write_tables

        return ("README tables re-rendered" if write_tables(["--write"]) == 0
                else "warning: the README tables could not be re-rendered")
    if not script.is_file():
        return f"note: {script} not found; README tables not re-rendered"
    done = subprocess.run([sys.executable, str(script), "--write"], cwd=project_root(),
                          capture_output=True, text=True)
    if done.returncode:
        return f"warning: {script} failed: {(done.stderr or done.stdout).strip()[-300:]}"
    return f"README tables re-rendered ({script.name})"


def promote(run_dir: str | os.PathLike, *, models_dir: str | os.PathLike = "models",
            reports_dir: str | os.PathLike = "reports", notebooks: bool = False,
            data_dir: str | None = None, small_per_class: int = 0,
            allow_small_data: bool = False,
            tables_script: str | os.PathLike | None = None,
            role: str = "accurate") -> dict:
    """Make the finished run in ``run_dir`` the shipped model; return old and new summaries.

    ``models_dir``, ``reports_dir`` and ``tables_script`` are the targets (tests point them
    at temporary folders); ``small_per_class`` evaluates on a subset (tests only: its
    numbers are not written into the model's record); ``notebooks`` re-executes the
    notebooks afterwards so their saved outputs show the new model. A run trained in
    small-data mode is refused unless ``allow_small_data`` (tests), so a toy run cannot
    replace the shipped model by accident. ``role="fast"`` ships the run as the fast model
    (``models/emotion_cnn_fast.*``, ``reports/evaluation_fast.json``, ``reports/figures/fast``)
    and leaves the accurate model and its figures alone.
    """
    run_dir, models_dir, reports_dir = (project_path(run_dir), project_path(models_dir),
                                        project_path(reports_dir))
    record = check_run(run_dir)
    small = record.get("data", {}).get("small_per_class", 0)
    if small and not allow_small_data:
        raise PromoteError(f"{shown_path(run_dir)}: trained in small-data mode "
                           f"({small} images per class); only a full run can be shipped")
    if role not in ROLES:
        raise PromoteError(f"--as {role!r}: choose one of {', '.join(ROLES)}")
    shipped = models_dir / f"{ROLES[role]['stem']}.keras"
    old = summary(read_record(shipped.with_suffix(".json")), shipped)
    models_dir.mkdir(parents=True, exist_ok=True)
    for stale in models_dir.glob(".promote-*"):  # left by a promote that was killed
        shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=".promote-", dir=models_dir) as tmp:
        staged = stage(run_dir, record, Path(tmp), data_dir=data_dir,
                       small_per_class=small_per_class, role=role)
        placed = place(staged, models_dir, reports_dir)
    new = summary(read_record(shipped.with_suffix(".json")), shipped)
    notes = [render_tables(project_path(tables_script) if tables_script else None)]
    if notebooks:
        done = subprocess.run([sys.executable, "-m", "emotion_classification", "notebooks"],
                              cwd=project_root())
        notes.append("notebooks re-executed" if done.returncode == 0
                     else f"warning: the notebooks failed (exit {done.returncode})")
    return {"run_dir": shown_path(run_dir), "shipped": shown_path(shipped), "old": old,
            "new": new,
            "replaced": [shown_path(p) for p in placed], "notes": notes}
