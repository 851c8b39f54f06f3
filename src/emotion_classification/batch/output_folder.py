"""The output folder of ``predict``: created, held by one run at a time, and cleaned.

* one run at a time holds the folder (an exclusive ``flock`` on ``.predict.lock``); a second
  run is refused with one line instead of silently dropping the first run's results;
* temporary files and folders left by killed runs (``.tmp-<pid>-*``, pid no longer running)
  are removed by the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from emotion_classification.inference.images import shown
from emotion_classification.utils.files import make_writable_folder, remove_orphan_temp_files

LOCK_NAME = ".predict.lock"
#: Folders under the output folder where a killed run may have left temporary files.
TEMP_FOLDERS = (".", "faces/selected", "faces/rejected", "results.parquet")


class OutputFolderError(Exception):
    """The output folder cannot be used; ``str(error)`` is one line naming it."""


def prepare_folder(out_dir: Path) -> None:
    """Create ``out_dir`` or say in one line why it cannot hold results."""
    problem = make_writable_folder(out_dir, "output folder")
    if problem:
        raise OutputFolderError(f"{shown(out_dir)}: {problem}; choose another --out")


@contextlib.contextmanager
def folder_lock(out_dir: Path):
    """Hold ``out_dir`` for this run (exclusive ``flock``); refuse if another run holds it."""
    try:
        handle = open(out_dir / LOCK_NAME, "a+")  # noqa: SIM115 (held for the whole run)
    except OSError as error:
        raise OutputFolderError(f"{shown(out_dir)}: cannot write in the output folder "
                                f"({error.strerror or error})") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputFolderError(f"{shown(out_dir)}: another predict run is writing here; "
                                    "wait for it to finish or choose another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock


def remove_stale_temp_files(out_dir: Path) -> int:
    """Delete ``.tmp-<pid>-*`` files and folders whose writer is gone; returns how many."""
    return remove_orphan_temp_files(out_dir / name for name in TEMP_FOLDERS)
