"""What a command says on the console: one-line errors and notes, paths typed by the user,
a stdout that may be closed early (``... | head``) and the exit status after Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED_STATUS = 130
#: Ctrl-C signals received by this process (see :func:`install_interrupt_handler`).
_interrupts_received: list[int] = []


def _raise_interrupt(signum: int, frame) -> None:
    """Python's own Ctrl-C behaviour, remembering that it happened."""
    _interrupts_received.append(signum)
    raise KeyboardInterrupt


def install_interrupt_handler() -> None:
    """Make Ctrl-C raise ``KeyboardInterrupt`` as usual and leave a mark.

    A ``KeyboardInterrupt`` raised while a native module initialises (TensorFlow's, for
    one) can come out as another exception ("initialization failed"); the mark lets the
    command line still call that an interruption rather than print its traceback.
    """
    signal.signal(signal.SIGINT, _raise_interrupt)


def interrupt_received() -> bool:
    """Whether Ctrl-C reached this process since :func:`install_interrupt_handler`."""
    return bool(_interrupts_received)


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
