"""Classifier runtimes: the same ``predict(images)`` for a ``.keras``, ``.onnx`` or ``.tflite`` file.

==============================  ========  =================================================
runtime                         file      needs
==============================  ========  =================================================
:class:`KerasClassifier`        .keras    Keras on TensorFlow
:class:`OnnxClassifier`         .onnx     onnxruntime only (no TensorFlow, no Keras)
:class:`TFLiteClassifier`       .tflite   ``ai_edge_litert``, else TensorFlow's ``tf.lite``
==============================  ========  =================================================

Each takes ``(N, 48, 48)`` or ``(N, 48, 48, 1)`` pixels 0..255 (uint8 or float) and returns
float32 ``(N, classes)`` softmax probabilities, in batches of ``batch_size`` faces.
:func:`open_model` picks the runtime from the file's suffix and loads the JSON record beside
it (:mod:`.model_files`). Nothing here imports TensorFlow until a Keras or TFLite model is
opened, so an ONNX model runs where TensorFlow is not installed.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from emotion_classification.models.files import (
    ModelFileError,
    check_class_count,
    load_record,
    record_path_for,
    resolve_model_path,
)
from emotion_classification.utils.quiet import native_stderr_filtered

#: Faces per model call unless the caller says otherwise (bounds memory only).
PREDICT_BATCH_SIZE = 256


def model_input(images, channels: int) -> np.ndarray:
    """Float32 ``(N, 48, 48, channels)``: a channel axis added, grayscale repeated for RGB."""
    x = np.asarray(images, dtype=np.float32)
    x = x[..., None] if x.ndim == 3 else x
    return np.repeat(x, channels, axis=-1) if x.shape[-1] != channels else x


def first_line(error: Exception) -> str:
    """The first line of an error message (or its type), short enough for a one-line error."""
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


class KerasClassifier:
    """A Keras model (in memory or loaded from a ``.keras`` file)."""

    kind = "keras"

    def __init__(self, model):
        self.model = model
        self.num_classes = int(model.output_shape[-1])

    def predict(self, images, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
        x = model_input(images, int(self.model.input_shape[-1]))
        if len(x) == 0:
            return np.zeros((0, self.num_classes), np.float32)
        return self.model.predict(x, batch_size=batch_size, verbose=0).astype(np.float32)

    @classmethod
    def from_file(cls, path: Path, num_threads: int | None = None) -> KerasClassifier:
        """Load a ``.keras`` file (``num_threads`` is ignored: TensorFlow sizes its pools)."""
        return cls(load_keras_file(path))


class OnnxClassifier:
    """An ONNX file run by onnxruntime on the CPU, with ``num_threads`` threads per call.

    ``num_threads=None`` leaves the choice to onnxruntime (one per physical core).
    """

    kind = "onnx"

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None):
        try:
            import onnxruntime
        except ImportError as error:
            raise ModelFileError(f"{path}: running a .onnx model needs onnxruntime "
                                 f"({first_line(error)})") from error
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = num_threads or 0
        options.log_severity_level = 3  # errors only: no graph-optimisation notices
        try:
            self.model = onnxruntime.InferenceSession(str(path), options,
                                                      providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own types for a bad file
            raise ModelFileError(f"{path}: not a valid ONNX model file (cannot load it: "
                                 f"{first_line(error)})") from error
        self.input = self.model.get_inputs()[0]
        self.output_name = self.model.get_outputs()[0].name
        self.channels = int(self.input.shape[-1])
        self.num_classes = int(self.model.get_outputs()[0].shape[-1])

    def predict(self, images, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
        x = model_input(images, self.channels)
        outputs = [self.model.run([self.output_name], {self.input.name: x[i:i + batch_size]})[0]
                   for i in range(0, len(x), batch_size)]
        return (np.concatenate(outputs) if outputs
                else np.zeros((0, self.num_classes))).astype(np.float32)


def make_interpreter(tflite_path: str | os.PathLike, num_threads: int | None = None):
    """A LiteRT interpreter: ``ai_edge_litert`` when installed, else ``tf.lite.Interpreter``.

    ``tf.lite.Interpreter`` still works in TF 2.21 but warns that it moved to
    ``ai_edge_litert``; the warning is silenced because the fallback is deliberate.
    """
    path = Path(tflite_path)
    if not path.is_file():
        raise ModelFileError(f"{path}: TensorFlow Lite file not found")
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806
    with warnings.catch_warnings(), native_stderr_filtered():
        warnings.simplefilter("ignore", UserWarning)
        try:
            interpreter = Interpreter(model_path=str(path),
                                      num_threads=num_threads or os.cpu_count())
            interpreter.allocate_tensors()  # the XNNPACK delegate's INFO line comes here
        except (ValueError, RuntimeError) as error:
            raise ModelFileError(f"{path}: not a TensorFlow Lite model "
                                 f"({str(error).strip()})") from error
    return interpreter


def tflite_predict(tflite_path: str | os.PathLike, images: np.ndarray,
                   batch_size: int = PREDICT_BATCH_SIZE, num_threads: int | None = None,
                   interpreter=None) -> np.ndarray:
    """Class probabilities ``(N, classes)`` from a ``.tflite`` file for 0..255 images.

    The input tensor is resized to each batch's size (the converted model keeps a dynamic
    batch dimension). Pass a prepared ``interpreter`` to skip loading the file.
    """
    interpreter = interpreter or make_interpreter(tflite_path, num_threads)
    input_detail = interpreter.get_input_details()[0]
    output_index = interpreter.get_output_details()[0]["index"]
    x = model_input(images, int(input_detail["shape"][-1]))
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


class TFLiteClassifier:
    """A ``.tflite`` file run by the LiteRT interpreter (see :func:`make_interpreter`)."""

    kind = "tflite"

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None):
        self.path = Path(path)
        self.model = make_interpreter(path, num_threads)
        self.num_classes = int(self.model.get_output_details()[0]["shape"][-1])

    def predict(self, images, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
        return tflite_predict(self.path, images, batch_size, interpreter=self.model)


def load_model_and_record(path: str | None = None) -> tuple:
    """Load a ``.keras`` model and the JSON record beside it (``class_names``, calibration...).

    ``path`` is a file or a model alias (``accurate``, the default, or ``fast``: see
    :mod:`.model_files`); a relative path is taken from the project root, like every other
    path the package reads or writes, so a notebook (run from ``notebooks/``) and the CLI
    name the same file the same way (the commands turn what the user typed into an absolute
    path first). A missing JSON gives the FER2013 class order and no calibration
    (temperature 1, no uncertain threshold) with an :class:`UncalibratedModelWarning`; a
    corrupt one raises :class:`ModelFileError`.
    """
    model_path = resolve_model_path(path)
    model = load_keras_file(model_path)
    json_path = record_path_for(model_path)
    record = load_record(json_path)
    check_class_count(record, model.output_shape[-1], json_path)
    return model, record


def load_keras_file(path):
    """The model in a ``.keras`` file, or :class:`ModelFileError` saying it is not one."""
    import zipfile

    import keras

    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a valid Keras model file (cannot load it: a .keras "
                             "file is a zip archive and this one is truncated or not one)")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a bad file
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelFileError(f"{path}: not a valid Keras model file (cannot load it: "
                             f"{reason[:200]})") from error


#: file suffix -> runtime; any other suffix is tried as a Keras file (and fails clearly).
RUNTIMES = {".keras": KerasClassifier.from_file, ".onnx": OnnxClassifier,
            ".tflite": TFLiteClassifier}


def open_classifier(path: str | os.PathLike, num_threads: int | None = None):
    """The runtime for a model file, chosen by its suffix (see :data:`RUNTIMES`), on
    ``num_threads`` threads for TFLite and onnxruntime (``None``: their default)."""
    path = Path(path)
    return RUNTIMES.get(path.suffix.lower(), KerasClassifier.from_file)(path, num_threads)


def open_model(name: str | os.PathLike | None = None):
    """``(classifier, record, path)`` for a model alias or file and the record beside it.

    Raises :class:`ModelFileError` (one line) for a missing or unusable model or record; a
    missing record warns (:class:`~.model_files.UncalibratedModelWarning`).
    """
    path = resolve_model_path(name)
    classifier = open_classifier(path)
    json_path = record_path_for(path)
    record = load_record(json_path)
    check_class_count(record, classifier.num_classes, json_path)
    return classifier, record, path


def predict_probs(classifier, images, batch_size: int = PREDICT_BATCH_SIZE,
                  tta: bool | str = False) -> np.ndarray:
    """Class probabilities for ``(N, 48, 48[, 1])`` pixels 0..255, averaged over the views of
    test-time augmentation ``tta``.

    ``classifier`` is a runtime of this module or an in-memory Keras model. ``tta`` is a mode
    of :data:`~emotion_classification.models.tta.TTA_MODES`: ``"none"``, ``"flip"`` (each face
    and its mirror) or ``"ten_crop"``; ``True`` means flip and ``False`` none.
    """
    from emotion_classification.models.tta import tta_mode, tta_views

    if not hasattr(classifier, "kind"):
        classifier = KerasClassifier(classifier)
    mode = tta_mode(tta)
    x = np.asarray(images, dtype=np.float32)
    x = x[..., None] if x.ndim == 3 else x
    predictions = [classifier.predict(view, batch_size) for view in tta_views(x, mode)]
    return (sum(predictions) / len(predictions)).astype(np.float32)
