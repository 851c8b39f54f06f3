"""Project paths and atomic file output, shared by every module that writes results.

Relative paths are taken from the project root (not the current directory), so notebooks
running inside ``notebooks/`` and the command line see the same files. Every result file is
written under a temporary name beside its target and renamed into place, so an interrupted
run never leaves a half-written model, report or figure.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: The temporary names :func:`atomic_output` writes: ``.tmp-<pid>-<name>``.
TEMP_FILE = re.compile(r"^\.tmp-(\d+)-")


def project_root() -> Path:
    """The checkout that holds ``pyproject.toml``, else the current directory.

    Default paths (``data/fer2013``, ``data/cache``, ``models/``) are relative to it, so
    notebooks running inside ``notebooks/`` find the same files as the command line.
    """
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "src").is_dir():
            return parent
    return Path.cwd()


def project_path(path: str | os.PathLike) -> Path:
    """``path`` with ``~`` expanded; a relative path is taken from the project root."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else project_root() / path


def shown_path(path: str | os.PathLike) -> str:
    """``path`` relative to the project root when inside it, else absolute: how results and
    notebooks name files, so no machine's own folders end up in what is committed."""
    try:
        return str(Path(path).resolve().relative_to(project_root().resolve()))
    except ValueError:
        return str(path)


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary name beside ``path`` (same suffix); rename it onto ``path`` once
    written. On an error the temporary file is removed and ``path`` is left as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def temp_name(path: Path) -> Path:
    """The hidden name beside ``path`` that a file is written under before it is renamed
    onto ``path`` (:func:`temp_target` maps it back)."""
    return path.with_name(f".tmp-{os.getpid()}-{path.name}")


def temp_target(path: str | os.PathLike) -> Path:
    """The file a temporary name of :func:`atomic_output` stands for (other paths as they
    are): what an error line names, never the hidden temporary file or staging folder."""
    return Path(*(TEMP_FILE.sub("", part, count=1) for part in Path(path).parts))


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: Path, payload: dict) -> None:
    """Write indented JSON atomically."""
    write_text(path, json.dumps(payload, indent=2) + "\n")


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (the renames) to disk, where the platform allows it."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def durable_write(path: Path, data: bytes) -> None:
    """Write ``data`` atomically and flush it to disk before the rename, so that after a
    power cut ``path`` holds either the old bytes or the new ones (checkpoints)."""
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    fsync_dir(path.parent)


def make_writable_folder(folder: Path, what: str) -> str | None:
    """Create ``folder`` (``what`` names it: "output folder", "export folder"); the reason it
    cannot hold results, in words, or None when it can."""
    if folder.exists() and not folder.is_dir():
        return "is a file, not a folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"cannot create the {what} ({error.strerror or error})"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot write in the {what} (read-only or permission denied)"
    return None


def pid_running(pid: int) -> bool:
    """Whether a process with this id exists (owned by anyone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphan_temp_files(folders) -> int:
    """Delete the ``.tmp-<pid>-*`` files and folders in ``folders`` whose writer is gone (a
    process killed while writing); returns how many."""
    import shutil

    removed = 0
    for folder in folders:
        for path in folder.glob(".tmp-*") if folder.is_dir() else ():
            match = TEMP_FILE.match(path.name)
            if match and int(match.group(1)) != os.getpid() and pid_running(int(match.group(1))):
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed += 1
    return removed
