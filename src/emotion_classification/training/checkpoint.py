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
stored: it is re-derived from ``(seed, epoch)`` (:mod:`.random_state`), so a resumed epoch
draws what the same epoch of an uninterrupted run draws.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emotion_classification.utils.files import durable_write

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def ignore_epoch(epoch: int) -> None:
    """The default hook: nothing happens at this point of the epoch."""


def ignore_logs(epoch: int, logs: dict) -> None:
    """The default metrics hook: an epoch's numbers go nowhere else."""


@dataclass(frozen=True)
class TrainingHooks:
    """Callables run at fixed points of every epoch, for a caller that watches a run.

    The defaults write files durably and do nothing else. A caller passes its own to
    :func:`~emotion_classification.training.loop.train` to observe a run or to stop it at an
    exact point (the resume tests kill the process between two files of one commit).
    ``epoch_logs`` receives each epoch's number (from 1) and metrics once the epoch is
    committed and logged: a sweep reports them to its scheduler there.
    """

    write_file: Callable[[Path, bytes], None] = durable_write
    before_commit: Callable[[int], None] = ignore_epoch
    after_commit: Callable[[int], None] = ignore_epoch
    epoch_logs: Callable[[int, dict], None] = ignore_logs
    after_epoch_reported: Callable[[int], None] = ignore_epoch


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


class Checkpoint:
    """The ``checkpoint/`` folder of a run: save after each epoch, load on resume."""

    def __init__(self, folder: Path, hooks: TrainingHooks | None = None):
        self.folder = Path(folder)
        self.hooks = hooks or TrainingHooks()

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
        write = self.hooks.write_file
        write(self.folder / state_name, arrays_bytes(state))
        best_name = f"best-{progress.best_epoch:04d}.npz" if best is not None else None
        if best_name and not (self.folder / best_name).is_file():
            write(self.folder / best_name, arrays_bytes({"weights": best}))
        self.hooks.before_commit(epoch)
        manifest = {"format": FORMAT_VERSION, "config": config, "state": state_name,
                    "best": best_name, "progress": progress.to_json()}
        write(self.folder / MANIFEST, json.dumps(manifest, indent=1).encode())
        self.hooks.after_commit(epoch)
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
