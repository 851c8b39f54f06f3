"""The ``eda`` command: the exploratory figures of FER2013 (see
:mod:`emotion_classification.evaluation.eda`)."""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from emotion_classification.data.fer2013 import DatasetError, DatasetNotFoundError
from emotion_classification.evaluation.eda import DEFAULT_FIGURE_DIR, SMALL_PER_CLASS, run_eda


def main(argv: list[str] | None = None) -> int:
    """``python -m emotion_classification eda``: print the tables and write the figures."""
    from emotion_classification.cli.paths import output_path
    from emotion_classification.utils.files import shown_path

    parser = argparse.ArgumentParser(prog="python -m emotion_classification eda",
                                     description="FER2013 class counts, samples and pixel "
                                                 "intensity; writes three figures. Relative "
                                                 "paths are taken from the current folder.")
    parser.add_argument("--data-dir", help="FER2013 folder (default: $FER2013_DIR or "
                                           "data/fer2013)")
    parser.add_argument("--figure-dir", default=None,
                        help=f"where the figures go (default: {DEFAULT_FIGURE_DIR}/)")
    parser.add_argument("--small", action=argparse.BooleanOptionalAction, default=False,
                        help=f"only {SMALL_PER_CLASS} images per class, a quick check "
                             "(default: --no-small)")
    parser.add_argument("--seed", type=int, default=0,
                        help="which random sample faces to show (default: 0)")
    args = parser.parse_args(argv)
    try:
        result = run_eda(args.data_dir, output_path(args.figure_dir, DEFAULT_FIGURE_DIR),
                         small=args.small, seed=args.seed)
    except (DatasetError, DatasetNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with pd.option_context("display.width", 120):
        print(result["counts"].to_string(), end="\n\n")
        print("train pixel intensity per class (0-255):")
        print(result["intensity"].to_string(), end="\n\n")
    print(result["imbalance"])
    for path in result["figures"].values():
        print(f"wrote {shown_path(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
