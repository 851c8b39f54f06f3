"""The ``export`` command: write a model for onnxruntime or TensorFlow Lite and check it
against Keras (see :mod:`emotion_classification.models.export`)."""

from __future__ import annotations

import argparse
import os
import sys

from emotion_classification.models.export import (
    BYTES_PER_MB,
    DEFAULT_FORMAT,
    DEFAULT_OUT_DIR,
    DEFAULT_REPORT_PATH,
    FORMATS,
    ExportError,
    check_report,
    compare_with_keras,
    export_files,
)
from emotion_classification.models.runtimes import (
    PREDICT_BATCH_SIZE,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from emotion_classification.labels import DEFAULT_MODEL_PATH

    parser = argparse.ArgumentParser(
        prog="python -m emotion_classification export",
        description="Export a .keras model to TensorFlow Lite (float32 and dynamic-range int8) "
                    f"and/or ONNX, into {DEFAULT_OUT_DIR}/ unless --out says otherwise (the "
                    "shipped files in models/ are replaced only by promote). Relative paths "
                    "are taken from the current folder.")
    parser.add_argument("--model", default=None,
                        help=f"the .keras model or its alias, accurate or fast (default: "
                             f"{DEFAULT_MODEL_PATH})")
    parser.add_argument("--format", dest="export_format", choices=FORMATS, default=DEFAULT_FORMAT,
                        help="what to write: tflite (<name>_float32.tflite and "
                             "<name>_int8.tflite), onnx (<name>.onnx) or all of them "
                             "(default: %(default)s)")
    parser.add_argument("--out", default=None,
                        help=f"folder for the exported files (default: {DEFAULT_OUT_DIR}/)")
    parser.add_argument("--check", action=argparse.BooleanOptionalAction, default=False,
                        help="compare Keras and every exported file on the FER2013 test "
                             "folder (default: --no-check)")
    parser.add_argument("--data-dir", default=None, help="FER2013 folder (default: $FER2013_DIR "
                        "or data/fer2013)")
    parser.add_argument("--report", default=None,
                        help=f"JSON written by --check (default: {DEFAULT_REPORT_PATH})")
    parser.add_argument("--batch-size", type=int, default=PREDICT_BATCH_SIZE,
                        help="images per prediction batch in --check, the same for every "
                             f"format (default: {PREDICT_BATCH_SIZE})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: no INFO lines
    from emotion_classification.cli.paths import model_argument, output_path
    from emotion_classification.data.fer2013 import DatasetError, DatasetNotFoundError, load_fer2013
    from emotion_classification.inference.images import shown
    from emotion_classification.models.files import ModelFileError, resolve_model_path
    from emotion_classification.utils.console import error_line
    from emotion_classification.utils.files import shown_path, temp_target, write_json

    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.batch_size < 1:  # checked before anything is written
        error_line(f"--batch-size must be a positive image count, got {args.batch_size}")
        return 2
    model = model_argument(args.model)
    out_dir = output_path(args.out, DEFAULT_OUT_DIR)
    try:
        model_path = resolve_model_path(model)
        files = export_files(model_path, out_dir, args.export_format)
        for name, path in files.items():
            print(f"saved {shown_path(path)} ({path.stat().st_size / BYTES_PER_MB:.2f} MB, "
                  f"{name})", file=sys.stderr)
        if not args.check:
            return 0
        test = load_fer2013(args.data_dir, splits=("test",))["test"]
        table = compare_with_keras(model_path, files, test.images, test.labels, args.batch_size)
        report_path = output_path(args.report, DEFAULT_REPORT_PATH)
        command = " ".join(["python -m emotion_classification export", *argv])
        write_json(report_path, check_report(model_path, files, table, len(test),
                                             args.batch_size, command))
    except (ModelFileError, ExportError, DatasetError, DatasetNotFoundError) as error:
        error_line(str(error))
        return 2
    except OSError as error:  # a full disk, a folder that refuses writing
        written = temp_target(error.filename) if error.filename else out_dir
        error_line(f"{shown(written)}: cannot write ({error.strerror or error})")
        return 1
    print(table.to_string())
    print(f"saved {shown_path(report_path)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
