"""Output names made from a user's file names: safe to use as file names, never a pattern.

An input's stem can hold anything a file system allows: bytes that are not UTF-8, a leading
dot (a hidden file, or one that looks like our ``.tmp-<pid>-`` files), glob characters
(``a[12]``, ``*``). :func:`safe_name` turns it into a plain name that prints and stays
visible. :func:`unique_name` adds a short hash of the input's resolved path, so two inputs
with the same stem (``a.mp4`` and ``a.avi``, or ``one/a.mp4`` and ``two/a.mp4``) never share
outputs, and the same input always gets the same name. Output files are always found by
their exact names, never by expanding a pattern built from these names.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

#: Hex digits of the path's sha256 kept in :func:`unique_name` (collisions: 1 in 4 billion).
PATH_TAG_HEX_DIGITS = 8
#: Characters replaced by ``_`` in an output name: path separators and control characters.
UNSAFE_CHARACTERS = re.compile(r"[/\\\x00-\x1f\x7f]")


def safe_name(text: str | os.PathLike, fallback: str = "image") -> str:
    """``text`` as a visible, printable file name: bytes that are not UTF-8, separators and
    control characters become ``_``, and leading dots are dropped."""
    decoded = os.fsencode(text).decode("utf-8", "replace").replace("\ufffd", "_")
    return UNSAFE_CHARACTERS.sub("_", decoded).lstrip(".") or fallback


def resolved(path: str | os.PathLike) -> Path:
    """The absolute path with symbolic links followed as far as they go (a link that points
    at itself is kept as it is instead of raising)."""
    path = Path(path).expanduser().absolute()
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: RuntimeError before Python 3.13
        return path


def path_tag(path: str | os.PathLike) -> str:
    """A short hash of the resolved path: the same for every spelling of one file."""
    digest = hashlib.sha256(os.fsencode(resolved(path))).hexdigest()
    return digest[:PATH_TAG_HEX_DIGITS]


def unique_name(path: str | os.PathLike, fallback: str = "output", label: str | None = None
                ) -> str:
    """``<safe label>-<path tag>``: an output name no other input can get (see the module).

    ``label`` is the readable part, the file's stem unless given (a folder's name, say).
    """
    return f"{safe_name(Path(path).stem if label is None else label, fallback)}-{path_tag(path)}"
