"""Command line: ``python -m emotion_classification {train,evaluate,predict,video,eda,...}``."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"train": "emotion_classification.train", "export": "emotion_classification.export", "evaluate": "emotion_classification.evaluate",
                "eda": "emotion_classification.eda",
                "predict": "emotion_classification.inference",
                "video": "emotion_classification.video",
                "notebooks": "emotion_classification.notebooks"}
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        print("usage: python -m emotion_classification {" + ",".join(commands) + "} ...",
              file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    import importlib

    return importlib.import_module(commands[argv[0]]).main(argv[1:])
