"""Command line: ``python -m emotion_classification COMMAND [options]``.

Each command lives in its own module of this sub-package, imported only when used so
``--help`` stays fast. Nothing outside ``cli`` imports it.
"""

from __future__ import annotations

import importlib
import sys

from emotion_classification.utils import quiet
from emotion_classification.utils.console import (
    INTERRUPTED_STATUS,
    error_line,
    exit_process,
    install_interrupt_handler,
    interrupt_received,
)

#: command -> (module with ``main(argv) -> int``, one-line description)
COMMANDS = {
    "predict": ("emotion_classification.cli.predict", "label every face in photos (MTCNN + CNN)"),
    "video": ("emotion_classification.cli.video", "track faces and their emotions through a video"),
    "train": ("emotion_classification.cli.train", "train a model into runs/<name>/ (never models/)"),
    "sweep": ("emotion_classification.cli.sweep",
              "search hyperparameters on Ray Tune, one train run per trial in runs/<sweep>/"),
    "promote": ("emotion_classification.cli.promote",
                "make a finished run the shipped model and refresh what depends on it"),
    "evaluate": ("emotion_classification.cli.evaluate",
                 "test-folder metrics, calibration, figures into outputs/evaluation/"),
    "export": ("emotion_classification.cli.export",
               "export to ONNX or TensorFlow Lite into outputs/export/ and check it"),
    "eda": ("emotion_classification.cli.eda", "exploratory figures of FER2013 into outputs/eda/"),
    "notebooks": ("emotion_classification.cli.notebooks",
                  "run the notebooks headless, executed copies into outputs/notebooks/"),
}


def usage() -> str:
    """The top-level help: every command with one line saying what it does."""
    lines = ["usage: python -m emotion_classification COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<10} {description}" for name, (_, description) in COMMANDS.items()]
    lines += ["", "python -m emotion_classification COMMAND --help shows a command's options",
              "  (every option has a sentence, its choices and its default)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run one command; 2 for an unknown command, 130 after Ctrl-C."""
    quiet.install()
    install_interrupt_handler()
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
    except Exception:
        if not interrupt_received():
            raise
        error_line("interrupted")  # Ctrl-C inside a native import can surface as another error
        return INTERRUPTED_STATUS


def run() -> None:
    """The ``emotion-classification`` console script: :func:`main`, then exit with its
    status (at once after Ctrl-C)."""
    exit_process(main())
