"""Command line: ``python -m emotion_classification COMMAND [options]``.

Each command lives in its own module, imported only when used so ``--help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys

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


def usage() -> str:
    lines = ["usage: python -m emotion_classification COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<10} {description}" for name, (_, description) in COMMANDS.items()]
    lines += ["", "python -m emotion_classification COMMAND --help shows a command's options"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(f"error: unknown command {argv[0]!r}\n{usage()}", file=sys.stderr)
        return 2
    return importlib.import_module(COMMANDS[argv[0]][0]).main(argv[1:])
