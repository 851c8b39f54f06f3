"""Model architectures: the original study's CNN (for comparison), the project's default
and a ResNet-18 for 48x48 faces.

Every model takes ``(N, 48, 48, channels)`` raw pixel values 0..255 (rescaling is inside the
model) and returns softmax probabilities over :data:`~emotion_classification.data.fer2013.CLASS_NAMES`.
The output layer always computes in float32 so mixed-precision training stays stable.
"""

from __future__ import annotations

import keras
from keras import layers

from emotion_classification.labels import IMAGE_SIZE_PX, NUM_CLASSES
from emotion_classification.models.defaults import (
    DEFAULT_BLOCK_DROPOUT,
    DEFAULT_CONVS_PER_BLOCK,
    DEFAULT_CROP_PX,
    DEFAULT_DROPOUT,
    DEFAULT_HEAD_UNITS,
    DEFAULT_WIDTHS,
    PIXEL_MEAN,
    PIXEL_STD,
    RESNET18_WIDTHS,
)


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


def emotion_cnn(widths: tuple[int, ...] = DEFAULT_WIDTHS,
                convs_per_block: int = DEFAULT_CONVS_PER_BLOCK, dropout: float = DEFAULT_DROPOUT,
                head_units: int = DEFAULT_HEAD_UNITS, block_dropout: float = DEFAULT_BLOCK_DROPOUT,
                crop_px: int = DEFAULT_CROP_PX, name: str = "emotion_cnn") -> keras.Model:
    """The project's default model: VGG-style blocks, global pooling and a small head.

    Four blocks of ``convs_per_block`` 3x3 conv-BN-ReLU layers halve the face (the 40x40
    centre at the default crop) to 2x2; global average pooling keeps the parameter count low
    (about 1.9 M at the default 32-64-160-320 filters, about 7.5 MB on disk; 2.7 M and 11 MB
    at the shipped model's 48-96-192-384), then one dense layer with dropout and softmax.
    Input: raw grayscale 0..255.

    ``block_dropout`` (off by default) puts dropout between blocks, i.e. before the next
    batch norm: in a first run that made the batch-norm statistics seen in training differ
    from those used at inference (the 'variance shift'), so regularisation comes from
    augmentation, weight decay, label smoothing and the head's dropout instead.

    ``crop_px`` (4 by default) drops that many pixels from every edge of the face before the
    first convolution, in training and inference alike, so the input stays 48x48. Behind the
    random-shift augmentation this is the random-crop training common on FER2013, and it
    cuts the cost per image roughly in proportion to the area kept (docs/speed.md and
    docs/experiments.md give the measured speed and accuracy).
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
             dropout: float = DEFAULT_DROPOUT, crop_px: int = DEFAULT_CROP_PX, channels: int = 1,
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


def untrained_small_model() -> keras.Model:
    """A freshly built, untrained small ``emotion_cnn``: what the notebooks' small mode (tests)
    runs when the committed model is missing, so they still execute; its outputs mean nothing."""
    return emotion_cnn(widths=(8, 8, 16, 16), head_units=16, name="untrained")
