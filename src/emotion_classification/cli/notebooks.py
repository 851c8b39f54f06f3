"""The ``notebooks`` command: run the project's notebooks headless with papermill (see
:mod:`emotion_classification.evaluation.notebooks`)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from emotion_classification.evaluation.notebooks import (
    NotebookError,
    list_notebooks,
    notebook_dir,
    notebook_parameters,
    parse_value,
    run_notebook,
)


def parameter_pairs(pairs: list[list[str]] | None) -> dict[str, Any]:
    """``-p KEY VALUE`` pairs as a dict, values parsed as Python literals."""
    return {key: parse_value(value) for key, value in pairs or []}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m emotion_classification notebooks",
        description="Run the notebooks in notebooks/ in order with papermill. Full mode uses "
                    "all of FER2013, rewrites the README figures in reports/figures/ and saves "
                    "each executed notebook (and its paired .py) in place.")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="Notebooks to run, by file name, stem or prefix such as 03; "
                             "none means all.")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("KEY", "VALUE"),
                        help="Set a parameter of the notebooks' parameters cell, e.g. "
                             "-p EPOCHS 5; VALUE is read as a Python literal (5, True, None, "
                             "'text'), else as text. Repeatable (default: each notebook's own values).")
    parser.add_argument("--small", action=argparse.BooleanOptionalAction, default=False,
                        help="Small-data mode: a few images per class, figures to a temporary "
                             "folder, executed notebooks to a temporary folder unless "
                             "--output-dir is given: a quick check (default: --no-small).")
    parser.add_argument("--output-dir", default=None,
                        help="Folder for the executed notebooks and their .py files; the "
                             "default replaces them in notebooks/ (a temporary folder with "
                             "--small).")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m emotion_classification notebooks [NAME ...] [-p KEY VALUE ...]``."""
    args = build_parser().parse_args(argv)
    try:
        paths = list_notebooks(args.names)
    except NotebookError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    parameters = parameter_pairs(args.parameter)
    if args.small:  # never replace the README figures or the committed notebooks
        parameters = {"SMALL": True, "FIGURE_DIR": tempfile.mkdtemp(prefix="figures-small-"),
                      **parameters}
    if args.output_dir:
        output_dir = Path(args.output_dir).resolve()
    else:
        output_dir = Path(tempfile.mkdtemp(prefix="notebooks-small-")) if args.small else None
    defined = {path: notebook_parameters(path) for path in paths}
    unknown = sorted(set(parameters) - set().union(*defined.values()))
    if unknown:
        print(f"error: no chosen notebook has a parameter {', '.join(unknown)}", file=sys.stderr)
        return 2
    failed = 0
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        given = {key: value for key, value in parameters.items() if key in defined[path]}
        try:
            run_notebook(path, given, output_path=(output_dir or path.parent) / path.name)
        except NotebookError as error:
            print(f"error: {error}", file=sys.stderr)
            failed += 1
    where = output_dir or notebook_dir()
    print(f"ran {len(paths) - failed} of {len(paths)} notebook(s); executed copies in {where}"
          + (f"; figures in {parameters['FIGURE_DIR']}" if "FIGURE_DIR" in parameters else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
