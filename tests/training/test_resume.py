"""Resume survives any kill: a tiny FER2013 training killed again and again ends exactly as
the same run left alone (record, history and weights), and Ctrl-C saves and says how to go on.

Each training runs as a subprocess. It is killed with SIGKILL inside the checkpoint write,
between the checkpoint files and their manifest, after the manifest but before
``history.csv`` (faults injected by ``faulty_train.py`` through the training hooks), at a
random instant, and stopped once with SIGINT; after each it is started again with the same
command.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from emotion_classification.training.run_records import TIMING_FIELDS

FAULTY_TRAIN = Path(__file__).with_name("faulty_train.py")
EPOCHS = 5
TIMEOUT_S = 120
FLAGS = ["--small-per-class", "10", "--widths", "8,8,16,16", "--head-units", "16",
         "--epochs", str(EPOCHS), "--batch-size", "32", "--precision", "float32",
         "--seed", "3", "--verbose", "1", "--name", "run"]


def train_command(runs_dir: Path, data_dir: Path) -> list[str]:
    return [sys.executable, "-m", "emotion_classification", "train", *FLAGS,
            "--runs-dir", str(runs_dir), "--data-dir", str(data_dir)]


def with_fault(command: list[str], fault: str | None) -> list[str]:
    """The same training through ``faulty_train.py``, which injects ``fault``."""
    if fault is None:
        return command
    assert command[1:4] == ["-m", "emotion_classification", "train"]
    return [command[0], str(FAULTY_TRAIN), fault, *command[4:]]


def run_to_end(command: list[str], fault: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(with_fault(command, fault), capture_output=True, text=True,
                          timeout=TIMEOUT_S)


def default_sigint() -> None:
    """In the child: Ctrl-C as in a terminal, even when this test runs as a background job
    (a shell starts those with SIGINT ignored, and Python then installs no handler)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(command: list[str], fault: str | None = None) -> subprocess.Popen:
    return subprocess.Popen(with_fault(command, fault), preexec_fn=default_sigint,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_epoch_line(process: subprocess.Popen) -> str:
    """Read the child's stdout until it reports an epoch (or ends)."""
    for line in process.stdout:
        if line.startswith("epoch "):
            return line
    return ""


def saved_epochs(run_dir: Path) -> int:
    """The epochs committed in the run's checkpoint manifest."""
    manifest = json.loads((run_dir / "checkpoint" / "manifest.json").read_text())
    return manifest["progress"]["epochs_done"]


def comparable_record(run_dir: Path) -> dict:
    """The run's record without timings and the fields naming where it was written."""
    record = json.loads((run_dir / "model.json").read_text())
    for key in (*TIMING_FIELDS, "run_dir", "model_path"):
        record.pop(key)
    record["config"].pop("runs_dir")
    return record


def assert_same_run(ours: Path, reference: Path) -> None:
    assert comparable_record(ours) == comparable_record(reference)
    history = pd.read_csv(ours / "history.csv").drop(columns="epoch_time_s")
    expected = pd.read_csv(reference / "history.csv").drop(columns="epoch_time_s")
    assert list(history["epoch"]) == list(range(len(expected))), "each epoch once, in order"
    pd.testing.assert_frame_equal(history, expected, check_exact=True)
    ours_weights = keras.models.load_model(ours / "model.keras").get_weights()
    reference_weights = keras.models.load_model(reference / "model.keras").get_weights()
    assert len(ours_weights) == len(reference_weights)
    for a, b in zip(ours_weights, reference_weights, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def warm_cache(fer2013_dir):
    """Decode FER2013's train folder once into the cache the subprocesses read."""
    from emotion_classification.data.fer2013 import load_fer2013

    load_fer2013(fer2013_dir, splits=("train",))
    return fer2013_dir


@pytest.mark.slow
def test_killed_and_resumed_training_ends_as_the_uninterrupted_run(warm_cache, tmp_path):
    reference_command = train_command(tmp_path / "reference", warm_cache)
    started_s = time.time()
    done = run_to_end(reference_command)
    whole_run_s = time.time() - started_s
    assert done.returncode == 0, done.stderr
    reference = tmp_path / "reference" / "run"

    command = train_command(tmp_path / "resumed", warm_cache)
    run_dir = tmp_path / "resumed" / "run"
    killed = run_to_end(command, fault="mid-state:2")  # half the epoch-2 state file written
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert any(p.name.startswith(".tmp-") for p in (run_dir / "checkpoint").iterdir())

    process = start(command, fault="pause-after-report:2")  # Ctrl-C mid-run, after epoch 2
    assert wait_for_epoch_line(process).startswith("epoch 2/"), "resumed after epoch 1"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    saved = saved_epochs(run_dir)
    assert saved in (2, 3), "Ctrl-C keeps the epochs finished before it"
    assert last.startswith(f"interrupted: epochs 1-{saved} are saved in {run_dir}; resume with: ")
    assert "--name run" in last and f"--runs-dir {tmp_path / 'resumed'}" in last

    for point in ("before-manifest", "after-manifest"):  # around the commit of the next epoch
        fault = f"{point}:{saved_epochs(run_dir) + 1}"
        killed = run_to_end(command, fault=fault)
        assert killed.returncode == -signal.SIGKILL, (fault, killed.stderr)

    delay_s = random.Random(0).uniform(0.3, 1.0) * whole_run_s  # anywhere: start-up to saving
    process = start(command)
    time.sleep(delay_s)
    process.kill()
    process.communicate(timeout=TIMEOUT_S)

    done = run_to_end(command)
    assert done.returncode == 0, done.stderr
    assert_same_run(run_dir, reference)
    assert not [p for p in run_dir.rglob(".tmp-*")], "no temporary file left behind"


@pytest.mark.slow
def test_a_finished_run_asked_again_says_so_and_restart_trains_it_anew(tmp_path, capsys,
                                                                       monkeypatch):
    from made_files import write_dataset

    from emotion_classification.cli.train import main

    monkeypatch.setenv("EMOTION_CACHE_DIR", str(tmp_path / "cache"))
    root = write_dataset(tmp_path / "fer2013", {"train": 8, "test": 2})
    flags = ["--data-dir", str(root), "--widths", "4,4,8,8", "--head-units", "8",
             "--epochs", "1", "--batch-size", "16", "--val-fraction", "0.3",
             "--warmup-epochs", "0", "--precision", "float32", "--verbose", "0",
             "--name", "once", "--runs-dir", str(tmp_path / "runs")]
    assert main(flags) == 0
    record_path = tmp_path / "runs" / "once" / "model.json"
    first = record_path.stat().st_mtime_ns
    capsys.readouterr()
    assert main(flags) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / 'runs' / 'once'} is already finished (1 epochs" in out
    assert record_path.stat().st_mtime_ns == first, "a finished run is not trained again"

    assert main([*flags, "--epochs", "2"]) == 1  # another config in the same folder
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"error: {tmp_path / 'runs' / 'once'}: this run was started with "
                            "another config: epochs 2 (was 1)")

    assert main([*flags, "--epochs", "2", "--restart"]) == 0
    history = pd.read_csv(tmp_path / "runs" / "once" / "history.csv")
    assert list(history["epoch"]) == [0, 1]
    assert json.loads(record_path.read_text())["epochs_run"] == 2


def test_training_stops_before_the_next_batch_after_ctrl_c(own_ctrl_c_handler):
    from emotion_classification.training.loop import stop_between_batches
    from emotion_classification.utils.console import interrupts_held

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    batches_run = []

    class CountBatches(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            batches_run.append(batch)
            if batch == 1:
                os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt), interrupts_held() as interrupts:
        model.fit(np.zeros((8, 2)), np.zeros((8, 1)), batch_size=1, epochs=1, verbose=0,
                  callbacks=[CountBatches(), stop_between_batches(interrupts)])
    assert batches_run == [0, 1], "the batch under way ends; the next one does not start"
