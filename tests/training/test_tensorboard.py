"""TensorBoard logs of every run: per-epoch scalars, hyperparameters and the final validation
images, read back with TensorBoard's own loaders; a resumed run logs each epoch once."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from made_files import write_dataset
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.plugins.hparams import plugin_data_pb2

from emotion_classification.training.checkpoint import TrainingHooks
from emotion_classification.training.config import TrainConfig
from emotion_classification.training.loop import TrainingInterrupted, train

EVERY_IMAGE = {"images": 0, "scalars": 0, "tensors": 0}


@pytest.fixture
def tiny_config(tmp_path, monkeypatch) -> TrainConfig:
    """A very small model on a tiny FER2013 the test writes, for a few epochs."""
    monkeypatch.setenv("EMOTION_CACHE_DIR", str(tmp_path / "cache"))
    root = write_dataset(tmp_path / "fer2013", {"train": 8, "test": 2})
    return TrainConfig(data_dir=str(root), widths=(4, 4, 8, 8), head_units=8, epochs=3,
                       batch_size=16, val_fraction=0.3, warmup_epochs=0, verbose=0,
                       precision="float32", runs_dir=str(tmp_path / "runs"), name="tb")


def accumulator(folder: Path) -> EventAccumulator:
    events = EventAccumulator(str(folder), size_guidance=EVERY_IMAGE)
    events.Reload()
    return events


def scalar_steps(folder: Path, tag: str) -> dict[int, float]:
    """``{step: value}`` of a scalar written by TensorBoard's scalar plugin."""
    return {e.step: e.tensor_proto.float_val[0] for e in accumulator(folder).Tensors(tag)}


def event_counts(folder: Path) -> Counter:
    """How often each ``(subfolder, tag, step)`` was written, over every event file."""
    counts = Counter()
    for path in folder.rglob("events.out.tfevents.*"):
        for event in EventFileLoader(str(path)).Load():
            counts.update((path.parent.name, v.tag, event.step) for v in event.summary.value)
    return counts


@pytest.mark.slow
def test_a_run_logs_scalars_hparams_and_the_confusion_matrix(tiny_config, tmp_path):
    record = train(tiny_config)
    board = tmp_path / "runs" / "tb" / "tensorboard"
    for tag in ("epoch_loss", "epoch_accuracy", "epoch_learning_rate", "epoch_time_s"):
        assert sorted(scalar_steps(board / "train", tag)) == [1, 2, 3], tag
    val_accuracy = scalar_steps(board / "validation", "epoch_accuracy")
    assert sorted(val_accuracy) == [1, 2, 3]
    final = scalar_steps(board / "validation", "final_accuracy")
    assert final == {3: pytest.approx(record["validation"]["accuracy"], abs=1e-4)}
    images = accumulator(board / "validation").Images
    for tag in ("confusion_matrix", "class_recall"):
        (image,) = images(tag)
        assert image.step == 3 and image.encoded_image_string.startswith(b"\x89PNG")
        assert image.width > 100 and image.height > 100
    (session,) = accumulator(board).Tensors("_hparams_/session_start_info")
    content = accumulator(board).SummaryMetadata("_hparams_/session_start_info")
    data = plugin_data_pb2.HParamsPluginData.FromString(content.plugin_data.content)
    hparams = {k: v.string_value or v.number_value for k, v in
               data.session_start_info.hparams.items()}
    assert hparams["widths"] == "4,4,8,8" and hparams["epochs"] == 3
    assert "runs_dir" not in hparams and "data_dir" not in hparams  # where, not what
    assert session.step == 0


@pytest.mark.slow
def test_a_resumed_run_logs_each_epoch_once(tiny_config, tmp_path):
    """Stopped after epoch 1's report, then killed between epoch 2's checkpoint commit and its
    log line: the resumed run fills epoch 2 in and adds epoch 3, never writing a step twice."""
    def stop_at(epoch: int):
        def stop(current: int) -> None:
            if current == epoch:
                raise KeyboardInterrupt
        return stop

    with pytest.raises(TrainingInterrupted):
        train(tiny_config, hooks=TrainingHooks(after_epoch_reported=stop_at(1)))
    with pytest.raises(TrainingInterrupted):
        train(tiny_config, hooks=TrainingHooks(after_commit=stop_at(2)))
    board = tmp_path / "runs" / "tb" / "tensorboard"
    assert sorted(scalar_steps(board / "validation", "epoch_accuracy")) == [1]
    train(tiny_config)
    counts = event_counts(board)
    assert max(counts.values()) == 1, [key for key, n in counts.items() if n > 1]
    for group, tag in (("train", "epoch_loss"), ("validation", "epoch_accuracy")):
        assert sorted(step for g, t, step in counts if (g, t) == (group, tag)) == [1, 2, 3]
    assert len(list((board / "validation").glob("events.out.tfevents.*"))) == 3  # 3 processes
    assert ("train", "epoch_learning_rate", 3) in counts


@pytest.mark.slow
def test_restart_discards_the_old_logs(tiny_config, tmp_path):
    import dataclasses

    train(dataclasses.replace(tiny_config, epochs=1))
    train(dataclasses.replace(tiny_config, epochs=1), restart=True)
    counts = event_counts(tmp_path / "runs" / "tb" / "tensorboard")
    assert max(counts.values()) == 1


@pytest.mark.slow
def test_logs_are_written_and_read_without_tensorflow(tmp_path):
    """The JAX path has no TensorFlow: TensorBoard's own writer and loaders must suffice."""
    script = f"""
import sys
sys.modules["tensorflow"] = None  # as if TensorFlow were not installed
import numpy as np
from pathlib import Path
from emotion_classification.training.tensorboard import RunBoard
board = RunBoard(Path({str(tmp_path / "tb")!r}))
board.hparams({{"widths": (4, 8), "learning_rate": 0.01, "teacher": None}}, "run")
board.epochs([{{"epoch": 0, "loss": 2.0, "val_accuracy": 0.25}}], learning_rate=0.01)
labels = np.arange(14) % 7
board.final(1, labels, labels, 1.0)
board.close()
again = RunBoard(Path({str(tmp_path / "tb")!r}))
assert ("validation", "confusion_matrix", 1) in again.logged, again.logged
assert "tensorflow" not in sys.modules or sys.modules["tensorflow"] is None
print("ok", len(again.logged))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["ok", "7"]
