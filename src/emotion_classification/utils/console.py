"""What a command says on the console: one-line errors and notes, paths typed by the user,
a stdout that may be closed early (``... | head``) and the exit status after Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

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
    """Whether Ctrl-C reached this process (through either handler of this module)."""
    return bool(_interrupts_received)


def _record_interrupt(signum: int, frame) -> None:
    """Remember Ctrl-C without raising: see :func:`interrupts_held`."""
    _interrupts_received.append(signum)


class HeldInterrupts:
    """The Ctrl-C presses recorded since a block of :func:`interrupts_held` began."""

    def __init__(self) -> None:
        self.count_at_start = len(_interrupts_received)

    def received(self) -> bool:
        return len(_interrupts_received) > self.count_at_start

    def raise_if_received(self) -> None:
        """Raise ``KeyboardInterrupt`` here, a point the caller knows to be safe."""
        if self.received():
            raise KeyboardInterrupt


@contextmanager
def interrupts_held() -> Iterator[HeldInterrupts]:
    """Within the block Ctrl-C is only recorded; the code raises it where it chooses.

    Python raises ``KeyboardInterrupt`` at whatever bytecode runs when the signal arrives,
    and one raised inside TensorFlow's C++ conversion of a Python value can crash the process
    (a segmentation fault in place of a saved run). A long TensorFlow loop therefore holds
    Ctrl-C and checks :meth:`HeldInterrupts.raise_if_received` between batches; a press not
    acted on by the end of the block is raised there. Outside the main thread (where signals
    cannot be handled) the block changes nothing.
    """
    held = HeldInterrupts()
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    previous = signal.signal(signal.SIGINT, _record_interrupt)
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, previous)
    held.raise_if_received()


def exit_process(status: int) -> NoReturn:
    """End the process with ``status``. An interrupted command has said its one line and
    saved what it did, so it ends at once: a signal still pending in TensorFlow's shutdown
    must not turn status 130 into death by SIGINT."""
    if status != INTERRUPTED_STATUS:
        sys.exit(status)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


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
