"""A sweep's result: one row per trial with its flags, status and validation accuracy, the
table written as ``trials.csv`` and the best candidate named."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from emotion_classification.training.config import (
    flag_value,
)
from emotion_classification.training.run_records import HISTORY_FILE, RECORD_FILE
from emotion_classification.training.sweep_spec import METRIC, TUNE_DIR, SweepSpec, trial_flags
from emotion_classification.utils.files import shown_path, write_text

TRIALS_CSV = "trials.csv"


@dataclass
class SweepResult:
    """The table of trials (one dict per trial), the best trial's name and whether every
    trial has ended (False after an interrupted sweep)."""

    rows: list[dict]
    best: str | None
    complete: bool
    csv_path: Path


def trial_statuses(experiment: Path) -> dict[str, str]:
    """Tune's status of each trial of an experiment (PENDING, RUNNING, TERMINATED, ERROR),
    by trial name."""
    from ray import tune

    return {Path(trial.path).name: trial.status
            for trial in tune.ExperimentAnalysis(str(experiment)).trials}


def trial_row(spec: SweepSpec, sweep_dir: Path, result, status: str) -> dict:
    """How one trial ended: its status, epochs, validation accuracy, run folder and flags."""
    name = Path(result.path).name
    run_dir = sweep_dir / name
    named = result.config.get("trial")
    row = {"trial": name, "role": spec.roles.get(named, "candidate")}
    if (run_dir / RECORD_FILE).is_file():
        record = json.loads((run_dir / RECORD_FILE).read_text(encoding="utf-8"))
        row.update(status="finished", epochs=record["epochs_run"],
                   validation_accuracy=record["validation"]["accuracy"])
    else:
        if status == "ERROR" and result.error is not None:
            status = f"error: {str(result.error).strip().splitlines()[-1][:120]}"
        elif status == "TERMINATED":
            status = "stopped early by ASHA"
        else:
            status = "unfinished"
        epochs, best_accuracy = committed_epochs(run_dir)
        row.update(status=status, epochs=epochs, validation_accuracy=best_accuracy)
    row["run"] = shown_path(run_dir)
    shown = set(spec.search) | set(spec.trials.get(named, {}))
    return {**row, **{f"--{k}": shown_value(v)
                      for k, v in sorted(trial_flags(spec, result.config).items()) if k in shown}}


def shown_value(value) -> str:
    """A flag's value for the table: drawn floats to 6 significant digits (the run's
    ``config.json`` keeps the exact value)."""
    return f"{value:.6g}" if isinstance(value, float) else flag_value(value)


def summarise(spec: SweepSpec, sweep_dir: Path, grid) -> SweepResult:
    """One row per trial (its flags, how it ended, its validation accuracy), the best named,
    written to ``trials.csv``."""
    import pandas as pd

    statuses = trial_statuses(sweep_dir / TUNE_DIR)
    rows = [trial_row(spec, sweep_dir, result, statuses.get(Path(result.path).name, "PENDING"))
            for result in grid]
    complete = all(row["status"] != "unfinished" for row in rows)
    best = choose_best(rows)
    for row in rows:
        row["best"] = "yes" if row["trial"] == best else ""
    table = pd.DataFrame(rows)
    csv_path = sweep_dir / TRIALS_CSV
    write_text(csv_path, table.to_csv(index=False))
    return SweepResult(rows=rows, best=best, complete=complete, csv_path=csv_path)


def choose_best(rows: list[dict]) -> str | None:
    """The candidate with the highest validation accuracy of its finished model; a trial
    stopped early competes only when no candidate finished."""
    candidates = [r for r in rows if r["role"] == "candidate"
                  and r.get("validation_accuracy") is not None]
    finished = [r for r in candidates if r["status"] == "finished"] or candidates
    if not finished:
        return None
    return max(finished, key=lambda r: r["validation_accuracy"])["trial"]


def committed_epochs(run_dir: Path) -> tuple[int, float | None]:
    """How many epochs a run has committed, and their best validation accuracy (None
    before the first)."""
    import pandas as pd

    path = run_dir / HISTORY_FILE
    if not path.is_file() or path.stat().st_size == 0:
        return 0, None
    history = pd.read_csv(path)
    if METRIC not in history or not len(history):
        return len(history), None
    return len(history), round(float(history[METRIC].max()), 4)
