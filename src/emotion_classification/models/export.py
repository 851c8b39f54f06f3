"""Export a ``.keras`` model to TensorFlow Lite (LiteRT) and ONNX, and check what it costs.

``--format tflite`` (the default) writes two files: ``<name>_float32.tflite`` (same numbers
as Keras up to float rounding) and ``<name>_int8.tflite`` (dynamic-range quantization: int8
weights, float activations, no representative dataset needed, about 4x smaller). They are
converted through a SavedModel (``model.export(..., format="tf_saved_model")`` then
``TFLiteConverter.from_saved_model``), the route Keras 3 documents.

``--format onnx`` writes ``<name>.onnx`` with Keras 3's own ``model.export(...,
format="onnx")``, which on the TensorFlow backend traces the model and converts the graph
with ``tf2onnx``. The file runs on onnxruntime alone, without TensorFlow (:mod:`.runtimes`).

Both exports trace the model in inference mode explicitly (:func:`inference_model`): a model
that keeps Keras' random augmentation layers would otherwise be traced in training mode.
When the files go to another folder than the model, its JSON record (class names,
calibration) is copied beside them, so ``EmotionRecognizer("<out>/<name>.onnx")`` finds it.

``export`` writes under ``outputs/export/`` unless told otherwise: the shipped files in
``models/`` are replaced only by ``promote``. ``--check`` also measures, on the FER2013 test
folder, the accuracy of each file, how often its top-1 class agrees with Keras, its size and
its speed on this CPU, and writes ``outputs/export/export.json`` (the committed record,
``reports/benchmarks/export.json``, only when named with ``--report``). The test folder
serves only this equivalence check.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from emotion_classification.models.runtimes import (
    PREDICT_BATCH_SIZE,
    open_classifier,
)
from emotion_classification.utils.files import atomic_output, make_writable_folder

DEFAULT_OUT_DIR = "outputs/export"
DEFAULT_REPORT_PATH = f"{DEFAULT_OUT_DIR}/export.json"
BYTES_PER_MB = 1024 * 1024
VARIANTS = ("float32", "int8")
FORMATS = ("tflite", "onnx", "all")
DEFAULT_FORMAT = "tflite"


class ExportError(RuntimeError):
    """A conversion to TensorFlow Lite or ONNX failed; the message says which."""


def tflite_paths_for(model_path: str | os.PathLike, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Where :func:`export_tflite` writes each variant: ``<out_dir>/<stem>_<variant>.tflite``."""
    stem = Path(model_path).stem
    return {variant: Path(out_dir) / f"{stem}_{variant}.tflite" for variant in VARIANTS}


def onnx_path_for(model_path: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Where :func:`export_onnx` writes: ``<out_dir>/<stem>.onnx``."""
    return Path(out_dir) / f"{Path(model_path).stem}.onnx"


def load_for_export(model_path: str | os.PathLike | None):
    """``(path, model)``: the ``.keras`` file (default: the shipped one) and its model."""
    from emotion_classification.models.files import resolve_model_path
    from emotion_classification.models.runtimes import load_model_and_record

    path = resolve_model_path(model_path)
    return path, load_model_and_record(path)[0]


def inference_model(model):
    """The model as a functional graph that always runs in inference mode.

    Exporters call ``model(x)`` without ``training``; Keras' random preprocessing layers
    default to training mode then, and their random ops (which ONNX does not have) end up in
    the graph along with training-mode dropout and batch norm. Calling the model with
    ``training=False`` inside a new functional model fixes the mode for every layer.
    """
    import keras

    inputs = keras.Input(model.input_shape[1:], dtype="float32", name="pixels")
    return keras.Model(inputs, model(inputs, training=False), name=model.name)


def copy_record(model_path: Path, exported: Path) -> None:
    """Copy the model's JSON record beside an exported file, unless it is already there."""
    from emotion_classification.models.files import record_path_for

    source, target = record_path_for(model_path), record_path_for(exported)
    if source.is_file() and source.resolve() != target.resolve():
        with atomic_output(target) as tmp:
            shutil.copyfile(source, tmp)


def convert_saved_model(saved_model_dir: Path, quantize: bool) -> bytes:
    """TFLite flatbuffer of a SavedModel; ``quantize`` gives dynamic-range int8 weights."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def prepare_out_dir(out_dir: str | os.PathLike) -> Path:
    """Create the export folder, or raise :class:`ExportError` saying in one line why the
    files cannot go there (before any conversion runs)."""
    out_dir = Path(out_dir)
    problem = make_writable_folder(out_dir, "export folder")
    if problem:
        raise ExportError(f"{out_dir}: {problem}; choose another --out")
    return out_dir


def export_tflite(model_path: str | os.PathLike | None = None,
                  out_dir: str | os.PathLike = DEFAULT_OUT_DIR) -> dict[str, Path]:
    """Convert a ``.keras`` model to float32 and int8 ``.tflite`` files; return their paths.

    ``model_path`` defaults to the committed model. Raises
    :class:`~emotion_classification.models.architectures.ModelFileError` for a missing or unreadable model
    and :class:`ExportError` when the converter fails.
    """
    model_path, model = load_for_export(model_path)
    paths = tflite_paths_for(model_path, prepare_out_dir(out_dir))
    with tempfile.TemporaryDirectory(prefix="tflite-export-") as tmp:
        saved_model_dir = Path(tmp) / "saved_model"
        try:
            inference_model(model).export(str(saved_model_dir), format="tf_saved_model",
                                          verbose=False)
            flatbuffers = {v: convert_saved_model(saved_model_dir, v == "int8") for v in VARIANTS}
        except OSError as error:  # the temporary folder, not the conversion, failed
            raise ExportError(f"{tempfile.gettempdir()}: cannot write the temporary SavedModel "
                              f"({error.strerror or error})") from None
        except Exception as error:  # the converter raises many types
            raise ExportError(f"{model_path}: TensorFlow Lite conversion failed ({error})") from error
    for variant, path in paths.items():
        with atomic_output(path) as tmp:
            tmp.write_bytes(flatbuffers[variant])
    copy_record(model_path, paths["float32"])
    return paths


def export_onnx(model_path: str | os.PathLike | None = None,
                out_dir: str | os.PathLike = DEFAULT_OUT_DIR) -> Path:
    """Convert a ``.keras`` model to ``<out_dir>/<stem>.onnx`` (dynamic batch size).

    Errors as :func:`export_tflite`. The file is checked by loading it in onnxruntime.
    """
    import keras

    model_path, model = load_for_export(model_path)
    path = onnx_path_for(model_path, prepare_out_dir(out_dir))
    signature = [keras.InputSpec(shape=(None, *model.input_shape[1:]), dtype="float32",
                                 name="pixels")]
    with atomic_output(path) as tmp, warnings.catch_warnings():
        # Keras patches tf2onnx for NumPy 2 and NumPy warns about the attribute it checks
        warnings.simplefilter("ignore", FutureWarning)
        try:
            inference_model(model).export(str(tmp), format="onnx", verbose=False,
                                          input_signature=signature)
            open_classifier(tmp)
        except OSError:  # writing the file failed (a full disk), not the conversion
            raise
        except Exception as error:  # tf2onnx and onnxruntime raise many types
            raise ExportError(f"{model_path}: ONNX conversion failed ({error})") from error
    copy_record(model_path, path)
    return path


def export_files(model_path: str | os.PathLike | None, out_dir: str | os.PathLike,
                 export_format: str = DEFAULT_FORMAT) -> dict[str, Path]:
    """Export to ``tflite``, ``onnx`` or ``all``; ``{row name: file}`` as in the report."""
    files = {}
    if export_format in ("tflite", "all"):
        paths = export_tflite(model_path, out_dir)
        files.update({f"tflite_{variant}": path for variant, path in paths.items()})
    if export_format in ("onnx", "all"):
        files["onnx"] = export_onnx(model_path, out_dir)
    return files


def timed(predict, images: np.ndarray, warmup_images: int = 32) -> tuple[np.ndarray, float]:
    """Run ``predict(images)`` once after a short warm-up; return the result and faces/s."""
    predict(images[:warmup_images])
    start = time.perf_counter()
    probs = predict(images)
    elapsed_s = time.perf_counter() - start
    return probs, len(images) / elapsed_s if elapsed_s > 0 else float("inf")


def compare_with_keras(model_path: str | os.PathLike, files: dict[str, Path],
                       images: np.ndarray, labels: np.ndarray,
                       batch_size: int = PREDICT_BATCH_SIZE,
                       num_threads: int | None = None) -> pd.DataFrame:
    """One row per format (Keras, then each exported file): what the export costs.

    ``files`` maps a row name to a ``.tflite`` or ``.onnx`` file. Columns: file size (MB),
    accuracy, accuracy difference to Keras (percentage points), top-1 agreement with Keras,
    largest probability difference and faces per second on this CPU (same batch size for
    all, ``num_threads`` threads for TFLite and onnxruntime, default one per core; one pass
    after a warm-up).
    """
    from emotion_classification.models.runtimes import KerasClassifier

    num_threads = num_threads or os.cpu_count()
    keras_path, model = load_for_export(model_path)
    classifiers = {"keras": (keras_path, KerasClassifier(model))}
    for name, path in files.items():
        classifiers[name] = (Path(path), open_classifier(path, num_threads))
    results = {name: (path, *timed(lambda x, c=classifier: c.predict(x, batch_size), images))
               for name, (path, classifier) in classifiers.items()}
    keras_probs = results["keras"][1]
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


def check_report(model_path: Path, files: dict[str, Path], table: pd.DataFrame,
                 n_images: int, batch_size: int, command: str) -> dict:
    """The JSON payload of ``--check``: the table plus what it was measured on."""
    import tensorflow as tf

    from emotion_classification.utils.files import shown_path
    from emotion_classification.utils.hardware import hardware_description

    report = {"model": shown_path(model_path), "command": command,
              "evaluated_on": f"FER2013 test folder ({n_images} images)",
              "batch_size": batch_size, "threads": os.cpu_count(),
              "hardware": hardware_description(), "tensorflow": tf.__version__}
    tflite = {name.removeprefix("tflite_"): shown_path(path) for name, path in files.items()
              if name.startswith("tflite_")}
    if tflite:
        report["tflite"] = tflite
    if "onnx" in files:
        import onnxruntime

        report.update(onnx=shown_path(files["onnx"]), onnxruntime=onnxruntime.__version__)
    report["note"] = ("faces_per_s: one pass on this CPU, shared with other work; compare "
                      "rows, not machines")
    report["results"] = table.reset_index().to_dict(orient="records")
    return report
