"""Test-time augmentation: the views of each face whose predictions are averaged.

``flip`` adds each face's horizontal mirror. ``ten_crop`` is the FER2013 recipe's ten-crop:
the four corner windows and the centre window of :data:`TEN_CROP_PX` pixels, each also
mirrored. The models take 48x48, so each window is put back in the middle of a 48x48
image whose border repeats the window's edge pixels, not resized up. A corner window put
back that way is the face shifted by :data:`TEN_CROP_SHIFT_PX` pixels on each axis with
nearest fill: a draw the training augmentation itself makes (shifts up to 10% of the size,
4.8 pixels, nearest fill, mirrors), with no resampling blur. Resizing the window to 48x48
would instead zoom by 48/40, the very edge of the training zoom range, and blur it. With
the default ``crop_px`` of 4 the model's own 40x40 view of each put-back window is exactly
that window, so a cropped model sees the classic ten 40x40 crops and never a filled pixel.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from emotion_classification.labels import IMAGE_SIZE_PX

TTA_MODES = ("none", "flip", "ten_crop")
#: Side of the ten-crop windows, in pixels of the 48x48 face.
TEN_CROP_PX = 40
#: How far a corner window is from the centre, per axis, once put back in 48x48.
TEN_CROP_SHIFT_PX = (IMAGE_SIZE_PX - TEN_CROP_PX) // 2
#: Top-left corners (row, column) of the five windows: the four corners, then the centre.
TEN_CROP_CORNERS_PX = ((0, 0), (0, 2 * TEN_CROP_SHIFT_PX), (2 * TEN_CROP_SHIFT_PX, 0),
                       (2 * TEN_CROP_SHIFT_PX, 2 * TEN_CROP_SHIFT_PX),
                       (TEN_CROP_SHIFT_PX, TEN_CROP_SHIFT_PX))


def tta_mode(tta: bool | str | None) -> str:
    """The mode a ``tta`` argument names: ``True`` is flip and ``False`` (or None) none."""
    if tta is True:
        return "flip"
    if tta is False or tta is None:
        return "none"
    if tta not in TTA_MODES:
        raise ValueError(f"unknown test-time augmentation {tta!r}: use {', '.join(TTA_MODES)}")
    return tta


def put_back_window(images: np.ndarray, top: int, left: int) -> np.ndarray:
    """The :data:`TEN_CROP_PX` window at ``(top, left)`` of each ``(N, 48, 48, C)`` image,
    centred in a 48x48 image whose border repeats the window's edge pixels."""
    window = images[:, top:top + TEN_CROP_PX, left:left + TEN_CROP_PX]
    pad = TEN_CROP_SHIFT_PX
    return np.pad(window, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")


def ten_crop_views(images: np.ndarray) -> Iterator[np.ndarray]:
    """The ten views of ``(N, 48, 48, C)`` images: the five windows, then their mirrors.

    One view (all N images) at a time, so memory stays that of one copy of the batch.
    """
    if images.shape[1:3] != (IMAGE_SIZE_PX, IMAGE_SIZE_PX):
        raise ValueError(f"ten-crop needs {IMAGE_SIZE_PX}x{IMAGE_SIZE_PX} images, got "
                         f"{images.shape[1]}x{images.shape[2]}")
    for mirrored in (False, True):
        for top, left in TEN_CROP_CORNERS_PX:
            view = put_back_window(images, top, left)
            yield view[:, :, ::-1] if mirrored else view


def tta_views(images: np.ndarray, tta: bool | str | None) -> Iterator[np.ndarray]:
    """The views of ``(N, 48, 48, C)`` images whose predictions ``tta`` averages."""
    mode = tta_mode(tta)
    if mode == "ten_crop":
        yield from ten_crop_views(images)
        return
    yield images
    if mode == "flip":
        yield images[:, :, ::-1]
