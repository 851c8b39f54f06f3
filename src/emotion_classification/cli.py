"""Command line: ``python -m emotion_classification COMMAND [options]``.

Each command lives in its own module, imported only when used so ``--help`` stays fast. The
small helpers below are shared by the commands: one-line errors and notes, paths taken from
the current directory, and a stdout that may be closed early (``... | head``).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from emotion_classification import quiet

#: command -> (module with ``main(argv) -> int``, one-line description)
COMMANDS = {
    "predict": ("emotion_classification.predict", "label every face in photos (MTCNN + CNN)"),
    "video": ("emotion_classification.video", "track faces and their emotions through a video"),
    "train": ("emotion_classification.train", "train a model into runs/<name>/ (never models/)"),
    "promote": ("emotion_classification.promote",
                "make a finished run the shipped model and refresh what depends on it"),
    "evaluate": ("emotion_classification.evaluate", "test-folder metrics, calibration, figures"),
    "export": ("emotion_classification.export", "export to TensorFlow Lite and check it"),
    "eda": ("emotion_classification.eda", "exploratory figures of FER2013"),
    "notebooks": ("emotion_classification.notebooks", "run the notebooks headless"),
}
#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED_STATUS = 130


def usage() -> str:
    """The top-level help: every command with one line saying what it does."""
    lines = ["usage: python -m emotion_classification COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<10} {description}" for name, (_, description) in COMMANDS.items()]
    lines += ["", "python -m emotion_classification COMMAND --help shows a command's options",
              "  (every option has a sentence, its choices and its default)"]
    return "\n".join(lines)


def error_line(message: str) -> None:
    """The one line a user sees for a bad input: ``error: <file>: <problem>``."""
    print(f"error: {message}", file=sys.stderr, flush=True)


def note_line(message: str) -> None:
    """A one-line remark that is not an error (``note: <file>: <remark>``)."""
    print(f"note: {message}", file=sys.stderr, flush=True)


def cli_path(path: str | os.PathLike) -> Path:
    """A path typed on the command line: ``~`` expanded, relative to the current directory.

    The Python API takes relative model paths from the project root (so notebooks in
    ``notebooks/`` name the same files); on the command line every path is relative to where
    the user stands, as in any other program.
    """
    return Path(path).expanduser().absolute()


@contextmanager
def stdout_may_close() -> Iterator[None]:
    """Let ``command ... | head`` end quietly: a closed stdout is not worth a traceback."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python flushes stdout again at exit
        os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    """Run one command; 2 for an unknown command, 130 after Ctrl-C."""
    quiet.install()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(f"error: unknown command {argv[0]!r}\n{usage()}", file=sys.stderr)
        return 2
    try:
        return importlib.import_module(COMMANDS[argv[0]][0]).main(argv[1:])
    except KeyboardInterrupt:
        error_line("interrupted")
        return INTERRUPTED_STATUS
