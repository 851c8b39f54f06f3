"""The ``train`` command with one fault injected, for the resume tests.

    python tests/faulty_train.py POINT:EPOCH [train flags ...]

POINT is ``mid-state`` (SIGKILL half-way through writing that epoch's checkpoint state),
``before-manifest`` or ``after-manifest`` (SIGKILL just before or after the manifest that
commits that epoch) or ``pause-after-report`` (wait for a Ctrl-C, so it lands mid-run however
fast the tiny training is). The faults reach the run through
:class:`~emotion_classification.training.checkpoint.TrainingHooks`, never the environment.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from emotion_classification.cli.train import main
from emotion_classification.training.checkpoint import TrainingHooks
from emotion_classification.utils.console import exit_process, interrupt_received
from emotion_classification.utils.files import durable_write

PAUSE_S = 60.0


def kill_now(epoch: int = 0) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def half_written_then_killed(epoch: int):
    """A file writer that dies half-way through epoch ``epoch``'s state file."""
    def write(path: Path, data: bytes) -> None:
        if path.name != f"epoch-{epoch:04d}.npz":
            durable_write(path, data)
            return
        with open(path.with_name(f".tmp-{os.getpid()}-{path.name}"), "wb") as handle:
            handle.write(data[:len(data) // 2])
            handle.flush()
        kill_now()
    return write


def pause_until_interrupted() -> None:
    """Wait (at most :data:`PAUSE_S`) for a Ctrl-C, which training holds until it can act."""
    deadline_s = time.monotonic() + PAUSE_S
    while not interrupt_received() and time.monotonic() < deadline_s:
        time.sleep(0.05)


def at_epoch(epoch: int, action):
    """A hook that runs ``action`` at epoch ``epoch`` only."""
    return lambda current: action() if current == epoch else None


def hooks_for(fault: str) -> TrainingHooks:
    point, _, epoch_text = fault.partition(":")
    epoch = int(epoch_text)
    if point == "mid-state":
        return TrainingHooks(write_file=half_written_then_killed(epoch))
    if point == "before-manifest":
        return TrainingHooks(before_commit=at_epoch(epoch, kill_now))
    if point == "after-manifest":
        return TrainingHooks(after_commit=at_epoch(epoch, kill_now))
    if point == "pause-after-report":
        return TrainingHooks(after_epoch_reported=at_epoch(epoch, pause_until_interrupted))
    raise SystemExit(f"unknown fault point {point!r}")


if __name__ == "__main__":
    exit_process(main(sys.argv[2:], hooks=hooks_for(sys.argv[1])))
