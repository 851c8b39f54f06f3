"""Notebook 03 trains from any directory: the README's ``notebooks 03_training -p TRAIN True``
run from outside the checkout finds its run folder (relative paths start at the project
root, not at the kernel's ``notebooks/``), prints each epoch in the terminal, and compares
the run with the shipped model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import nbformat
import pytest
from made_files import write_dataset

from emotion_classification.utils.files import project_root

TINY = {"head_units": 8, "val_fraction": 0.3, "warmup_epochs": 0,
        "precision": "float32"}


@pytest.mark.slow
@pytest.mark.notebook
def test_training_in_notebook_03_works_from_another_directory(tmp_path):
    data = write_dataset(tmp_path / "fer2013", {"train": 8, "test": 2})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # A relative runs folder, from the project root: wrong by one level if the notebook took
    # it from the kernel's folder (notebooks/), as case 20 of issue 27 did.
    runs_dir = os.path.relpath(tmp_path / "runs", project_root())
    command = [sys.executable, "-m", "emotion_classification", "notebooks", "03_training",
               "-p", "TRAIN", "True", "-p", "EPOCHS", "2", "-p", "BATCH_SIZE", "16", "-p", "WIDTHS", "4,4,8,8",
               "-p", "RUN_NAME", "nb", "-p", "RUNS_DIR", runs_dir, "-p", "DATA_DIR", str(data),
               "-p", "OVERRIDES", repr(TINY), "--output-dir", str(tmp_path / "out")]
    # As a user runs it: ipykernel forwards the kernel's own output to the notebook only
    # outside pytest (it checks PYTEST_CURRENT_TEST).
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    done = subprocess.run(command, cwd=elsewhere, capture_output=True, text=True, timeout=900,
                          env={**env, "EMOTION_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "epoch 1/2:" in done.stdout and "epoch 2/2:" in done.stdout  # live in the terminal
    run_dir = tmp_path / "runs" / "nb"
    record = json.loads((run_dir / "model.json").read_text())
    assert record["epochs_run"] == 2 and record["config"]["widths"] == [4, 4, 8, 8]
    assert record["config"]["batch_size"] == 16
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    executed = nbformat.read(tmp_path / "out" / "03_training.ipynb", as_version=4)
    text = "\n".join(output.get("text", "") for cell in executed.cells
                     for output in cell.get("outputs", []))
    assert "epoch 2/2:" in text  # the same lines in the notebook
    assert "validation faces; the shipped model may have trained on some" in text  # 0.3 != 0.1
    images = [output for cell in executed.cells for output in cell.get("outputs", [])
              if "image/png" in output.get("data", {})]
    assert len(images) >= 2  # the curves and the confusion matrices beside the shipped model's
