"""TensorBoard logs of a run, in ``runs/<name>/tensorboard/``: ``tensorboard --logdir runs``.

Every run writes, with TensorBoard's own event writer (no TensorFlow needed, so the JAX
backend logs the same way):

* ``train/``: per epoch the training loss and accuracy, the learning rate and the epoch time;
* ``validation/``: per epoch the validation loss and accuracy; at the end the accuracy after
  batch-norm recalibration (``final_accuracy``), the confusion matrix and the recall of each
  class as images;
* the run's hyperparameters through the HParams plugin, so the runs under one ``--logdir``
  can be compared in one table.

The step of an epoch is its number, counted from 1 as the console prints it. An epoch is
logged once, after its checkpoint is committed; a resumed run reads what its folder already
holds and writes only the steps that are missing, so a run killed and resumed any number of
times shows each epoch once.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np

TENSORBOARD_DIR = "tensorboard"
TRAIN_GROUP = "train"
VALIDATION_GROUP = "validation"
#: The HParams plugin's tag for a run's hyperparameters (written in the run's own folder).
HPARAMS_TAG = "_hparams_/session_start_info"
#: History columns that are not metrics: the epoch index (from 0) and its duration.
NOT_METRICS = ("epoch",)
#: Resolution of the images in TensorBoard: small enough to keep event files light.
FIGURE_DPI = 80


def metric_tags(logs: dict) -> dict[tuple[str, str], float]:
    """Keras' epoch logs as ``{(group, tag): value}``: ``val_x`` goes to validation as
    ``epoch_x``, the rest to train (the names Keras' own TensorBoard callback uses)."""
    tags = {}
    for key, value in logs.items():
        if key in NOT_METRICS or value is None:
            continue
        if key.startswith("val_"):
            tags[(VALIDATION_GROUP, f"epoch_{key[4:]}")] = float(value)
        elif key.endswith("_s"):
            tags[(TRAIN_GROUP, key)] = float(value)
        else:
            tags[(TRAIN_GROUP, f"epoch_{key}")] = float(value)
    return tags


def hparam_value(value):
    """A config value as the HParams plugin takes it: a bool, number or string."""
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return "none" if value is None else str(value)


def logged_steps(folder: Path) -> set[tuple[str, str, int]]:
    """``(group, tag, step)`` of every summary already in the event files under ``folder``."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    found = set()
    for path in sorted(folder.rglob("events.out.tfevents.*")):
        group = "" if path.parent == folder else path.parent.name
        for event in EventFileLoader(str(path)).Load():
            found.update((group, value.tag, event.step) for value in event.summary.value)
    return found


def figure_png(fig) -> tuple[bytes, int, int]:
    """A matplotlib figure as PNG bytes with its height and width in pixels; closes it."""
    import matplotlib.pyplot as plt
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    plt.close(fig)
    width, height = Image.open(io.BytesIO(buffer.getvalue())).size
    return buffer.getvalue(), height, width


class RunBoard:
    """The event files of one run: scalars, hyperparameters and images, each step once."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.logged = logged_steps(self.folder) if self.folder.is_dir() else set()
        self.writers: dict[str, object] = {}

    def writer(self, group: str):
        """The event writer of ``group`` (a subfolder; "" is the run's own folder)."""
        if group not in self.writers:
            from tensorboard.summary.writer.event_file_writer import EventFileWriter

            folder = self.folder / group if group else self.folder
            folder.mkdir(parents=True, exist_ok=True)
            self.writers[group] = EventFileWriter(str(folder))
        return self.writers[group]

    def write(self, group: str, step: int, summary) -> None:
        """Add ``summary`` at ``step`` unless its tags are already logged there."""
        from tensorboard.compat.proto import event_pb2

        new = [v for v in summary.value if (group, v.tag, step) not in self.logged]
        if not new:
            return
        del summary.value[:]
        summary.value.extend(new)
        self.writer(group).add_event(event_pb2.Event(wall_time=time.time(), step=step,
                                                     summary=summary))
        self.logged.update((group, v.tag, step) for v in new)

    def scalars(self, step: int, values: dict[tuple[str, str], float]) -> None:
        """One scalar per ``(group, tag)`` at ``step``."""
        from tensorboard.plugins.scalar.summary_v2 import scalar_pb

        for (group, tag), value in values.items():
            self.write(group, step, scalar_pb(tag, value))

    def hparams(self, config: dict, run_name: str) -> None:
        """The run's hyperparameters (written once, at step 0)."""
        from tensorboard.plugins.hparams.summary_v2 import hparams_pb

        values = {key: hparam_value(value) for key, value in sorted(config.items())}
        self.write("", 0, hparams_pb(values, trial_id=run_name))

    def image(self, group: str, tag: str, step: int, fig) -> None:
        """A matplotlib figure as an image summary."""
        from tensorboard.compat.proto import summary_pb2

        png, height, width = figure_png(fig)
        image = summary_pb2.Summary.Image(height=height, width=width, colorspace=4,
                                          encoded_image_string=png)
        self.write(group, step, summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag=tag, image=image)]))

    def epochs(self, history: list[dict], learning_rate: float | None = None) -> None:
        """Each history row not logged yet, at its epoch number (from 1); the learning rate,
        when given, belongs to the last row."""
        for row in history:
            values = metric_tags(row)
            if learning_rate is not None and row is history[-1]:
                values[(TRAIN_GROUP, "epoch_learning_rate")] = learning_rate
            self.scalars(int(row["epoch"]) + 1, values)
        self.flush()

    def final(self, step: int, labels: np.ndarray, predicted: np.ndarray,
              val_accuracy: float) -> None:
        """The finished model on the validation split: accuracy, confusion matrix, recall."""
        from emotion_classification.utils.plots import plot_class_recall, plot_confusion_matrices

        self.scalars(step, {(VALIDATION_GROUP, "final_accuracy"): val_accuracy})
        self.image(VALIDATION_GROUP, "confusion_matrix", step,
                   plot_confusion_matrices(labels, predicted))
        self.image(VALIDATION_GROUP, "class_recall", step, plot_class_recall(labels, predicted))
        self.flush()

    def flush(self) -> None:
        for writer in self.writers.values():
            writer.flush()

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()


def current_learning_rate(optimizer) -> float:
    """The learning rate the optimizer's next step uses (its schedule evaluated now)."""
    import keras

    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))

