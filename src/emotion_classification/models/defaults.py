"""The default hyperparameters of the project's networks, in a module without Keras so the
training config (and its ``--help``) can name them without loading a backend."""

from __future__ import annotations

#: FER2013 pixel statistics (train folder): centring the input speeds up early training.
PIXEL_MEAN = 129.4
PIXEL_STD = 65.0
#: Filters per block of the default ``emotion_cnn``: the design that reached the wider
#: network's validation accuracy at about half its multiply-adds (docs/experiments.md).
DEFAULT_WIDTHS = (32, 64, 160, 320)
#: The wider network of the shipped model (``--widths 48,96,192,384``).
WIDE_WIDTHS = (48, 96, 192, 384)
#: Filters of the four stages of the standard ResNet-18 (He et al. 2016).
RESNET18_WIDTHS = (64, 128, 256, 512)
DEFAULT_CONVS_PER_BLOCK = 2
DEFAULT_DROPOUT = 0.4
DEFAULT_BLOCK_DROPOUT = 0.0
DEFAULT_HEAD_UNITS = 256
DEFAULT_CROP_PX = 4
