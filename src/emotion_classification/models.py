"""Model architectures: the original study's CNN (for comparison) and the project's default.

Every model takes ``(N, 48, 48, channels)`` raw pixel values 0..255 (rescaling is inside the
model) and returns softmax probabilities over :data:`~emotion_classification.data.CLASS_NAMES`.
The output layer always computes in float32 so mixed-precision training stays stable.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from emotion_classification.data import CLASS_NAMES, IMAGE_SIZE_PX

NUM_CLASSES = len(CLASS_NAMES)
#: FER2013 pixel statistics (train folder): centring the input speeds up early training.
PIXEL_MEAN = 129.4
PIXEL_STD = 65.0
#: Filters per block of the default network: of three designs at 103-112 M multiply-adds per
#: image in GPU sweep 6 (``reports/sweep.json``), the one whose validation accuracy reached the
#: previous default's (48-384), at 57% of its multiply-adds: about 3x the original study's
#: training throughput on the 2-core CPU (README, Speed), at about 0.6 points of test accuracy.
DEFAULT_WIDTHS = (32, 64, 160, 320)
#: The wider network of the shipped model (``--widths 48,96,192,384``), the default until sweep 6.
WIDE_WIDTHS = (48, 96, 192, 384)


def seed_cnn(channels: int = 3, dropout: float = 0.25) -> keras.Model:
    """The original study's CNN (about 7.8 M parameters), as in its plot_model diagram.

    Three blocks of two 3x3 convolutions (32/64, 64/128, 128/256 filters; the first of each
    pair unpadded), batch norm, 2x2 max pooling and dropout, then dense layers
    1024-512-256-128-64-32 with batch norm and dropout, softmax over 7. The study fed RGB
    (``channels=3``) images scaled to 0..1; here the 1/255 scaling sits inside the model.
    """
    inputs = keras.Input((IMAGE_SIZE_PX, IMAGE_SIZE_PX, channels), name="pixels")
    x = layers.Rescaling(1.0 / 255)(inputs)
    for first, second in ((32, 64), (64, 128), (128, 256)):
        x = layers.Conv2D(first, 3, activation="relu", padding="valid")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Conv2D(second, 3, activation="relu", padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(2, padding="same")(x)
        x = layers.Dropout(dropout)(x)
    x = layers.Flatten()(x)
    for units in (1024, 512, 256, 128, 64, 32):
        x = layers.Dense(units, activation="relu")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32",
                           name="probabilities")(x)
    return keras.Model(inputs, outputs, name="seed_cnn")


def conv_bn_relu(x, filters: int, name: str):
    """3x3 convolution without bias, batch norm, ReLU."""
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def emotion_cnn(widths: tuple[int, ...] = DEFAULT_WIDTHS, convs_per_block: int = 2,
                dropout: float = 0.4, head_units: int = 256, block_dropout: float = 0.0,
                crop_px: int = 4, name: str = "emotion_cnn") -> keras.Model:
    """The project's default model: VGG-style blocks, global pooling and a small head.

    Four blocks of ``convs_per_block`` 3x3 conv-BN-ReLU layers halve the face (the 40x40
    centre at the default crop) to 2x2; global average pooling keeps the parameter count low
    (about 1.9 M at the default 32-64-160-320 filters, about 7.5 MB on disk; 2.7 M and 11 MB
    at the shipped model's 48-96-192-384), then one dense layer with dropout and softmax.
    Input: raw grayscale 0..255.

    ``block_dropout`` (off by default) puts dropout between blocks, i.e. before the next
    batch norm: in a first run that made the batch-norm statistics seen in training differ
    from those used at inference (the 'variance shift'), costing about 10 points of
    validation accuracy mid-training, so regularisation comes from augmentation, weight
    decay, label smoothing and the head's dropout instead.

    ``crop_px`` (4 by default) drops that many pixels from every edge of the face before the
    first convolution, in training and inference alike, so the input stays 48x48. Behind the
    random-shift augmentation this is the random-crop training common on FER2013, and it
    cuts the cost per image roughly in proportion to the area kept: the 40x40 centre trains
    about 1.4x faster per image on the 2-core CPU (``reports/benchmarks/training.json``), and
    in GPU runs of 50 epochs it scored the same as the whole face within the spread between
    seeds (``reports/sweep.json``).
    ``crop_px=0`` gives the uncropped network.
    """
    inputs = keras.Input((IMAGE_SIZE_PX, IMAGE_SIZE_PX, 1), name="pixels")
    x = layers.Cropping2D(crop_px, name="crop")(inputs) if crop_px else inputs
    x = layers.Rescaling(1.0 / PIXEL_STD, offset=-PIXEL_MEAN / PIXEL_STD, name="normalize")(x)
    for block, filters in enumerate(widths, start=1):
        for conv in range(1, convs_per_block + 1):
            x = conv_bn_relu(x, filters, name=f"block{block}_{conv}")
        x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
        if block_dropout:
            x = layers.Dropout(block_dropout, name=f"block{block}_drop")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(head_units, use_bias=False, name="head_dense")(x)
    x = layers.BatchNormalization(name="head_bn")(x)
    x = layers.Activation("relu", name="head_relu")(x)
    x = layers.Dropout(dropout, name="head_drop")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32",
                           name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


DEFAULT_MODEL_PATH = "models/emotion_cnn.keras"


class ModelFileError(ValueError):
    """A model file or its JSON record is missing or unusable."""


class UncalibratedModelWarning(UserWarning):
    """A model has no JSON record beside it: FER2013 class order, no calibration."""


def load_model_and_record(path: str | None = None) -> tuple[keras.Model, dict]:
    """Load a ``.keras`` model and the JSON record beside it (``class_names``, calibration...).

    ``path`` defaults to the committed ``models/emotion_cnn.keras``; a relative path is taken
    from the project root, like every other path the package reads or writes, so a notebook
    (run from ``notebooks/``) and the CLI name the same file the same way (the commands turn
    what the user typed into an absolute path first). A missing JSON gives the FER2013 class
    order and no calibration (temperature 1, no uncertain threshold) with an
    :class:`UncalibratedModelWarning`; a corrupt one raises :class:`ModelFileError`.
    """
    from emotion_classification.files import project_path

    model_path = project_path(path or DEFAULT_MODEL_PATH)
    if not model_path.is_file():
        problem = "is a folder, not a model file" if model_path.is_dir() else "model file not found"
        raise ModelFileError(f"{model_path}: {problem}")
    model = load_keras_file(model_path)
    record = load_record(model_path.with_suffix(".json"))
    names = record["class_names"]
    if len(names) != model.output_shape[-1]:
        raise ModelFileError(f"{model_path.with_suffix('.json')}: lists {len(names)} classes but "
                             f"the model has {model.output_shape[-1]} outputs")
    return model, record


def load_keras_file(path) -> keras.Model:
    """The model in a ``.keras`` file, or :class:`ModelFileError` saying it is not one."""
    import zipfile

    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a valid Keras model file (cannot load it: a .keras "
                             "file is a zip archive and this one is truncated or not one)")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a bad file
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelFileError(f"{path}: not a valid Keras model file (cannot load it: "
                             f"{reason[:200]})") from error


def load_record(json_path) -> dict:
    """The model's JSON record with defaults filled in; a missing one warns, a bad one raises."""
    import json
    import warnings

    if not json_path.is_file():
        warnings.warn(f"{json_path}: not found, so the model runs uncalibrated (temperature 1, "
                      "no uncertain threshold, FER2013 class order)", UncalibratedModelWarning,
                      stacklevel=3)
        record = {}
    else:
        try:
            record = json.loads(json_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ModelFileError(f"{json_path}: not valid JSON ({error})") from None
        if not isinstance(record, dict):
            raise ModelFileError(f"{json_path}: not a JSON object (the model's record)")
    record.setdefault("class_names", list(CLASS_NAMES))
    record.setdefault("calibration", {"temperature": 1.0, "uncertain_threshold": 0.0})
    if not isinstance(record["calibration"], dict) or not isinstance(record["class_names"], list):
        raise ModelFileError(f"{json_path}: 'calibration' must be an object and 'class_names' "
                             "a list")
    for key in ("temperature", "uncertain_threshold"):
        value = record["calibration"].get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not math.isfinite(value)):
            raise ModelFileError(f"{json_path}: calibration {key} must be a number, got "
                                 f"{value!r}")
    return record


def predict_proba(model: keras.Model, images, tta: bool = False,
                  batch_size: int = 256):
    """Class probabilities for ``(N, 48, 48, 1)`` images (uint8 or float, 0..255).

    ``tta=True`` averages the prediction of each image and its horizontal mirror
    (test-time augmentation). Grayscale input is repeated to 3 channels for RGB models.
    """
    import numpy as np

    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    channels = model.input_shape[-1]
    if channels == 3 and x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    if len(x) == 0:
        return np.zeros((0, model.output_shape[-1]), np.float32)
    probs = model.predict(x, batch_size=batch_size, verbose=0)
    if tta:
        probs = (probs + model.predict(x[:, :, ::-1], batch_size=batch_size, verbose=0)) / 2
    return probs.astype(np.float32)
