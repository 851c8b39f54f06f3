"""Durable resume: a per-epoch checkpoint that a kill at any instant cannot corrupt.

After each epoch the run's state is written as a database writes its log: every file goes
to a temporary name, is flushed to disk and renamed into place, and a small manifest,
written last the same way, names the complete epoch's files. The manifest's rename is the
commit: a kill before it leaves the previous epoch's manifest and files untouched, a kill
after it leaves the new epoch complete. Files no manifest names (an interrupted write, an
older epoch) are removed on the next start.

The checkpoint holds the weights (batch-norm statistics included), the optimizer's
variables (step count, moments, moving average), the best weights so far, the
early-stopping and learning-rate-plateau state and the history rows. Random state is not
stored: shuffling and every ``keras.random.SeedGenerator`` of the training model are
re-derived from ``(seed, epoch)`` at the start of each epoch (:func:`epoch_order`,
:func:`reset_seed_generators`), so a resumed epoch draws what the same epoch of an
uninterrupted run draws.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emotion_classification.config import TrainConfig

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
#: ``point:epoch`` (for example ``mid-state:2``): kill this process there (fault-injection tests).
FAULT_ENV = "EMOTION_CHECKPOINT_FAULT"
FAULT_POINTS = ("mid-state", "before-manifest", "after-manifest")
#: The learning-rate plateau rule (the study's ReduceLROnPlateau): factor, patience, min delta.
PLATEAU_FACTOR, PLATEAU_PATIENCE, PLATEAU_MIN_DELTA = 0.2, 2, 1e-4


@dataclass
class Progress:
    """Where a run stands after its last finished epoch (epochs count from 1)."""

    epochs_done: int = 0
    best_accuracy: float = -math.inf
    best_epoch: int = 0
    wait: int = 0
    plateau_best: float = math.inf
    plateau_wait: int = 0
    learning_rate: float | None = None
    stopped: bool = False
    history: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        for key in ("best_accuracy", "plateau_best"):  # JSON has no infinities
            data[key] = None if math.isinf(data[key]) else data[key]
        return data

    @classmethod
    def from_json(cls, data: dict) -> Progress:
        data = dict(data)
        data["best_accuracy"] = -math.inf if data["best_accuracy"] is None else data["best_accuracy"]
        data["plateau_best"] = math.inf if data["plateau_best"] is None else data["plateau_best"]
        return cls(**data)


def inject_fault(point: str, epoch: int) -> None:
    """Kill this process with SIGKILL when ``$EMOTION_CHECKPOINT_FAULT`` names this point."""
    if os.environ.get(FAULT_ENV) == f"{point}:{epoch}":
        os.kill(os.getpid(), signal.SIGKILL)


#: How long the test hook ``pause-after-report:<epoch>`` holds the run, so a test's Ctrl-C
#: lands mid-run however fast the tiny training is.
TEST_PAUSE_S = 60.0


def pause_for_test(epoch: int) -> None:
    """Sleep when ``$EMOTION_CHECKPOINT_FAULT`` is ``pause-after-report:<epoch>`` (tests)."""
    if os.environ.get(FAULT_ENV) == f"pause-after-report:{epoch}":
        time.sleep(TEST_PAUSE_S)


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (the renames) to disk, where the platform allows it."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def durable_write(path: Path, data: bytes, fault: tuple[str, int] | None = None) -> None:
    """Write ``data`` to a temporary file, flush it to disk, then rename it onto ``path``.

    ``fault`` names the injection point hit half-way through the bytes.
    """
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    with open(tmp, "wb") as handle:
        handle.write(data[:len(data) // 2])
        if fault:
            handle.flush()
            inject_fault(*fault)
        handle.write(data[len(data) // 2:])
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def arrays_bytes(arrays: dict[str, list[np.ndarray]]) -> bytes:
    """Named lists of arrays as ``.npz`` bytes (keys ``name/0000``, ...)."""
    buffer = io.BytesIO()
    np.savez(buffer, **{f"{name}/{i:04d}": a for name, items in arrays.items()
                        for i, a in enumerate(items)})
    return buffer.getvalue()


def read_arrays(path: Path) -> dict[str, list[np.ndarray]]:
    """The named lists of arrays written by :func:`arrays_bytes`."""
    found: dict[str, list[np.ndarray]] = {}
    with np.load(path) as archive:
        for key in sorted(archive.files):
            found.setdefault(key.split("/")[0], []).append(archive[key])
    return found


@contextlib.contextmanager
def interrupts_deferred():
    """Hold Ctrl-C until the block ends, so a checkpoint write is never cut in two."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


class Checkpoint:
    """The ``checkpoint/`` folder of a run: save after each epoch, load on resume."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def manifest(self) -> dict | None:
        """The last committed manifest, or None before the first epoch ends."""
        path = self.folder / MANIFEST
        if not path.is_file():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def load(self) -> tuple[Progress, dict[str, list[np.ndarray]], list[np.ndarray] | None] | None:
        """The last complete epoch's progress, state arrays and best weights (None if none).

        Files the manifest does not name are left-overs of an interrupted write: removed.
        """
        manifest = self.manifest()
        self.remove_unreferenced(manifest)
        if manifest is None:
            return None
        state = read_arrays(self.folder / manifest["state"])
        best = read_arrays(self.folder / manifest["best"])["weights"] if manifest["best"] else None
        return Progress.from_json(manifest["progress"]), state, best

    def save(self, progress: Progress, state: dict[str, list[np.ndarray]],
             best: list[np.ndarray] | None, config: dict) -> None:
        """Commit one finished epoch: its state, the best weights if they changed, then the
        manifest naming both; older files are removed only after the commit."""
        epoch = progress.epochs_done
        self.folder.mkdir(parents=True, exist_ok=True)
        state_name = f"epoch-{epoch:04d}.npz"
        durable_write(self.folder / state_name, arrays_bytes(state), fault=("mid-state", epoch))
        best_name = f"best-{progress.best_epoch:04d}.npz" if best is not None else None
        if best_name and not (self.folder / best_name).is_file():
            durable_write(self.folder / best_name, arrays_bytes({"weights": best}))
        inject_fault("before-manifest", epoch)
        manifest = {"format": FORMAT_VERSION, "config": config, "state": state_name,
                    "best": best_name, "progress": progress.to_json()}
        durable_write(self.folder / MANIFEST, json.dumps(manifest, indent=1).encode())
        inject_fault("after-manifest", epoch)
        self.remove_unreferenced(manifest)

    def remove_unreferenced(self, manifest: dict | None) -> None:
        """Delete every file of the folder the manifest does not name."""
        if not self.folder.is_dir():
            return
        keep = {MANIFEST, *(manifest and [manifest["state"], manifest["best"]] or [])}
        for path in self.folder.iterdir():
            if path.is_file() and path.name not in keep:
                path.unlink()


def variable_arrays(variables) -> list[np.ndarray]:
    """The values of Keras variables as NumPy arrays."""
    import keras

    return [keras.ops.convert_to_numpy(v) for v in variables]


def training_state(train_model) -> dict[str, list[np.ndarray]]:
    """The training model's weights and its optimizer's variables."""
    return {"weights": train_model.get_weights(),
            "optimizer": variable_arrays(train_model.optimizer.variables)}


def restore_training_state(train_model, state: dict[str, list[np.ndarray]]) -> None:
    """Put saved weights and optimizer variables back (the optimizer must be built)."""
    train_model.set_weights(state["weights"])
    variables = train_model.optimizer.variables
    if len(variables) != len(state.get("optimizer", [])):
        raise ValueError(f"checkpoint holds {len(state.get('optimizer', []))} optimizer "
                         f"variables, the optimizer has {len(variables)}")
    for variable, value in zip(variables, state["optimizer"], strict=True):
        variable.assign(value)


def epoch_order(seed: int, epoch: int, count: int) -> np.ndarray:
    """The order of the training images in ``epoch`` (from 1): a function of seed and epoch."""
    return np.random.default_rng([seed, epoch]).permutation(count)


def reset_seed_generators(model, seed: int, epoch: int) -> int:
    """Set the state of every ``keras.random.SeedGenerator`` in ``model`` (augmentation,
    dropout) from ``(seed, epoch)``; returns how many there are.

    A ``SeedGenerator`` keeps its state in a non-trainable variable named
    ``seed_generator_state``, ``[seed, counter]``, which each random draw advances; the
    layers list it in ``model.variables`` but not in ``model.weights``.
    """
    states = {id(v): v for v in model.variables if v.name == "seed_generator_state"}
    for index, variable in enumerate(states.values()):
        start = np.random.default_rng([seed, epoch, index]).integers(1, 2**31 - 1)
        variable.assign(np.array([start, 0]).astype(variable.dtype))
    return len(states)


def after_epoch(progress: Progress, logs: dict, model, best: list | None,
                config: TrainConfig, optimizer) -> list | None:
    """Advance ``progress`` by one epoch: early stopping on validation accuracy (keeping the
    best weights, as Keras' ``EarlyStopping(restore_best_weights=True)``), and the plateau
    rule on validation loss when that schedule is chosen; returns the best weights."""
    progress.epochs_done += 1
    progress.history.append(logs)
    if logs["val_accuracy"] > progress.best_accuracy:
        progress.best_accuracy, progress.best_epoch, progress.wait = (
            logs["val_accuracy"], progress.epochs_done, 0)
        best = model.get_weights()
    else:
        progress.wait += 1
        progress.stopped = progress.wait >= config.early_stopping_patience
    if config.schedule == "plateau":
        apply_plateau_rule(progress, logs["val_loss"], optimizer)
    return best if best is not None else model.get_weights()


def apply_plateau_rule(progress: Progress, val_loss: float, optimizer) -> None:
    """Divide the learning rate by 5 after two epochs without a lower validation loss."""
    if val_loss < progress.plateau_best - PLATEAU_MIN_DELTA:
        progress.plateau_best, progress.plateau_wait = val_loss, 0
    else:
        progress.plateau_wait += 1
        if progress.plateau_wait >= PLATEAU_PATIENCE:
            optimizer.learning_rate = float(optimizer.learning_rate) * PLATEAU_FACTOR
            progress.plateau_wait = 0
    progress.learning_rate = float(optimizer.learning_rate)
