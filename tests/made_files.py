"""Photos and videos the tests make for themselves, so no test needs files from outside.

The faces come from ``grace_hopper.jpg``, the sample photo shipped inside matplotlib.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from emotion_classification.inference.images import sample_photo
from emotion_classification.labels import CLASS_NAMES

#: A 2 x 3 tiling of the sample portrait: six faces, 1536 x 1200 pixels.
GROUP_TILES = (2, 3)
GROUP_FACES = GROUP_TILES[0] * GROUP_TILES[1]


def group_rgb() -> np.ndarray:
    """Six copies of Grace Hopper's portrait side by side, as one RGB uint8 array."""
    portrait = np.asarray(Image.open(sample_photo()).convert("RGB"))
    return np.tile(portrait, (*GROUP_TILES, 1))


def write_group_photo(path: Path) -> Path:
    """A six-face group photo (PNG, lossless, so every decoder sees the same pixels)."""
    Image.fromarray(group_rgb()).save(path)
    return path


def write_no_faces_photo(path: Path) -> Path:
    """A smooth colour gradient: an image with no face in it."""
    ys, xs = np.mgrid[0:300, 0:400]
    rgb = np.stack([xs * 255 // 400, ys * 255 // 300, np.full_like(xs, 128)], axis=-1)
    Image.fromarray(rgb.astype(np.uint8)).save(path, quality=95)
    return path


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0,
                fourcc: str = "mp4v") -> Path:
    """Write BGR frames with OpenCV (as a user's camera or editor would produce a file)."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def write_portrait_video(path: Path, frames: int = 24, fps: float = 12.0) -> Path:
    """The sample portrait drifting a few pixels per frame: one face followed over time."""
    bgr = cv2.cvtColor(np.asarray(Image.open(sample_photo()).convert("RGB")), cv2.COLOR_RGB2BGR)
    shifted = [np.roll(bgr, shift=index * 2, axis=1) for index in range(frames)]
    return write_video(path, shifted, fps=fps)

#: Faces per class of the tiny FER2013 that :func:`write_dataset` writes by default.
IMAGES_PER_CLASS = {"train": 3, "test": 2}
SIDE_PX = 48


def face(value: int, shape: tuple[int, ...] = (SIDE_PX, SIDE_PX)) -> np.ndarray:
    """A flat image with a bright square, distinct per value so files are distinguishable."""
    image = np.full(shape, value, np.uint8)
    image[10:20, 10:20] = 255 - value
    return image


def write_dataset(root: Path, images_per_class: dict[str, int] | None = None) -> Path:
    """A tiny FER2013 in the Kaggle layout: a few real 48x48 grayscale JPEGs per class."""
    for split, per_class in (images_per_class or IMAGES_PER_CLASS).items():
        prefixes = ["Training"] if split == "train" else ["PublicTest", "PrivateTest"]
        for label, name in enumerate(CLASS_NAMES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                prefix = prefixes[i % len(prefixes)]
                cv2.imwrite(str(folder / f"{prefix}_{label}{i}.jpg"), face(20 * label + i))
    return root


def fake_fer2013(root, per_class: int = 2) -> None:
    """A FER2013 folder layout with a few random faces per class."""
    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        for name in CLASS_NAMES:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                cv2.imwrite(str(folder / f"{i}.png"), rng.integers(0, 256, (48, 48), np.uint8))
