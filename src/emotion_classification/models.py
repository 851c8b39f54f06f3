"""Model architectures: the original study's CNN (for comparison), the project's default
and a ResNet-18 for 48x48 faces.

Every model takes ``(N, 48, 48, channels)`` raw pixel values 0..255 (rescaling is inside the
model) and returns softmax probabilities over :data:`~emotion_classification.data.CLASS_NAMES`.
The output layer always computes in float32 so mixed-precision training stays stable.
"""

from __future__ import annotations

import keras
from keras import layers

from emotion_classification.data import CLASS_NAMES, IMAGE_SIZE_PX
from emotion_classification.model_files import (  # noqa: F401  (re-exported: the loading API)
    DEFAULT_MODEL_PATH,
    ModelFileError,
    UncalibratedModelWarning,
    check_class_count,
    load_record,
    record_path_for,
    resolve_model_path,
)

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
#: Filters of the four stages of the standard ResNet-18 (He et al. 2016).
RESNET18_WIDTHS = (64, 128, 256, 512)


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


def basic_block(x, filters: int, stride: int, name: str):
    """ResNet's basic block: two 3x3 conv-BN layers plus the input, then ReLU.

    The shortcut is the identity, or a strided 1x1 convolution with batch norm where the
    block changes the size or the filter count. The second batch norm starts with a zero
    scale, so each block starts as the identity and the deep net trains like a shallow one
    at first (Goyal et al. 2017).
    """
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                      name=f"{name}_conv1")(x)
    y = layers.BatchNormalization(name=f"{name}_bn1")(y)
    y = layers.Activation("relu", name=f"{name}_relu1")(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    y = layers.BatchNormalization(gamma_initializer="zeros", name=f"{name}_bn2")(y)
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False,
                                 name=f"{name}_shortcut")(x)
        shortcut = layers.BatchNormalization(name=f"{name}_shortcut_bn")(shortcut)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.Activation("relu", name=f"{name}_relu2")(y)


def resnet18(widths: tuple[int, ...] = RESNET18_WIDTHS, blocks_per_stage: int = 2,
             dropout: float = 0.4, crop_px: int = 4, channels: int = 1,
             name: str = "resnet18") -> keras.Model:
    """ResNet-18 as adapted to small images (the CIFAR form), the strongest FER2013 family.

    ImageNet's ResNet shrinks its input 4x at once (a stride-2 7x7 stem and a max pool),
    which would leave a 48x48 face 12x12 before the first block. Here the stem is one
    stride-1 3x3 conv-BN-ReLU with no pooling, then one stage per entry of ``widths`` of
    ``blocks_per_stage`` :func:`basic_block` s, every stage after the first halving the
    size (the 40x40 centre at the default crop: 40, 20, 10, 5), then global average pooling,
    dropout and the softmax. At the standard widths that is about 11.2 M parameters.
    ``crop_px`` and the input (raw 0..255, ``channels`` 1 or 3) are as in
    :func:`emotion_cnn`.
    """
    inputs = keras.Input((IMAGE_SIZE_PX, IMAGE_SIZE_PX, channels), name="pixels")
    x = layers.Cropping2D(crop_px, name="crop")(inputs) if crop_px else inputs
    x = layers.Rescaling(1.0 / PIXEL_STD, offset=-PIXEL_MEAN / PIXEL_STD, name="normalize")(x)
    x = conv_bn_relu(x, widths[0], name="stem")
    for stage, filters in enumerate(widths, start=1):
        for block in range(1, blocks_per_stage + 1):
            stride = 2 if stage > 1 and block == 1 else 1
            x = basic_block(x, filters, stride, name=f"stage{stage}_block{block}")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="head_drop")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32",
                           name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def load_model_and_record(path: str | None = None) -> tuple[keras.Model, dict]:
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


def predict_proba(model: keras.Model, images, tta: bool | str = False,
                  batch_size: int = 256):
    """Class probabilities for ``(N, 48, 48, 1)`` images (uint8 or float, 0..255).

    ``tta`` is the test-time augmentation (:data:`~emotion_classification.tta.TTA_MODES`):
    ``"none"``, ``"flip"`` (the mean prediction of each image and its horizontal mirror) or
    ``"ten_crop"`` (the mean over :func:`~emotion_classification.tta.ten_crop_views`);
    ``True`` means flip and ``False`` none, as before the modes. Grayscale input is
    repeated to 3 channels for RGB models.
    """
    from emotion_classification.runtimes import KerasClassifier, predict_probs

    return predict_probs(KerasClassifier(model), images, batch_size, tta)
