"""The ``evaluate`` command: the FER2013 test folder's metrics, calibration and figures, or
``--data DIR`` for another labelled dataset (see :mod:`emotion_classification.evaluation`)."""

from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from emotion_classification.data.fer2013 import DatasetError, DatasetNotFoundError
from emotion_classification.evaluation.cross_dataset import (
    BESIDE_DATASET,
    DATASET_OUTPUT_DIR,
    evaluate_dataset,
    scores_table,
)
from emotion_classification.evaluation.evaluate import (
    BESIDE_MODEL,
    EVALUATION_OUTPUT_DIR,
    FIGURE_FOLDER_NAME,
    REPORT_NAME,
    TTA_MEASURED,
    evaluate,
    per_class_table,
    summary_table,
)
from emotion_classification.utils.console import cli_path
from emotion_classification.utils.files import shown_path


def build_parser() -> argparse.ArgumentParser:
    """The ``evaluate`` flags, each with its help sentence and default."""
    parser = argparse.ArgumentParser(
        prog="python -m emotion_classification evaluate",
        description="Measure a model on the FER2013 test folder (or any labelled class-folder "
                    "dataset), with calibration fitted on the train folder's validation split. "
                    f"It writes under {EVALUATION_OUTPUT_DIR}/ (a run's model: beside it), "
                    "never the committed reports/ or models/ files, which only promote "
                    "updates. Relative paths are taken from the current folder.")
    parser.add_argument("--model", default=None,
                        help="The .keras model to evaluate, or its alias, accurate or fast "
                             "(default: models/emotion_cnn.keras).")
    parser.add_argument("--data-dir", default=None,
                        help="The FER2013 folder (default: $FER2013_DIR, else data/fer2013).")
    add_dataset_flags(parser)
    parser.add_argument("--figure-dir", default=BESIDE_MODEL,
                        help=f"Where the figures go (default: {EVALUATION_OUTPUT_DIR}/<stem>/"
                             f"{FIGURE_FOLDER_NAME}/ for a model in models/, <stem>.figures/ "
                             f"beside any other, {DATASET_OUTPUT_DIR}/<name>-<hash>/figures/ with "
                             "--data; none in small-data mode).")
    parser.add_argument("--report", default=BESIDE_MODEL,
                        help=f"Where the JSON report goes (default: {EVALUATION_OUTPUT_DIR}/"
                             f"<stem>/{REPORT_NAME} for a model in models/, "
                             "<stem>.evaluation.json beside any other, "
                             f"{DATASET_OUTPUT_DIR}/<name>-<hash>/evaluation.json with --data; none "
                             "in small-data mode).")
    parser.add_argument("--small-per-class", type=int, default=0,
                        help="Evaluate on this many images per class, a quick check whose "
                             "numbers are stored nowhere (default: 0, all images).")
    parser.add_argument("--tta", default="flip", choices=tuple(TTA_MEASURED),
                        help="Test-time augmentation measured beside the plain predictions, on "
                             "validation and test: flip (each face and its mirror), ten_crop "
                             "(flip, and the four corner and centre 40x40 windows with their "
                             "mirrors) or none (default: flip).")
    parser.add_argument("--update-model", action=argparse.BooleanOptionalAction, default=None,
                        help="Store the calibration and test metrics in the model's JSON "
                             "record (default: --update-model for a model outside models/, "
                             "such as a run's; --no-update-model for the shipped models in "
                             "models/, which only promote updates; never for --data or "
                             "small-data mode).")
    return parser


def typed_paths(args: argparse.Namespace) -> argparse.Namespace:
    """The model and output flags taken from the current directory, as the data flags
    already are (the defaults kept)."""
    from emotion_classification.cli.paths import model_argument

    chosen = {"model": model_argument(args.model)}
    for name in ("figure_dir", "report"):
        value = getattr(args, name)
        chosen[name] = value if value == BESIDE_MODEL else cli_path(value)
    return argparse.Namespace(**{**vars(args), **chosen})


def print_written(report: dict) -> None:
    """Where the report, figures and model record went, one line each (on stderr)."""
    for key, label in (("report_path", "report"), ("figure_dir", "figures"),
                       ("model_record", "model record updated")):
        if key in report:
            print(f"{label}: {shown_path(report[key])}", file=sys.stderr)
    if not any(key in report for key in ("report_path", "figure_dir")):
        print("nothing written (small-data mode writes its numbers nowhere)", file=sys.stderr)


def print_report(report: dict) -> None:
    """The summary, per-class table, calibration and most confused pairs, as text."""
    if report["absent_classes"]:
        print(f"note: no images of {', '.join(report['absent_classes'])} in {report['data']}; "
              "macro-F1 is over the classes present", file=sys.stderr)
    print(summary_table(report).to_string())
    print(per_class_table(report["splits"]["test"]).to_string())
    print(json.dumps(report["calibration"], indent=2))
    print("most confused:", ", ".join(f"{p['true']}->{p['predicted']} ({p['count']})"
                                      for p in report["most_confused"]))


def main(argv: list[str] | None = None) -> int:
    from emotion_classification.models.files import ModelFileError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.data is not None:
        return run_dataset(typed_paths(args), BESIDE_MODEL)
    check_dataset_flags(parser, args)
    args = typed_paths(args)
    try:
        report = evaluate(args.model, args.data_dir, small_per_class=args.small_per_class,
                          figure_dir=args.figure_dir, report_path=args.report,
                          update_model_json=args.update_model, tta=args.tta)
    except (DatasetError, DatasetNotFoundError, ModelFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print_report(report)
    print_written(report)
    return 0


def print_dataset_report(report: dict, out=None) -> None:
    """The counts, both score blocks, the per-class table and the confusion matrix, as text
    (to ``out``, default stdout)."""
    out = out or sys.stdout
    images = report["images"]
    dropped = ", ".join(f"{k}/ {v}" for k, v in images["dropped"].items()) or "none"
    print(f"{report['data']}: {images['scored']} images scored over "
          f"{', '.join(report['classes_present'])}; dropped: {dropped}", file=out)
    blocks = [("all images" + (" (no face = wrong)" if report["detect"] else ""),
               report["all_images"])]
    if report["detect"]:
        blocks.append(("detected faces", report["detected_faces"]))
        print(f"no face found in {report['detection']['no_face']} image(s)", file=out)
    for name, block in blocks:
        print(f"{name}: n={block['n']} accuracy={block['accuracy']} "
              f"macro-F1={block['macro_f1']} (over the classes present)", file=out)
    print(scores_table(blocks[-1][1]).to_string(), file=out)
    print(pd.DataFrame(report["confusion_matrix"]).T.to_string(), file=out)
    for key, label in (("report_path", "report"), ("figure_dir", "figures")):
        if key in report:
            print(f"{label}: {report[key]}", file=out)


#: ``evaluate`` flags that only mean something with ``--data`` (dest -> flag as typed).
DATASET_ONLY_FLAGS = {"class_map": "--class-map", "map": "--map", "codes": "--codes",
                      "detect": "--detect"}


def add_dataset_flags(parser) -> None:
    """``--data`` and the flags that say how to read that dataset."""
    import argparse

    from emotion_classification.data.class_map import LABEL_CODES

    parser.add_argument("--data", default=None, metavar="DIR",
                        help="Evaluate this labelled dataset instead of the FER2013 test "
                             "folder: DIR/<folder>/** or DIR/test/<folder>/**, one folder per "
                             "class (spellings such as anger, sadness, Happiness are "
                             "understood; contempt and other extra classes are dropped and "
                             "counted); see docs/datasets.md (default: none).")
    parser.add_argument("--codes", default=None, choices=sorted(LABEL_CODES),
                        help="With --data: the folders are a dataset's numeric label codes "
                             "(ckplus 0-7, rafdb 1-7, affectnet 0-10, fer2013 0-6) "
                             "(default: none, folders are class names).")
    parser.add_argument("--class-map", default=None, metavar="FILE",
                        help="With --data: a JSON object or two-column CSV of folder -> class "
                             "or 'drop', on top of the built-in spellings (default: none).")
    parser.add_argument("--map", action="append", default=[], metavar="FOLDER=CLASS",
                        help="With --data: map one folder to a class or to 'drop', e.g. "
                             "--map calm=neutral; repeatable, wins over --class-map "
                             "(default: none).")
    parser.add_argument("--detect", action=argparse.BooleanOptionalAction, default=False,
                        help="With --data: find the face in each image with MTCNN first, for "
                             "datasets of whole photos rather than face crops; images without "
                             "a face count as wrong in the all-images numbers "
                             "(default: --no-detect).")


def check_dataset_flags(parser, args) -> None:
    """Refuse the dataset-only flags without ``--data`` (argparse's usage error, exit 2)."""
    given = [flag for dest, flag in DATASET_ONLY_FLAGS.items() if getattr(args, dest)]
    if given:
        parser.error(f"{', '.join(given)} only apply with --data DIR")


def run_dataset(args, beside_model: str) -> int:
    """``evaluate --data DIR``: evaluate, print the report; 1 for a dataset or model
    problem, 2 for a bad mapping. Warnings about the data become ``note:`` lines."""
    import warnings

    from emotion_classification.data.class_map import ClassMapError, class_map_from_options
    from emotion_classification.data.fer2013 import BadDataWarning, DatasetNotFoundError
    from emotion_classification.inference.images import MultiFrameWarning
    from emotion_classification.models.files import ModelFileError
    from emotion_classification.utils.console import error_line, note_line

    def given(value):
        return BESIDE_DATASET if value == beside_model else value

    try:
        class_map = class_map_from_options(args.class_map, args.map, args.codes)
    except ClassMapError as error:
        error_line(str(error))
        return 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BadDataWarning)
        warnings.simplefilter("always", MultiFrameWarning)
        try:
            report = evaluate_dataset(args.data, args.model, class_map=class_map,
                                      detect=args.detect, figure_dir=given(args.figure_dir),
                                      report_path=given(args.report))
        except (DatasetError, DatasetNotFoundError, ModelFileError) as error:
            report = None
            failure = str(error)
    for warning in caught:
        if issubclass(warning.category, BadDataWarning | MultiFrameWarning):
            note_line(str(warning.message))
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
    if report is None:
        error_line(failure)
        return 1
    print_dataset_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
