"""The ``notebooks`` command: run the project's notebooks headless with papermill (see
:mod:`emotion_classification.evaluation.notebooks`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from emotion_classification.evaluation.notebooks import (
    FIGURE_FOLDER_NAME,
    OUTPUT_DIR,
    SMALL_OUTPUT_DIR,
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
        description="Run the notebooks in notebooks/ in order with papermill. The executed "
                    f"copies (and their .py files) go to {OUTPUT_DIR}/ and their figures to "
                    f"{OUTPUT_DIR}/figures/, so the committed notebooks and the README figures "
                    "stay as they are; --in-place replaces the committed notebooks and lets "
                    "them write the figures in reports/figures/ (what promote does).")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="Notebooks to run, by file name, stem or prefix such as 03; "
                             "none means all.")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("KEY", "VALUE"),
                        help="Set a parameter of the notebooks' parameters cell, e.g. "
                             "-p EPOCHS 5; VALUE is read as a Python literal (5, True, None, "
                             "'text'), else as text; relative paths in it start at the project "
                             "root, as in the notebooks. Repeatable (default: each notebook's "
                             "own values).")
    parser.add_argument("--small", action=argparse.BooleanOptionalAction, default=False,
                        help="Small-data mode: a few images per class, a quick check; its "
                             f"copies and figures go to {SMALL_OUTPUT_DIR}/ unless --output-dir "
                             "is given (default: --no-small).")
    parser.add_argument("--output-dir", default=None,
                        help="Folder for the executed notebooks, their .py files and, in "
                             f"figures/, their figures (default: {OUTPUT_DIR}/, "
                             f"{SMALL_OUTPUT_DIR}/ with --small).")
    parser.add_argument("--in-place", action=argparse.BooleanOptionalAction, default=False,
                        help="Replace the committed notebooks in notebooks/ with the executed "
                             "ones, their figures written where the notebooks say "
                             "(reports/figures/); not with --small or --output-dir "
                             "(default: --no-in-place).")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m emotion_classification notebooks [NAME ...] [-p KEY VALUE ...]``."""
    from emotion_classification.cli.paths import output_path
    from emotion_classification.utils.files import shown_path

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.in_place and (args.small or args.output_dir):
        parser.error("--in-place replaces the committed notebooks: not with --small or "
                     "--output-dir")
    try:
        paths = list_notebooks(args.names)
    except NotebookError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    output_dir = None if args.in_place else output_path(
        args.output_dir, SMALL_OUTPUT_DIR if args.small else OUTPUT_DIR)
    parameters = {**({"SMALL": True} if args.small else {}), **parameter_pairs(args.parameter)}
    defined = {path: notebook_parameters(path) for path in paths}
    unknown = sorted(set(parameters) - set().union(*defined.values()))
    if unknown:
        print(f"error: no chosen notebook has a parameter {', '.join(unknown)}", file=sys.stderr)
        return 2
    if output_dir is not None:  # the figures beside the copies, not in reports/figures/
        parameters = {"FIGURE_DIR": shown_path(output_dir / FIGURE_FOLDER_NAME), **parameters}
    failed = 0
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        given = {key: value for key, value in parameters.items() if key in defined[path]}
        try:
            run_notebook(path, given, output_path=(output_dir or path.parent) / path.name)
        except NotebookError as error:
            print(f"error: {error}", file=sys.stderr)
            failed += 1
    where = shown_path(output_dir or notebook_dir())
    print(f"ran {len(paths) - failed} of {len(paths)} notebook(s); executed copies in {where}"
          + (f"; figures in {shown_path(output_dir / FIGURE_FOLDER_NAME)}" if output_dir
             else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
