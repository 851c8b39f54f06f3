"""Many small one-face photos from the sample portrait: the streaming benchmark's and tests'
inputs, made on any machine without data.

Each photo is a square crop around Grace Hopper's face (``grace_hopper.jpg``, shipped with
matplotlib) with its own shift, scale and brightness, resized to ``size_px``; a seed makes
the set reproducible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from emotion_classification.inference.images import sample_photo

#: Centre of the face in the 512 x 600 sample portrait, and the crop side around it.
FACE_CENTRE_PX = (256, 250)
CROP_SIDE_PX = 400
SHIFT_MAX_PX = 30
SCALE_RANGE = (0.85, 1.15)
BRIGHTNESS_RANGE = (0.8, 1.2)


def portrait_photo(rng: np.random.Generator, portrait: Image.Image, size_px: int) -> Image.Image:
    """One jittered, resized crop of the portrait."""
    side = CROP_SIDE_PX * rng.uniform(*SCALE_RANGE)
    cx, cy = np.asarray(FACE_CENTRE_PX) + rng.integers(-SHIFT_MAX_PX, SHIFT_MAX_PX + 1, 2)
    box = (int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2))
    crop = portrait.crop(box).resize((size_px, size_px), Image.Resampling.BILINEAR)
    return ImageEnhance.Brightness(crop).enhance(rng.uniform(*BRIGHTNESS_RANGE))


def write_portraits(folder: Path, count: int, size_px: int = 160, seed: int = 0) -> list[Path]:
    """``count`` JPEG photos ``photo-00000.jpg``... in ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    portrait = Image.open(sample_photo()).convert("RGB")
    rng = np.random.default_rng(seed)
    paths = []
    for number in range(count):
        path = folder / f"photo-{number:05d}.jpg"
        portrait_photo(rng, portrait, size_px).save(path, quality=90)
        paths.append(path)
    return paths
