"""Reading images: file paths, PIL images and numpy arrays, all to RGB uint8.

Images are read once, into RGB uint8, with the EXIF orientation applied, so boxes land on
faces as an image viewer shows them. 16-bit images are scaled down, transparency is
composited on white, and every unreadable input raises :class:`ImageReadError` whose text
is one line, ``<source>: <problem>``. An animated or multi-page file is read from its first
frame, with a :class:`MultiFrameWarning` saying so.

:func:`expand_inputs` turns the paths given to ``predict`` into image files (folders are
searched recursively), and :func:`sample_photo` is the portrait shipped with matplotlib, so
the command has something to run on in a fresh clone.
"""

from __future__ import annotations

import errno
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: File name endings picked up when a folder is given to ``predict``.
PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")
SAMPLE_PHOTO = "grace_hopper.jpg"


def shown(path) -> str:
    """A path as text that always prints: bytes that are not UTF-8 become ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace") if isinstance(
        path, str | bytes | os.PathLike) else str(path)


class ImageReadError(ValueError):
    """An input is not a readable image; ``str(error)`` is one line: ``<source>: <problem>``."""

    def __init__(self, source, problem: str):
        super().__init__(f"{shown(source)}: {problem}")
        self.source = shown(source)
        self.problem = problem


class MultiFrameWarning(UserWarning):
    """An animated GIF or multi-page TIFF: only its first frame was read."""


def warn_if_multi_frame(image: Image.Image, source) -> None:
    """Say that only the first frame of an animated or multi-page image is read."""
    try:
        frames = str(getattr(image, "n_frames", 1))
    except (OSError, EOFError, ValueError):  # a damaged later frame: the first one was read
        frames = "several"
    if frames != "1":
        warnings.warn(f"{shown(source)}: holds {frames} frames (animated or multi-page); "
                      "only the first frame was read", MultiFrameWarning, stacklevel=3)


def read_image(image, color_order: str = "rgb") -> np.ndarray:
    """Any supported image as an ``(H, W, 3)`` RGB uint8 array.

    ``image`` is a file path, a PIL image or a numpy array. ``color_order`` describes numpy
    input only: ``"rgb"`` (PIL, matplotlib, imageio) or ``"bgr"`` (OpenCV's ``imread`` and
    video frames). Raises :class:`ImageReadError` for anything that is not a readable image.
    """
    if color_order not in ("rgb", "bgr"):
        raise ValueError(f"color_order must be 'rgb' or 'bgr', got {color_order!r}")
    if isinstance(image, np.ndarray):
        return array_to_rgb(image, color_order)
    if isinstance(image, Image.Image):
        warn_if_multi_frame(image, "image")
        return pil_to_rgb(upright(image))
    if isinstance(image, str | os.PathLike):
        return read_image_file(Path(image))
    raise TypeError(f"expected a path, PIL image or numpy array, got {type(image).__name__}")


def missing_file_problem(path: Path, kind: str) -> str | None:
    """Why ``path`` cannot be a ``kind`` file before opening it (missing, a link that leads
    nowhere or back to itself, a folder, empty)."""
    try:
        status = path.stat()
    except ValueError:
        return "the path holds a NUL byte"
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "symbolic link loop (the link leads back to itself)"
        if path.is_symlink():
            return f"broken symbolic link (it points at {shown(os.readlink(path))})"
        return "no such file" if error.errno == errno.ENOENT else (error.strerror or str(error))
    if path.is_dir():
        return f"is a folder, not {kind}"
    if status.st_size == 0:
        return "empty file (0 bytes)"
    return None


def read_image_file(path: Path) -> np.ndarray:
    """Decode a file fully (so truncation is caught here) and return RGB uint8."""
    problem = missing_file_problem(path, "an image")
    if problem:
        raise ImageReadError(path, problem)
    try:
        with Image.open(path) as image:
            image.load()
            warn_if_multi_frame(image, path)
            return pil_to_rgb(upright(image))
    except UnidentifiedImageError:
        raise ImageReadError(path, "not an image (unrecognised file format)") from None
    except Image.DecompressionBombError:
        raise ImageReadError(path, "too many pixels (possible decompression bomb)") from None
    except PermissionError:
        raise ImageReadError(path, "permission denied") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(path, f"truncated or corrupt image data ({error})") from None


def upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag, as viewers do; a broken EXIF block is ignored."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # malformed EXIF must not make a viewable photo unreadable
        return image


def pil_to_rgb(image: Image.Image) -> np.ndarray:
    """RGB uint8 from any PIL mode: 16-bit scaled down, transparency composited on white."""
    if image.mode.startswith("I") or image.mode == "F":
        values = np.asarray(image).astype(np.float64)
        if image.mode.startswith("I;16") or (image.mode == "I" and values.max(initial=0) > 255):
            values = values / 257.0  # 0..65535 -> 0..255
        gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def array_to_rgb(array: np.ndarray, color_order: str = "rgb") -> np.ndarray:
    """RGB uint8 from a gray, colour or colour+alpha array (uint8, uint16, bool or float)."""
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ImageReadError("array", f"unsupported image shape {array.shape}")
    if array.size == 0:
        raise ImageReadError("array", "empty image")
    values = to_uint8(array)
    if values.ndim == 2:
        return np.repeat(values[..., None], 3, axis=-1)
    if color_order == "bgr":
        values = values[..., [2, 1, 0, *range(3, values.shape[-1])]]
    if values.shape[-1] == 4:
        alpha = values[..., 3:].astype(np.float32) / 255
        values = np.rint(values[..., :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(values)


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Scale pixel values to uint8: 16-bit by 1/257, floats in 0..1 by 255, others clipped."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return np.rint(array / 257.0).astype(np.uint8)
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    values = array.astype(np.float64)
    if np.issubdtype(array.dtype, np.floating) and values.max(initial=0) <= 1.0:
        values = values * 255
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def sample_photo() -> Path:
    """Grace Hopper's portrait, shipped in matplotlib's ``mpl-data/sample_data``."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / SAMPLE_PHOTO


def is_photo(path: Path) -> bool:
    """A file whose name ends like a photo and that is not one of our temporary files."""
    return (path.is_file() and path.suffix.lower() in PHOTO_EXTENSIONS
            and not path.name.startswith(".tmp-"))


def expand_inputs(paths: Sequence[str | os.PathLike], exclude: Path | None = None) -> list[Path]:
    """Files as given, folders replaced by the photos inside them (recursively, sorted).

    Missing paths are kept, so that reading them reports the problem in order; a folder
    without photos is kept too (reported as such). Files under ``exclude`` (the output
    folder) are skipped so a rerun does not read its own results, and a file named twice
    is read once.
    """
    found: list[Path] = []
    excluded = exclude.resolve() if exclude else None
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            found.append(path)
            continue
        inside = sorted(p for p in path.rglob("*") if is_photo(p)
                        and not (excluded and p.resolve().is_relative_to(excluded)))
        found.extend(inside or [path])
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve() if path.exists() else path, path)
    return list(unique.values())
