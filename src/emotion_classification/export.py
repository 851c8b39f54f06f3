"""Export a ``.keras`` model to TensorFlow Lite (LiteRT) and check what the export costs.

Two files come out: ``<name>_float32.tflite`` (same numbers as Keras up to float rounding)
and ``<name>_int8.tflite`` (dynamic-range quantization: int8 weights, float activations,
no representative dataset needed, about 4x smaller). Keras 3 models are converted through
a SavedModel (``model.export(..., format="tf_saved_model")`` then
``TFLiteConverter.from_saved_model``), the route Keras 3 documents; it works for every
model this project builds.

``python -m emotion_classification export --check`` also measures, on the FER2013 test
folder, the accuracy of each file, how often its top-1 class agrees with Keras, its size and
its speed on this CPU, and writes ``reports/benchmarks/export.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from emotion_classification.files import atomic_output

DEFAULT_OUT_DIR = "models"
DEFAULT_REPORT_PATH = "reports/benchmarks/export.json"
PREDICT_BATCH_SIZE = 256
BYTES_PER_MB = 1024 * 1024
VARIANTS = ("float32", "int8")


class ExportError(RuntimeError):
    """The TensorFlow Lite conversion or a ``.tflite`` file failed; the message says which."""


def tflite_paths_for(model_path: str | os.PathLike, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Where :func:`export_tflite` writes each variant: ``<out_dir>/<stem>_<variant>.tflite``."""
    stem = Path(model_path).stem
    return {variant: Path(out_dir) / f"{stem}_{variant}.tflite" for variant in VARIANTS}


def convert_saved_model(saved_model_dir: Path, quantize: bool) -> bytes:
    """TFLite flatbuffer of a SavedModel; ``quantize`` gives dynamic-range int8 weights."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def export_tflite(model_path: str | os.PathLike | None = None,
                  out_dir: str | os.PathLike = DEFAULT_OUT_DIR) -> dict[str, Path]:
    """Convert a ``.keras`` model to float32 and int8 ``.tflite`` files; return their paths.

    ``model_path`` defaults to the committed model. Raises
    :class:`~emotion_classification.models.ModelFileError` for a missing or unreadable model
    and :class:`ExportError` when the converter fails.
    """
    from emotion_classification.data import project_root
    from emotion_classification.models import DEFAULT_MODEL_PATH, load_model_and_record

    model_path = Path(model_path) if model_path else project_root() / DEFAULT_MODEL_PATH
    model, _ = load_model_and_record(model_path)
    paths = tflite_paths_for(model_path, out_dir)
    with tempfile.TemporaryDirectory(prefix="tflite-export-") as tmp:
        saved_model_dir = Path(tmp) / "saved_model"
        try:
            model.export(str(saved_model_dir), format="tf_saved_model", verbose=False)
            flatbuffers = {v: convert_saved_model(saved_model_dir, v == "int8") for v in VARIANTS}
        except Exception as error:  # the converter raises many types
            raise ExportError(f"{model_path}: TensorFlow Lite conversion failed ({error})") from error
    for variant, path in paths.items():
        with atomic_output(path) as tmp:
            tmp.write_bytes(flatbuffers[variant])
    return paths


def make_interpreter(tflite_path: str | os.PathLike, num_threads: int | None = None):
    """A LiteRT interpreter: ``ai_edge_litert`` when installed, else ``tf.lite.Interpreter``.

    ``tf.lite.Interpreter`` still works in TF 2.21 but warns that it moved to
    ``ai_edge_litert``; the warning is silenced because the fallback is deliberate.
    """
    path = Path(tflite_path)
    if not path.is_file():
        raise ExportError(f"{path}: TensorFlow Lite file not found")
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            return Interpreter(model_path=str(path), num_threads=num_threads or os.cpu_count())
        except ValueError as error:
            raise ExportError(f"{path}: not a TensorFlow Lite model ({error})") from error


def tflite_predict(tflite_path: str | os.PathLike, images: np.ndarray,
                   batch_size: int = PREDICT_BATCH_SIZE, num_threads: int | None = None,
                   interpreter=None) -> np.ndarray:
    """Class probabilities ``(N, classes)`` from a ``.tflite`` file for 0..255 images.

    The input tensor is resized to each batch's size (the converted model keeps a dynamic
    batch dimension). Pass a prepared ``interpreter`` to time inference without loading.
    """
    interpreter = interpreter or make_interpreter(tflite_path, num_threads)
    input_detail = interpreter.get_input_details()[0]
    output_index = interpreter.get_output_details()[0]["index"]
    x = np.asarray(images, dtype=np.float32)
    x = x[..., None] if x.ndim == 3 else x
    if x.shape[-1] != input_detail["shape"][-1]:
        x = np.repeat(x, input_detail["shape"][-1], axis=-1)
    outputs, current_size = [], None
    for start in range(0, len(x), batch_size):
        batch = x[start:start + batch_size]
        if len(batch) != current_size:
            interpreter.resize_tensor_input(input_detail["index"], batch.shape)
            interpreter.allocate_tensors()
            current_size = len(batch)
        interpreter.set_tensor(input_detail["index"], batch)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(output_index).copy())
    if not outputs:
        return np.zeros((0, interpreter.get_output_details()[0]["shape"][-1]), np.float32)
    return np.concatenate(outputs).astype(np.float32)


def timed(predict, images: np.ndarray, warmup_images: int = 32) -> tuple[np.ndarray, float]:
    """Run ``predict(images)`` once after a short warm-up; return the result and faces/s."""
    predict(images[:warmup_images])
    start = time.perf_counter()
    probs = predict(images)
    elapsed_s = time.perf_counter() - start
    return probs, len(images) / elapsed_s if elapsed_s > 0 else float("inf")


def compare_with_keras(model_path: str | os.PathLike, tflite_paths: dict[str, Path],
                       images: np.ndarray, labels: np.ndarray,
                       batch_size: int = PREDICT_BATCH_SIZE) -> pd.DataFrame:
    """One row per format (Keras, then each ``.tflite``): what the export costs.

    Columns: file size (MB), accuracy, accuracy difference to Keras (percentage points),
    top-1 agreement with Keras, largest probability difference and faces per second on
    this CPU (same batch size for all; one pass after a warm-up).
    """
    from emotion_classification.models import load_model_and_record, predict_proba

    model, _ = load_model_and_record(model_path)
    keras_probs, keras_speed = timed(
        lambda x: predict_proba(model, x, batch_size=batch_size), images)
    results = {"keras": (Path(model_path), keras_probs, keras_speed)}
    for variant, path in tflite_paths.items():
        interpreter = make_interpreter(path)
        probs, speed = timed(lambda x, i=interpreter, p=path: tflite_predict(
            p, x, batch_size, interpreter=i), images)
        results[f"tflite_{variant}"] = (Path(path), probs, speed)
    keras_top1 = keras_probs.argmax(axis=1)
    keras_accuracy = float(np.mean(keras_top1 == labels))
    rows = []
    for name, (path, probs, speed) in results.items():
        accuracy = float(np.mean(probs.argmax(axis=1) == labels))
        rows.append({"format": name, "file": path.name,
                     "size_mb": round(path.stat().st_size / BYTES_PER_MB, 2),
                     "accuracy": round(accuracy, 4),
                     "accuracy_diff_points": round(100 * (accuracy - keras_accuracy), 2),
                     "top1_agreement": round(float(np.mean(probs.argmax(axis=1) == keras_top1)), 4),
                     "max_abs_prob_diff": float(np.abs(probs - keras_probs).max(initial=0.0)),
                     "faces_per_s": round(speed, 1)})
    return pd.DataFrame(rows).set_index("format")


def check_report(model_path: Path, paths: dict[str, Path], table: pd.DataFrame,
                 n_images: int, batch_size: int) -> dict:
    """The JSON payload of ``--check``: the table plus what it was measured on."""
    import tensorflow as tf

    from emotion_classification.hardware import hardware_description

    return {"model": str(model_path), "tflite": {k: str(v) for k, v in paths.items()},
            "evaluated_on": f"FER2013 test folder ({n_images} images)",
            "batch_size": batch_size, "threads": os.cpu_count(),
            "hardware": hardware_description(), "tensorflow": tf.__version__,
            "note": "faces_per_s: one pass on this CPU, shared with other work; compare rows, "
                    "not machines",
            "results": table.reset_index().to_dict(orient="records")}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from emotion_classification.models import DEFAULT_MODEL_PATH

    parser = argparse.ArgumentParser(
        prog="python -m emotion_classification export",
        description="Export a .keras model to TensorFlow Lite (float32 and dynamic-range int8). "
                    "Relative paths are relative to the project root.")
    parser.add_argument("--model", default=None,
                        help=f"the .keras model (default: {DEFAULT_MODEL_PATH})")
    parser.add_argument("--out", default=DEFAULT_OUT_DIR,
                        help=f"folder for the .tflite files (default: {DEFAULT_OUT_DIR}/)")
    parser.add_argument("--check", action=argparse.BooleanOptionalAction, default=False,
                        help="compare Keras and both .tflite files on the FER2013 test folder "
                             "(default: --no-check)")
    parser.add_argument("--data-dir", default=None, help="FER2013 folder (default: $FER2013_DIR "
                        "or data/fer2013)")
    parser.add_argument("--report", default=DEFAULT_REPORT_PATH,
                        help=f"JSON written by --check (default: {DEFAULT_REPORT_PATH})")
    parser.add_argument("--batch-size", type=int, default=PREDICT_BATCH_SIZE,
                        help="images per prediction batch in --check, the same for every "
                             f"format (default: {PREDICT_BATCH_SIZE})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: no INFO lines
    from emotion_classification.data import DatasetError, DatasetNotFoundError, load_fer2013
    from emotion_classification.files import project_path, write_json
    from emotion_classification.models import DEFAULT_MODEL_PATH, ModelFileError

    args = parse_args(argv)
    model_path, out_dir = project_path(args.model or DEFAULT_MODEL_PATH), project_path(args.out)
    try:
        paths = export_tflite(model_path, out_dir)
        for variant, path in paths.items():
            print(f"saved {path} ({path.stat().st_size / BYTES_PER_MB:.2f} MB, {variant})",
                  file=sys.stderr)
        if not args.check:
            return 0
        test = load_fer2013(args.data_dir, splits=("test",))["test"]
        table = compare_with_keras(model_path, paths, test.images, test.labels, args.batch_size)
    except (ModelFileError, ExportError, DatasetError, DatasetNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report_path = project_path(args.report)
    write_json(report_path, check_report(model_path, paths, table, len(test), args.batch_size))
    print(table.to_string())
    print(f"saved {report_path}", file=sys.stderr)
    return 0
